//! A capture in a private instance: start, let traffic happen, stop, get a [`TraceResult`].
//!
//! Never touches the global tracer, filters or buffer: everything is written inside
//! `instances/xfrmdiag-<pid>`, which is removed on stop, on drop, and by the signal and panic
//! cleanup ([`crate::cleanup`]). Where the function tracer is refused (lockdown), the capture
//! says so once in [`FunctionTracer::Refused`] and records the events alone: `skb:kfree_skb`
//! still gives the drop reason and location, and a `stacktrace` trigger gives the call path.

mod reader;
mod saved;
mod setup;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cleanup::{self, ReaderGuard};
use crate::parse::{ParsedTrace, TraceEvent};
use crate::summary::{DropFilter, TraceSummary};
use crate::tracefs::{Instance, Tracefs};
use crate::Error;
use reader::{read_pipe, Counters, NonBlock, ReaderOutput, Stream};
use setup::{default_buffer_kb, set_up_functions, xfrm_event_names};

/// Events recorded in every capture, where the kernel has them.
pub const DEFAULT_EVENTS: &[&str] = &[
    "skb:kfree_skb",
    "skb:consume_skb",
    "net:netif_receive_skb",
    "net:net_dev_xmit",
    "udp:udp_fail_queue_rcv_skb",
    "sock:sock_rcvqueue_full",
];

/// Function filter: the xfrm/ESP/AH/IPComp code, plus the IPv4/IPv6 receive and UDP delivery
/// path. Globs are applied as they are; plain names only when the kernel has them.
pub const FILTER_FUNCTIONS: &[&str] = &[
    "xfrm*",
    "__xfrm*",
    "esp*",
    "ah*",
    "ipcomp*",
    "ip_rcv",
    "ip_local_deliver",
    "udp_rcv",
    "__udp4_lib_rcv",
    "udp_queue_rcv_one_skb",
    "ipv6_rcv",
    "ip6_input",
    "udpv6_rcv",
    "__udp6_lib_rcv",
    "udpv6_queue_rcv_one_skb",
];

/// Matched by the globs above but not IPsec: kept out (`set_ftrace_notrace`) so a disk driver
/// does not flood the buffer.
pub const NOTRACE_FUNCTIONS: &[&str] = &["ahci*"];

/// Rarely-called functions the probe uses to test the tracer without hooking anything busy.
pub(crate) const FILTER_PROBE_FUNCTIONS: &[&str] = &["xfrm_input", "ip_rcv", "udp_rcv"];

/// What to capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureOptions {
    /// Use the function tracer (with [`FILTER_FUNCTIONS`]) where the kernel allows it.
    pub functions: bool,
    /// Use function_graph instead of function (falls back to function where instances lack it).
    pub graph: bool,
    /// Events as `system:name`; missing ones are reported, not fatal.
    pub events: Vec<String>,
    /// Record the kernel stack of every kfree_skb (a `stacktrace` trigger) for call paths.
    pub stack_on_drop: bool,
    /// Which drops the summary counts.
    pub drop_filter: DropFilter,
    /// tracefs mount point; `None` finds it (mounting it when absent).
    pub tracefs: Option<PathBuf>,
    /// Where kallsyms is read from to symbolize raw drop locations (normally `/proc`).
    pub proc_root: PathBuf,
    /// Copy the raw trace text here.
    pub raw_path: Option<PathBuf>,
    /// Per-CPU ring buffer of the instance in KiB; 0 picks one: 32 MiB in total, between
    /// 512 KiB and 4 MiB per CPU (a 128-CPU machine must not lose half a gigabyte to a trace).
    pub buffer_size_kb: u32,
    /// Events kept in the result; later ones still count in the summary (bounds memory).
    pub max_events: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            functions: true,
            graph: false,
            events: DEFAULT_EVENTS.iter().map(|s| s.to_string()).collect(),
            stack_on_drop: true,
            drop_filter: DropFilter::default(),
            tracefs: None,
            proc_root: PathBuf::from("/proc"),
            raw_path: None,
            buffer_size_kb: 0,
            max_events: 1_000_000,
        }
    }
}

/// Whether functions were traced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FunctionTracer {
    /// `tracer` ran with these filter patterns accepted.
    Used {
        tracer: String,
        filters: Vec<String>,
    },
    /// The kernel refused it; events were captured alone.
    Refused {
        reason: String,
    },
    NotRequested,
}

