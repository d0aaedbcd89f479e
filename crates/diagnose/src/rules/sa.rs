//! The SAs: lifetimes, states, sequence numbers, keys, modes, encapsulation.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "the SA reached its hard lifetime",
        fault: "An SA with `limit packet-hard N` (or time limits) after N packets; the IKE daemon did not rekey.",
        evidence: "XfrmOutStateExpired / XfrmInStateExpired grows (sendto fails with EINVAL); a hard EXPIRE event",
        summary: "the SA reached its hard lifetime",
        remedy: "rekey in time: check the IKE daemon's rekey/lifetime settings and that it is running",
        names: &[
            Signal::Counter("XfrmOutStateExpired"),
            Signal::Counter("XfrmInStateExpired"),
            Signal::Event("expire"),
        ],
        refines: &[Signal::Errno("EINVAL")],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        judge: Some(sa_expired),
        ..Rule::new(CauseId::SaExpired)
    },
    Rule {
        title: "the outbound policy needs an SA that does not exist",
        fault: "`ip xfrm policy add … dir out tmpl proto esp …` with no matching SA (tunnel down, IKE daemon not running).",
        evidence: "XfrmOutNoStates grows (sendto still succeeds: a silent drop); an ACQUIRE event asks the IKE daemon for the SA",
        summary: "the outbound policy requires an SA that does not exist; the kernel dropped the datagrams silently",
        remedy: "bring the tunnel up (`swanctl --initiate`, `ipsec up`) or add the SA the template names (same reqid, mode, src/dst)",
        names: &[Signal::Counter("XfrmOutNoStates"), Signal::Event("acquire")],
        judge: Some(no_outbound_sa),
        ..Rule::new(CauseId::NoOutboundSa)
    },
    Rule {
        title: "the SA is not usable (larval, dead or being deleted)",
        fault: "A larval or dead SA (negotiation stuck, SA being deleted).",
        evidence: "XfrmOutStateInvalid / XfrmInStateInvalid grows",
        summary: "the SA is not in a usable state (larval, dead or being deleted)",
        remedy: "check the IKE daemon finished the negotiation; delete the stale SA and renegotiate",
        names: &[
            Signal::Counter("XfrmOutStateInvalid"),
            Signal::Counter("XfrmInStateInvalid"),
        ],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        ..Rule::new(CauseId::SaInvalid)
    },
    Rule {
        title: "an SA marked for one direction was used in the other",
        fault: "An SA added with `dir in` used for output, or `dir out` for input (kernel 6.10+).",
        evidence: "XfrmInStateDirError / XfrmOutStateDirError grows (kernel 6.10+)",
        summary: "an SA marked for one direction was used in the other",
        remedy: "install the SA with the right `dir in`/`dir out`, or without a direction",
        names: &[
            Signal::Counter("XfrmOutStateDirError"),
            Signal::Counter("XfrmInStateDirError"),
        ],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        ..Rule::new(CauseId::SaDirectionMismatch)
    },
    Rule {
        title: "the outbound SA's sequence number ran out",
        fault: "An outbound SA without ESN reaching 2^32 packets.",
        evidence: "XfrmOutStateSeqError grows",
        summary: "the outbound SA's sequence number overflowed",
        remedy: "rekey before 2^32 packets, or enable ESN on both sides",
        names: &[
            Signal::Counter("XfrmOutStateSeqError"),
            Signal::Audit("xfrm_audit_state_replay_overflow"),
        ],
        ..Rule::new(CauseId::SaSeqOverflow)
    },
    Rule {
        title: "ESP arrived with an SPI the receiver has no SA for",
        fault: "The sender uses an SPI the receiver has no SA for (measured: receiver `XfrmInNoStates`, `xfrm_audit_state_notfound`).",
        evidence: "receiver XfrmInNoStates grows (xfrm_audit_state_notfound with the function tracer)",
        summary: "ESP arrived for an SPI/destination the receiver has no SA for",
        remedy: "install the inbound SA with the SPI the sender uses (compare both sides' SPIs), or restart the negotiation",
        names: &[
            Signal::Counter("XfrmInNoStates"),
            Signal::Audit("xfrm_audit_state_notfound"),
            Signal::Audit("xfrm_audit_state_notfound_simple"),
        ],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        ..Rule::new(CauseId::NoInboundSa)
    },
    Rule {
        title: "ESP failed its integrity check: the keys differ",
        fault: "Different authentication keys on the two ends (measured: receiver `XfrmInStateProtoError`, SA `failed`, `xfrm_audit_state_icvfail`).",
        evidence: "receiver XfrmInStateProtoError grows, SA `failed` counter, xfrm_audit_state_icvfail",
        summary: "inbound ESP failed its integrity check (the keys or algorithms differ)",
        remedy: "make both ends use the same key and algorithm (`xfrmdiag compare` shows key fingerprints); renegotiate",
        // Proto errors cover more than ICV failures; the per-SA failure count or the icvfail
        // audit function says it was the integrity check.
        names: &[
            Signal::SharedCounter("XfrmInStateProtoError"),
            Signal::Counter("sa:*:integrity_failed"),
            Signal::Audit("xfrm_audit_state_icvfail"),
        ],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        ..Rule::new(CauseId::SaAuthFailure)
    },
    Rule {
        title: "the two hosts' copies of an SA use different encryption keys or algorithms",
        fault: "An enc key or cipher configured differently on the two ends (found by `xfrmdiag compare`, which sees both).",
        evidence: "`xfrmdiag compare`: the enc/comp algorithm or key fingerprint differs for the same SPI and destination",
        summary: "the two hosts' copies of an SA use different keys or algorithms",
        remedy: "install the same algorithm and key on both hosts (renegotiate)",
        compare_only: true,
        ..Rule::new(CauseId::SaKeyMismatch)
    },
    Rule {
        title: "the two hosts' copies of an SA differ in selector or tunnel endpoints",
        fault: "Traffic selectors negotiated or configured differently on the two ends (found by `xfrmdiag compare`).",
        evidence: "`xfrmdiag compare`: the SA selector or source address differs for the same SPI and destination",
        summary: "the two hosts' copies of an SA differ in selector or tunnel endpoints",
        remedy: "make both SAs describe the same traffic (the IKE daemons' traffic selectors must agree)",
        compare_only: true,
        ..Rule::new(CauseId::SaSelectorMismatch)
    },
    Rule {
        title: "ESP sequence numbers fell behind the receiver's replay window",
        fault: "The receiver's replay state is ahead (measured with `replay-seq 100`, window 32: `XfrmInStateSeqError`, `xfrm_audit_state_replay`).",
        evidence: "receiver XfrmInStateSeqError grows (xfrm_audit_state_replay)",
        summary: "ESP sequence numbers fell outside the receiver's replay window",
        remedy: "renegotiate the SA, check for reordering, or enlarge the replay window",
        names: &[
            Signal::Counter("XfrmInStateSeqError"),
            Signal::Counter("sa:*:replay"),
            Signal::Counter("sa:*:replay_window"),
            Signal::Audit("xfrm_audit_state_replay"),
        ],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        ..Rule::new(CauseId::ReplayWindow)
    },
    Rule {
        title: "one end uses tunnel mode and the other transport mode",
        fault: "Transport sender into a tunnel receiver (`XfrmInStateModeError`), or tunnel sender into a transport receiver (no xfrm counter: `Ip.InUnknownProtos`, drop `IP_NOPROTO` at `ip_local_deliver_finish`; with ip_vti or xfrm_interface loaded, `XfrmInNoStates` for the inner IPIP packet).",
        evidence: "receiver XfrmInStateModeError grows, or Ip.InUnknownProtos with drop reason IP_NOPROTO for a tunnel packet into a transport SA, or XfrmInNoStates while both sides hold the SA (same SPI and destination) in different modes",
        summary: "the packet's mode does not match the inbound SA's mode (tunnel vs transport)",
        remedy: "use the same mode on both ends",
        names: &[Signal::Counter("XfrmInStateModeError")],
        // A tunnel-mode packet decapsulated by a transport SA reaches IP as protocol IPIP/IPv6;
        // where an IPIP handler is registered (ip_vti, xfrm_interface) it goes back into
        // xfrm_input instead and finds no IPIP state (docs/kernel-notes.md).
        refines: &[
            Signal::SharedCounter("Ip.InUnknownProtos"),
            Signal::SharedCounter("Ip6InUnknownProtos"),
            Signal::Counter("XfrmInNoStates"),
        ],
        supports: &[Signal::Drop("IP_NOPROTO", "*"), Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        excludes: &[CauseId::NoInboundSa],
        judge: Some(sa_mode_mismatch),
        ..Rule::new(CauseId::SaModeMismatch)
    },
    Rule {
        title: "UDP encapsulation (NAT-T) differs between the SA and what arrives",
        fault: "The receiver SA has no `encap` while an encap socket is present, or the encap ports differ (measured: `XfrmInStateMismatch`).",
        evidence: "receiver XfrmInStateMismatch grows",
        summary: "an inbound SA matched but its encapsulation (NAT-T) or selector does not fit the packet",
        remedy: "make both SAs agree on `encap espinudp SPORT DPORT` (or on no encapsulation)",
        names: &[Signal::SharedCounter("XfrmInStateMismatch")],
        supports: &[Signal::Drop("NOT_SPECIFIED", "xfrm_input")],
        judge: Some(encap_mismatch),
        ..Rule::new(CauseId::EncapMismatch)
    },
    Rule {
        title: "ESP-in-UDP arrived but no NAT-T socket is bound on its port",
        fault: "The sender encapsulates (espinudp 4500) and the receiver has no UDP_ENCAP_ESPINUDP socket (measured: `XfrmInTmplMismatch` + `Udp.InErrors`, drop at `__udp4_lib_rcv`).",
        evidence: "receiver XfrmInTmplMismatch while an SA encapsulates in UDP, with the drop in __udp4_lib_rcv/__udp6_lib_rcv (reason NOT_SPECIFIED on 6.12) or no socket bound on the encap port",
        summary: "ESP-in-UDP found no NAT-T socket, so it was treated as plain UDP and failed the inbound policy",
        remedy: "run the IKE daemon that owns port 4500 (it sets UDP_ENCAP_ESPINUDP), or use the port the SA's encap names",
        // The policy check of a datagram that found no socket: reason NOT_SPECIFIED on 6.12,
        // XFRM_POLICY elsewhere, in the UDP lookup.
        refines: &[Signal::Counter("XfrmInTmplMismatch")],
        supports: &[
            Signal::Drop("*", "__udp4_lib_rcv"),
            Signal::Drop("*", "__udp6_lib_rcv"),
            Signal::SharedCounter("Udp.InErrors"),
            Signal::SharedCounter("Udp6InErrors"),
        ],
        excludes: &[CauseId::PolicyTemplateMismatch],
        judge: Some(nat_t_socket_missing),
        ..Rule::new(CauseId::NatTSocketMissing)
    },
];

