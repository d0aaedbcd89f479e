//! Outcomes, not faults: the flow arrived, nothing was seen, or a loss nothing names.

use crate::cause::CauseId;
use crate::evidence::{CounterChange, Role, SideEvidence, Traffic};
use crate::facts::{self, item, trace_item, Facts};
use crate::finding::{finding_for, Confidence, EvidenceItem, Finding};
use crate::rules::Rule;

pub const RULES: &[Rule] = &[
    Rule {
        title: "every test datagram reached the socket",
        fault: "A healthy path: no fault.",
        evidence: "the listener received as many datagrams as were sent",
        summary: "every test datagram reached the socket",
        remedy: "nothing to fix on this path",
        healthy: true,
        ..Rule::new(CauseId::Delivered)
    },
    Rule {
        title: "no drop was seen on this side",
        fault: "Nothing to count deliveries with: `--send` without a receiver side, `--observe`, or `--exec`.",
        evidence: "nothing counts deliveries here (sender only, --observe, --exec) and no drop counter, drop reason or send error moved",
        summary: "no drop counter, drop reason or send error moved during the window",
        remedy: "to prove delivery, run `xfrmdiag diagnose --listen udp:PORT` on the receiver (or use --peer-netns)",
        healthy: true,
        ..Rule::new(CauseId::NoDropSeen)
    },
    Rule {
        title: "the packets never arrived at the receiver",
        fault: "A link down, wrong route on the sender or a path element eating packets: the receiver's IP layer never sees them.",
        evidence: "the sender sent them without a local drop, and the receiver's Ip.InReceives / Ip6InReceives did not move",
        summary: "the datagrams never arrived at the receiver's IP layer",
        remedy: "check the path between the hosts: routing, the device the route uses, links, anything in between",
        ..Rule::new(CauseId::NotReached)
    },
    Rule {
        title: "datagrams were lost and no evidence names why",
        fault: "Anything the rules above do not explain. The finding lists every counter and drop location that moved, so nothing is hidden.",
        evidence: "fewer received than sent and no counter, drop reason or error that the catalog explains",
        summary: "datagrams were lost and nothing collected names why",
        remedy: "look at the evidence listed (counters that moved, drop locations); run with the function tracer where allowed, or on both sides",
        ..Rule::new(CauseId::UnknownDrop)
    },
];

fn traffic_evidence(sides: &[SideEvidence]) -> Vec<EvidenceItem> {
    sides.iter().filter_map(traffic_item).collect()
}

fn traffic_item(side: &SideEvidence) -> Option<EvidenceItem> {
    let (kind, text) = match side.traffic.as_ref()? {
        Traffic::Send(s) => (
            "send",
            format!(
                "sent {} of {} datagrams ({} B) to {}",
                s.sent, s.attempted, s.size, s.dst
            ),
        ),
        Traffic::Listen(l) => (
            "listen",
            match l.expected {
                Some(e) => format!("port {}: received {} of {} expected", l.port, l.received, e),
                None => format!("port {}: received {}", l.port, l.received),
            },
        ),
        Traffic::Observe(o) => (
            "listen",
            format!(
                "port {} observed without binding (socket {})",
                o.port,
                if o.socket_found { "present" } else { "absent" }
            ),
        ),
        Traffic::Exec(e) => (
            "send",
            format!(
                "`{}` exited with {}",
                e.command,
                e.exit_code
                    .map_or_else(|| "a signal".into(), |c| c.to_string())
            ),
        ),
        Traffic::Tcp(c) => ("send", tcp_text(c)),
        Traffic::TcpListen(l) => (
            "listen",
            format!(
                "tcp port {}: {} connection(s), {} of {} bytes",
                l.port,
                l.connections,
                l.bytes,
                l.expected_bytes
                    .map_or_else(|| "?".into(), |e| e.to_string())
            ),
        ),
        Traffic::Icmp(i) => (
            "send",
            format!(
                "{} of {} echo requests to {} answered{}",
                i.replies,
                i.attempted,
                i.dst,
                i.icmp_errors
                    .iter()
                    .map(|e| format!("; {} from {} x{}", e.kind, e.from, e.count))
                    .collect::<String>()
            ),
        ),
    };
    Some(item(kind, side, text))
}

