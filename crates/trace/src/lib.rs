//! Kernel tracing through tracefs.
//!
//! Owns: tracefs discovery and capability probe, the private instance lifecycle (always removed),
//! trace text parsing and kallsyms symbolization. Must not: touch the global tracer, filters or
//! buffer, or decide a verdict.
//!
//! The flow a caller sees: [`probe()`] says what this kernel allows; [`Capture::start`] opens a
//! private instance (`instances/xfrmdiag-<pid>`, after removing the ones killed runs left, see
//! [`stale`]), [`Capture::stop`] returns a [`TraceResult`]
//! (events, summary, lost events) and removes the instance. Dropping a capture, a panic, or
//! SIGINT/SIGTERM after [`cleanup::install_handlers`] removes it too.
//!
//! For a caller that sends its own traffic (diagnose): start a capture with a [`DropFilter`]
//! (kfree_skb is global: every drop on the machine is reported), send, stop; the summary counts
//! only the drops that pass the filter, and [`summarize`] can be rerun on `events` with another.
//! `start` installs the signal handling, which ends the process on SIGINT/SIGTERM after cleaning
//! up: register other cleanup with [`cleanup::on_interrupt`] instead of a second handler.
//! Saved trace text (another host, `--raw`) goes through [`TraceResult::from_text`].

pub mod capture;
pub mod cleanup;
pub mod kallsyms;
pub mod parse;
pub mod probe;
pub mod stale;
pub mod summary;
pub mod tracefs;

use std::path::PathBuf;

pub use capture::{
    Capture, CaptureOptions, FunctionTracer, Progress, TraceResult, DEFAULT_EVENTS,
    FILTER_FUNCTIONS,
};
pub use kallsyms::Kallsyms;
pub use parse::{parse, EventKind, Location, ParsedTrace, TraceEvent, TraceParser};
pub use probe::{probe, EventSupport, Probe, TracerSupport};
pub use stale::{remove_stale_instances, StaleInstance};
pub use summary::{
    summarize, symbolize_events, AuditMarker, DropFilter, DropPoint, NameCount, Summarizer,
    TraceSummary,
};
pub use tracefs::Tracefs;

/// What went wrong while tracing; each variant names the path involved and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tracefs is not available: {detail}")]
    Unavailable { detail: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the private trace instance {path}: {source} (instances need root and a kernel with tracefs instances)")]
    Instance {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("none of the requested events exist on this kernel ({requested}): see `xfrmdiag trace --probe`")]
    NoEvents { requested: String },
    #[error("cannot read kernel symbols from {path}: {detail}")]
    Kallsyms { path: PathBuf, detail: String },
    #[error("malformed trace filter '{text}': {detail}")]
    Filter { text: String, detail: String },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
