//! Packet size against the path MTU: the PMTU black hole, and the arithmetic every MTU finding
//! shows (link MTU of the device the packets leave by, the SA's ESP overhead, the inner MTU and
//! TCP MSS that result: crate::mtu).

use std::net::IpAddr;

use crate::cause::CauseId;
use crate::evidence::{Policy, Sa, SideEvidence, TcpSendResult};
use crate::facts::{self, item, Facts};
use crate::finding::EvidenceItem;
use crate::mtu::{tcp_mss, EspOverhead};
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[Rule {
    title: "a PMTU black hole: packets above the path MTU die and the ICMP that says so never arrives",
    fault: "A router on the path (an IPsec gateway: its ESP overhead lowers the path MTU) cannot forward a packet with DF set because it exceeds the MTU of its way out, drops it and answers with ICMP \"fragmentation needed\" (IPv6 \"packet too big\"); a firewall drops that ICMP (or the router's own output rule does), so the sender never lowers its packet size. TCP completes the handshake (small packets) and then stalls. Measured on 6.1 and 6.12 (site-to-site tunnel, WAN MTU 1400, frag-needed filtered on the gateway) and 6.18 (a plain router whose egress link has MTU 1400): the router counts `Ip.FragFails` and drops with `PKT_TOO_BIG` at `ip_forward`; the sender retransmits (`Tcp.RetransSegs`, `TcpExt.TCPTimeouts`) with 0 bytes acknowledged; no xfrm counter moves (docs/kernel-notes.md).",
    evidence: "a TCP connection that completed its handshake and then stalled (bytes unacknowledged, retransmissions) while a forwarding side counted Ip.FragFails / Ip6InTooBigErrors or dropped with PKT_TOO_BIG at ip_forward / ip6_forward, and the sender's socket still assumes the larger path MTU (it never got the ICMP). The finding shows the arithmetic: the link MTU of the device the (ESP) packets leave by, the SA's overhead, the inner MTU and TCP MSS that fit",
    summary: "packets above the path MTU are dropped on the way and the ICMP \"fragmentation needed\" never reaches the sender (PMTU black hole)",
    remedy: "let ICMP \"fragmentation needed\" (type 3 code 4; ICMPv6 \"packet too big\") through to the sender; or clamp the TCP MSS on the gateway (`nft add table inet mss; nft add chain inet mss fwd '{ type filter hook forward priority mangle; }'; nft add rule inet mss fwd tcp flags syn tcp option maxseg size set rt mtu`); or lower the MTU of the senders' interfaces to the inner MTU the finding computes",
    names: &[
        Signal::Drop("PKT_TOO_BIG", "ip_forward"),
        Signal::Drop("PKT_TOO_BIG", "ip6_forward"),
        Signal::Config("a TCP connection stalled after its handshake"),
    ],
    refines: &[
        Signal::SharedCounter("Ip.FragFails"),
        Signal::SharedCounter("Ip6InTooBigErrors"),
    ],
    // The rule that drops the ICMP on the router is this cause's evidence, not another cause.
    excludes: &[CauseId::FirewallDrop],
    judge: Some(pmtu_blackhole),
    ..Rule::new(CauseId::PmtuBlackhole)
}];

/// How big a packet may be on its way out of a side: the link, the SA, what fits inside.
pub struct PathMtu {
    pub dev: String,
    pub link_mtu: u32,
    /// The SA the packets are encrypted with, and its overhead.
    pub esp: Option<(String, EspOverhead)>,
    /// The largest inner packet that fits.
    pub inner: u32,
    pub mss: u32,
}

impl PathMtu {
    /// The arithmetic in one line.
    pub fn explain(&self) -> String {
        match &self.esp {
            Some((spi, o)) => format!(
                "ESP leaves by {} (MTU {}) under SA {spi}: {}; TCP MSS {}",
                self.dev,
                self.link_mtu,
                o.explain(self.link_mtu),
                self.mss
            ),
            None => format!(
                "the flow leaves by {} with MTU {}: inner MTU {}, TCP MSS {}",
                self.dev, self.link_mtu, self.inner, self.mss
            ),
        }
    }
}