/// Everything arrived.
pub(crate) fn delivered(facts: &Facts) -> Finding {
    let t = &facts.tally;
    let expected = t.expected().map_or_else(|| "?".into(), |e| e.to_string());
    let summary = format!(
        "{} of {expected} test datagrams reached the socket",
        t.received.unwrap_or(0)
    );
    // The listener counted every datagram: its own count names the outcome alone.
    finding_for(
        CauseId::Delivered,
        Confidence::of(true, false, 1),
        None,
        summary,
        traffic_evidence(facts.sides),
    )
}

/// Counters worth showing when nothing explains a loss: errors, drops, discards.
fn looks_like_a_drop(name: &str) -> bool {
    name.starts_with("Xfrm")
        || name.starts_with("sa:")
        || [
            "Err",
            "Drop",
            "Discard",
            "Unknown",
            "Fail",
            "NoPorts",
            "NoRoutes",
            // A stalled TCP flow: its retransmissions and timeouts.
            "RetransSegs",
            "TCPTimeouts",
        ]
        .iter()
        .any(|w| name.contains(w))
}

/// No rule named anything: a loss nothing explains, or nothing seen at all.
pub(crate) fn unexplained(facts: &Facts) -> Finding {
    let t = &facts.tally;
    let mut ev = traffic_evidence(facts.sides);
    if !(t.loss_known() || t.exec_failed) {
        let summary = crate::rules::rule(CauseId::NoDropSeen).summary.to_string();
        // Nothing counts deliveries here: "fine" is plausible, not proven.
        return finding_for(
            CauseId::NoDropSeen,
            Confidence::of(false, true, 0),
            None,
            summary,
            ev,
        );
    }
    // Counters no rule names, and drops with other reasons: shown, not guessed at.
    for s in facts.sides {
        for (name, change) in s.counters.iter().flat_map(|c| c.delta.iter()) {
            if let CounterChange::Increased(n) = change {
                if looks_like_a_drop(name) {
                    ev.push(facts::counter_item(s, name, *n));
                }
            }
        }
    }
    ev.extend(facts.drops.iter().map(|(s, d)| trace_item(s, d)));
    // Counters of our namespaces, not the system-wide trace: a drop elsewhere on the machine
    // says nothing about whether our packets arrived.
    let moved_anything = ev.iter().any(|e| e.kind == "counter");
    let v6 = facts
        .sides
        .iter()
        .filter_map(facts::flow_dst)
        .any(|d| d.is_ipv6());
    let receives = if v6 { "Ip6InReceives" } else { "Ip.InReceives" };
    let nothing_arrived = facts.sides.iter().find(|s| {
        s.role == Role::Receiver
            && s.counters
                .as_ref()
                .is_some_and(|c| c.known_unchanged(receives))
    });
    if let (Some(receiver), false) = (nothing_arrived, moved_anything) {
        ev.push(item(
            "counter",
            receiver,
            "Ip.InReceives / Ip6InReceives did not move".into(),
        ));
        let summary = crate::rules::rule(CauseId::NotReached).summary.to_string();
        // One signal (a counter that did not move), shared by every fault before the receiver.
        return finding_for(
            CauseId::NotReached,
            Confidence::of(false, false, 1),
            Some(receiver.namespace.clone()),
            summary,
            ev,
        );
    }
    let summary = crate::rules::rule(CauseId::UnknownDrop).summary.to_string();
    finding_for(
        CauseId::UnknownDrop,
        Confidence::of(false, true, 0),
        None,
        summary,
        ev,
    )
}

/// A TCP test connection in one line: the handshake's errno, or bytes acknowledged and TCP_INFO.
fn tcp_text(c: &crate::evidence::TcpSendResult) -> String {
    if let Some(e) = &c.connect_error {
        let why = match e.errno.as_str() {
            "ECONNREFUSED" => "reset: no socket on the port",
            "ETIMEDOUT" => "the SYN went unanswered",
            "EHOSTUNREACH" | "ENETUNREACH" => "unreachable",
            "EPERM" | "EACCES" => "refused locally",
            _ => "failed",
        };
        return format!("TCP to {}: handshake {} ({why})", c.dst, e.errno);
    }
    let mut text = format!(
        "TCP to {}: connected in {} ms, {} of {} bytes acknowledged",
        c.dst,
        c.connect_ms.unwrap_or(0),
        c.acked,
        c.written
    );
    if let Some(i) = &c.info {
        text.push_str(&format!(
            " (unacked {} segments, {} retransmits, MSS {}, path MTU {})",
            i.unacked, i.retransmits, i.snd_mss, i.pmtu
        ));
    }
    text
}
