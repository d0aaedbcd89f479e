//! The policies: outbound, inbound, blocks and defaults.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Kind, Rule, Signal};

/// Trace drops of the inbound/forward policy check.
const POLICY_DROP: Signal = Signal::Drop("XFRM_POLICY", "*");

pub const RULES: &[Rule] = &[
    Rule {
        title: "the sender has no outbound policy for the flow, so it left in clear",
        fault: "The sender lacks the `dir out` policy (or the IKE daemon's traffic selectors do not cover the flow) while the receiver requires ESP.",
        evidence: "sender has no `dir out` policy matching the flow while the receiver requires ESP for it",
        summary: "the sender has no outbound policy for the flow, so it went out in clear",
        remedy: "add the outbound policy (or fix the IKE daemon's traffic selectors) so the flow is encrypted",
        names: &[Signal::Config("no `dir out` policy covers the flow on the sender while the receiver's inbound policy requires ESP")],
        judge: Some(no_outbound_policy),
        ..Rule::new(CauseId::NoOutboundPolicy)
    },
    Rule {
        title: "an outbound policy with action block matches the flow",
        fault: "`ip xfrm policy add … dir out action block`.",
        evidence: "sendto fails with EPERM and XfrmOutPolBlock grows",
        summary: "an outbound XFRM policy with action block refused the datagrams (EPERM)",
        remedy: "remove or narrow the `dir out action block` policy, or set `ip xfrm policy setdefault out accept`",
        names: &[Signal::Counter("XfrmOutPolBlock")],
        refines: &[Signal::Errno("EPERM")],
        judge: Some(policy_block_out),
        ..Rule::new(CauseId::PolicyBlockOut)
    },
    Rule {
        title: "a default block policy stopped the flow: no policy matches it",
        fault: "`ip xfrm policy setdefault DIR block` with no policy for the flow. Measured on 6.18: `out` block makes sendto fail with EPERM and moves no counter (not XfrmOutPolBlock); `in` block counts XfrmInNoPols on the receiver; `fwd` block counts XfrmInNoPols on the router, with the drop at ip_forward (reason XFRM_POLICY) or ip6_forward (reason NOT_SPECIFIED) (docs/kernel-notes.md).",
        evidence: "EPERM on send with the sender's `out` default block and no `dir out` policy covering the flow; XfrmInNoPols with the receiver's `in` default block; XfrmInNoPols on a router whose `fwd` default is block",
        summary: "a default block policy stopped the flow: no policy matches it",
        remedy: "add a policy for the flow in that direction (an allow policy, or a bypass: `ip xfrm policy add ... dir DIR action allow` without a template), or `ip xfrm policy setdefault DIR accept`",
        // Measured on 6.18: an `out` default block fails sendto with EPERM and moves no counter.
        refines: &[Signal::Errno("EPERM"), Signal::Counter("XfrmInNoPols")],
        // IPv6 forwarding drops with reason NOT_SPECIFIED (measured on 6.18).
        supports: &[POLICY_DROP, Signal::Drop("*", "ip6_forward")],
        excludes: &[
            CauseId::PolicyBlockOut,
            CauseId::FirewallDrop,
            CauseId::NoInboundPolicy,
            CauseId::ForwardPolicyMissing,
        ],
        judge: Some(default_policy_block),
        ..Rule::new(CauseId::DefaultPolicyBlock)
    },
    Rule {
        title: "the packet did not pass the transforms the inbound policy requires",
        fault: "The classic: plain UDP into an inbound policy that requires ESP — tcpdump sees the packet, the application does not (measured: `XfrmInTmplMismatch` +1, `Udp.InErrors` +1, `kfree_skb reason XFRM_POLICY` at `udp_queue_rcv_one_skb`).",
        evidence: "receiver XfrmInTmplMismatch grows (with Udp.InErrors and drop reason XFRM_POLICY): typically plain traffic into an `in` policy that requires ESP",
        summary: "packets arrived without the ESP the inbound policy requires (plain traffic into an ESP policy)",
        remedy: "encrypt the flow on the sender (outbound policy + SA), or exclude it from the receiver's inbound policy (a bypass policy with higher priority)",
        names: &[Signal::Counter("XfrmInTmplMismatch")],
        supports: &[
            POLICY_DROP,
            Signal::SharedCounter("Udp.InErrors"),
            Signal::SharedCounter("Udp6InErrors"),
            Signal::SharedCounter("Ip.InDiscards"),
            Signal::SharedCounter("Ip6InDiscards"),
        ],
        judge: Some(policy_template_mismatch),
        ..Rule::new(CauseId::PolicyTemplateMismatch)
    },
    Rule {
        title: "no inbound policy accepts the flow where the kernel requires one",
        fault: "A tunnel-mode SA decrypts the packets but no `dir in` policy covers them (the kernel requires a policy for what a tunnel SA decapsulated), or XfrmInNoPols moved where the default policies were not read. With the default inbound policy known to be block it is `default-policy-block` (docs/kernel-notes.md).",
        evidence: "receiver XfrmInNoPols grows (not forwarding, default inbound policy accept or unknown)",
        summary: "no inbound policy matched the flow and the kernel requires one",
        remedy: "add an inbound policy for the flow, or `ip xfrm policy setdefault in accept`",
        // XfrmInNoPols: no policy while the default blocks, or a tunnel-mode SA decrypted a packet
        // no policy accepts (net/xfrm/xfrm_policy.c, __xfrm_policy_check).
        names: &[Signal::Counter("XfrmInNoPols")],
        supports: &[POLICY_DROP],
        judge: Some(no_inbound_policy),
        ..Rule::new(CauseId::NoInboundPolicy)
    },
    Rule {
        title: "an inbound policy with action block matches the flow",
        fault: "`ip xfrm policy add … dir in action block` (measured: `XfrmInPolBlock`).",
        evidence: "receiver XfrmInPolBlock grows",
        summary: "an inbound policy with action block matched the flow",
        remedy: "remove or narrow the `dir in action block` policy",
        names: &[Signal::Counter("XfrmInPolBlock")],
        supports: &[POLICY_DROP],
        judge: Some(policy_block_in),
        ..Rule::new(CauseId::PolicyBlockIn)
    },
];

