//! Evidence types, the cause catalog, findings and compare.
//!
//! A pure function from one or two sides' evidence to findings: no I/O here, ever, so every cause
//! can be tested on saved evidence.

pub mod causes;
pub mod compare;
mod engine;

pub use compare::{compare, Comparison};
pub use engine::{diagnose, Confidence, EvidenceItem, Finding, Report};
/// The evidence types (`xfrmdiag-evidence`), under the path they always had.
pub use xfrmdiag_evidence as evidence;
pub use xfrmdiag_evidence::SideEvidence;

#[cfg(test)]
mod tests;
