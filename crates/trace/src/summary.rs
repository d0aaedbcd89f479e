//! From parsed events to what a reader (and diagnose) wants: which functions ran, where packets
//! were dropped and why, and which `xfrm_audit_*` markers named a cause inside `xfrm_input`.
//!
//! `skb:kfree_skb` is global: it reports every drop on the machine, in every namespace. A
//! [`DropFilter`] keeps the drops a caller cares about. What it can match on is what the
//! tracepoint gives: reason, location, protocol (ethertype) and — by following the skb address
//! from `net:netif_receive_skb` / `net:net_dev_xmit` — the device. It cannot see namespaces,
//! addresses or ports; device names repeat across namespaces (every veth pair may be `veth0`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::kallsyms::Kallsyms;
use crate::parse::{EventKind, TraceEvent};
use crate::Error;

/// A name and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

/// Drops that share a reason and a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropPoint {
    /// Drop reason as the kernel names it (`NO_SOCKET`, `XFRM_POLICY`, `NOT_SPECIFIED`).
    pub reason: String,
    /// `symbol+0xoff` (symbolized through kallsyms when the kernel printed an address).
    pub location: String,
    pub count: u64,
    /// Outermost first, ending at the dropping function: from the kernel stack when the
    /// stacktrace trigger worked, else from the traced functions on that CPU before the drop.
    pub call_path: Vec<String>,
    /// Ethertypes seen (2048 IPv4, 34525 IPv6).
    pub protocols: Vec<u16>,
    /// Devices the dropped skbs were last seen on (empty when not traced).
    pub devices: Vec<String>,
}

/// An `xfrm_audit_*` function that ran: the cause xfrm_input found, which its drop does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditMarker {
    pub function: String,
    pub count: u64,
    /// What the kernel was auditing. (Which cause it names is the diagnose rules' word:
    /// `xfrmdiag_diagnose::rules::cause_of_audit`.)
    pub meaning: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Traced functions by how often they ran (most first).
    pub functions_hit: Vec<NameCount>,
    /// Drops that passed the filter, most frequent first.
    pub drops: Vec<DropPoint>,
    /// Drops the filter left out (still in `events`).
    pub drops_filtered_out: u64,
    pub audit_markers: Vec<AuditMarker>,
    /// Tracepoint events by name (`kfree_skb`, `netif_receive_skb`, …).
    pub events_by_name: Vec<NameCount>,
}

/// Which drops to count. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropFilter {
    /// Keep only these reasons (`NO_SOCKET`, …).
    pub reasons: Vec<String>,
    /// Leave out these reasons.
    pub exclude_reasons: Vec<String>,
    /// Keep only drops in these functions (`udp_queue_rcv_one_skb`; `xfrm*` as a prefix).
    pub locations: Vec<String>,
    /// Keep only these ethertypes (2048 IPv4, 34525 IPv6).
    pub protocols: Vec<u16>,
    /// Keep only skbs last seen on these devices (needs the net events in the capture).
    pub devices: Vec<String>,
}

impl DropFilter {
    pub fn is_empty(&self) -> bool {
        *self == DropFilter::default()
    }

    /// Parses `ipv4`, `ipv6` or a decimal ethertype.
    pub fn parse_protocol(text: &str) -> Result<u16, Error> {
        match text.to_ascii_lowercase().as_str() {
            "ipv4" | "ip" | "4" => Ok(0x0800),
            "ipv6" | "ip6" | "6" => Ok(0x86dd),
            other => other.parse().map_err(|_| Error::Filter {
                text: text.to_string(),
                detail: "expected ipv4, ipv6 or a decimal ethertype".into(),
            }),
        }
    }

    fn matches(&self, drop: &DropSeen) -> bool {
        let reason_ok = self.reasons.is_empty()
            || self
                .reasons
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&drop.reason));
        let not_excluded = !self
            .exclude_reasons
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&drop.reason));
        let location_ok = self.locations.is_empty()
            || self
                .locations
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => drop.symbol.starts_with(prefix),
                    None => drop.symbol == *pattern,
                });
        let protocol_ok =
            self.protocols.is_empty() || drop.protocol.is_some_and(|p| self.protocols.contains(&p));
        let device_ok = self.devices.is_empty()
            || drop
                .device
                .as_ref()
                .is_some_and(|d| self.devices.iter().any(|want| want == d));
        reason_ok && not_excluded && location_ok && protocol_ok && device_ok
    }
}

/// One kfree_skb, with what the summary learned about it.
#[derive(Debug)]
struct DropSeen {
    reason: String,
    location: String,
    symbol: String,
    protocol: Option<u16>,
    device: Option<String>,
    call_path: Vec<String>,
}

