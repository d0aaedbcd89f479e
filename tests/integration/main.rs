//! Integration tests: the real `xfrmdiag` binary against real namespaces.
//!
//! Tests that need root and namespaces have `root_` in their name, create every namespace they
//! touch (unique names) and delete it even when they fail (see `util`).

// bin/clippy.toml sends the binary's stderr through its output module; tests print as they like.
#![allow(clippy::disallowed_macros)]

mod util;

mod checklist;
mod cli;
mod counters;
mod diagnose;
mod early_verdict;
mod evidence_format;
mod gateway;
mod ike;
mod inventory;
mod trace;
mod tunnel;
