//! Parsing ftrace text (`trace` and `trace_pipe`) into events.
//!
//! One parser for the three shapes a capture produces, line by line:
//! - the function tracer: `task-pid [cpu] flags ts: func <-parent`
//! - events (tracepoints): `task-pid [cpu] flags ts: kfree_skb: skbaddr=… reason: NO_SOCKET`,
//!   followed by `<stack trace>` and ` => frame` lines when a stacktrace trigger is set
//! - function_graph: `[ts |] cpu) [task |] duration | func() {`, `func();`, `}`, and events as
//!   `/* kfree_skb: … */` comments.
//!
//! Lost events (`CPU:1 [LOST 12 EVENTS]`) and the `entries-in-buffer/entries-written` header are
//! counted, never hidden. The `kfree_skb` location is kept as printed: `sym+0x1c/0x80` on 6.12+,
//! a raw hex address on kernels up to 6.1 (see [`Location`], symbolized later through kallsyms).

use serde::{Deserialize, Serialize};

/// One parsed trace line (or a stack trace with its frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub cpu: u32,
    /// Seconds, as the trace clock prints them; function_graph lines without abstime have none.
    pub timestamp: Option<f64>,
    pub task: Option<String>,
    pub pid: Option<u32>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What a line says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Function tracer: `function` was called from `parent`.
    Function {
        function: String,
        parent: Option<String>,
    },
    /// function_graph: `function() {` at `depth`.
    GraphEntry { function: String, depth: u32 },
    /// function_graph: a leaf call `function();` with its duration.
    GraphCall {
        function: String,
        depth: u32,
        duration_us: Option<f64>,
    },
    /// function_graph: `}` closing the function entered at `depth`.
    GraphExit {
        function: Option<String>,
        depth: u32,
        duration_us: Option<f64>,
    },
    /// A tracepoint, e.g. `skb:kfree_skb` (name without the system, as ftrace prints it).
    Tracepoint {
        name: String,
        /// `key=value` fields in printed order (a JSON object).
        #[serde(with = "fields_as_map")]
        fields: Vec<(String, String)>,
        /// For events with a `location=` field (kfree_skb, consume_skb).
        location: Option<Location>,
        /// For kfree_skb: the drop reason (`NO_SOCKET`, `XFRM_POLICY`, …).
        reason: Option<String>,
    },
    /// A kernel stack (stacktrace trigger or func_stack_trace), innermost frame first.
    StackTrace { frames: Vec<String> },
}

/// Event fields keep their printed order in memory and read as a JSON object.
mod fields_as_map {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(fields: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of event fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Where something happened in the kernel: a symbol with offset, or a raw address to symbolize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Function name, when known (printed by the kernel or found in kallsyms).
    pub symbol: Option<String>,
    /// Offset into `symbol`.
    pub offset: Option<u64>,
    /// Raw address as printed by kernels up to 6.1 (`%p`; real only with `no_hash_pointers`).
    pub address: Option<u64>,
}

impl Location {
    /// Parses `sym+0x1c/0x80`, `sym+0x1c`, `sym`, `ffffffff81a2b3df` or `0xffffffff81a2b3df`.
    pub fn parse(text: &str) -> Option<Location> {
        let text = text.trim();
        if text.is_empty() || text == "(null)" {
            return None;
        }
        let hex = text.strip_prefix("0x").unwrap_or(text);
        if hex.len() >= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(Location {
                symbol: None,
                offset: None,
                address: u64::from_str_radix(hex, 16).ok(),
            });
        }
        let (name, rest) = match text.split_once('+') {
            Some((name, rest)) => (name, Some(rest)),
            None => (text, None),
        };
        let offset = rest.and_then(|r| {
            let off = r.split('/').next().unwrap_or(r);
            u64::from_str_radix(off.trim_start_matches("0x"), 16).ok()
        });
        Some(Location {
            symbol: Some(name.to_string()),
            offset,
            address: None,
        })
    }

    /// `sym+0x1df`, or the raw address when no symbol is known.
    pub fn display(&self) -> String {
        match (&self.symbol, self.offset, self.address) {
            (Some(s), Some(off), _) => format!("{s}+0x{off:x}"),
            (Some(s), None, _) => s.clone(),
            (None, _, Some(addr)) => format!("0x{addr:x}"),
            (None, _, None) => "?".to_string(),
        }
    }
}