/// The path MTU arithmetic for the flow leaving `side`: the outbound SA that carries it (from
/// the covering `dir out` policy's template), the MTU of the device its ESP packets leave by
/// (or the flow's own route without IPsec).
pub fn path_mtu(side: &SideEvidence) -> Option<PathMtu> {
    let dst = flow_dst(side)?;
    let sa = outbound_sa(side, dst);
    let esp = sa.and_then(|sa| Some((sa.spi.clone(), EspOverhead::of(sa)?)));
    let route = match &esp {
        Some(_) => side.esp_route.as_ref().or(side.route.as_ref()),
        None => side.route.as_ref(),
    }?;
    let link_mtu = route.mtu?;
    let inner = esp
        .as_ref()
        .map_or(link_mtu, |(_, o)| o.inner_mtu(link_mtu));
    Some(PathMtu {
        dev: route.dev.clone().unwrap_or_else(|| "?".into()),
        link_mtu,
        esp,
        inner,
        mss: tcp_mss(inner, dst.is_ipv6()),
    })
}

/// The flow's destination, also on a forwarding side (its flow carries the sender's).
fn flow_dst(side: &SideEvidence) -> Option<IpAddr> {
    facts::flow_dst(side)
}

/// The SA the side's `dir out` policy covering `dst` sends the flow through.
fn outbound_sa(side: &SideEvidence, dst: IpAddr) -> Option<&Sa> {
    let proto = side
        .flow
        .as_ref()
        .map(|f| f.proto.as_str())
        .unwrap_or("udp");
    let mut out: Vec<&Policy> = facts::policies(side)
        .filter(|p| p.dir == "out" && p.action == "allow")
        .filter(|p| {
            p.selector
                .proto
                .as_deref()
                .is_none_or(|s| s == proto || s == "any" || s == "0")
        })
        .filter(|p| facts::prefix_contains(&p.selector.dst, dst))
        .collect();
    out.sort_by_key(|p| p.priority);
    let sas = side.inventory.as_ref()?.sas.as_ref()?;
    out.iter().flat_map(|p| p.templates.iter()).find_map(|t| {
        sas.iter().find(|sa| {
            sa.proto == t.proto
                && sa.direction.as_deref() != Some("in")
                && (t.reqid == 0 || sa.reqid == t.reqid)
                && match t.dst.as_deref() {
                    Some(d) => sa.dst == d,
                    None => sa.dst == dst.to_string(),
                }
        })
    })
}

/// A stalled TCP connection of any side, with the side.
fn stalled<'a>(facts: &Facts<'a>) -> Option<(&'a SideEvidence, &'a TcpSendResult)> {
    facts
        .sides
        .iter()
        .find_map(|s| facts::tcp_stall(s).map(|t| (s, t)))
}

/// Counters of a forwarding side that say "too big to forward".
const TOO_BIG: &[&str] = &["Ip.FragFails", "Ip6InTooBigErrors"];

fn pmtu_blackhole(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    // The ICMP did arrive when a send failed with EMSGSIZE: outbound-mtu's reading.
    let icmp_arrived = facts.sides.iter().any(|s| {
        facts::send_failures(s)
            .iter()
            .any(|f| f.error.errno == "EMSGSIZE")
    });
    let stall = stalled(facts);
    if icmp_arrived || !(stall.is_some() || facts.tally.loss_known()) {
        return false;
    }
    let too_big_somewhere = TOO_BIG.iter().any(|n| facts.moved_anywhere(n))
        || facts.dropped_in(&["ip_forward", "ip6_forward"])
            && facts.drops.iter().any(|(_, d)| d.reason == "PKT_TOO_BIG");
    if c.hits.is_empty() {
        // Configuration alone: only the sender's stalled connection, and no router's evidence.
        return !too_big_somewhere && stall_reading(side, c);
    }
    if c.trace_only() {
        // The drop is system wide: a router on this machine whose counters are not in the
        // evidence, or someone else's.
        if stall.is_none()
            || facts.flow_is_on_link()
            || TOO_BIG.iter().any(|n| facts.moved_anywhere(n))
        {
            return false;
        }
        c.side = None;
        c.summary = "a router on this machine dropped packets too big for its way out (PKT_TOO_BIG at ip_forward) and its ICMP never reached the sender (PMTU black hole; diagnose the router with --forward to see the arithmetic)".into();
    } else if side.sysctls.as_ref().and_then(|s| s.ip_forward) == Some(0)
        && !c.has(Signal::SharedCounter("Ip6InTooBigErrors"))
    {
        // Ip.FragFails on a host that does not forward: its own datagrams, not a router's.
        return false;
    }
    let path = path_mtu(side);
    if let Some(p) = &path {
        c.corroborate(Kind::Config, vec![item("mtu", side, p.explain())]);
    }
    if let Some((sender, tcp)) = stall {
        let (learned, text) = sender_view(tcp, path.as_ref());
        if learned {
            // The sender lowered its MSS: the ICMP reached it; the stall is something else.
            return false;
        }
        c.context([item("send", sender, text)]);
        c.context(retransmissions(sender));
    }
    c.context(icmp_filtered(facts));
    if c.side.is_some() {
        c.summary = match &path {
            Some(p) => format!(
                "{} drops packets over the path MTU of {} ({} B {}, TCP MSS {}) and the ICMP \"fragmentation needed\" never reaches the sender: a PMTU black hole{}. Fix: clamp the MSS there (`tcp flags syn tcp option maxseg size set rt mtu`, or `set {}`), let the ICMP through, or set the senders' MTU to {}",
                side.namespace,
                p.dev,
                p.inner,
                if p.esp.is_some() { "inside the tunnel" } else { "packets" },
                p.mss,
                stall.map_or(String::new(), |_| ": TCP stalled after the handshake".into()),
                p.mss,
                p.inner
            ),
            None => format!(
                "{} drops packets too big to forward and the ICMP \"fragmentation needed\" never reaches the sender: a PMTU black hole",
                side.namespace
            ),
        };
    }
    true
}

