//! What each counter means: one line, the usual causes, the kernel release it appeared in, and
//! where the kernel counts it. Which cause a counter names is not said here: the diagnose rules
//! say it, for every command alike (`xfrmdiag_diagnose::rules::cause_of_counter`).
//!
//! Sources of the facts, per entry group:
//! - xfrm_stat names and order: net/xfrm/xfrm_proc.c `xfrm_mib_list` (6.18 on this host shows all
//!   32, matching upstream after the IP-TFS merge). Meanings: Documentation/networking/
//!   xfrm_proc.rst plus the increment sites named in `counted_in` (net/xfrm/xfrm_input.c
//!   `xfrm_input`, net/xfrm/xfrm_policy.c `__xfrm_policy_check`, `xfrm_lookup_with_ifid`,
//!   `xfrm_bundle_lookup`, `xfrm_tmpl_resolve_one`, `__xfrm_route_forward`, net/xfrm/xfrm_output.c
//!   `xfrm_output_one`, net/xfrm/xfrm_iptfs.c).
//! - Releases: the original 25 xfrm counters came with xfrm_proc.c in 2.6.25; the direction
//!   errors with the SA direction attribute (Antony Antony's series, 6.10); the IP-TFS counters
//!   with IP-TFS (Christian Hopps, 6.14); XfrmAcquireError with packet offload (6.2).
//!   XfrmFwdHdrError and XfrmOutStateInvalid releases are from memory and not verified here:
//!   they are `None`.
//! - Measured on this project's machines (docs/kernel-notes.md): which counter each fault moves
//!   (e.g. clear UDP against a "require ESP" inbound policy → XfrmInTmplMismatch + Udp.InErrors).
//! - SNMP meanings: RFC 4293 / RFC 4113 plus the Linux increment sites named in `counted_in`
//!   (net/ipv4/udp.c, net/ipv4/ip_input.c, net/ipv4/fib_frontend.c for IPReversePathFilter).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

/// Whether a counter moving means packets were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Each increment is a dropped or refused packet.
    Error,
    /// Traffic volume or a normal event.
    Info,
    /// A level, not a counter: it may go down without a reset.
    Gauge,
}

/// One catalog entry. `name` is exact, or a pattern with `*` for the interface or SPI part
/// (`dev:*:rx_dropped`, `sa:*:replay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterInfo {
    pub name: &'static str,
    /// One line: what an increment means.
    pub meaning: &'static str,
    /// What usually makes it move, most likely first.
    pub usual_causes: &'static [&'static str],
    /// The kernel release it first appeared in, when known.
    pub since_kernel: Option<&'static str>,
    pub kind: Kind,
    /// Which file or source carries it.
    pub source: &'static str,
    /// Where the kernel increments it (function names in upstream Linux).
    pub counted_in: &'static str,
}

const XFRM: &str = "xfrm_stat";
const SNMP: &str = "snmp";
const NETSTAT: &str = "netstat";
const SNMP6: &str = "snmp6";
const DEV: &str = "dev";
const SA: &str = "netlink (ip -s xfrm state)";

/// A compact constructor so the table below stays readable.
#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    kind: Kind,
    since_kernel: Option<&'static str>,
    source: &'static str,
    counted_in: &'static str,
    meaning: &'static str,
    usual_causes: &'static [&'static str],
) -> CounterInfo {
    CounterInfo {
        name,
        meaning,
        usual_causes,
        since_kernel,
        kind,
        source,
        counted_in,
    }
}

use Kind::{Error, Gauge, Info};

const V2_6_25: Option<&str> = Some("2.6.25");
const V2_6: Option<&str> = Some("2.6");

