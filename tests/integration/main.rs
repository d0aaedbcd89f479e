//! Integration tests: the real `xfrmdiag` binary against real namespaces.
//!
//! Tests that need root and namespaces have `root_` in their name, create every namespace they
//! touch (unique names) and delete it even when they fail (see `util`).

mod util;

mod checklist;
mod cli;
mod counters;
mod diagnose;
mod evidence_format;
mod gateway;
mod inventory;
mod trace;