/// A whole parsed text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedTrace {
    pub events: Vec<TraceEvent>,
    /// Events the kernel reported as lost (ring buffer overrun).
    pub lost_events: u64,
    /// Lines read, including headers.
    pub lines: u64,
    /// Lines that were neither headers nor understood (kept short for reports).
    pub unparsed: Vec<String>,
}

/// Parses a whole trace text.
pub fn parse(text: &str) -> ParsedTrace {
    let mut parser = TraceParser::default();
    for line in text.lines() {
        parser.feed_line(line);
    }
    parser.finish()
}

/// Incremental parser: feed lines as they come from `trace_pipe`.
#[derive(Debug, Default)]
pub struct TraceParser {
    out: ParsedTrace,
    /// Context of the last event line, for function_graph lines and stack frames that lack it.
    last_cpu: u32,
}

/// How many unparsed lines a result keeps as examples.
const UNPARSED_KEEP: usize = 20;

impl TraceParser {
    pub fn events(&self) -> &[TraceEvent] {
        &self.out.events
    }

    pub fn lost_events(&self) -> u64 {
        self.out.lost_events
    }

    pub fn finish(self) -> ParsedTrace {
        self.out
    }

    /// Takes the events parsed so far except the last one, which may still get stack frames.
    pub fn take_settled_events(&mut self) -> Vec<TraceEvent> {
        let keep_from = self.out.events.len().saturating_sub(1);
        let last = self.out.events.split_off(keep_from);
        std::mem::replace(&mut self.out.events, last)
    }

    pub fn feed_line(&mut self, line: &str) {
        self.out.lines += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            return;
        }
        match trimmed.as_bytes()[0] {
            b'#' => return self.header(trimmed),
            b'=' if trimmed.starts_with("=> ") => return self.frame(&trimmed[3..]),
            b'-' if trimmed.bytes().all(|b| b == b'-') => return, // graph task-switch rule
            b'C' if trimmed.starts_with("CPU:") => {
                if let Some(n) = lost_count(trimmed) {
                    // Counts come from the text: a damaged line must not overflow the sum.
                    self.out.lost_events = self.out.lost_events.saturating_add(n);
                    return;
                }
            }
            _ => {}
        }
        if self.event_line(line) || self.graph_line(trimmed) {
            return;
        }
        if self.out.unparsed.len() < UNPARSED_KEEP {
            self.out.unparsed.push(line.to_string());
        }
    }

    /// `# entries-in-buffer/entries-written: 17/20   #P:2`: the difference was overwritten.
    fn header(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("# entries-in-buffer/entries-written:") {
            let numbers = rest.split_whitespace().next().unwrap_or("");
            if let Some((kept, written)) = numbers.split_once('/') {
                if let (Ok(kept), Ok(written)) = (kept.parse::<u64>(), written.parse::<u64>()) {
                    self.out.lost_events = self
                        .out
                        .lost_events
                        .saturating_add(written.saturating_sub(kept));
                }
            }
        }
    }

    fn frame(&mut self, frame: &str) {
        if let Some(TraceEvent {
            kind: EventKind::StackTrace { frames },
            ..
        }) = self.out.events.last_mut()
        {
            frames.push(frame.trim().to_string());
        }
    }

    /// `task-pid [cpu] flags ts: body` (function tracer, events, stack trace headers).
    fn event_line(&mut self, line: &str) -> bool {
        let Some(open) = line.find(" [") else {
            return false;
        };
        let Some(close_rel) = line[open + 2..].find(']') else {
            return false;
        };
        let Ok(cpu) = line[open + 2..open + 2 + close_rel].trim().parse::<u32>() else {
            return false;
        };
        let (task, pid) = task_pid(line[..open].trim());
        let after = &line[open + 3 + close_rel..];
        // Optional irq/preempt flags, then the timestamp ending in ':'.
        let Some(colon) = after
            .find(": ")
            .or_else(|| after.strip_suffix(':').map(|s| s.len()))
        else {
            return false;
        };
        let ts_text = after[..colon].split_whitespace().last().unwrap_or("");
        let Ok(timestamp) = ts_text.parse::<f64>() else {
            return false;
        };
        let body = after.get(colon + 2..).unwrap_or("").trim_end();
        let kind = parse_body(body);
        self.last_cpu = cpu;
        self.out.events.push(TraceEvent {
            cpu,
            timestamp: Some(timestamp),
            task,
            pid,
            kind,
        });
        true
    }

    /// function_graph: `[ts |] cpu) [task |] [duration] | column`.
    fn graph_line(&mut self, line: &str) -> bool {
        let mut rest = line;
        let mut timestamp = None;
        // funcgraph-abstime: "423.609011 |   0) ..."
        if let Some((head, tail)) = rest.split_once('|') {
            if let Ok(ts) = head.trim().parse::<f64>() {
                timestamp = Some(ts);
                rest = tail.trim_start();
            }
        }
        let Some(paren) = rest.find(')') else {
            return false;
        };
        let Ok(cpu) = rest[..paren].trim().parse::<u32>() else {
            return false;
        };
        rest = &rest[paren + 1..];
        let Some(bar) = rest.find('|') else {
            // " 0)  python3-1  =>  ksoftirqd-2 " task switch, or an irq marker: nothing to keep.
            return true;
        };
        let mut task = None;
        let mut pid = None;
        let mut segment = &rest[..bar];
        let mut column = &rest[bar + 1..];
        if !looks_like_duration(segment) {
            // funcgraph-proc: "python3-10697  |  duration | column"
            let (t, p) = task_pid(segment.trim());
            task = t;
            pid = p;
            let Some(bar2) = column.find('|') else {
                return true;
            };
            segment = &column[..bar2];
            column = &column[bar2 + 1..];
        }
        let duration_us = parse_duration(segment);
        let Some(kind) = parse_graph_column(column, duration_us) else {
            return true; // irq markers and the like
        };
        self.last_cpu = cpu;
        self.out.events.push(TraceEvent {
            cpu,
            timestamp,
            task,
            pid,
            kind,
        });
        true
    }
}