#[rustfmt::skip]
static CATALOG: &[CounterInfo] = &[
    // ---- /proc/net/xfrm_stat, in xfrm_proc.c order ----
    c("XfrmInError", Error, V2_6_25, XFRM,
      "xfrm_input (secpath allocation, GRO/async resume, decapsulation callbacks)",
      "Inbound IPsec packet dropped for a reason no other Xfrm counter names.",
      &["out of memory for the security path", "inner packet could not be handed back to the stack"]),
    c("XfrmInBufferError", Error, V2_6_25, XFRM,
      "xfrm_input (secpath full: XFRM_MAX_DEPTH transforms); __xfrm_policy_check",
      "Inbound packet nested more transforms than the kernel keeps (XFRM_MAX_DEPTH).",
      &["ESP inside ESP inside … (tunnel over tunnel) deeper than 6", "a loop between tunnels"]),
    c("XfrmInHdrError", Error, V2_6_25, XFRM,
      "xfrm_input (xfrm_parse_spi failed; no SPI/next header)",
      "Inbound ESP/AH/IPcomp header could not be parsed (no SPI found).",
      &["truncated or corrupted ESP packet", "a middlebox rewrote the packet"]),
    c("XfrmInNoStates", Error, V2_6_25, XFRM,
      "xfrm_input (xfrm_state_lookup by SPI, destination, protocol found nothing)",
      "Inbound ESP/AH packet whose SPI, destination address or protocol matches no SA.",
      &["peer uses an SA this host deleted or never installed (rekey race, IKE out of sync)",
        "destination address or mark of the SA differs from the packet",
        "SPI typed wrong in a manual configuration"]),
    c("XfrmInStateProtoError", Error, V2_6_25, XFRM,
      "xfrm_input (type->input failed, e.g. esp_input ICV check → xfrm_audit_state_icvfail)",
      "Inbound ESP/AH processing failed, usually the integrity check (wrong key).",
      &["authentication or encryption key differs between the peers",
        "algorithm or ICV length differs between the peers",
        "packet corrupted in transit"]),
    c("XfrmInStateModeError", Error, V2_6_25, XFRM,
      "xfrm_input (inner mode input / xfrm_prepare_input failed)",
      "Inbound packet could not be decapsulated in the SA's mode.",
      &["sender uses transport mode and the receiver's SA tunnel mode (measured)",
        "inner address family differs from the SA's selector family"]),
    c("XfrmInStateSeqError", Error, V2_6_25, XFRM,
      "xfrm_input (x->repl->check / recheck: xfrm_replay_check → xfrm_audit_state_replay)",
      "Inbound sequence number outside the replay window or already seen.",
      &["replay window too small for reordering (QoS, multi-queue, multipath)",
        "peer restarted its sequence numbers without rekeying",
        "a real replay"]),
    c("XfrmInStateExpired", Error, V2_6_25, XFRM,
      "xfrm_input (xfrm_state_check_expire: hard byte/packet limit reached)",
      "Inbound packet for an SA past its hard lifetime.",
      &["IKE did not rekey before the hard limit", "lifetime limits too small"]),
    c("XfrmInStateMismatch", Error, V2_6_25, XFRM,
      "xfrm_input (encap type of SA differs from how the packet arrived; selector mismatch)",
      "Inbound packet does not match its SA's options, typically UDP encapsulation.",
      &["ESP-in-UDP packet for an SA without encap (measured), or plain ESP for an encap SA",
        "NAT detected on one side only"]),
    c("XfrmInStateInvalid", Error, V2_6_25, XFRM,
      "xfrm_input (x->km.state != XFRM_STATE_VALID)",
      "Inbound packet for an SA that is not valid (being deleted or not yet complete).",
      &["packet raced with an SA deletion or rekey (rare, short window)"]),
    c("XfrmInTmplMismatch", Error, V2_6_25, XFRM,
      "__xfrm_policy_check (xfrm_policy_ok / template match failed)",
      "Inbound packet was not transformed the way the matching in/fwd policy requires.",
      &["packet arrived in clear but an inbound policy requires ESP (measured: +Udp.InErrors)",
        "ESP-in-UDP reached a UDP socket without UDP_ENCAP_ESPINUDP (NAT-T socket missing, measured)",
        "policy template mode, protocol, reqid or addresses differ from the SA used"]),
    c("XfrmInNoPols", Error, V2_6_25, XFRM,
      "__xfrm_policy_check (no policy and default block, or decapsulated tunnel packet with no policy)",
      "Inbound packet matched no policy where one is required.",
      &["`ip xfrm policy setdefault in block` (or fwd block) and no allowing policy (measured)",
        "tunnel-mode SA decapsulated a packet but no `dir in` (or `dir fwd` when routed) policy covers it"]),
    c("XfrmInPolBlock", Error, V2_6_25, XFRM,
      "__xfrm_policy_check (policy action block)",
      "Inbound packet matched a policy with action block.",
      &["an inbound or forward policy with `action block` (measured)"]),
    c("XfrmInPolError", Error, V2_6_25, XFRM,
      "__xfrm_policy_check (policy lookup returned an error)",
      "Inbound policy lookup failed.",
      &["security module (SELinux labeled IPsec) refused the lookup", "out of memory"]),
    c("XfrmOutError", Error, V2_6_25, XFRM,
      "xfrm_output / xfrm_output_one (headroom, GSO segmentation, other failures)",
      "Outbound IPsec packet dropped for a reason no other Xfrm counter names.",
      &["out of memory for headroom", "GSO segmentation failed", "offload device refused the packet"]),
    c("XfrmOutBundleGenError", Error, V2_6_25, XFRM,
      "xfrm_bundle_lookup (xfrm_resolve_and_create_bundle failed, not -EAGAIN)",
      "The kernel could not build the transform bundle for an outbound flow.",
      &["template could not be resolved to usable SAs (e.g. SA of the wrong direction)",
        "route to the SA's outer destination missing"]),
    c("XfrmOutBundleCheckError", Error, V2_6_25, XFRM,
      "bundle validity check (rarely counted in recent kernels)",
      "A cached transform bundle failed its validity check.",
      &["SA or route changed under a cached bundle"]),
    c("XfrmOutNoStates", Error, V2_6_25, XFRM,
      "xfrm_lookup_with_ifid (policy matched, template has no SA: -EAGAIN / larval drop)",
      "Outbound packet matched a policy but no SA fits its template; dropped silently.",
      &["IKE has not (yet) negotiated the SA, or no IKE daemon answered the acquire (measured)",
        "SA exists but its addresses, reqid, mode or mark differ from the template",
        "SA expired and was deleted (hard limit)"]),
    c("XfrmOutStateProtoError", Error, V2_6_25, XFRM,
      "xfrm_output_one (x->type->output failed, e.g. esp_output)",
      "Outbound ESP/AH processing failed.",
      &["crypto driver error", "out of memory"]),
    c("XfrmOutStateModeError", Error, V2_6_25, XFRM,
      "xfrm_output_one / xfrm_outer_mode_output (mode output or size check failed)",
      "Outbound packet could not be encapsulated in the SA's mode, usually too big.",
      &["packet plus ESP overhead exceeds the path MTU with DF set (measured with IP_PMTUDISC_PROBE)",
        "inner address family not supported by the SA mode"]),
    c("XfrmOutStateSeqError", Error, V2_6_25, XFRM,
      "xfrm_output_one (x->repl->overflow: sequence number exhausted)",
      "Outbound sequence number would wrap; the SA must be rekeyed.",
      &["2^32 packets sent without ESN and without rekey", "IKE rekey by packets disabled"]),
    c("XfrmOutStateExpired", Error, V2_6_25, XFRM,
      "xfrm_output_one (xfrm_state_check_expire: hard limit reached)",
      "Outbound packet for an SA past its hard lifetime (sendto gets EINVAL).",
      &["hard byte/packet limit reached before rekey (measured)"]),
    c("XfrmOutPolBlock", Error, V2_6_25, XFRM,
      "xfrm_lookup_with_ifid (policy action block → -EPERM)",
      "Outbound packet matched a policy with action block (sendto gets EPERM).",
      &["an outbound policy with `action block` (measured)",
        "IKE daemon's drop/trap policy while no SA is up"]),
    c("XfrmOutPolDead", Error, V2_6_25, XFRM,
      "xfrm_lookup_with_ifid / bundle lookup (policy marked dead during lookup)",
      "Outbound policy was deleted while a packet was using it.",
      &["policy flushed or replaced while traffic flows (IKE restart)"]),
    c("XfrmOutPolError", Error, V2_6_25, XFRM,
      "xfrm_lookup_with_ifid (socket or main policy lookup returned an error)",
      "Outbound policy lookup failed.",
      &["security module refused the lookup", "out of memory"]),
    c("XfrmFwdHdrError", Error, None, XFRM,
      "__xfrm_route_forward (xfrm_decode_session failed for a forwarded packet)",
      "A forwarded packet's headers could not be decoded for the policy lookup.",
      &["truncated or unusual headers on a routed packet", "fragments on the forward path"]),
    c("XfrmOutStateInvalid", Error, None, XFRM,
      "xfrm_output_one (x->km.state != XFRM_STATE_VALID)",
      "Outbound packet for an SA that is no longer valid, perhaps expired.",
      &["packet raced with SA deletion or expiry"]),
    c("XfrmAcquireError", Error, Some("6.2"), XFRM,
      "xfrm_input (SA still in XFRM_STATE_ACQ)",
      "Packet used an SA that has not been fully acquired yet (larval state).",
      &["packet offload: traffic before IKE finished installing the SA"]),
    c("XfrmOutStateDirError", Error, Some("6.10"), XFRM,
      "xfrm_tmpl_resolve_one (SA with dir in selected for output)",
      "Outbound template resolved to an SA marked for the inbound direction.",
      &["SA installed with `dir in` where `dir out` was meant (swapped SPIs)"]),
    c("XfrmInStateDirError", Error, Some("6.10"), XFRM,
      "xfrm_input (x->dir set and not XFRM_SA_DIR_IN)",
      "Inbound packet matched an SA marked for the outbound direction.",
      &["SA installed with `dir out` where `dir in` was meant (swapped SPIs)"]),
    c("XfrmInIptfsError", Error, Some("6.14"), XFRM,
      "net/xfrm/xfrm_iptfs.c (inner packet reassembly / payload header errors)",
      "IP-TFS could not extract inner packets from a received outer packet.",
      &["lost or reordered IP-TFS outer packets beyond the reorder window", "peer IP-TFS settings differ"]),
    c("XfrmOutNoQueueSpace", Error, Some("6.14"), XFRM,
      "net/xfrm/xfrm_iptfs.c (output queue over its limit)",
      "IP-TFS output queue full; packet dropped.",
      &["sending faster than the IP-TFS SA's configured rate/queue size"]),
    // ---- /proc/net/snmp: Ip ----
    c("Ip.Forwarding", Gauge, V2_6, SNMP, "net.ipv4.ip_forward", "1 = router, 2 = host (forwarding off).", &[]),
    c("Ip.DefaultTTL", Gauge, V2_6, SNMP, "net.ipv4.ip_default_ttl", "Default TTL of sent packets.", &[]),
    c("Ip.InReceives", Info, V2_6, SNMP, "ip_rcv_core", "IPv4 packets received (before any check).", &[]),
    c("Ip.InHdrErrors", Error, V2_6, SNMP,
      "ip_rcv_core / ip_forward (bad header, TTL exceeded, options)",
      "IPv4 packets dropped for header errors (bad checksum/version/length, TTL expired).",
      &["corrupted packets", "TTL exhausted in a routing loop"]),
    c("Ip.InAddrErrors", Error, V2_6, SNMP,
      "ip_route_input_slow (martian or not-local destination while not forwarding)",
      "IPv4 packets with a destination that is not local and could not be routed.",
      &["decapsulated inner destination not on this host and forwarding off", "wrong tunnel selector"]),
    c("Ip.ForwDatagrams", Info, V2_6, SNMP, "ip_forward_finish", "IPv4 packets forwarded.", &[]),
    c("Ip.InUnknownProtos", Error, V2_6, SNMP,
      "ip_protocol_deliver_rcu (no handler for the IP protocol)",
      "IPv4 packets for a protocol with no handler; an ICMP protocol-unreachable is sent.",
      &["tunnel-mode sender, transport-mode receiver: inner IP-in-IP is unknown (measured)",
        "ESP/AH arrived but esp4/ah4 is not loaded"]),
    c("Ip.InDiscards", Error, V2_6, SNMP,
      "ip_rcv / ip_local_deliver (no memory, or dropped without a header error)",
      "IPv4 packets discarded without a header error.",
      &["out of memory", "packet dropped by a hook before delivery"]),
    c("Ip.InDelivers", Info, V2_6, SNMP, "ip_local_deliver_finish",
      "IPv4 packets handed to a transport protocol (incl. ESP).", &[]),
    c("Ip.OutRequests", Info, V2_6, SNMP, "ip_local_out", "IPv4 packets sent by local protocols.", &[]),
    c("Ip.OutDiscards", Error, V2_6, SNMP,
      "ip_output paths (no memory, dropped in output)",
      "Outgoing IPv4 packets discarded without a routing error.",
      &["out of memory", "qdisc or output hook dropped the packet"]),
    c("Ip.OutNoRoutes", Error, V2_6, SNMP,
      "ip_route_output / ip_queue_xmit (no route)",
      "Outgoing IPv4 packets with no route.",
      &["no route to the destination or to the SA's tunnel endpoint"]),
    c("Ip.ReasmTimeout", Error, V2_6, SNMP, "ip_expire",
      "IPv4 fragment queues that timed out.", &["a fragment of the packet was lost"]),
    c("Ip.ReasmReqds", Info, V2_6, SNMP, "ip_defrag", "IPv4 fragments received.", &[]),
    c("Ip.ReasmOKs", Info, V2_6, SNMP, "ip_frag_reasm", "IPv4 packets reassembled.", &[]),
    c("Ip.ReasmFails", Error, V2_6, SNMP,
      "ip_frag_queue / ip_frag_reasm / ip_expire",
      "IPv4 reassembly failures (lost fragments, timeouts, limits).",
      &["large ESP packets fragmented on the path and a fragment lost", "ipfrag memory limits"]),
    c("Ip.FragOKs", Info, V2_6, SNMP, "ip_fragment", "IPv4 packets fragmented on output.", &[]),
    c("Ip.FragFails", Error, V2_6, SNMP,
      "ip_fragment (DF set or cannot fragment)",
      "IPv4 packets that needed fragmentation but could not be fragmented (DF set).",
      &["ESP overhead pushed the packet over the MTU with DF set"]),
    c("Ip.FragCreates", Info, V2_6, SNMP, "ip_fragment", "IPv4 fragments created.", &[]),
    c("Ip.OutTransmits", Info, None, SNMP, "ip_finish_output2", "IPv4 packets handed to the device layer.", &[]),
    // ---- Icmp ----
    c("Icmp.InMsgs", Info, V2_6, SNMP, "icmp_rcv", "ICMP messages received.", &[]),
    c("Icmp.InErrors", Error, V2_6, SNMP, "icmp_rcv", "Bad ICMP messages received.", &["corrupted ICMP"]),
    c("Icmp.InCsumErrors", Error, Some("3.10"), SNMP, "icmp_rcv", "ICMP messages with a bad checksum.", &["corruption"]),
    c("Icmp.InDestUnreachs", Info, V2_6, SNMP, "icmp_rcv",
      "ICMP destination unreachable received (a peer refused or could not route our packet).",
      &["peer had no socket (port unreachable)", "peer sent fragmentation needed (PMTU)"]),
    c("Icmp.OutDestUnreachs", Info, V2_6, SNMP, "icmp_send / __icmp_send",
      "ICMP destination unreachable sent: this host refused a packet (no socket, unknown protocol).",
      &["packet reached the host but no socket listens (see Udp.NoPorts)",
        "protocol unreachable after a tunnel/transport mode mismatch (see Ip.InUnknownProtos)"]),
    c("Icmp.OutMsgs", Info, V2_6, SNMP, "icmp_push_reply / icmp_send", "ICMP messages sent.", &[]),
    c("IcmpMsg.InType*", Info, V2_6, SNMP, "icmp_rcv", "ICMP messages received, by type number (3 = destination unreachable).", &[]),
    c("IcmpMsg.OutType*", Info, V2_6, SNMP, "icmp_send", "ICMP messages sent, by type number (3 = destination unreachable).", &[]),
    // ---- Udp ----
    c("Udp.InDatagrams", Info, V2_6, SNMP, "__udp_queue_rcv_skb / udp_recvmsg",
      "UDP datagrams delivered to a socket.", &[]),
    c("Udp.NoPorts", Error, V2_6, SNMP, "__udp4_lib_rcv (no socket: ICMP port unreachable)",
      "UDP datagrams for a port where nothing listens.",
      &["application not running or bound to another port/address/namespace",
        "NAT-T: nothing bound to 4500 (IKE daemon down)"]),
    c("Udp.InErrors", Error, V2_6, SNMP,
      "udp_queue_rcv_one_skb (xfrm4_policy_check failed, socket filter, receive buffer full, checksum)",
      "UDP datagrams that reached the socket layer but were not delivered.",
      &["XFRM inbound policy check failed: look at XfrmInTmplMismatch/XfrmInNoPols (measured)",
        "receive buffer full (see Udp.RcvbufErrors)", "bad checksum (see Udp.InCsumErrors)"]),
    c("Udp.OutDatagrams", Info, V2_6, SNMP, "udp_send_skb", "UDP datagrams sent.", &[]),
    c("Udp.RcvbufErrors", Error, Some("2.6.18"), SNMP, "__udp_queue_rcv_skb (sk_rcvbuf full)",
      "UDP datagrams dropped because the socket receive buffer was full.",
      &["application reads too slowly", "SO_RCVBUF / net.core.rmem_max too small"]),
    c("Udp.SndbufErrors", Error, Some("2.6.18"), SNMP, "udp_send_skb (ENOBUFS on send)",
      "UDP sends failed for lack of send buffer or device queue space.", &["sending faster than the link"]),
    c("Udp.InCsumErrors", Error, Some("3.10"), SNMP, "__udp4_lib_rcv / udp_lib_checksum_complete",
      "UDP datagrams with a bad checksum.",
      &["corruption", "NAT rewrote addresses without fixing the checksum", "checksum offload bug"]),
    c("Udp.IgnoredMulti", Info, None, SNMP, "__udp4_lib_rcv", "Broadcast/multicast UDP with no listener (not an error).", &[]),
    c("Udp.MemErrors", Error, None, SNMP, "__udp_enqueue_schedule_skb (udp_mem limit)",
      "UDP datagrams dropped because UDP memory (net.ipv4.udp_mem) was exhausted.", &["system-wide UDP memory pressure"]),
    // ---- Tcp (a few) ----
    c("Tcp.RtoAlgorithm", Gauge, V2_6, SNMP, "constant", "TCP retransmission algorithm (1 = other).", &[]),
    c("Tcp.RtoMin", Gauge, V2_6, SNMP, "constant", "Minimum TCP retransmission timeout, ms.", &[]),
    c("Tcp.RtoMax", Gauge, V2_6, SNMP, "constant", "Maximum TCP retransmission timeout, ms.", &[]),
    c("Tcp.MaxConn", Gauge, V2_6, SNMP, "constant", "TCP connection limit (-1 = none; skipped).", &[]),
    c("Tcp.CurrEstab", Gauge, V2_6, SNMP, "tcp_set_state", "TCP connections currently established.", &[]),
    c("Tcp.InErrs", Error, V2_6, SNMP, "tcp_v4_rcv", "TCP segments received in error (bad checksum, header).", &["corruption"]),
    c("Tcp.InCsumErrors", Error, Some("3.10"), SNMP, "tcp_v4_rcv", "TCP segments with a bad checksum.", &["corruption"]),
    // TCP loss symptoms: Info, not Error: healthy TCP through a tunnel retransmits too (the first
    // full-size segments meet the tunnel's smaller MTU before PMTU discovery settles; measured on
    // 6.1 and 6.12), so these support a cause, they never name one alone.
    c("Tcp.RetransSegs", Info, V2_6, SNMP, "tcp_retransmit_skb",
      "TCP segments retransmitted.",
      &["segments lost on the path: PMTU black hole through a tunnel, firewall drop", "congestion"]),
    c("Tcp.OutRsts", Info, V2_6, SNMP, "tcp_v4_send_reset / tcp_send_active_reset",
      "TCP resets sent (a SYN to a port where nothing listens is answered with one).",
      &["connection to a closed port (no-socket)", "application aborted a connection"]),
    c("Tcp.AttemptFails", Info, V2_6, SNMP, "tcp_done / tcp_set_state (SYN-SENT → CLOSED)",
      "TCP connection attempts that failed (reset or timed out in the handshake).",
      &["reset by the peer: no socket on the port", "SYN or SYN-ACK dropped (policy, firewall, route)"]),
    c("Tcp.EstabResets", Info, V2_6, SNMP, "tcp_set_state (ESTABLISHED → CLOSED)",
      "Established TCP connections reset.", &["peer or application aborted"]),
    c("TcpExt.TCPTimeouts", Info, None, NETSTAT, "tcp_retransmit_timer",
      "TCP retransmission timeouts (nothing acknowledged for a whole RTO).",
      &["path drops every segment: PMTU black hole (large segments), firewall, missing policy on the way back"]),
    c("TcpExt.TCPSynRetrans", Info, None, NETSTAT, "tcp_retransmit_skb (SYN)",
      "SYN and SYN-ACK retransmissions.",
      &["handshake packets dropped: require-ESP policy at the peer, firewall, no route back"]),
    c("TcpExt.TCPLossProbes", Info, Some("3.10"), NETSTAT, "tcp_send_loss_probe",
      "Tail loss probes sent.", &["tail segments lost or late"]),
    c("TcpExt.TCPMTUPFail", Info, None, NETSTAT, "tcp_mtup_probe_failed",
      "TCP MTU probes (tcp_mtu_probing) that failed.", &["path MTU smaller than the probe: tunnel overhead"]),
    // ---- /proc/net/netstat ----
    c("TcpExt.IPReversePathFilter", Error, None, NETSTAT,
      "ip_rcv_finish_core / fib_validate_source (rp_filter rejected the source)",
      "IPv4 packets dropped by reverse-path filtering (rp_filter).",
      &["decapsulated tunnel packets whose source routes out another interface (rp_filter=1)",
        "asymmetric routing"]),
    c("IpExt.InOctets", Info, V2_6, NETSTAT, "ip_rcv_core", "IPv4 bytes received.", &[]),
    c("IpExt.OutOctets", Info, V2_6, NETSTAT, "ip_output paths", "IPv4 bytes sent.", &[]),
    c("IpExt.InNoECTPkts", Info, None, NETSTAT, "ip_rcv_core", "IPv4 packets received without ECN capability.", &[]),
    c("IpExt.InNoRoutes", Error, V2_6, NETSTAT, "ip_route_input_slow", "IPv4 packets dropped because no route matched.", &["missing route for a decapsulated packet"]),
    c("IpExt.InTruncatedPkts", Error, V2_6, NETSTAT, "ip_rcv_core", "IPv4 packets shorter than their header says.", &["truncation on the path"]),
    c("IpExt.InCsumErrors", Error, Some("3.10"), NETSTAT, "ip_rcv_core", "IPv4 headers with a bad checksum.", &["corruption"]),
    // ---- /proc/net/snmp6 ----
    c("Ip6InReceives", Info, V2_6, SNMP6, "ipv6_rcv", "IPv6 packets received.", &[]),
    c("Ip6InHdrErrors", Error, V2_6, SNMP6, "ipv6_rcv / ip6_forward", "IPv6 packets dropped for header errors or hop limit.", &["corruption", "hop limit exhausted"]),
    c("Ip6InTooBigErrors", Error, V2_6, SNMP6, "ip6_forward", "Forwarded IPv6 packets bigger than the outgoing MTU.", &["ESP overhead over the path MTU"]),
    c("Ip6InNoRoutes", Error, V2_6, SNMP6, "ip6_pkt_drop", "IPv6 packets with no route.", &["missing route for a decapsulated packet"]),
    c("Ip6InAddrErrors", Error, V2_6, SNMP6, "ip6_forward / ipv6_rcv", "IPv6 packets with an invalid or non-local destination.", &["forwarding off"]),
    c("Ip6InUnknownProtos", Error, V2_6, SNMP6, "ip6_protocol_deliver_rcu", "IPv6 packets for a next header with no handler.", &["tunnel/transport mode mismatch", "esp6 not loaded"]),
    c("Ip6InTruncatedPkts", Error, V2_6, SNMP6, "ipv6_rcv", "IPv6 packets shorter than their header says.", &["truncation"]),
    c("Ip6InDiscards", Error, V2_6, SNMP6, "ipv6_rcv / ip6_input", "IPv6 packets discarded without a header error.", &["out of memory", "hook drop"]),
    c("Ip6InDelivers", Info, V2_6, SNMP6, "ip6_input_finish", "IPv6 packets handed to a transport protocol.", &[]),
    c("Ip6OutRequests", Info, V2_6, SNMP6, "ip6_local_out", "IPv6 packets sent by local protocols.", &[]),
    c("Ip6OutTransmits", Info, None, SNMP6, "ip6_finish_output2", "IPv6 packets handed to the device layer.", &[]),
    c("Ip6InOctets", Info, V2_6, SNMP6, "ipv6_rcv", "IPv6 bytes received.", &[]),
    c("Ip6OutOctets", Info, V2_6, SNMP6, "ip6_output paths", "IPv6 bytes sent.", &[]),
    c("Ip6InMcastPkts", Info, V2_6, SNMP6, "ipv6_rcv", "IPv6 multicast packets received (ND, MLD).", &[]),
    c("Ip6OutMcastPkts", Info, V2_6, SNMP6, "ip6_output paths", "IPv6 multicast packets sent (ND, MLD).", &[]),
    c("Ip6InMcastOctets", Info, V2_6, SNMP6, "ipv6_rcv", "IPv6 multicast bytes received.", &[]),
    c("Ip6OutMcastOctets", Info, V2_6, SNMP6, "ip6_output paths", "IPv6 multicast bytes sent.", &[]),
    c("Ip6InNoECTPkts", Info, None, SNMP6, "ipv6_rcv", "IPv6 packets received without ECN capability.", &[]),
    c("Ip6OutDiscards", Error, V2_6, SNMP6, "ip6_output paths", "Outgoing IPv6 packets discarded.", &["out of memory", "output hook"]),
    c("Ip6OutNoRoutes", Error, V2_6, SNMP6, "ip6_route_output", "Outgoing IPv6 packets with no route.", &["no route to the destination or tunnel endpoint"]),
    c("Ip6ReasmFails", Error, V2_6, SNMP6, "ipv6_frag_rcv", "IPv6 reassembly failures.", &["lost fragments"]),
    c("Ip6FragFails", Error, V2_6, SNMP6, "ip6_fragment", "IPv6 packets that could not be fragmented.", &["packet over MTU that may not be fragmented"]),
    c("Icmp6InDestUnreachs", Info, V2_6, SNMP6, "icmpv6_rcv", "ICMPv6 destination unreachable received.", &[]),
    c("Icmp6InMsgs", Info, V2_6, SNMP6, "icmpv6_rcv", "ICMPv6 messages received (incl. ND and MLD).", &[]),
    c("Icmp6OutMsgs", Info, V2_6, SNMP6, "icmp6_send / ndisc", "ICMPv6 messages sent (incl. ND and MLD).", &[]),
    c("Icmp6InErrors", Error, V2_6, SNMP6, "icmpv6_rcv", "Bad ICMPv6 messages received (or dropped by the inbound policy check).", &["corruption", "XFRM inbound policy refused the ICMPv6 packet"]),
    c("Icmp6InCsumErrors", Error, Some("3.10"), SNMP6, "icmpv6_rcv", "ICMPv6 messages with a bad checksum.", &["corruption"]),
    c("Icmp6OutErrors", Error, V2_6, SNMP6, "icmp6_send", "ICMPv6 messages that could not be sent.", &["no route back", "rate limit"]),
    c("Icmp6In*", Info, V2_6, SNMP6, "icmpv6_rcv", "ICMPv6 messages received, by message name or type number.", &[]),
    c("Icmp6Out*", Info, V2_6, SNMP6, "icmp6_send / ndisc / mld", "ICMPv6 messages sent, by message name or type number.", &[]),
    c("Icmp6OutDestUnreachs", Info, V2_6, SNMP6, "icmp6_send", "ICMPv6 destination unreachable sent: this host refused a packet.", &["no socket (see Udp6NoPorts)"]),
    c("Icmp6InPktTooBigs", Info, V2_6, SNMP6, "icmpv6_rcv", "ICMPv6 packet-too-big received (path MTU lower than assumed).", &["ESP overhead over the path MTU"]),
    c("Udp6InDatagrams", Info, V2_6, SNMP6, "__udpv6_queue_rcv_skb", "UDP/IPv6 datagrams delivered to a socket.", &[]),
    c("Udp6NoPorts", Error, V2_6, SNMP6, "__udp6_lib_rcv", "UDP/IPv6 datagrams for a port where nothing listens.", &["application not running or bound elsewhere"]),
    c("Udp6InErrors", Error, V2_6, SNMP6, "udpv6_queue_rcv_one_skb (xfrm6_policy_check failed, buffer full, checksum)",
      "UDP/IPv6 datagrams that reached the socket layer but were not delivered.",
      &["XFRM inbound policy check failed: look at XfrmInTmplMismatch/XfrmInNoPols", "receive buffer full", "bad checksum"]),
    c("Udp6OutDatagrams", Info, V2_6, SNMP6, "udp_v6_send_skb", "UDP/IPv6 datagrams sent.", &[]),
    c("Udp6RcvbufErrors", Error, Some("2.6.18"), SNMP6, "__udpv6_queue_rcv_skb", "UDP/IPv6 datagrams dropped: receive buffer full.", &["application reads too slowly"]),
    c("Udp6SndbufErrors", Error, Some("2.6.18"), SNMP6, "udp_v6_send_skb", "UDP/IPv6 sends failed for lack of buffer.", &["sending faster than the link"]),
    c("Udp6InCsumErrors", Error, Some("3.10"), SNMP6, "__udp6_lib_rcv", "UDP/IPv6 datagrams with a bad checksum.", &["corruption", "NAT without checksum fix-up"]),
    c("Udp6IgnoredMulti", Info, None, SNMP6, "__udp6_lib_rcv", "Multicast UDP/IPv6 with no listener (not an error).", &[]),
    c("Udp6MemErrors", Error, None, SNMP6, "__udp_enqueue_schedule_skb", "UDP/IPv6 datagrams dropped: udp_mem exhausted.", &["system-wide UDP memory pressure"]),
    // ---- /proc/net/dev, per interface ----
    c("dev:*:rx_bytes", Info, None, DEV, "driver / core stats", "Bytes received on the interface.", &[]),
    c("dev:*:rx_packets", Info, None, DEV, "driver / core stats", "Packets received on the interface (ESP arrived?).", &[]),
    c("dev:*:rx_errors", Error, None, DEV, "driver", "Receive errors on the interface.", &["bad frames", "driver errors"]),
    c("dev:*:rx_dropped", Error, None, DEV, "driver / core (no protocol handler, backlog full)",
      "Packets the interface or core receive path dropped before IP.", &["no handler for the frame type", "backlog queue full", "veth peer XDP"]),
    c("dev:*:rx_fifo_errors", Error, None, DEV, "driver", "Receive FIFO overruns.", &["host too slow"]),
    c("dev:*:rx_frame_errors", Error, None, DEV, "driver", "Receive framing errors.", &["link problems"]),
    c("dev:*:rx_compressed", Info, None, DEV, "driver", "Compressed packets received.", &[]),
    c("dev:*:multicast", Info, None, DEV, "driver", "Multicast packets received.", &[]),
    c("dev:*:tx_bytes", Info, None, DEV, "driver / core stats", "Bytes sent on the interface.", &[]),
    c("dev:*:tx_packets", Info, None, DEV, "driver / core stats", "Packets sent on the interface (did ESP leave?).", &[]),
    c("dev:*:tx_errors", Error, None, DEV, "driver", "Transmit errors on the interface.", &["link down", "driver error"]),
    c("dev:*:tx_dropped", Error, None, DEV, "driver / qdisc", "Packets dropped on transmit.", &["queue full", "veth peer down"]),
    c("dev:*:tx_fifo_errors", Error, None, DEV, "driver", "Transmit FIFO errors.", &["driver or hardware queue problem"]),
    c("dev:*:collisions", Info, None, DEV, "driver", "Collisions.", &[]),
    c("dev:*:tx_carrier_errors", Error, None, DEV, "driver", "Carrier errors on transmit.", &["link down"]),
    c("dev:*:tx_compressed", Info, None, DEV, "driver", "Compressed packets sent.", &[]),
    // ---- per SA, from netlink (struct xfrm_stats and the SA's current lifetime) ----
    c("sa:*:replay_window", Error, V2_6, SA, "xfrm_replay_check (sequence number left of the window)",
      "Packets on this SA dropped: sequence number too old for the replay window.", &["reordering beyond the window", "peer reset its counter"]),
    c("sa:*:replay", Error, V2_6, SA, "xfrm_replay_check (sequence number already seen)",
      "Packets on this SA dropped as replays (duplicate sequence number).", &["duplicated packets on the path", "a real replay"]),
    c("sa:*:integrity_failed", Error, V2_6, SA, "xfrm_input (ICV check failed)",
      "Packets on this SA that failed the integrity check (ip -s: \"failed\").", &["keys differ between the peers (measured)", "corruption"]),
    c("sa:*:bytes", Info, V2_6, SA, "xfrm_input / xfrm_output (curlft.bytes)", "Bytes processed by this SA.", &[]),
    c("sa:*:packets", Info, V2_6, SA, "xfrm_input / xfrm_output (curlft.packets)", "Packets processed by this SA.", &[]),
];

