//! A capture in a private instance: start, let traffic happen, stop, get a [`TraceResult`].
//!
//! Never touches the global tracer, filters or buffer: everything is written inside
//! `instances/xfrmdiag-<pid>`, which is removed on stop, on drop, and by the signal and panic
//! cleanup ([`crate::cleanup`]). Where the function tracer is refused (lockdown), the capture
//! says so once in [`FunctionTracer::Refused`] and records the events alone: `skb:kfree_skb`
//! still gives the drop reason and location, and a `stacktrace` trigger gives the call path.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cleanup::{self, ReaderGuard};
use crate::kallsyms::Kallsyms;
use crate::parse::{EventKind, ParsedTrace, TraceEvent, TraceParser};
use crate::probe::refusal;
use crate::summary::{summarize, symbolize_events, DropFilter, Summarizer, TraceSummary};
use crate::tracefs::{Instance, Tracefs};
use crate::Error;

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

#[derive(Default)]
struct Counters {
    lines: AtomicU64,
    events: AtomicU64,
    drops: AtomicU64,
    lost: AtomicU64,
}

struct ReaderOutput {
    stream: Stream,
    error: Option<Error>,
}

/// What the reader builds while lines arrive: the summary of every event, the first
/// `max_events` events themselves, and symbols for raw drop addresses.
struct Stream {
    parser: TraceParser,
    summarizer: Summarizer,
    kept: Vec<TraceEvent>,
    max_events: usize,
    not_kept: u64,
    symbols: LazySymbols,
}

impl Stream {
    fn new(options: &CaptureOptions) -> Stream {
        Stream {
            parser: TraceParser::default(),
            summarizer: Summarizer::new(options.drop_filter.clone()),
            kept: Vec::new(),
            max_events: options.max_events,
            not_kept: 0,
            symbols: LazySymbols::new(&options.proc_root),
        }
    }

    fn settle(&mut self, events: Vec<TraceEvent>) {
        for mut event in events {
            self.symbols.fix(&mut event);
            self.summarizer.feed(&event);
            if self.kept.len() < self.max_events {
                self.kept.push(event);
            } else {
                self.not_kept += 1;
            }
        }
    }
}

/// kallsyms, loaded the first time a drop location is a raw address (kernels up to 6.1).
struct LazySymbols {
    proc_root: PathBuf,
    table: Option<Result<Kallsyms, String>>,
    hashed_seen: bool,
    resolved_any: bool,
}

impl LazySymbols {
    fn new(proc_root: &Path) -> LazySymbols {
        LazySymbols {
            proc_root: proc_root.to_path_buf(),
            table: None,
            hashed_seen: false,
            resolved_any: false,
        }
    }

    fn fix(&mut self, event: &mut TraceEvent) {
        let EventKind::Tracepoint {
            location: Some(location),
            ..
        } = &mut event.kind
        else {
            return;
        };
        let Some(address) = location.address.filter(|_| location.symbol.is_none()) else {
            return;
        };
        if !crate::kallsyms::is_kernel_address(address) {
            self.hashed_seen = true;
            return;
        }
        let proc_root = &self.proc_root;
        let table = self
            .table
            .get_or_insert_with(|| Kallsyms::load(proc_root).map_err(|e| e.to_string()));
        if let Ok(table) = table {
            table.symbolize(location);
            self.resolved_any |= location.symbol.is_some();
        }
    }

    fn notes(&self, notes: &mut Vec<String>) {
        if self.hashed_seen {
            notes.push(HASHED_NOTE.into());
        }
        match &self.table {
            Some(Err(e)) => notes.push(format!("drop locations left as addresses: {e}")),
            Some(Ok(_)) if self.resolved_any => notes.push(SYMBOLIZED_NOTE.into()),
            _ => {}
        }
    }
}

const HASHED_NOTE: &str = "some drop locations are hashed pointers and cannot be symbolized: boot with no_hash_pointers (kernels up to 6.1 print the location with %p)";
const SYMBOLIZED_NOTE: &str =
    "drop locations were printed as addresses and symbolized through kallsyms";

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

/// 32 MiB shared by the CPUs the instance records on, 512 KiB to 4 MiB each.
fn default_buffer_kb(instance: &Instance) -> u32 {
    let cpus = std::fs::read_dir(instance.path("per_cpu"))
        .map(|d| d.count())
        .unwrap_or(0)
        .max(1) as u32;
    (32 * 1024 / cpus).clamp(512, 4096)
}