fn sa_expired(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if c.hits.len() == 1 && c.has(Signal::Errno("EINVAL")) {
        if side.route.as_ref().is_some_and(|r| r.kind == "blackhole") {
            return false;
        }
        c.summary = "sendto got EINVAL, which XFRM returns for an expired outbound SA".into();
        c.plausible_only = true;
    }
    true
}

fn no_outbound_sa(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !c.has(Signal::Counter("XfrmOutNoStates")) {
        c.summary = "the kernel asked the IKE daemon for an SA (ACQUIRE) and got none".into();
    }
    c.context(facts::matching_policies(side, "out"));
    true
}

fn sa_mode_mismatch(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if c.has(Signal::Counter("XfrmInStateModeError")) {
        return true;
    }
    if c.has(Signal::Counter("XfrmInNoStates")) {
        // Only the two sides' SAs tell a mode mismatch from a missing SA here.
        return mode_differs_across_sides(facts, side, c);
    }
    let transport: Vec<_> = sas(side)
        .into_iter()
        .filter(|sa| sa.mode == "transport")
        .map(|sa| {
            facts::item(
                "config",
                side,
                format!("SA {} {} -> {} mode transport", sa.spi, sa.src, sa.dst),
            )
        })
        .collect();
    if transport.is_empty() {
        return false;
    }
    c.summary = "a tunnel-mode packet was decapsulated by a transport-mode SA, leaving an inner IP packet nobody handles".into();
    c.context(transport);
    let tunnel_peer: Vec<_> = facts
        .sides
        .iter()
        .filter(|s| s.namespace != side.namespace)
        .flat_map(|s| {
            sas(s)
                .into_iter()
                .filter(|sa| sa.mode == "tunnel")
                .map(move |sa| (s, sa))
        })
        .map(|(s, sa)| {
            facts::item(
                "config",
                s,
                format!("SA {} {} -> {} mode tunnel", sa.spi, sa.src, sa.dst),
            )
        })
        .collect();
    c.corroborate(Kind::Config, tunnel_peer);
    true
}

