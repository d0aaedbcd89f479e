//! The facts every rule reads, computed once per diagnosis: what the traffic did (the tally),
//! the trace drops and audit functions pooled over every side (`kfree_skb` is system wide), and
//! helpers that read one side's configuration (policies, defaults, SAs, sysctls, route).

use std::net::IpAddr;

use crate::evidence::{
    Counters, Flow, Policy, Role, SendError, SendResult, SideEvidence, TcpSendResult, TraceDrop,
    Traffic,
};
use crate::finding::EvidenceItem;

/// Everything the rules share.
pub struct Facts<'a> {
    pub sides: &'a [SideEvidence],
    pub tally: Tally,
    /// Every trace drop of every side, with the side whose capture saw it.
    pub drops: Vec<(&'a SideEvidence, &'a TraceDrop)>,
    /// Every `xfrm_audit_*` function hit, with the side whose capture saw it.
    pub audits: Vec<(&'a SideEvidence, &'a str, u64)>,
}

impl<'a> Facts<'a> {
    pub fn of(sides: &'a [SideEvidence]) -> Facts<'a> {
        let traces = || {
            sides
                .iter()
                .flat_map(|s| s.trace.iter().map(move |t| (s, t)))
        };
        Facts {
            sides,
            tally: Tally::of(sides),
            drops: traces()
                .flat_map(|(s, t)| t.drops.iter().map(move |d| (s, d)))
                .collect(),
            audits: traces()
                .flat_map(|(s, t)| {
                    t.audit_markers
                        .iter()
                        .map(move |(m, n)| (s, m.as_str(), *n))
                })
                .collect(),
        }
    }

    /// The side named `name`.
    pub fn side(&self, name: &str) -> Option<&'a SideEvidence> {
        self.sides.iter().find(|s| s.namespace == name)
    }

    /// Some side's counters show `name` moved.
    pub fn moved_anywhere(&self, name: &str) -> bool {
        self.sides.iter().any(|s| moved(s, name).is_some())
    }

    /// A trace drop in `symbol` (any reason) was seen anywhere.
    pub fn dropped_in(&self, symbols: &[&str]) -> bool {
        self.drops
            .iter()
            .any(|(_, d)| symbols.contains(&d.symbol()))
    }

    /// A drop at ip_forward/ip6_forward that can be `side`'s. The trace is system wide (a gateway
    /// test elsewhere on the machine drops there too); with net.ipv4.ip_forward = 0 this namespace
    /// never calls ip_forward, so an IPv4 forward drop is someone else's. Unknown sysctl: it may
    /// be ours.
    ///
    /// The flow's address family rules out the other family's forward path: an IPv4 flow never
    /// runs ip6_forward (seen with a concurrent IPv6 router test while an IPv4 flow was lost).
    pub fn forward_drop_could_be_here(&self, side: &SideEvidence) -> bool {
        let sysctls = side.sysctls.as_ref();
        let forwards_ipv4 = sysctls.and_then(|s| s.ip_forward) != Some(0);
        let forwards_ipv6 = sysctls.and_then(|s| s.ip6_forward) != Some(0);
        let v6 = self.sides.iter().find_map(flow_dst).map(|d| d.is_ipv6());
        self.drops.iter().any(|(_, d)| match d.symbol() {
            "ip_forward" => forwards_ipv4 && v6 != Some(true),
            "ip6_forward" => forwards_ipv6 && v6 != Some(false),
            _ => false,
        })
    }

    /// Every sender whose route is known reaches the destination directly (a `unicast` route
    /// without a gateway): no router forwards this flow, so a forward drop in the system-wide
    /// trace is another namespace's (seen with gateway tests running at the same time).
    pub fn flow_is_on_link(&self) -> bool {
        let mut routes = self
            .sides
            .iter()
            .filter(|s| s.role == Role::Sender)
            .filter_map(|s| s.route.as_ref())
            .peekable();
        routes.peek().is_some() && routes.all(|r| r.kind == "unicast" && r.gateway.is_none())
    }

    /// Datagrams the sender handed to the kernel that no listener received (all of them when
    /// nobody listened).
    pub fn lost_from(&self, send: &SendResult) -> u32 {
        match self.tally.received {
            Some(r) => send.sent.saturating_sub(r),
            None => send.sent,
        }
    }
}