/// The whole catalog, in file order (xfrm_stat, snmp, netstat, snmp6, dev, sa).
pub fn catalog() -> &'static [CounterInfo] {
    CATALOG
}

fn exact_index() -> &'static HashMap<&'static str, &'static CounterInfo> {
    static INDEX: OnceLock<HashMap<&'static str, &'static CounterInfo>> = OnceLock::new();
    INDEX.get_or_init(|| CATALOG.iter().map(|info| (info.name, info)).collect())
}

/// Entries like `Icmp6Out*` that name a family by prefix (longest prefix first).
fn prefix_patterns() -> &'static [&'static CounterInfo] {
    static PATTERNS: OnceLock<Vec<&'static CounterInfo>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let mut patterns: Vec<&CounterInfo> = CATALOG
            .iter()
            .filter(|info| info.name.ends_with('*') && !info.name.contains(':'))
            .collect();
        patterns.sort_by_key(|info| std::cmp::Reverse(info.name.len()));
        patterns
    })
}

/// The catalog entry for a counter name: exact names first, then family prefixes
/// (`Icmp6OutType135` → `Icmp6Out*`), and `dev:<if>:<field>` / `sa:<spi>:<field>` through their
/// `*` patterns. `None` means the counter is unknown to this catalog.
pub fn lookup(name: &str) -> Option<&'static CounterInfo> {
    let index = exact_index();
    if let Some(info) = index.get(name) {
        return Some(info);
    }
    if let Some(info) = prefix_patterns()
        .iter()
        .find(|info| name.starts_with(info.name.trim_end_matches('*')))
    {
        return Some(info);
    }
    let (prefix, rest) = name.split_once(':')?;
    let (_, field) = rest.rsplit_once(':')?;
    let pattern = match prefix {
        "dev" => format!("dev:*:{field}"),
        "sa" => format!("sa:*:{field}"),
        _ => return None,
    };
    index.get(pattern.as_str()).copied()
}

