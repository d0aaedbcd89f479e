//! A result from saved trace text instead of a live capture.

use std::path::Path;

use crate::kallsyms::Kallsyms;
use crate::parse::{EventKind, TraceEvent};
use crate::summary::{summarize, symbolize_events, DropFilter};

use super::reader::{HASHED_NOTE, SYMBOLIZED_NOTE};
use super::{FunctionTracer, TraceResult};

/// Resolves raw drop locations (kernels up to 6.1) through kallsyms, noting why when it cannot.
fn symbolize_if_needed(events: &mut [TraceEvent], proc_root: &Path, notes: &mut Vec<String>) {
    let needs = events.iter().any(|e| {
        matches!(&e.kind, EventKind::Tracepoint { location: Some(l), .. } if l.symbol.is_none())
    });
    if !needs {
        return;
    }
    let hashed = events.iter().any(|e| {
        matches!(&e.kind, EventKind::Tracepoint { location: Some(l), .. }
            if l.symbol.is_none() && l.address.is_some_and(|a| !crate::kallsyms::is_kernel_address(a)))
    });
    if hashed {
        notes.push(HASHED_NOTE.into());
    }
    match Kallsyms::load(proc_root) {
        Ok(table) => {
            symbolize_events(events, &table);
            notes.push(SYMBOLIZED_NOTE.into());
        }
        Err(e) => notes.push(format!("drop locations left as addresses: {e}")),
    }
}

impl TraceResult {
    /// A result from saved trace text (`--raw` output, a `trace` file copied from another host):
    /// parsed, symbolized through `<proc_root>/kallsyms` when given and needed, summarized.
    pub fn from_text(text: &str, proc_root: Option<&Path>, filter: &DropFilter) -> TraceResult {
        let parsed = crate::parse::parse(text);
        let mut events = parsed.events;
        let mut notes = Vec::new();
        if let Some(root) = proc_root {
            symbolize_if_needed(&mut events, root, &mut notes);
        }
        if !parsed.unparsed.is_empty() {
            notes.push(format!(
                "{} trace lines were not understood, e.g. {:?}",
                parsed.unparsed.len(),
                parsed.unparsed[0]
            ));
        }
        let graph = events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::GraphEntry { .. } | EventKind::GraphCall { .. }
            )
        });
        let functions = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Function { .. }));
        let stack_on_drop = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::StackTrace { .. }));
        let summary = summarize(&events, filter);
        TraceResult {
            tracefs: None,
            instance: None,
            function_tracer: match (graph, functions) {
                (true, _) => FunctionTracer::Used {
                    tracer: "function_graph".into(),
                    filters: Vec::new(),
                },
                (false, true) => FunctionTracer::Used {
                    tracer: "function".into(),
                    filters: Vec::new(),
                },
                (false, false) => FunctionTracer::NotRequested,
            },
            events_enabled: Vec::new(),
            events_missing: Vec::new(),
            stack_on_drop,
            duration_s: 0.0,
            events,
            summary,
            events_not_kept: 0,
            lost_events: parsed.lost_events,
            raw_lines: parsed.lines,
            notes,
        }
    }
}