/// What the traffic itself says: how many were sent, failed, received.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: Option<u32>,
    pub attempted: Option<u32>,
    pub send_failures: u32,
    pub received: Option<u32>,
    /// `--count` given to a listener without a sender side.
    pub listen_expected: Option<u32>,
    pub exec_failed: bool,
}

impl Tally {
    fn of(sides: &[SideEvidence]) -> Tally {
        let mut t = Tally::default();
        for side in sides {
            match &side.traffic {
                Some(Traffic::Send(s)) => {
                    *t.sent.get_or_insert(0) += s.sent;
                    *t.attempted.get_or_insert(0) += s.attempted;
                    t.send_failures += s.errors.iter().map(|e| e.count).sum::<u32>();
                }
                Some(Traffic::Listen(l)) => {
                    *t.received.get_or_insert(0) += l.received;
                    if let Some(e) = l.expected {
                        *t.listen_expected.get_or_insert(0) += e;
                    }
                }
                Some(Traffic::Exec(e)) => t.exec_failed |= e.exit_code != Some(0),
                // A TCP flow is one unit: the connection and all its bytes.
                Some(Traffic::Tcp(c)) => {
                    *t.attempted.get_or_insert(0) += 1;
                    *t.sent.get_or_insert(0) += u32::from(c.connected);
                    t.send_failures += u32::from(c.connect_error.is_some());
                }
                Some(Traffic::TcpListen(l)) => {
                    let complete = l.expected_bytes.map_or(l.bytes > 0, |e| l.bytes >= e);
                    *t.received.get_or_insert(0) += u32::from(l.connections > 0 && complete);
                    if l.expected_bytes.is_some() {
                        *t.listen_expected.get_or_insert(0) += 1;
                    }
                }
                // Echo: the sender counts the replies itself.
                Some(Traffic::Icmp(i)) => {
                    *t.sent.get_or_insert(0) += i.sent;
                    *t.attempted.get_or_insert(0) += i.attempted;
                    t.send_failures += i.errors.iter().map(|e| e.count).sum::<u32>();
                    *t.received.get_or_insert(0) += i.replies;
                }
                Some(Traffic::Observe(_)) | None => {}
            }
        }
        t
    }

    /// How many should have arrived: what was sent, or what the listener was told to expect.
    pub fn expected(&self) -> Option<u32> {
        self.attempted.or(self.listen_expected)
    }

    pub fn delivered(&self) -> bool {
        let Some(received) = self.received else {
            return false;
        };
        if self.send_failures > 0 || self.exec_failed {
            return false;
        }
        match self.expected() {
            Some(expected) => expected > 0 && received >= expected,
            // A listener with no count and no sender: anything arriving proves the path.
            None => received > 0,
        }
    }

    pub fn loss_known(&self) -> bool {
        self.send_failures > 0
            || match (self.expected(), self.received) {
                (Some(e), Some(r)) => r < e,
                (None, Some(r)) => r == 0,
                _ => false,
            }
    }
}

pub fn item(kind: &str, side: &SideEvidence, text: String) -> EvidenceItem {
    EvidenceItem {
        kind: kind.into(),
        side: side.namespace.clone(),
        text,
    }
}

pub fn counter_item(side: &SideEvidence, name: &str, n: u64) -> EvidenceItem {
    item("counter", side, format!("{name} +{n}"))
}

pub fn trace_item(side: &SideEvidence, d: &TraceDrop) -> EvidenceItem {
    item(
        "trace",
        side,
        format!(
            "kfree_skb reason {} at {} x{}",
            d.reason, d.location, d.count
        ),
    )
}

/// How much counter `name` grew on `side`.
pub fn moved(side: &SideEvidence, name: &str) -> Option<u64> {
    side.counters.as_ref().and_then(|c| c.increase(name))
}

pub fn counters(side: &SideEvidence) -> Option<&Counters> {
    side.counters.as_ref()
}

pub fn send_result(side: &SideEvidence) -> Option<&SendResult> {
    match &side.traffic {
        Some(Traffic::Send(s)) => Some(s),
        _ => None,
    }
}