/// `CPU:1 [LOST 123 EVENTS]`
fn lost_count(line: &str) -> Option<u64> {
    let start = line.find("[LOST ")? + 6;
    let end = line[start..].find(' ')? + start;
    line[start..end].parse().ok()
}

/// `python3-10697` → (`python3`, 10697); `<idle>-0` → (`<idle>`, 0); `task-1 (  1)` with tgid.
fn task_pid(text: &str) -> (Option<String>, Option<u32>) {
    let text = match text.find(" (") {
        Some(i) => text[..i].trim_end(),
        None => text,
    };
    match text.rfind('-') {
        Some(i) => match text[i + 1..].parse::<u32>() {
            Ok(pid) => (Some(text[..i].to_string()), Some(pid)),
            Err(_) => (Some(text.to_string()), None),
        },
        None if text.is_empty() => (None, None),
        None => (Some(text.to_string()), None),
    }
}

/// The part after the timestamp: a function call, an event, or a stack trace header.
fn parse_body(body: &str) -> EventKind {
    if body.starts_with("<stack trace>") || body.starts_with("<user stack trace>") {
        return EventKind::StackTrace { frames: Vec::new() };
    }
    let first_end = body.find(' ').unwrap_or(body.len());
    let first = &body[..first_end];
    if let Some(name) = first.strip_suffix(':') {
        return tracepoint(name, body[first_end..].trim());
    }
    if let Some(parent) = body[first_end..].trim_start().strip_prefix("<-") {
        return EventKind::Function {
            function: strip_offset(first).to_string(),
            // func-no-repeats appends "(repeats: 3 delta: …)" after the parent.
            parent: Some(strip_offset(parent.split_whitespace().next().unwrap_or("")).to_string()),
        };
    }
    EventKind::Function {
        function: strip_offset(first).to_string(),
        parent: None,
    }
}

/// `xfrm_input+0x0/0x9c0` → `xfrm_input` (the function tracer with sym-offset).
fn strip_offset(name: &str) -> &str {
    let name = name.split_once('(').map_or(name, |(n, _)| n);
    name.split_once('+').map_or(name, |(n, _)| n)
}

