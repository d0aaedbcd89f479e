//! Kernel counters: /proc parsers, snapshots, deltas (with resets) and the counter catalog.
//!
//! Owns: /proc/net/xfrm_stat, snmp, netstat, snmp6 and dev parsing, one flat counter namespace,
//! and what each counter means. Must not: print or decide a verdict (that is `report` and
//! `diagnose`).
//!
//! Names: xfrm_stat as written (`XfrmInTmplMismatch`), snmp/netstat as `Group.Name`
//! (`Udp.InErrors`), snmp6 as written (`Udp6InErrors`), per interface `dev:<if>:<field>` and per SA
//! `sa:<spi>:<field>` (from the inventory crate's SA dump, see [`Snapshot::take`]).
//!
//! ```no_run
//! use xfrmdiag_counters::{delta, Snapshot};
//! use xfrmdiag_netns::Netns;
//! let ns = Netns::Named("blue".into());
//! let before = Snapshot::take(&ns)?;
//! // … reproduce the problem …
//! let after = Snapshot::take(&ns)?;
//! for (name, change) in &delta(&before, &after).delta {
//!     println!("{name}: {change:?}");
//! }
//! # Ok::<(), xfrmdiag_counters::Error>(())
//! ```

pub mod catalog;
mod delta;
mod filter;
pub mod parse;
mod snapshot;
mod time;

pub use catalog::{catalog, lookup, CounterInfo, Kind};
pub use delta::{delta, Change, Delta};
pub use filter::Filter;
pub use snapshot::{Parser, SaStats, Snapshot, SourceState, SOURCES};

use std::path::PathBuf;

/// What can go wrong reading counters. Parse problems are not errors: they are listed in
/// [`Snapshot::problems`] and the rest is still read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Netns(#[from] xfrmdiag_netns::Error),
    #[error("cannot read any counter file in {dir}: {reason}: check that /proc is mounted and the kernel has CONFIG_PROC_FS")]
    NothingReadable { dir: PathBuf, reason: String },
    #[error("unknown counter or filter '{0}': see `xfrmdiag counters --all` for the names, or use xfrm, udp, ip, dev, sa, errors, or a pattern with *")]
    UnknownName(String),
}