/// The default policy of `dir` (`in`, `out`, `fwd`) on `side`, when it was read.
pub fn default_policy<'a>(side: &'a SideEvidence, dir: &str) -> Option<&'a str> {
    let info = side.inventory.as_ref()?.info.as_ref()?;
    match dir {
        "in" => info.default_in.as_deref(),
        "out" => info.default_out.as_deref(),
        _ => info.default_fwd.as_deref(),
    }
}

/// True when `dir`'s default policy on `side` is known to block.
pub fn default_blocks(side: &SideEvidence, dir: &str) -> bool {
    default_policy(side, dir).is_some_and(|d| d == "block")
}

/// The side's policies that match by selector (per-socket policies apply to their socket only).
pub fn policies(side: &SideEvidence) -> impl Iterator<Item = &Policy> {
    side.inventory
        .as_ref()
        .and_then(|i| i.policies.as_ref())
        .into_iter()
        .flatten()
        .filter(|p| !p.socket)
}

/// True when the side's policies were read.
pub fn policies_known(side: &SideEvidence) -> bool {
    side.inventory
        .as_ref()
        .and_then(|i| i.policies.as_ref())
        .is_some()
}

/// Policies of `dir` on this side whose selector covers the flow.
pub fn covering_policies<'a>(side: &'a SideEvidence, dir: &'a str) -> Vec<&'a Policy> {
    let dst = flow_dst(side);
    policies(side)
        .filter(|p| p.dir == dir && selector_covers(p, side.flow.as_ref(), dst))
        .collect()
}

/// Policies of `dir` on this side whose selector covers the flow, as evidence.
pub fn matching_policies(side: &SideEvidence, dir: &str) -> Vec<EvidenceItem> {
    covering_policies(side, dir)
        .into_iter()
        .map(|p| item("config", side, describe_policy(p)))
        .collect()
}

pub fn describe_policy(p: &Policy) -> String {
    let tmpl = if p.templates.is_empty() {
        String::new()
    } else {
        let t: Vec<String> = p
            .templates
            .iter()
            .map(|t| format!("{} {}", t.proto, t.mode))
            .collect();
        format!(" tmpl {}", t.join(", "))
    };
    let proto = p
        .selector
        .proto
        .as_deref()
        .map(|p| format!(" proto {p}"))
        .unwrap_or_default();
    format!(
        "policy src {} dst {}{} dir {} {} priority {}{}",
        p.selector.src, p.selector.dst, proto, p.dir, p.action, p.priority, tmpl
    )
}

pub fn flow_dst(side: &SideEvidence) -> Option<IpAddr> {
    side.flow
        .as_ref()
        .and_then(|f| f.dst.as_deref())
        .and_then(|d| d.parse().ok())
}

/// Whether a policy's selector covers the flow: protocol, destination port and address.
/// Unknown parts (a receiver without a destination address) count as covered: the selector
/// cannot rule them out.
pub fn selector_covers(p: &Policy, flow: Option<&Flow>, dst: Option<IpAddr>) -> bool {
    let sel = &p.selector;
    let proto = flow.map(|f| f.proto.as_str());
    if let (Some(want), Some(proto)) = (sel.proto.as_deref(), proto) {
        if !proto_matches(want, proto, dst.map(|d| d.is_ipv6())) {
            return false;
        }
    }
    // Ports select TCP and UDP; an ICMP selector's "ports" are type and code.
    let port = flow.filter(|f| f.proto != "icmp").map(|f| f.port);
    if let (Some(sp), Some(port)) = (sel.dport, port) {
        if sp != 0 && sp != port {
            return false;
        }
    }
    dst.is_none_or(|dst| prefix_contains(&sel.dst, dst))
}

/// A selector protocol as the evidence writes it (`udp`, `ipv6-icmp`, a number; `any`) against
/// the flow's (`udp`, `tcp`, `icmp`). An ICMP flow of unknown family takes either ICMP.
fn proto_matches(selector: &str, flow: &str, v6: Option<bool>) -> bool {
    let names: &[&str] = match (flow, v6) {
        ("udp", _) => &["udp", "17"],
        ("tcp", _) => &["tcp", "6"],
        ("icmp", Some(false)) => &["icmp", "1"],
        ("icmp", Some(true)) => &["ipv6-icmp", "58"],
        ("icmp", None) => &["icmp", "1", "ipv6-icmp", "58"],
        // A flow protocol this crate does not know: the selector cannot rule it out.
        _ => return true,
    };
    matches!(selector, "any" | "0") || names.contains(&selector)
}

