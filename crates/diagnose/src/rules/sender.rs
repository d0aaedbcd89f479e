//! The sender's own stack: routing, the output device, the MTU.

use crate::cause::CauseId;
use crate::evidence::{Role, SideEvidence};
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "no route to the destination",
        fault: "`ip route del` of the route to the peer; a blackhole/unreachable route.",
        evidence: "sendto fails with ENETUNREACH/EHOSTUNREACH, or `ip route get` says unreachable",
        summary: "the sender has no route to the destination",
        remedy: "add a route to the destination (`ip route add DST via GW`)",
        names: &[
            Signal::Errno("ENETUNREACH"),
            Signal::Errno("EHOSTUNREACH"),
            Signal::Route("unreachable"),
            Signal::Route("blackhole"),
            Signal::Route("prohibit"),
        ],
        // A blackhole route refuses with EINVAL too (an expired SA is the other reading).
        refines: &[Signal::Errno("EINVAL")],
        judge: Some(no_route),
        ..Rule::new(CauseId::NoRoute)
    },
    Rule {
        title: "the sender's output device or queue dropped the packets",
        fault: "The far end of a veth (or a tunnel device's link) is down, a full qdisc, a `tc` drop rule. Measured on 6.18: peer veth down gives sender `Ip.OutDiscards` +5 and `Udp.SndbufErrors` +5 while every `sendto` succeeds — but only until linkwatch processes the carrier loss (at once, or up to 1 s later when other links changed just before). From then on the device's queue is the noop qdisc: `kfree_skb` reason `QDISC_DROP` at `__dev_queue_xmit`, the device's `tx_dropped` +5, and no IP/UDP counter moves.",
        evidence: "sendto succeeds while Udp.SndbufErrors / Udp6SndbufErrors and Ip.OutDiscards grow (the device refused the packet: ENOBUFS, hidden from the application), or the route's device counts tx_dropped with kfree_skb QDISC_DROP at __dev_queue_xmit (its queue is the noop qdisc while it has no carrier)",
        summary: "the output device refused the datagrams after sendto returned (ENOBUFS is hidden from UDP senders)",
        remedy: "check the output device (`ip -s link show DEV`): the far end of a veth or tunnel down, qdisc or tc drops",
        names: &[
            Signal::Counter("Udp.SndbufErrors"),
            Signal::Counter("Udp6SndbufErrors"),
            Signal::RouteDevice("tx_dropped"),
        ],
        supports: &[
            Signal::Drop("QDISC_DROP", "__dev_queue_xmit"),
            Signal::SharedCounter("Ip.OutDiscards"),
            Signal::SharedCounter("Ip6OutDiscards"),
        ],
        judge: Some(tx_drop),
        ..Rule::new(CauseId::TxDrop)
    },
    Rule {
        title: "the datagram plus ESP overhead does not fit the path MTU",
        fault: "Datagram plus ESP overhead exceeds the path MTU with DF set (measured: 1400 B through a tunnel SA over MTU 1400 gives EMSGSIZE, path MTU 1326).",
        evidence: "sendto fails with EMSGSIZE (or XfrmOutStateModeError with PMTU probing)",
        summary: "the datagrams do not fit the path MTU once ESP overhead is added (EMSGSIZE)",
        remedy: "send smaller datagrams, lower the inner MTU (MSS clamping) or raise the outer MTU",
        names: &[Signal::Errno("EMSGSIZE")],
        judge: Some(outbound_mtu),
        ..Rule::new(CauseId::OutboundMtu)
    },
];

fn no_route(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let route = side.route.as_ref();
    // A sender whose own route is fine got its ENETUNREACH/EHOSTUNREACH from an ICMP error:
    // when a gateway in the evidence decrypted the flow and had no route on, that is the cause
    // (`forward-no-route`), measured to send the ICMP back through the tunnel.
    let own_route_fine = route.is_some_and(|r| r.kind == "unicast");
    if side.role == Role::Sender
        && own_route_fine
        && facts
            .sides
            .iter()
            .any(|s| super::gateway::decrypted_without_route(facts, s).is_some())
    {
        return false;
    }
    let blackhole = route.is_some_and(|r| r.kind == "blackhole");
    if c.hits.len() == 1 && c.has(Signal::Errno("EINVAL")) && !blackhole {
        return false;
    }
    if c.hits.iter().all(|(s, _)| matches!(s, Signal::Route(_))) {
        c.summary = route.map_or(c.summary.clone(), |r| {
            format!("the route to {} is {}", r.dst, r.kind)
        });
    } else if let Some(r) = route {
        c.context([facts::item(
            "route",
            side,
            format!("route to {} is {}", r.dst, r.kind),
        )]);
    }
    true
}

/// Measured (6.18, far end of a veth down): once linkwatch has processed the carrier loss the
/// device's queue is the noop qdisc: every datagram dies as `kfree_skb QDISC_DROP at
/// __dev_queue_xmit`, sendto and the IP/UDP counters see a success and only the device's
/// tx_dropped moves (docs/kernel-notes.md). The device counter is per namespace.
fn tx_drop(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let by_counter = c.hits.iter().any(|(s, _)| matches!(s, Signal::Counter(_)));
    if by_counter {
        return true;
    }
    let Some(send) = facts::send_result(side) else {
        return false;
    };
    let lost = facts.lost_from(send);
    let dev = side
        .route
        .as_ref()
        .and_then(|r| r.dev.as_deref())
        .unwrap_or("?");
    let dropped = facts::moved(side, &format!("dev:{dev}:tx_dropped")).unwrap_or(0);
    if lost == 0 {
        return false;
    }
    // Other traffic on the device (neighbour discovery, MLD) adds drops, never removes ours: at
    // least as many drops as lost datagrams accounts for all of them; fewer, not alone.
    if dropped < u64::from(lost) {
        c.not_exclusive();
    }
    c.summary = format!("the output device {dev} dropped the datagrams on transmit (its queue refuses packets while it has no carrier, e.g. the far end of a veth down; sendto still succeeds)");
    true
}

fn outbound_mtu(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    // The arithmetic: link MTU, the SA's overhead, what fits inside.
    if let Some(p) = super::mtu::path_mtu(side) {
        c.context([facts::item("mtu", side, p.explain())]);
        if let Some(send) = facts::send_result(side) {
            // A datagram's IP packet is its payload plus 28 (IPv4) / 48 (IPv6) bytes of headers.
            let v6 = facts::flow_dst(side).is_some_and(|d| d.is_ipv6());
            let room = p.inner.saturating_sub(if v6 { 48 } else { 28 });
            c.summary = format!(
                "{} B datagrams do not fit: {} allows {} B packets inside the tunnel ({room} B of UDP payload; TCP MSS {}) (EMSGSIZE)",
                send.size, p.dev, p.inner, p.mss
            );
        }
    }
    if let (Some(route), Some(send)) = (&side.route, facts::send_result(side)) {
        if let Some(mtu) = route.mtu {
            let dev = route.dev.as_deref().unwrap_or("?");
            let text = format!(
                "route to {} via {dev} has MTU {mtu}; datagram {} B",
                route.dst, send.size
            );
            c.context([facts::item("route", side, text)]);
        }
    }
    true
}
