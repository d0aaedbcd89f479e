//! The reader thread: trace_pipe lines into events, a running summary, and symbols for raw
//! drop addresses.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cleanup::{self, ReaderGuard};
use crate::kallsyms::Kallsyms;
use crate::parse::{EventKind, TraceEvent, TraceParser};
use crate::summary::Summarizer;
use crate::Error;

use super::CaptureOptions;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) lines: AtomicU64,
    pub(super) events: AtomicU64,
    pub(super) drops: AtomicU64,
    pub(super) lost: AtomicU64,
}

pub(super) struct ReaderOutput {
    pub(super) stream: Stream,
    pub(super) error: Option<Error>,
}

/// What the reader builds while lines arrive: the summary of every event, the first
/// `max_events` events themselves, and symbols for raw drop addresses.
pub(super) struct Stream {
    pub(super) parser: TraceParser,
    pub(super) summarizer: Summarizer,
    pub(super) kept: Vec<TraceEvent>,
    max_events: usize,
    pub(super) not_kept: u64,
    pub(super) symbols: LazySymbols,
}

impl Stream {
    pub(super) fn new(options: &CaptureOptions) -> Stream {
        Stream {
            parser: TraceParser::default(),
            summarizer: Summarizer::new(options.drop_filter.clone()),
            kept: Vec::new(),
            max_events: options.max_events,
            not_kept: 0,
            symbols: LazySymbols::new(&options.proc_root),
        }
    }

    pub(super) fn settle(&mut self, events: Vec<TraceEvent>) {
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
pub(super) struct LazySymbols {
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

    pub(super) fn notes(&self, notes: &mut Vec<String>) {
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

pub(super) const HASHED_NOTE: &str = "some drop locations are hashed pointers and cannot be symbolized: boot with no_hash_pointers (kernels up to 6.1 print the location with %p)";
pub(super) const SYMBOLIZED_NOTE: &str =
    "drop locations were printed as addresses and symbolized through kallsyms";

/// Reads trace_pipe until asked to stop, then drains what is left.
pub(super) fn read_pipe(
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
pub(super) trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_NONBLOCK)
    }
}