/// `10.0.0.0/24` contains `10.0.0.7`; a bare address is a /32 or /128. Mixed families: no.
pub fn prefix_contains(prefix: &str, addr: IpAddr) -> bool {
    let (net, len) = match prefix.split_once('/') {
        Some((n, l)) => (n, l.parse::<u32>().ok()),
        None => (prefix, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let len = len.unwrap_or(32).min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let len = len.unwrap_or(128).min(128);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// SAs on this side that encapsulate ESP in UDP, as evidence.
pub fn encap_sas(side: &SideEvidence) -> Vec<EvidenceItem> {
    side.inventory
        .as_ref()
        .and_then(|i| i.sas.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sa| {
            let e = sa.encap.as_ref()?;
            Some(item(
                "config",
                side,
                format!(
                    "SA {} {} -> {} encap {} {} {}",
                    sa.spi, sa.src, sa.dst, e.kind, e.sport, e.dport
                ),
            ))
        })
        .collect()
}

/// True when this side routes the flow onwards (a gateway) rather than receiving it.
pub fn forwards_the_flow(side: &SideEvidence) -> bool {
    let forwarding = forwarding_sysctl(side).is_some_and(|(_, v)| v == 1);
    let not_local = side.route.as_ref().is_some_and(|r| r.kind != "local");
    forwarding && not_local && side.role == Role::Receiver
}

/// The forwarding sysctl of the flow's address family on `side`, named: an IPv6 flow is
/// forwarded by `net.ipv6.conf.all.forwarding`, never by `net.ipv4.ip_forward`. Evidence saved
/// before the IPv6 one was read falls back to the IPv4 one.
fn forwarding_sysctl(side: &SideEvidence) -> Option<(&'static str, u32)> {
    let s = side.sysctls.as_ref()?;
    let v6 = flow_dst(side).is_some_and(|d| d.is_ipv6());
    match (v6, s.ip6_forward) {
        (true, Some(f)) => Some(("net.ipv6.conf.all.forwarding", f)),
        _ => s.ip_forward.map(|f| ("net.ipv4.ip_forward", f)),
    }
}

/// The forwarding sysctl and the forward policies of a side, as evidence.
pub fn forward_evidence(side: &SideEvidence) -> Vec<EvidenceItem> {
    let mut ev = Vec::new();
    if let Some((name, f)) = forwarding_sysctl(side) {
        ev.push(item("sysctl", side, format!("{name} = {f}")));
    }
    if policies_known(side) {
        let fwd = policies(side).filter(|p| p.dir == "fwd").count();
        ev.push(item(
            "config",
            side,
            format!("{fwd} forward policies installed"),
        ));
    }
    ev
}

/// A failed call of the test flow: `sendto` of a datagram or an echo request, a TCP `connect`
/// or `write`. Each errno names a kernel decision, whatever the protocol.
pub struct SendFailure<'a> {
    /// `sendto`, `connect` or `write`.
    pub call: &'static str,
    pub error: &'a SendError,
}

/// Every failed call of the side's test flow (UDP, TCP, ICMP).
pub fn send_failures(side: &SideEvidence) -> Vec<SendFailure<'_>> {
    let (call, errors): (&'static str, Vec<&SendError>) = match &side.traffic {
        Some(Traffic::Send(s)) => ("sendto", s.errors.iter().collect()),
        Some(Traffic::Icmp(i)) => ("sendto", i.errors.iter().collect()),
        Some(Traffic::Tcp(t)) => {
            let connect = t.connect_error.iter().map(|error| SendFailure {
                call: "connect",
                error,
            });
            let write = t.write_error.iter().map(|error| SendFailure {
                call: "write",
                error,
            });
            return connect.chain(write).collect();
        }
        _ => return Vec::new(),
    };
    errors
        .into_iter()
        .map(|error| SendFailure { call, error })
        .collect()
}

/// The side's TCP test connection when it completed the handshake and then stalled.
pub fn tcp_stall(side: &SideEvidence) -> Option<&TcpSendResult> {
    match &side.traffic {
        Some(Traffic::Tcp(t)) if t.stalled() => Some(t),
        _ => None,
    }
}