/// An event body: `key=value` pairs, and `key: value` for kfree_skb's reason.
fn tracepoint(name: &str, text: &str) -> EventKind {
    let mut fields = Vec::new();
    let mut tokens = text.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        if let Some((k, v)) = token.split_once('=') {
            fields.push((k.to_string(), v.to_string()));
        } else if let Some(k) = token.strip_suffix(':') {
            let v = tokens.next().unwrap_or("");
            fields.push((k.to_string(), v.to_string()));
        } else if let Some((_, v)) = fields.last_mut() {
            // A value with spaces (e.g. a device alias): keep it whole.
            v.push(' ');
            v.push_str(token);
        }
    }
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let location = field("location").and_then(|v| Location::parse(v));
    let reason = field("reason").cloned();
    EventKind::Tracepoint {
        name: name.to_string(),
        fields,
        location,
        reason,
    }
}

/// A function_graph duration column: blank, or `[+!#*@$] 12.345 us`.
fn looks_like_duration(segment: &str) -> bool {
    let s = segment.trim();
    s.is_empty() || s.ends_with("us") || s.contains("==========")
}

fn parse_duration(segment: &str) -> Option<f64> {
    let s = segment.trim().trim_end_matches("us").trim();
    let s = s.trim_start_matches(['+', '!', '#', '*', '@', '$']).trim();
    s.parse().ok()
}

