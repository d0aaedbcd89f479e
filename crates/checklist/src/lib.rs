//! TOML checklists: the model, validation (with file/line/column), and the runner.
//!
//! Owns: the checklist format (`model`), loading and validating a file before anything runs
//! (`parse`), the built-in checklists (`builtin`), running checks in order (`runner`, one module
//! per check kind in `kinds`) and the plain result types (`result`). Must not: print, or change
//! the system — every check only reads, except `diagnose`, which sends its test datagrams.

pub mod builtin;
pub mod kinds;
pub mod model;
pub mod parse;
pub mod result;
pub mod runner;

pub use model::{Check, Checklist, Spec};
pub use parse::{load, load_file, Error, Vars};
pub use result::{CheckResult, RunReport, Status, Summary};
pub use runner::{Progress, Runner};
