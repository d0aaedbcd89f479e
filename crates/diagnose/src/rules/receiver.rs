//! The receiver's IP and UDP layers: reverse path, firewall, sockets, checksums.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "reverse-path filtering dropped the packet",
        fault: "`rp_filter=1` with the route back to the source on another device (asymmetric routing).",
        evidence: "TcpExt.IPReversePathFilter grows, drop reason IP_RPFILTER",
        summary: "reverse-path filtering dropped the packets (the route back to the source uses another device)",
        remedy: "set `net.ipv4.conf.{all,DEV}.rp_filter` to 2 (loose) or 0, or fix the route back to the source",
        names: &[
            Signal::Counter("TcpExt.IPReversePathFilter"),
            Signal::Drop("IP_RPFILTER", "*"),
        ],
        judge: Some(rp_filter),
        ..Rule::new(CauseId::RpFilter)
    },
    Rule {
        title: "a firewall rule dropped the packet",
        fault: "An nftables/iptables rule that drops or rejects the flow (input: drop reason `NETFILTER_DROP`; output: sendto `EPERM`).",
        evidence: "drop reason NETFILTER_DROP (the trace is system wide: owned by a side whose namespace has a netfilter table; when none has one, a possible drop in another namespace on the flow's routed path, never with the sides on one link), an nftables drop rule's counter moved, or sendto fails with EPERM without XfrmOutPolBlock",
        summary: "a netfilter (nftables/iptables) rule dropped the packets",
        remedy: "find the rule (`nft list ruleset`, `iptables -L -v`) and allow the flow",
        names: &[Signal::Drop("NETFILTER_DROP", "*"), Signal::FirewallRule],
        // EPERM with XfrmOutPolBlock read and still: no XFRM policy refused it.
        refines: &[Signal::Errno("EPERM")],
        judge: Some(firewall_drop),
        ..Rule::new(CauseId::FirewallDrop)
    },
    Rule {
        title: "nothing listens on the destination port",
        fault: "Nothing bound on the destination port (measured: `kfree_skb reason NO_SOCKET`).",
        evidence: "Udp.NoPorts / Udp6NoPorts grows (TCP: Tcp.OutRsts, the SYN answered with a reset), drop reason NO_SOCKET",
        summary: "no socket is bound on the destination port",
        remedy: "start the application (or bind the port); check the port number",
        names: &[
            Signal::Counter("Udp.NoPorts"),
            Signal::Counter("Udp6NoPorts"),
            Signal::Drop("NO_SOCKET", "*"),
            // TCP: the SYN to a closed port is answered with a reset (measured on 6.18).
            Signal::Counter("Tcp.OutRsts"),
            // The sender's side of that reset.
            Signal::Errno("ECONNREFUSED"),
        ],
        supports: &[
            Signal::SharedCounter("Udp.InErrors"),
            Signal::SharedCounter("Udp6InErrors"),
            Signal::SharedCounter("Ip.InDiscards"),
            Signal::SharedCounter("Ip6InDiscards"),
            Signal::SharedCounter("Ip.OutDiscards"),
            Signal::SharedCounter("Ip6OutDiscards"),
        ],
        judge: Some(no_socket),
        ..Rule::new(CauseId::NoSocket)
    },
    Rule {
        title: "the application's socket receive buffer overflowed",
        fault: "An application that reads slower than the flow arrives.",
        evidence: "Udp.RcvbufErrors / Udp6RcvbufErrors grows, drop reason SOCKET_RCVBUFF, or the socket's drops column grows",
        summary: "the receiving socket's buffer overflowed",
        remedy: "read faster or raise SO_RCVBUF / net.core.rmem_max",
        names: &[
            Signal::Counter("Udp.RcvbufErrors"),
            Signal::Counter("Udp6RcvbufErrors"),
            Signal::Drop("SOCKET_RCVBUFF", "*"),
            Signal::SocketDrops,
        ],
        supports: &[
            Signal::SharedCounter("Udp.InErrors"),
            Signal::SharedCounter("Udp6InErrors"),
            Signal::SharedCounter("Ip.InDiscards"),
            Signal::SharedCounter("Ip6InDiscards"),
            Signal::SharedCounter("Ip.OutDiscards"),
            Signal::SharedCounter("Ip6OutDiscards"),
        ],
        ..Rule::new(CauseId::SocketBufferFull)
    },
    Rule {
        title: "UDP datagrams arrived with a bad checksum",
        fault: "A NIC/offload bug or middlebox corrupting datagrams.",
        evidence: "Udp.InCsumErrors / Udp6InCsumErrors grows, drop reason UDP_CSUM",
        summary: "datagrams arrived with a bad UDP checksum",
        remedy: "look for a NIC offload or middlebox corrupting packets (e.g. `ethtool -K DEV tx off` on a veth/tunnel)",
        names: &[
            Signal::Counter("Udp.InCsumErrors"),
            Signal::Counter("Udp6InCsumErrors"),
            Signal::Drop("UDP_CSUM", "*"),
        ],
        supports: &[
            Signal::SharedCounter("Udp.InErrors"),
            Signal::SharedCounter("Udp6InErrors"),
            Signal::SharedCounter("Ip.InDiscards"),
            Signal::SharedCounter("Ip6InDiscards"),
            Signal::SharedCounter("Ip.OutDiscards"),
            Signal::SharedCounter("Ip6OutDiscards"),
        ],
        ..Rule::new(CauseId::UdpChecksum)
    },
];