/// Applies the function filter and sets the tracer; any refusal becomes `Refused`.
fn set_up_functions(
    tracefs: &Tracefs,
    instance: &Instance,
    graph: bool,
    notes: &mut Vec<String>,
) -> FunctionTracer {
    let instance_tracers = instance.read("available_tracers").unwrap_or_default();
    let offered = |t: &str| instance_tracers.split_whitespace().any(|x| x == t);
    let tracer = if graph && offered("function_graph") {
        "function_graph"
    } else {
        if graph {
            notes.push(
                "function_graph is not offered in tracefs instances on this kernel: used function"
                    .into(),
            );
        }
        "function"
    };
    if !offered(tracer) {
        return FunctionTracer::Refused {
            reason: format!("the {tracer} tracer is not available in instances on this kernel"),
        };
    }
    // Plain names only when the kernel has them (a name that matches nothing is an error).
    let available = tracefs.read("available_filter_functions").ok();
    let mut accepted = Vec::new();
    let mut first_error = None;
    for pattern in FILTER_FUNCTIONS {
        let is_glob = pattern.contains('*');
        if !is_glob {
            if let Some(list) = &available {
                if !list
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(pattern))
                {
                    continue;
                }
            }
        }
        match instance.append("set_ftrace_filter", pattern) {
            Ok(()) => accepted.push(pattern.to_string()),
            Err(e) => {
                if e.raw_os_error() == Some(nix::libc::EPERM) {
                    return FunctionTracer::Refused {
                        reason: refusal("set_ftrace_filter", &e),
                    };
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if accepted.is_empty() {
        // An empty filter would trace every function in the kernel: never do that.
        let _ = instance.write("set_ftrace_filter", "");
        return FunctionTracer::Refused {
            reason: match first_error {
                Some(e) => format!("no function matched the filter ({e})"),
                None => "no function matched the filter".into(),
            },
        };
    }
    for pattern in NOTRACE_FUNCTIONS {
        // Best effort: a pattern that matches nothing is refused, and that is fine.
        let _ = instance.append("set_ftrace_notrace", pattern);
    }
    if tracer == "function_graph" {
        // Timestamps and task names on every line, as the function tracer has them.
        let _ = instance.write("options/funcgraph-abstime", "1");
        let _ = instance.write("options/funcgraph-proc", "1");
    }
    match instance.write("current_tracer", tracer) {
        Ok(()) => {
            if tracer == "function_graph" {
                // Some kernels only create the tracer's option files once it is current.
                let _ = instance.write("options/funcgraph-abstime", "1");
                let _ = instance.write("options/funcgraph-proc", "1");
            }
            FunctionTracer::Used {
                tracer: tracer.to_string(),
                filters: accepted,
            }
        }
        Err(e) => {
            let _ = instance.write("set_ftrace_filter", "");
            FunctionTracer::Refused {
                reason: refusal("current_tracer", &e),
            }
        }
    }
}

/// Every event of an `xfrm*` system in the instance, as `system:name`.
fn xfrm_event_names(instance: &Instance) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(systems) = std::fs::read_dir(instance.path("events")) {
        for system in systems.flatten() {
            let sys = system.file_name().to_string_lossy().into_owned();
            if !sys.contains("xfrm") {
                continue;
            }
            for event in std::fs::read_dir(system.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if event.path().join("enable").exists() && event.path().join("format").exists() {
                    names.push(format!("{sys}:{}", event.file_name().to_string_lossy()));
                }
            }
        }
    }
    names.sort();
    names
}

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

/// Reads trace_pipe until asked to stop, then drains what is left.
fn read_pipe(
    mut pipe: std::fs::File,
    guard: ReaderGuard,
    mut raw: Option<std::fs::File>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    mut stream: Stream,
) -> ReaderOutput {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut error = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut stopping_since: Option<Instant> = None;
    loop {
        let stop_now = stop.load(Ordering::SeqCst) || cleanup::stop_requested();
        if stop_now && stopping_since.is_none() {
            stopping_since = Some(Instant::now());
        }
        match pipe.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                if let Some(f) = raw.as_mut() {
                    let _ = f.write_all(&buf[..n]);
                }
                pending.extend_from_slice(&buf[..n]);
                feed_complete_lines(&mut stream, &mut pending, &counters);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                error = Some(Error::io("read", "trace_pipe", e));
                break;
            }
        }
        // Empty for now. When stopping, a short grace lets the last per-CPU pages flush.
        if let Some(since) = stopping_since {
            if since.elapsed() > Duration::from_millis(150) {
                break;
            }
        }
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(50u16));
    }
    if !pending.is_empty() {
        let line = String::from_utf8_lossy(&pending).into_owned();
        stream.parser.feed_line(&line);
    }
    drop(pipe);
    drop(guard);
    ReaderOutput { stream, error }
}

fn feed_complete_lines(stream: &mut Stream, pending: &mut Vec<u8>, counters: &Counters) {
    let Some(last_newline) = pending.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    {
        let text = String::from_utf8_lossy(&pending[..last_newline]);
        for line in text.split('\n') {
            stream.parser.feed_line(line);
            counters.lines.fetch_add(1, Ordering::Relaxed);
        }
    }
    pending.drain(..=last_newline);
    let settled = stream.parser.take_settled_events();
    counters
        .events
        .fetch_add(settled.len() as u64, Ordering::Relaxed);
    let drops = settled
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Tracepoint { name, .. } if name == "kfree_skb"))
        .count();
    counters.drops.fetch_add(drops as u64, Ordering::Relaxed);
    counters
        .lost
        .store(stream.parser.lost_events(), Ordering::Relaxed);
    stream.settle(settled);
}

/// `OpenOptions` with O_NONBLOCK, so the reader can poll and notice a stop request.
trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_NONBLOCK)
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