/// nftables rules on any side that dropped ICMP during the window: where the "fragmentation
/// needed" went.
fn icmp_filtered(facts: &Facts) -> Vec<EvidenceItem> {
    let icmp = [
        "icmp",
        "frag-needed",
        "packet-too-big",
        "destination-unreachable",
    ];
    facts
        .sides
        .iter()
        .flat_map(|s| s.firewall.iter().flatten().map(move |h| (s, h)))
        .filter(|(_, h)| h.verdict == "drop" || h.verdict == "reject")
        .filter(|(_, h)| icmp.iter().any(|w| h.rule.contains(w)))
        .map(|(s, h)| {
            let text = format!("the ICMP is dropped by {} ({} packets)", h.rule, h.packets);
            item("firewall", s, text)
        })
        .collect()
}

/// What the sender's socket believes: (it learned a path MTU that fits, the evidence line).
fn sender_view(tcp: &TcpSendResult, path: Option<&PathMtu>) -> (bool, String) {
    let mut text = format!(
        "TCP to {}: handshake completed, then {} of {} bytes acknowledged",
        tcp.dst, tcp.acked, tcp.written
    );
    let Some(info) = &tcp.info else {
        return (false, text);
    };
    text.push_str(&format!(
        "; the socket still sends MSS {} for path MTU {} ({} retransmissions, backoff {})",
        info.snd_mss, info.pmtu, info.retransmits, info.backoff
    ));
    let learned = path.is_some_and(|p| info.pmtu > 0 && info.pmtu <= p.inner);
    (learned, text)
}

/// The sender's retransmission counters over the window.
fn retransmissions(side: &SideEvidence) -> Vec<EvidenceItem> {
    [
        "Tcp.RetransSegs",
        "TcpExt.TCPTimeouts",
        "TcpExt.TCPLossProbes",
    ]
    .iter()
    .filter_map(|n| facts::moved(side, n).map(|v| facts::counter_item(side, n, v)))
    .collect()
}

/// The classic signature without a router's evidence: the handshake passed, full-sized
/// segments never did, retransmitted again and again. Plausible, not proven.
fn stall_reading(side: &SideEvidence, c: &mut Candidate) -> bool {
    let Some(tcp) = facts::tcp_stall(side) else {
        return false;
    };
    let retransmitted = tcp.info.as_ref().is_some_and(|i| i.retransmits > 0);
    if tcp.acked > 0 || !retransmitted {
        return false;
    }
    c.plausible_only = true;
    let (_, text) = sender_view(tcp, None);
    c.context([item("send", side, text)]);
    c.context(retransmissions(side));
    c.summary = "the TCP handshake passed but no full-sized segment was ever acknowledged: the classic sign of a PMTU black hole (run diagnose on the gateways with --forward to see where packets die)".into();
    true
}
