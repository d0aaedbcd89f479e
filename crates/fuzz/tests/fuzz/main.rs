//! Fuzz targets, run as tests. Each target feeds its decoder two kinds of input, for a bounded
//! time (`XFRMDIAG_FUZZ_SECS`, default 2 s per generator; `XFRMDIAG_FUZZ_CASES` caps the cases):
//! structure-aware inputs built from the format's own parts, and real captured inputs from
//! tests/fixtures/ with bytes, lines and tokens flipped, cut, repeated or inserted. No input may
//! panic. A panicking input is shrunk, saved under tests/fixtures/fuzz-regressions/TARGET/ and
//! replayed by `regressions` on every run from then on.

mod engine;
mod mutate;

mod checklist;
mod evidence;
mod netlink;
mod procfs;
mod regressions;
mod trace;