/// A receiver rejected plain traffic its policy wants encrypted: did the sender even try?
fn no_outbound_policy(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let receiver_wants_esp = facts.sides.iter().any(|s| {
        s.namespace != side.namespace
            && facts::moved(s, "XfrmInTmplMismatch").is_some()
            && !facts.forward_drop_could_be_here(s)
    });
    let is_sender = side.role == crate::evidence::Role::Sender;
    if !receiver_wants_esp || !is_sender || !facts::policies_known(side) {
        return false;
    }
    if !facts::covering_policies(side, "out").is_empty() {
        return false;
    }
    let installed = facts::policies(side).count();
    let dst = facts::flow_dst(side).map_or("the flow".into(), |d| d.to_string());
    let text = format!("{installed} policies installed, none `dir out` covering {dst}");
    c.corroborate(Kind::Config, vec![facts::item("config", side, text)]);
    true
}

fn policy_block_out(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !c.has(Signal::Counter("XfrmOutPolBlock")) {
        match facts::counters(side) {
            // Read, and it did not move: not a block policy.
            Some(counters) if counters.known_unchanged("XfrmOutPolBlock") => return false,
            _ => {
                c.summary = "sendto got EPERM: an outbound block policy or a firewall rule (counters were not read)".into();
                c.plausible_only = true;
            }
        }
    }
    c.context(facts::matching_policies(side, "out"));
    true
}

/// The direction whose default `block` stopped the flow on this side, if one did.
fn blocking_default(facts: &Facts, side: &SideEvidence, c: &Candidate) -> Option<&'static str> {
    if c.has(Signal::Errno("EPERM")) {
        let allowed = facts::covering_policies(side, "out")
            .iter()
            .any(|p| p.action == "allow");
        return (facts::default_blocks(side, "out") && facts::policies_known(side) && !allowed)
            .then_some("out");
    }
    // XfrmInNoPols: the inbound check, or a router's forward check. A forward drop that can be
    // this side's, or forwarding switched on while the inbound default accepts, point at `fwd`.
    let forward_drop = facts.forward_drop_could_be_here(side);
    let ip_forward = side.sysctls.as_ref().and_then(|s| s.ip_forward) == Some(1);
    let may_forward = forward_drop || ip_forward || facts::forwards_the_flow(side);
    if !forward_drop && facts::default_blocks(side, "in") {
        return Some("in");
    }
    if may_forward && facts::default_blocks(side, "fwd") {
        return Some("fwd");
    }
    facts::default_blocks(side, "in").then_some("in")
}

fn default_policy_block(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let Some(dir) = blocking_default(facts, side, c) else {
        return false;
    };
    let what = match dir {
        "out" => "sendto got EPERM: the sender's default outbound policy is block and no policy allows the flow",
        "in" => "the receiver's default inbound policy is block and no inbound policy matches the flow",
        _ => "this router's default forward policy is block and no forward policy matches the flow",
    };
    c.summary = what.into();
    let mut ev = vec![facts::item(
        "config",
        side,
        format!("default {dir} policy: block (ip xfrm policy getdefault)"),
    )];
    let installed = facts::covering_policies(side, dir).len();
    ev.push(facts::item(
        "config",
        side,
        format!("{installed} `dir {dir}` policies cover the flow"),
    ));
    c.corroborate(Kind::Config, ev);
    true
}

fn policy_template_mismatch(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    // ICMP errors of a gateway further on that could not route the flow (`forward-no-route`).
    if super::gateway::returning_icmp_errors(facts, side) {
        return false;
    }
    if facts.dropped_in(&["__udp4_lib_rcv", "__udp6_lib_rcv"]) {
        c.summary =
            "packets arrived without the ESP the inbound policy requires (and no socket was bound)"
                .into();
    }
    c.context(facts::matching_policies(side, "in"));
    true
}

fn no_inbound_policy(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if let Some(d) = facts::default_policy(side, "in") {
        c.context([facts::item(
            "config",
            side,
            format!("default inbound policy: {d}"),
        )]);
        if d != "block" {
            c.summary =
                "a tunnel-mode SA decrypted the packets but no inbound policy accepts them".into();
        }
    }
    true
}

fn policy_block_in(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    c.context(facts::matching_policies(side, "in"));
    true
}
