//! One module per subcommand: its clap `Args` and a `run` that glues crates together.

pub mod analyze;
pub mod check;
pub mod compare;
pub mod completions;
pub mod counters;
pub mod demo;
pub mod diagnose;
pub mod ike;
pub mod info;
pub mod monitor;
pub mod policy;
pub mod sa;
pub mod trace;
pub mod watch;