/// Resolves raw-address locations (kernels up to 6.1) in place.
pub fn symbolize_events(events: &mut [TraceEvent], kallsyms: &Kallsyms) {
    for event in events {
        if let EventKind::Tracepoint {
            location: Some(loc),
            ..
        } = &mut event.kind
        {
            kallsyms.symbolize(loc);
        }
    }
}

/// Builds the summary of parsed events (all at once; see [`Summarizer`] for a stream).
pub fn summarize(events: &[TraceEvent], filter: &DropFilter) -> TraceSummary {
    let mut summarizer = Summarizer::new(filter.clone());
    for event in events {
        summarizer.feed(event);
    }
    summarizer.finish()
}

/// Summarizes a stream of events without keeping them, so a long capture's summary stays
/// complete even when only the first events are kept.
#[derive(Debug, Default)]
pub struct Summarizer {
    filter: DropFilter,
    functions: HashMap<String, u64>,
    events_by_name: HashMap<String, u64>,
    /// The traced call stack per CPU, rebuilt from parents or graph depth (for call paths).
    stacks: HashMap<u32, Vec<String>>,
    /// Last device each skb address was seen on.
    skb_device: HashMap<String, String>,
    /// A drop per CPU waiting for the stack trace that may follow it.
    pending: HashMap<u32, DropSeen>,
    drops: Vec<DropPoint>,
    total_drops: u64,
}

impl Summarizer {
    pub fn new(filter: DropFilter) -> Summarizer {
        Summarizer {
            filter,
            ..Summarizer::default()
        }
    }

    pub fn feed(&mut self, event: &TraceEvent) {
        let cpu = event.cpu;
        if let Some(mut drop) = self.pending.remove(&cpu) {
            // The stacktrace trigger writes the stack right after the event, on the same CPU.
            if let EventKind::StackTrace { frames } = &event.kind {
                drop.call_path = path_from_stack(frames, &drop.symbol);
                self.record(drop);
                return;
            }
            self.record(drop);
        }
        match &event.kind {
            EventKind::Function { function, parent } => {
                self.count_function(function);
                let stack = self.stacks.entry(cpu).or_default();
                // Rebuild the nesting from `func <-parent`: back to the parent when it is on the
                // stack, back before an earlier call of the same function, else one level deeper
                // (through frames the filter does not trace).
                if let Some(pos) = parent
                    .as_deref()
                    .and_then(|p| stack.iter().rposition(|f| f == p))
                {
                    stack.truncate(pos + 1);
                } else if let Some(pos) = stack.iter().rposition(|f| f == function) {
                    stack.truncate(pos);
                }
                push_capped(stack, function);
            }
            EventKind::GraphEntry { function, depth }
            | EventKind::GraphCall {
                function, depth, ..
            } => {
                self.count_function(function);
                let stack = self.stacks.entry(cpu).or_default();
                stack.truncate(*depth as usize);
                push_capped(stack, function);
            }
            EventKind::GraphExit { depth, .. } => {
                // Keep the function just closed: a drop right after it was decided there.
                if let Some(stack) = self.stacks.get_mut(&cpu) {
                    stack.truncate(*depth as usize + 1);
                }
            }
            EventKind::StackTrace { .. } => {}
            EventKind::Tracepoint {
                name,
                fields,
                location,
                reason,
            } => {
                bump(&mut self.events_by_name, name);
                let field = |key: &str| {
                    fields
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.as_str())
                };
                match name.as_str() {
                    "netif_receive_skb" | "net_dev_xmit" => {
                        if let (Some(skb), Some(dev)) = (field("skbaddr"), field("dev")) {
                            self.skb_device.insert(skb.to_string(), dev.to_string());
                        }
                        self.stacks.remove(&cpu);
                    }
                    "kfree_skb" => {
                        let location = location.clone().unwrap_or(crate::parse::Location {
                            symbol: None,
                            offset: None,
                            address: None,
                        });
                        let symbol = location
                            .symbol
                            .clone()
                            .unwrap_or_else(|| location.display());
                        // Until a stack trace says better: the traced nesting on this CPU.
                        let mut call_path = self.stacks.remove(&cpu).unwrap_or_default();
                        if !call_path.contains(&symbol) {
                            call_path.push(symbol.clone());
                        }
                        let device = field("skbaddr").and_then(|s| self.skb_device.remove(s));
                        self.pending.insert(
                            cpu,
                            DropSeen {
                                reason: reason.clone().unwrap_or_else(|| "UNKNOWN".into()),
                                location: location.display(),
                                symbol,
                                protocol: field("protocol").and_then(|p| p.parse().ok()),
                                device,
                                call_path,
                            },
                        );
                    }
                    "consume_skb" => {
                        if let Some(skb) = field("skbaddr") {
                            self.skb_device.remove(skb);
                        }
                        self.stacks.remove(&cpu);
                    }
                    _ => {}
                }
            }
        }
    }

    fn count_function(&mut self, function: &str) {
        bump(&mut self.functions, function);
    }

    /// Counts a drop, grouped by reason and location, when it passes the filter.
    fn record(&mut self, drop: DropSeen) {
        self.total_drops += 1;
        if !self.filter.matches(&drop) {
            return;
        }
        let point = match self
            .drops
            .iter_mut()
            .position(|p| p.reason == drop.reason && p.location == drop.location)
        {
            Some(i) => &mut self.drops[i],
            None => {
                self.drops.push(DropPoint {
                    reason: drop.reason,
                    location: drop.location,
                    count: 0,
                    call_path: drop.call_path,
                    protocols: Vec::new(),
                    devices: Vec::new(),
                });
                self.drops.last_mut().expect("just pushed")
            }
        };
        point.count += 1;
        if let Some(p) = drop.protocol {
            if !point.protocols.contains(&p) {
                point.protocols.push(p);
            }
        }
        if let Some(d) = drop.device {
            if !point.devices.contains(&d) {
                point.devices.push(d);
            }
        }
    }

    pub fn finish(mut self) -> TraceSummary {
        let mut cpus: Vec<u32> = self.pending.keys().copied().collect();
        cpus.sort_unstable();
        for cpu in cpus {
            if let Some(drop) = self.pending.remove(&cpu) {
                self.record(drop);
            }
        }
        let mut drops = self.drops;
        drops.sort_by(|a, b| b.count.cmp(&a.count).then(a.location.cmp(&b.location)));
        let kept: u64 = drops.iter().map(|p| p.count).sum();
        let audit_markers = self
            .functions
            .iter()
            .filter(|(name, _)| is_audit_marker(name))
            .map(|(name, &count)| AuditMarker {
                function: name.clone(),
                count,
                meaning: audit_meaning(name).to_string(),
            })
            .collect::<Vec<_>>();
        TraceSummary {
            functions_hit: sorted_counts(self.functions),
            drops,
            drops_filtered_out: self.total_drops - kept,
            audit_markers: sorted_audit(audit_markers),
            events_by_name: sorted_counts(self.events_by_name),
        }
    }
}

