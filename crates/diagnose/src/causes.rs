//! The cause catalog: every cause id the engine can name, what triggers it and how to fix it.
//!
//! Ids are stable and kebab-case; docs/causes.md documents each one (a test checks they agree).

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub id: &'static str,
    /// What happened, in a few words.
    pub title: &'static str,
    /// The evidence that names this cause.
    pub trigger: &'static str,
    /// What to do about it.
    pub remedy: &'static str,
    /// `true` when this cause means the flow is fine (exit 0).
    pub healthy: bool,
}

macro_rules! cause {
    ($id:literal, $title:literal, $trigger:literal, $remedy:literal) => {
        Cause {
            id: $id,
            title: $title,
            trigger: $trigger,
            remedy: $remedy,
            healthy: false,
        }
    };
}

/// Every cause, in the order a packet meets them: sender, wire, receiver.
pub const CATALOG: &[Cause] = &[
    Cause {
        id: "delivered",
        title: "every test datagram reached the socket",
        trigger: "the listener received as many datagrams as were sent",
        remedy: "nothing to fix on this path",
        healthy: true,
    },
    Cause {
        id: "no-drop-seen",
        title: "no drop was seen on this side",
        trigger: "nothing counts deliveries here (sender only, --observe, --exec) and no drop counter, drop reason or send error moved",
        remedy: "to prove delivery, run `xfrmdiag diagnose --listen udp:PORT` on the receiver (or use --peer-netns)",
        healthy: true,
    },
    cause!(
        "no-route",
        "no route to the destination",
        "sendto fails with ENETUNREACH/EHOSTUNREACH, or `ip route get` says unreachable",
        "add a route to the destination (`ip route add DST via GW`)"
    ),
    cause!(
        "tx-drop",
        "the sender's output device or queue dropped the packets",
        "sendto succeeds while Udp.SndbufErrors / Udp6SndbufErrors and Ip.OutDiscards grow (the device refused the packet: ENOBUFS, hidden from the application), or the route's device counts tx_dropped with kfree_skb QDISC_DROP at __dev_queue_xmit (its queue is the noop qdisc while it has no carrier)",
        "check the output device (`ip -s link show DEV`): the far end of a veth or tunnel down, qdisc or tc drops"
    ),
    cause!(
        "not-reached",
        "the packets never arrived at the receiver",
        "the sender sent them without a local drop, and the receiver's Ip.InReceives / Ip6InReceives did not move",
        "check the path between the hosts: routing, the device the route uses, links, anything in between"
    ),
    cause!(
        "no-outbound-policy",
        "the sender has no outbound policy for the flow, so it left in clear",
        "sender has no `dir out` policy matching the flow while the receiver requires ESP for it",
        "add the outbound policy (or fix the IKE daemon's traffic selectors) so the flow is encrypted"
    ),
    cause!(
        "sa-expired",
        "the SA reached its hard lifetime",
        "XfrmOutStateExpired / XfrmInStateExpired grows (sendto fails with EINVAL); a hard EXPIRE event",
        "rekey in time: check the IKE daemon's rekey/lifetime settings and that it is running"
    ),
    cause!(
        "no-outbound-sa",
        "the outbound policy needs an SA that does not exist",
        "XfrmOutNoStates grows (sendto still succeeds: a silent drop); an ACQUIRE event asks the IKE daemon for the SA",
        "bring the tunnel up (`swanctl --initiate`, `ipsec up`) or add the SA the template names (same reqid, mode, src/dst)"
    ),
    cause!(
        "policy-block-out",
        "an outbound policy with action block matches the flow",
        "sendto fails with EPERM and XfrmOutPolBlock grows",
        "remove or narrow the `dir out action block` policy, or set `ip xfrm policy setdefault out accept`"
    ),
    cause!(
        "outbound-mtu",
        "the datagram plus ESP overhead does not fit the path MTU",
        "sendto fails with EMSGSIZE (or XfrmOutStateModeError with PMTU probing)",
        "send smaller datagrams, lower the inner MTU (MSS clamping) or raise the outer MTU"
    ),
    cause!(
        "sa-invalid",
        "the SA is not usable (larval, dead or being deleted)",
        "XfrmOutStateInvalid / XfrmInStateInvalid grows",
        "check the IKE daemon finished the negotiation; delete the stale SA and renegotiate"
    ),
    cause!(
        "sa-direction-mismatch",
        "an SA marked for one direction was used in the other",
        "XfrmInStateDirError / XfrmOutStateDirError grows (kernel 6.10+)",
        "install the SA with the right `dir in`/`dir out`, or without a direction"
    ),
    cause!(
        "sa-seq-overflow",
        "the outbound SA's sequence number ran out",
        "XfrmOutStateSeqError grows",
        "rekey before 2^32 packets, or enable ESN on both sides"
    ),
    cause!(
        "no-inbound-sa",
        "ESP arrived with an SPI the receiver has no SA for",
        "receiver XfrmInNoStates grows (xfrm_audit_state_notfound with the function tracer)",
        "install the inbound SA with the SPI the sender uses (compare both sides' SPIs), or restart the negotiation"
    ),
    cause!(
        "sa-auth-failure",
        "ESP failed its integrity check: the keys differ",
        "receiver XfrmInStateProtoError grows, SA `failed` counter, xfrm_audit_state_icvfail",
        "make both ends use the same key and algorithm (`xfrmdiag compare` shows key fingerprints); renegotiate"
    ),
    cause!(
        "sa-key-mismatch",
        "the two hosts' copies of an SA use different encryption keys or algorithms",
        "`xfrmdiag compare`: the enc/comp algorithm or key fingerprint differs for the same SPI and destination",
        "install the same algorithm and key on both hosts (renegotiate)"
    ),
    cause!(
        "sa-selector-mismatch",
        "the two hosts' copies of an SA differ in selector or tunnel endpoints",
        "`xfrmdiag compare`: the SA selector or source address differs for the same SPI and destination",
        "make both SAs describe the same traffic (the IKE daemons' traffic selectors must agree)"
    ),
    cause!(
        "replay-window",
        "ESP sequence numbers fell behind the receiver's replay window",
        "receiver XfrmInStateSeqError grows (xfrm_audit_state_replay)",
        "renegotiate the SA, check for reordering, or enlarge the replay window"
    ),
    cause!(
        "sa-mode-mismatch",
        "one end uses tunnel mode and the other transport mode",
        "receiver XfrmInStateModeError grows, or Ip.InUnknownProtos with drop reason IP_NOPROTO for a tunnel packet into a transport SA",
        "use the same mode on both ends"
    ),
    cause!(
        "encap-mismatch",
        "UDP encapsulation (NAT-T) differs between the SA and what arrives",
        "receiver XfrmInStateMismatch grows",
        "make both SAs agree on `encap espinudp SPORT DPORT` (or on no encapsulation)"
    ),
    cause!(
        "nat-t-socket-missing",
        "ESP-in-UDP arrived but no NAT-T socket is bound on its port",
        "receiver XfrmInTmplMismatch while an SA encapsulates in UDP, with the drop in __udp4_lib_rcv/__udp6_lib_rcv (reason NOT_SPECIFIED on 6.12) or no socket bound on the encap port",
        "run the IKE daemon that owns port 4500 (it sets UDP_ENCAP_ESPINUDP), or use the port the SA's encap names"
    ),
    cause!(
        "policy-template-mismatch",
        "the packet did not pass the transforms the inbound policy requires",
        "receiver XfrmInTmplMismatch grows (with Udp.InErrors and drop reason XFRM_POLICY): typically plain traffic into an `in` policy that requires ESP",
        "encrypt the flow on the sender (outbound policy + SA), or exclude it from the receiver's inbound policy (a bypass policy with higher priority)"
    ),
    cause!(
        "no-inbound-policy",
        "the receiver's default inbound policy is block and no policy matches",
        "receiver XfrmInNoPols grows",
        "add an inbound policy for the flow, or `ip xfrm policy setdefault in accept`"
    ),
    cause!(
        "policy-block-in",
        "an inbound policy with action block matches the flow",
        "receiver XfrmInPolBlock grows",
        "remove or narrow the `dir in action block` policy"
    ),
    cause!(
        "forward-policy-missing",
        "a gateway decrypted the packet but has no forward policy for it",
        "XfrmInNoPols / XfrmInTmplMismatch with the drop in ip_forward/ip6_forward, on a side with ip_forward=1",
        "add the `dir fwd` policy for the tunnel's selectors (IKE daemons install it with the tunnel)"
    ),
    cause!(
        "rp-filter",
        "reverse-path filtering dropped the packet",
        "TcpExt.IPReversePathFilter grows, drop reason IP_RPFILTER",
        "set `net.ipv4.conf.{all,DEV}.rp_filter` to 2 (loose) or 0, or fix the route back to the source"
    ),
    cause!(
        "firewall-drop",
        "a firewall rule dropped the packet",
        "drop reason NETFILTER_DROP, an nftables drop rule's counter moved, or sendto fails with EPERM without XfrmOutPolBlock",
        "find the rule (`nft list ruleset`, `iptables -L -v`) and allow the flow"
    ),
    cause!(
        "no-socket",
        "nothing listens on the destination port",
        "Udp.NoPorts / Udp6NoPorts grows, drop reason NO_SOCKET",
        "start the application (or bind the port); check the port number"
    ),
    cause!(
        "socket-buffer-full",
        "the application's socket receive buffer overflowed",
        "Udp.RcvbufErrors / Udp6RcvbufErrors grows, drop reason SOCKET_RCVBUFF, or the socket's drops column grows",
        "read faster or raise SO_RCVBUF / net.core.rmem_max"
    ),
    cause!(
        "udp-checksum",
        "UDP datagrams arrived with a bad checksum",
        "Udp.InCsumErrors / Udp6InCsumErrors grows, drop reason UDP_CSUM",
        "look for a NIC offload or middlebox corrupting packets (e.g. `ethtool -K DEV tx off` on a veth/tunnel)"
    ),
    cause!(
        "unknown-drop",
        "datagrams were lost and no evidence names why",
        "fewer received than sent and no counter, drop reason or error that the catalog explains",
        "look at the evidence listed (counters that moved, drop locations); run with the function tracer where allowed, or on both sides"
    ),
];

/// The catalog entry for `id`.
pub fn lookup(id: &str) -> Option<&'static Cause> {
    CATALOG.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        for (i, c) in CATALOG.iter().enumerate() {
            assert!(
                c.id.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{} is not kebab-case",
                c.id
            );
            assert!(
                CATALOG[i + 1..].iter().all(|o| o.id != c.id),
                "{} twice",
                c.id
            );
        }
    }

    #[test]
    fn every_cause_is_documented_in_docs_causes_md() {
        let doc = include_str!("../../../docs/causes.md");
        for c in CATALOG {
            assert!(
                doc.contains(&format!("### `{}`", c.id)),
                "docs/causes.md lacks a `### `{}`` section",
                c.id
            );
        }
    }
}