fn rp_filter(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let sysctls = side
        .sysctls
        .iter()
        .flat_map(|s| s.rp_filter.iter())
        .filter(|(_, v)| **v != 0)
        .map(|(dev, v)| {
            facts::item(
                "sysctl",
                side,
                format!("net.ipv4.conf.{dev}.rp_filter = {v}"),
            )
        });
    c.context(sysctls.collect::<Vec<_>>());
    true
}

fn firewall_drop(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    // NETFILTER_DROP is system wide: another side whose own nft rule counted drops owns it.
    let elsewhere = facts.sides.iter().any(|s| {
        s.namespace != side.namespace
            && s.firewall
                .iter()
                .flatten()
                .any(|h| h.verdict == "drop" || h.verdict == "reject")
    });
    if c.trace_only() && elsewhere {
        return false;
    }
    // This side has no netfilter table: the engine handed it a drop of another namespace on
    // this machine, on the flow's routed path (a gateway outside the evidence).
    if c.trace_only() && side.netfilter_tables.as_ref().is_some_and(|t| t.is_empty()) {
        c.summary = "a netfilter rule in another namespace on this machine dropped the packets \
                     (a router on the flow's path: run diagnose there with --forward to name the \
                     rule)"
            .into();
        c.plausible_only = true;
        return true;
    }
    if c.has(Signal::Errno("EPERM")) {
        let still = facts::counters(side).is_some_and(|k| k.known_unchanged("XfrmOutPolBlock"));
        if !still {
            // Unknown whether a policy refused it: policy-block-out's (plausible) reading.
            c.hits.retain(|(s, _)| *s != Signal::Errno("EPERM"));
            return !c.hits.is_empty();
        }
        if c.hits.len() == 1 {
            c.summary =
                "sendto got EPERM but no XFRM policy blocked it: an output firewall rule did"
                    .into();
        }
    } else if c.has(Signal::FirewallRule) && !c.has(Signal::Drop("NETFILTER_DROP", "*")) {
        c.summary = "an nftables rule that drops matched packets during the window".into();
    }
    true
}

/// A TCP sender whose connection was established resets it when the test gives up on a stall,
/// and answers the peer's late segments with resets (`NO_SOCKET` at tcp_v4_rcv): that is its
/// own teardown, never a closed port — the peer answered the SYN.
fn no_socket(_: &Facts, side: &SideEvidence, _: &mut Candidate) -> bool {
    !matches!(&side.traffic, Some(crate::evidence::Traffic::Tcp(t)) if t.connected)
}
