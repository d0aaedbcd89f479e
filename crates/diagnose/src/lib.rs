//! The decision: one or more sides' evidence in, findings out, and `compare` of two hosts.
//!
//! Pure: no I/O here, ever (this crate depends on the evidence types and serde only), so every
//! cause can be tested on saved evidence.
//!
//! - [`CauseId`] is every cause; its declaration order is the ranking among equally sure
//!   findings.
//! - [`rules`] holds one [`rules::Rule`] per cause, in one file per family: the signals that
//!   name it, refine it or support it, the causes it excludes, its judge, summary and remedy.
//!   The same rules answer "which cause does this counter / audit function / drop name?" for
//!   `counters`, `watch` and `trace` ([`rules::cause_of_counter`], …).
//! - The engine ([`diagnose`]) is one generic loop: shared facts once, every rule on every side,
//!   exclusions, merge, rank. Confidence comes from the kinds of signal found, by one rule
//!   ([`Confidence::of`]).
//!
//! # How to add a cause
//!
//! 1. Add its variant to [`CauseId`] (crates/diagnose/src/cause.rs) at the place a packet meets
//!    it: that position is its rank. The kebab-case id is its stable name.
//! 2. Add its [`rules::Rule`] to the family file it belongs to (crates/diagnose/src/rules/), or
//!    to a new family file plus one line in [`rules::FAMILIES`]: the signals that name it
//!    (counters it names must be in the counters catalog), refine it or support it, what it
//!    excludes, a judge when configuration decides, texts, remedy, and the kernel fact it rests
//!    on (docs/kernel-notes.md).
//! 3. Add an engine test whose verdict is the new cause to the verdict table in tests.rs (a test
//!    fails for a cause no engine test reaches), and a kernel scenario where one can be built.
//! 4. Regenerate docs/causes.md: `XFRMDIAG_UPDATE_DOCS=1 cargo test -p xfrmdiag --test
//!    integration causes_doc`.
//!
//! The consistency tests then check that no signal is named by two rules and that every counter
//! a rule names is one the counters catalog knows.

pub mod cause;
pub mod causes;
pub mod compare;
mod compare_ike;
mod engine;
mod facts;
mod finding;
pub mod mtu;
pub mod rules;

pub use cause::CauseId;
pub use compare::{compare, Comparison};
pub use engine::diagnose;
pub use finding::{Confidence, EvidenceItem, Finding, Report};
/// The evidence types (`xfrmdiag-evidence`), under the path they always had.
pub use xfrmdiag_evidence as evidence;
pub use xfrmdiag_evidence::SideEvidence;

#[cfg(test)]
mod tests;