/// The function column: indentation gives the depth (two spaces per level after the first two).
fn parse_graph_column(column: &str, duration_us: Option<f64>) -> Option<EventKind> {
    let content = column.trim_start();
    let indent = column.len() - content.len();
    let depth = (indent.saturating_sub(2) / 2) as u32;
    let content = content.trim_end();
    if let Some(comment) = content.strip_prefix("/*") {
        let inner = comment.trim_end_matches("*/").trim();
        let first_end = inner.find(' ').unwrap_or(inner.len());
        let name = inner[..first_end].trim_end_matches(':');
        return Some(tracepoint(name, inner[first_end..].trim()));
    }
    if let Some(rest) = content.strip_prefix('}') {
        // funcgraph-tail: "} /* xfrm_input */"
        let function = rest
            .trim()
            .strip_prefix("/*")
            .map(|c| c.trim_end_matches("*/").trim().to_string())
            .filter(|s| !s.is_empty());
        return Some(EventKind::GraphExit {
            function,
            depth,
            duration_us,
        });
    }
    let name_end = content.find("()")?;
    // Module functions print as `esp_input [esp4]()`: the name is what comes before the module.
    let name = content[..name_end]
        .split_once(" [")
        .map_or(&content[..name_end], |(n, _)| n);
    let function = strip_offset(name).to_string();
    if function.is_empty() || function.contains(' ') {
        return None;
    }
    let after = content[name_end + 2..].trim_start();
    if after.starts_with('{') {
        Some(EventKind::GraphEntry { function, depth })
    } else {
        Some(EventKind::GraphCall {
            function,
            depth,
            duration_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfree_skb_6_18_symbol_location() {
        let t = parse("         python3-10697  [000] ..s1.   423.609063: kfree_skb: skbaddr=00000000e3421851 rx_sk=000000002e78982a protocol=2048 location=udp_queue_rcv_one_skb+0x153/0x4c0 reason: XFRM_POLICY");
        assert_eq!(t.events.len(), 1);
        let e = &t.events[0];
        assert_eq!(
            (e.cpu, e.pid, e.task.as_deref()),
            (0, Some(10697), Some("python3"))
        );
        assert_eq!(e.timestamp, Some(423.609063));
        let EventKind::Tracepoint {
            name,
            location,
            reason,
            ..
        } = &e.kind
        else {
            panic!("{e:?}")
        };
        assert_eq!(name, "kfree_skb");
        assert_eq!(reason.as_deref(), Some("XFRM_POLICY"));
        assert_eq!(
            location.as_ref().unwrap().display(),
            "udp_queue_rcv_one_skb+0x153"
        );
    }

    #[test]
    fn kfree_skb_6_1_raw_address() {
        let t = parse("  ksoftirqd/0-15  [000] ..s1.   52.123456: kfree_skb: skbaddr=ffff8880041a2b00 protocol=2048 location=ffffffff81a2b3df reason: NOT_SPECIFIED");
        let EventKind::Tracepoint { location, .. } = &t.events[0].kind else {
            panic!()
        };
        assert_eq!(location.as_ref().unwrap().address, Some(0xffffffff81a2b3df));
        assert_eq!(t.events[0].task.as_deref(), Some("ksoftirqd/0"));
    }

    #[test]
    fn function_line_and_lost() {
        let t = parse("   <idle>-0       [001] ..s2.   100.000001: xfrm_input <-xfrm4_rcv_encap\nCPU:1 [LOST 42 EVENTS]\n");
        assert_eq!(t.lost_events, 42);
        assert_eq!(
            t.events[0].kind,
            EventKind::Function {
                function: "xfrm_input".into(),
                parent: Some("xfrm4_rcv_encap".into())
            }
        );
    }

    #[test]
    fn function_line_with_repeats_and_offsets() {
        let t = parse("  python3-1 [000] ..s1. 5.000001: xfrm_input+0x0/0x9c0 <-xfrm4_rcv_spi+0x1a/0x30 (repeats: 2 delta: -12)");
        assert_eq!(
            t.events[0].kind,
            EventKind::Function {
                function: "xfrm_input".into(),
                parent: Some("xfrm4_rcv_spi".into())
            }
        );
    }

    #[test]
    fn graph_lines() {
        let text = " 1)               |  xfrm_input() {\n 1)   0.523 us    |    xfrm_state_lookup();\n 1)               |    /* kfree_skb: skbaddr=ffff8880041a2b00 protocol=2048 location=ffffffff81a2b3df reason: NOT_SPECIFIED */\n 1) + 10.123 us   |  }\n";
        let t = parse(text);
        assert_eq!(t.unparsed, Vec::<String>::new());
        assert_eq!(t.events.len(), 4);
        assert_eq!(
            t.events[0].kind,
            EventKind::GraphEntry {
                function: "xfrm_input".into(),
                depth: 0
            }
        );
        assert!(
            matches!(t.events[1].kind, EventKind::GraphCall { depth: 1, duration_us: Some(d), .. } if d == 0.523)
        );
        assert!(
            matches!(&t.events[2].kind, EventKind::Tracepoint { name, reason: Some(r), .. } if name == "kfree_skb" && r == "NOT_SPECIFIED")
        );
        assert!(
            matches!(t.events[3].kind, EventKind::GraphExit { depth: 0, duration_us: Some(d), .. } if d == 10.123)
        );
    }

    #[test]
    fn graph_module_function() {
        // As a 6.12 instance prints a function of the esp4 module.
        let t = parse("   22.130064 |   1)   <...>-194    |               |                    esp_input [esp4]() {");
        assert_eq!(
            t.events[0].kind,
            EventKind::GraphEntry {
                function: "esp_input".into(),
                depth: 9
            }
        );
        assert_eq!(t.events[0].task.as_deref(), Some("<...>"));
    }

    #[test]
    fn graph_with_abstime_and_proc() {
        let t = parse(" 423.609011 |   0)   python3-10697  |               |  xfrm_input() {");
        let e = &t.events[0];
        assert_eq!(e.timestamp, Some(423.609011));
        assert_eq!(e.pid, Some(10697));
        assert_eq!(
            e.kind,
            EventKind::GraphEntry {
                function: "xfrm_input".into(),
                depth: 0
            }
        );
    }

    #[test]
    fn stack_trace_frames() {
        let t = parse("  python3-1 [001] ..s1. 443.887882: <stack trace>\n => trace_event_raw_event_kfree_skb\n => __udp4_lib_rcv\n");
        assert_eq!(
            t.events[0].kind,
            EventKind::StackTrace {
                frames: vec![
                    "trace_event_raw_event_kfree_skb".into(),
                    "__udp4_lib_rcv".into()
                ]
            }
        );
    }

    #[test]
    fn overwritten_entries_count_as_lost() {
        let t = parse("# entries-in-buffer/entries-written: 17/20   #P:2\n");
        assert_eq!(t.lost_events, 3);
    }
}