/// The outcome of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResult {
    /// tracefs mount point and the instance used (already removed); null for a saved trace.
    pub tracefs: Option<PathBuf>,
    pub instance: Option<String>,
    pub function_tracer: FunctionTracer,
    pub events_enabled: Vec<String>,
    pub events_missing: Vec<String>,
    /// A stacktrace trigger recorded drop call paths.
    pub stack_on_drop: bool,
    pub duration_s: f64,
    pub events: Vec<TraceEvent>,
    pub summary: TraceSummary,
    /// Events summarized but left out of `events` (beyond `max_events`).
    pub events_not_kept: u64,
    /// Events the kernel lost (ring buffer overrun); nonzero means the summary is incomplete.
    pub lost_events: u64,
    /// Lines of raw trace text read.
    pub raw_lines: u64,
    /// Things a reader should know (fallbacks, symbolization problems).
    pub notes: Vec<String>,
}

/// Live numbers for a status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub lines: u64,
    pub events: u64,
    pub drops: u64,
    pub lost_events: u64,
}

/// A running capture. Call [`Capture::stop`]; dropping it removes the instance without a result.
pub struct Capture {
    options: CaptureOptions,
    // Field order matters for Drop: the reader closes trace_pipe, then the instance goes, then
    // a private tracefs mount (if we made one) goes with the handle.
    reader: Option<JoinHandle<ReaderOutput>>,
    stop_reader: Arc<AtomicBool>,
    counters: Arc<Counters>,
    instance: Option<Instance>,
    tracefs: Tracefs,
    function_tracer: FunctionTracer,
    events_enabled: Vec<String>,
    events_missing: Vec<String>,
    stack_on_drop: bool,
    notes: Vec<String>,
    started: Instant,
}

impl Capture {
    /// Creates the private instance, sets it up and starts recording.
    ///
    /// Also installs the process-wide SIGINT/SIGTERM/panic cleanup ([`cleanup::install_handlers`]).
    pub fn start(options: CaptureOptions) -> Result<Capture, Error> {
        cleanup::install_handlers();
        let tracefs = Tracefs::open(options.tracefs.as_deref())?;
        let instance = Instance::create(&tracefs)?;
        let mut notes = Vec::new();
        // Nothing is recorded until the setup is complete.
        instance
            .write("tracing_on", "0")
            .map_err(|e| Error::io("write", instance.path("tracing_on"), e))?;
        let buffer_kb = match options.buffer_size_kb {
            0 => default_buffer_kb(&instance),
            kb => kb,
        };
        if let Err(e) = instance.write("buffer_size_kb", &buffer_kb.to_string()) {
            notes.push(format!("ring buffer left at its default size ({e})"));
        }

        let function_tracer = if options.functions || options.graph {
            set_up_functions(&tracefs, &instance, options.graph, &mut notes)
        } else {
            FunctionTracer::NotRequested
        };

        let mut wanted: Vec<String> = options.events.clone();
        for xfrm_event in xfrm_event_names(&instance) {
            if !wanted.contains(&xfrm_event) {
                wanted.push(xfrm_event);
            }
        }
        let mut events_enabled = Vec::new();
        let mut events_missing = Vec::new();
        for event in &wanted {
            let enable = format!("events/{}/enable", event.replacen(':', "/", 1));
            if !instance.exists(&enable) {
                events_missing.push(event.clone());
                continue;
            }
            match instance.write(&enable, "1") {
                Ok(()) => events_enabled.push(event.clone()),
                Err(e) => {
                    notes.push(format!("event {event} could not be enabled: {e}"));
                    events_missing.push(event.clone());
                }
            }
        }
        let functions_used = matches!(function_tracer, FunctionTracer::Used { .. });
        if events_enabled.is_empty() && !functions_used {
            return Err(Error::NoEvents {
                requested: wanted.join(", "),
            });
        }

        let stack_on_drop = options.stack_on_drop
            && events_enabled.iter().any(|e| e == "skb:kfree_skb")
            && match instance.write("events/skb/kfree_skb/trigger", "stacktrace") {
                Ok(()) => true,
                Err(e) => {
                    notes.push(format!(
                        "no kernel stacks for drops (stacktrace trigger refused: {e})"
                    ));
                    false
                }
            };

        let stop_reader = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let pipe_path = instance.path("trace_pipe");
        let pipe = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags_nonblock()
            .open(&pipe_path)
            .map_err(|e| Error::io("open", pipe_path.clone(), e))?;
        let guard = ReaderGuard::new();
        let raw_file = match &options.raw_path {
            Some(p) => {
                Some(std::fs::File::create(p).map_err(|e| Error::io("create", p.clone(), e))?)
            }
            None => None,
        };
        // Recording starts before the reader: the ring buffer holds events until it is read, and
        // an error here leaves no thread holding trace_pipe open (which would keep the instance).
        instance
            .write("tracing_on", "1")
            .map_err(|e| Error::io("write", instance.path("tracing_on"), e))?;
        let reader = {
            let stop = stop_reader.clone();
            let counters = counters.clone();
            let stream = Stream::new(&options);
            std::thread::Builder::new()
                .name("xfrmdiag-trace-reader".into())
                .spawn(move || read_pipe(pipe, guard, raw_file, stop, counters, stream))
                .map_err(|e| Error::io("start reader thread for", pipe_path, e))?
        };

        Ok(Capture {
            options,
            reader: Some(reader),
            stop_reader,
            counters,
            instance: Some(instance),
            tracefs,
            function_tracer,
            events_enabled,
            events_missing,
            stack_on_drop,
            notes,
            started: Instant::now(),
        })
    }