/// The SAs a side holds (empty when its inventory was not read).
fn sas(side: &SideEvidence) -> Vec<crate::evidence::Sa> {
    side.inventory
        .as_ref()
        .and_then(|i| i.sas.clone())
        .unwrap_or_default()
}

fn sa_line(side: &SideEvidence, sa: &crate::evidence::Sa) -> crate::finding::EvidenceItem {
    facts::item(
        "config",
        side,
        format!("SA {} {} -> {} mode {}", sa.spi, sa.src, sa.dst, sa.mode),
    )
}

/// XfrmInNoStates on `side` while another side holds the same SA (SPI, destination, protocol)
/// in the other of tunnel and transport mode: the outer ESP found its SA, so what found no state
/// is the inner IPIP packet a tunnel-mode SA on one end and a transport-mode SA on the other
/// leave behind.
fn mode_differs_across_sides(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let tunnel_or_transport = |m: &str| m == "tunnel" || m == "transport";
    let here = sas(side);
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    // Not by name: two hosts' sides may both be the default namespace.
    for other in facts.sides.iter().filter(|s| !std::ptr::eq(*s, side)) {
        for far in sas(other) {
            let twin = here.iter().find(|near| {
                near.spi == far.spi
                    && near.dst == far.dst
                    && near.proto == far.proto
                    && near.mode != far.mode
                    && tunnel_or_transport(&near.mode)
                    && tunnel_or_transport(&far.mode)
            });
            if let Some(near) = twin {
                mine.push(sa_line(side, near));
                theirs.push(sa_line(other, &far));
            }
        }
    }
    if mine.is_empty() {
        return false;
    }
    c.summary = "the two ends hold the same SA in different modes (tunnel vs transport): the decrypted packet is an inner IP packet this side has no state for".into();
    c.context(mine);
    c.corroborate(Kind::Config, theirs);
    true
}

fn encap_mismatch(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    c.context(facts::encap_sas(side));
    true
}

fn nat_t_socket_missing(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if facts.forward_drop_could_be_here(side) {
        return false;
    }
    // SAs that encapsulate, on this side or the sender's: ESP-in-UDP is expected here.
    let encap: Vec<_> = facts.sides.iter().flat_map(facts::encap_sas).collect();
    if encap.is_empty() {
        return false;
    }
    c.context(encap);
    let unbound: Vec<_> = side
        .encap_sockets
        .iter()
        .flatten()
        .filter(|e| !e.bound)
        .map(|e| {
            facts::item(
                "config",
                side,
                format!(
                    "no UDP socket bound on NAT-T port {} (/proc/net/udp)",
                    e.port
                ),
            )
        })
        .collect();
    let dropped_in_udp_lookup = facts.dropped_in(&["__udp4_lib_rcv", "__udp6_lib_rcv"]);
    if unbound.is_empty() && !dropped_in_udp_lookup {
        c.summary =
            "an SA uses UDP encapsulation: check a NAT-T socket is bound on its port".into();
        c.plausible_only = true;
    }
    c.corroborate(Kind::Config, unbound);
    true
}