/// The kind of a counter; unknown counters count as `Info` (they are shown, marked unknown).
pub fn kind_of(name: &str) -> Kind {
    lookup(name).map_or(Kind::Info, |info| info.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `/proc/net/xfrm_stat` has on 6.18, in order (net/xfrm/xfrm_proc.c).
    #[rustfmt::skip]
    const XFRM_STAT_6_18: [&str; 32] = [
        "XfrmInError", "XfrmInBufferError", "XfrmInHdrError", "XfrmInNoStates",
        "XfrmInStateProtoError", "XfrmInStateModeError", "XfrmInStateSeqError",
        "XfrmInStateExpired", "XfrmInStateMismatch", "XfrmInStateInvalid", "XfrmInTmplMismatch",
        "XfrmInNoPols", "XfrmInPolBlock", "XfrmInPolError", "XfrmOutError",
        "XfrmOutBundleGenError", "XfrmOutBundleCheckError", "XfrmOutNoStates",
        "XfrmOutStateProtoError", "XfrmOutStateModeError", "XfrmOutStateSeqError",
        "XfrmOutStateExpired", "XfrmOutPolBlock", "XfrmOutPolDead", "XfrmOutPolError",
        "XfrmFwdHdrError", "XfrmOutStateInvalid", "XfrmAcquireError", "XfrmOutStateDirError",
        "XfrmInStateDirError", "XfrmInIptfsError", "XfrmOutNoQueueSpace",
    ];

    #[test]
    fn every_xfrm_stat_counter_is_cataloged_in_kernel_order() {
        let ours: Vec<&str> = catalog()
            .iter()
            .filter(|c| c.source == XFRM)
            .map(|c| c.name)
            .collect();
        assert_eq!(ours, XFRM_STAT_6_18);
    }

    #[test]
    fn names_are_unique_and_meanings_one_line() {
        let mut seen = std::collections::HashSet::new();
        for info in catalog() {
            assert!(seen.insert(info.name), "duplicate {}", info.name);
            assert!(
                !info.meaning.contains('\n'),
                "{}: meaning must be one line",
                info.name
            );
            if info.kind == Kind::Error {
                assert!(
                    !info.usual_causes.is_empty(),
                    "{}: error without causes",
                    info.name
                );
            }
        }
    }

    #[test]
    fn patterns_resolve() {
        assert_eq!(
            lookup("dev:veth-a:rx_dropped").unwrap().name,
            "dev:*:rx_dropped"
        );
        assert_eq!(lookup("sa:0x00001000:replay").unwrap().name, "sa:*:replay");
        assert!(lookup("TcpExt.SomethingNew").is_none());
        assert_eq!(lookup("Icmp6OutType143").unwrap().name, "Icmp6Out*");
        assert_eq!(
            lookup("Icmp6OutDestUnreachs").unwrap().name,
            "Icmp6OutDestUnreachs"
        );
        assert_eq!(lookup("IcmpMsg.InType3").unwrap().name, "IcmpMsg.InType*");
        assert!(lookup("dev:eth0").is_none());
    }

    /// The live kernel's xfrm_stat has nothing this catalog does not know.
    #[test]
    fn live_xfrm_stat_is_fully_known() {
        let Ok(text) = std::fs::read_to_string("/proc/self/net/xfrm_stat") else {
            xfrmdiag_testkit::skip(
                "live_xfrm_stat_is_fully_known",
                "kernel without CONFIG_XFRM_STATISTICS",
            );
            return;
        };
        for (name, _) in crate::parse::parse_xfrm_stat(&text).counters {
            assert!(lookup(&name).is_some(), "{name} missing from the catalog");
        }
    }
}