/// Adds one to a count, allocating the key only the first time.
fn bump(map: &mut HashMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// The audit hooks themselves, not their helpers (`xfrm_audit_log_start`, `xfrm_audit_helper_*`).
fn is_audit_marker(name: &str) -> bool {
    name.starts_with("xfrm_audit_state_") || name.starts_with("xfrm_audit_policy_")
}

/// Traced stacks stay short: a runaway (missed exits) must not grow without bound.
fn push_capped(stack: &mut Vec<String>, function: &str) {
    const MAX_DEPTH: usize = 64;
    if stack.len() >= MAX_DEPTH {
        stack.remove(0);
    }
    stack.push(function.to_string());
}

fn sorted_counts(map: HashMap<String, u64>) -> Vec<NameCount> {
    let mut v: Vec<NameCount> = map
        .into_iter()
        .map(|(name, count)| NameCount { name, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    v
}

fn sorted_audit(mut v: Vec<AuditMarker>) -> Vec<AuditMarker> {
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.function.cmp(&b.function)));
    v
}

/// What each `xfrm_audit_*` function reports.
pub fn audit_meaning(function: &str) -> &'static str {
    match function {
        "xfrm_audit_state_icvfail" => {
            "integrity check (ICV) failed: wrong authentication key or corrupted packet"
        }
        "xfrm_audit_state_notfound" | "xfrm_audit_state_notfound_simple" => {
            "no SA for the SPI/destination of an inbound packet"
        }
        "xfrm_audit_state_replay" => "sequence number outside or behind the replay window",
        "xfrm_audit_state_replay_overflow" => {
            "outbound sequence number would wrap (SA must be rekeyed)"
        }
        "xfrm_audit_policy_add" | "xfrm_audit_policy_delete" => {
            "a policy was added or deleted (configuration change)"
        }
        "xfrm_audit_state_add" | "xfrm_audit_state_delete" => {
            "an SA was added or deleted (configuration change)"
        }
        _ => "xfrm audit hook",
    }
}

/// Frames where a path starts: the packet entered the stack (or the syscall) here.
fn is_boundary(frame: &str) -> bool {
    frame.starts_with("__netif_receive_skb")
        || frame.starts_with("netif_receive_skb")
        || frame == "process_backlog"
        || frame == "__napi_poll"
        || frame == "net_rx_action"
        || frame.starts_with("__x64_sys_")
        || frame == "do_syscall_64"
}

