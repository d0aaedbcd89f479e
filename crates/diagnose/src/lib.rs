//! Evidence types, the cause catalog, findings and compare.
//!
//! A pure function from one or two sides' evidence to findings: no I/O here, ever, so every cause
//! can be tested on saved evidence.