    /// How the function tracer was set up (to say it once, before the window runs).
    pub fn function_tracer(&self) -> &FunctionTracer {
        &self.function_tracer
    }

    pub fn instance_name(&self) -> &str {
        self.instance.as_ref().map_or("", |i| i.name())
    }

    pub fn events_enabled(&self) -> &[String] {
        &self.events_enabled
    }

    /// Numbers so far, for a status line.
    pub fn progress(&self) -> Progress {
        Progress {
            lines: self.counters.lines.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
            drops: self.counters.drops.load(Ordering::Relaxed),
            lost_events: self.counters.lost.load(Ordering::Relaxed),
        }
    }

    /// Stops recording, reads what is left, removes the instance and summarizes.
    pub fn stop(mut self) -> Result<TraceResult, Error> {
        if cleanup::interrupted() {
            cleanup::wait_for_exit();
        }
        let duration_s = self.started.elapsed().as_secs_f64();
        if let Some(instance) = &self.instance {
            let _ = instance.write("tracing_on", "0");
        }
        let output = self.join_reader();
        let instance_name = self.instance_name().to_string();
        if let Some(mut instance) = self.instance.take() {
            instance.remove()?;
        }
        let ReaderOutput { mut stream, error } = output;
        if let Some(e) = error {
            return Err(e);
        }
        let rest = std::mem::take(&mut stream.parser).finish();
        stream.settle(rest.events);
        let parsed = ParsedTrace {
            events: Vec::new(),
            ..rest
        };
        let mut notes = std::mem::take(&mut self.notes);
        stream.symbols.notes(&mut notes);
        if stream.not_kept > 0 {
            notes.push(format!(
                "only the first {} events are listed ({} more were summarized but not kept)",
                stream.kept.len(),
                stream.not_kept
            ));
        }
        if parsed.lost_events > 0 {
            notes.push(format!(
                "{} events were lost (ring buffer overrun): counts are incomplete",
                parsed.lost_events
            ));
        }
        if !parsed.unparsed.is_empty() {
            notes.push(format!(
                "{} trace lines were not understood, e.g. {:?}",
                parsed.unparsed.len(),
                parsed.unparsed[0]
            ));
        }
        let summary = stream.summarizer.finish();
        let events = stream.kept;
        Ok(TraceResult {
            tracefs: Some(self.tracefs.mount_point().to_path_buf()),
            instance: Some(instance_name),
            function_tracer: self.function_tracer.clone(),
            events_enabled: self.events_enabled.clone(),
            events_missing: self.events_missing.clone(),
            stack_on_drop: self.stack_on_drop,
            duration_s,
            events,
            summary,
            events_not_kept: stream.not_kept,
            lost_events: parsed.lost_events,
            raw_lines: parsed.lines,
            notes,
        })
    }

    fn join_reader(&mut self) -> ReaderOutput {
        self.stop_reader.store(true, Ordering::SeqCst);
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok(output)) => output,
            _ => ReaderOutput {
                stream: Stream::new(&self.options),
                error: Some(Error::Unavailable {
                    detail: "the trace reader thread failed".into(),
                }),
            },
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.join_reader();
        }
        if let Some(mut instance) = self.instance.take() {
            let _ = instance.remove();
        }
    }
}