/// Kernel stack (innermost first) → path from the entry point to the dropping function.
fn path_from_stack(frames: &[String], drop_symbol: &str) -> Vec<String> {
    let names: Vec<&str> = frames
        .iter()
        .map(|f| {
            let f = f.split_whitespace().next().unwrap_or(f);
            f.split_once('+').map_or(f, |(n, _)| n)
        })
        .collect();
    // Skip the tracing machinery and the free function itself: start at the dropping function.
    let start = names
        .iter()
        .position(|n| *n == drop_symbol)
        .or_else(|| {
            names.iter().position(|n| {
                !(n.starts_with("trace_")
                    || n.starts_with("perf_trace")
                    || n.starts_with("kfree_skb")
                    || n.starts_with("__kfree_skb")
                    || n.starts_with("sk_skb_reason_drop")
                    || n.starts_with("event_triggers")
                    || n.starts_with("stack_trace"))
            })
        })
        .unwrap_or(0);
    let inner = &names[start..];
    let end = inner
        .iter()
        .position(|n| is_boundary(n))
        .map_or(inner.len(), |i| i + 1);
    inner[..end].iter().rev().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    const NOSOCKET: &str = "\
     python3-1  [001] b....   422.642910: net_dev_xmit: dev=veth-a skbaddr=000000007dfd9817 len=52 rc=0
     python3-1  [001] ..s1.   422.642914: netif_receive_skb: dev=veth-b skbaddr=000000007dfd9817 len=38
     python3-1  [001] ..s1.   422.643166: kfree_skb: skbaddr=000000007dfd9817 rx_sk=0000000000000000 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET
     python3-1  [001] ..s1.   422.643167: <stack trace>
 => trace_event_raw_event_kfree_skb
 => sk_skb_reason_drop
 => __udp4_lib_rcv
 => ip_protocol_deliver_rcu
 => ip_local_deliver_finish
 => __netif_receive_skb_one_core
 => process_backlog
 kworker/0:1-11 [000] ..s1.   422.614256: kfree_skb: skbaddr=00000000ada88e3d rx_sk=0000000000000000 protocol=34525 location=ip6_mc_input+0x15e/0x270 reason: NOT_SPECIFIED
";

    #[test]
    fn drop_with_stack_device_and_filter() {
        let events = parse(NOSOCKET).events;
        let all = summarize(&events, &DropFilter::default());
        assert_eq!(all.drops.len(), 2);
        let filter = DropFilter {
            devices: vec!["veth-b".into()],
            ..Default::default()
        };
        let s = summarize(&events, &filter);
        assert_eq!(s.drops_filtered_out, 1);
        assert_eq!(
            s.drops,
            vec![DropPoint {
                reason: "NO_SOCKET".into(),
                location: "__udp4_lib_rcv+0x4bc".into(),
                count: 1,
                call_path: vec![
                    "__netif_receive_skb_one_core".into(),
                    "ip_local_deliver_finish".into(),
                    "ip_protocol_deliver_rcu".into(),
                    "__udp4_lib_rcv".into()
                ],
                protocols: vec![2048],
                devices: vec!["veth-b".into()],
            }]
        );
    }

    #[test]
    fn streamed_in_pieces_equals_all_at_once() {
        // Feed the parser line by line, taking settled events as a capture does.
        let mut parser = crate::parse::TraceParser::default();
        let mut summarizer = Summarizer::new(DropFilter::default());
        for line in NOSOCKET.lines() {
            parser.feed_line(line);
            for event in parser.take_settled_events() {
                summarizer.feed(&event);
            }
        }
        for event in parser.finish().events {
            summarizer.feed(&event);
        }
        assert_eq!(
            summarizer.finish(),
            summarize(&parse(NOSOCKET).events, &DropFilter::default())
        );
    }

    #[test]
    fn function_path_and_audit_marker() {
        let text = "\
  <idle>-0 [000] ..s2. 10.000001: xfrm_input <-xfrm4_rcv_encap
  <idle>-0 [000] ..s2. 10.000002: esp_input <-xfrm_input
  <idle>-0 [000] ..s2. 10.000003: esp_input_done2 <-esp_input
  <idle>-0 [000] ..s2. 10.000004: xfrm_audit_state_icvfail <-xfrm_input
  <idle>-0 [000] ..s2. 10.000005: kfree_skb: skbaddr=ffff8880041a2b00 protocol=2048 location=xfrm_input+0x1df reason: NOT_SPECIFIED
";
        let s = summarize(
            &parse(text).events,
            &DropFilter {
                reasons: vec!["not_specified".into()],
                locations: vec!["xfrm*".into()],
                ..Default::default()
            },
        );
        assert_eq!(
            s.drops[0].call_path,
            ["xfrm_input", "xfrm_audit_state_icvfail"]
        );
        assert_eq!(s.audit_markers[0].function, "xfrm_audit_state_icvfail");
        assert_eq!(s.functions_hit.len(), 4);
    }
}
