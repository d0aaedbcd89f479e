//! A router on the path: forward policies and what it cannot route on.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "a gateway decrypted the packet but has no forward policy for it",
        fault: "A gateway with `ip_forward=1` decrypts tunnel traffic but has no `dir fwd` policy for it.",
        evidence: "XfrmInNoPols / XfrmInTmplMismatch with the drop in ip_forward/ip6_forward, on a side with ip_forward=1",
        summary: "forwarded packets matched no forward policy (or not its templates)",
        remedy: "add the `dir fwd` policy for the tunnel's selectors (IKE daemons install it with the tunnel)",
        names: &[
            Signal::Drop("XFRM_POLICY", "ip_forward"),
            Signal::Drop("XFRM_POLICY", "ip6_forward"),
        ],
        refines: &[
            Signal::Counter("XfrmInNoPols"),
            Signal::Counter("XfrmInTmplMismatch"),
        ],
        excludes: &[
            CauseId::NoInboundPolicy,
            CauseId::PolicyTemplateMismatch,
            CauseId::NatTSocketMissing,
        ],
        judge: Some(forward_policy_missing),
        ..Rule::new(CauseId::ForwardPolicyMissing)
    },
    Rule {
        title: "a decrypted packet could not be routed on",
        fault: "A router decapsulates ESP but the inner packet cannot be decoded or has no route (no dst) when `__xfrm_route_forward()` checks it: XfrmFwdHdrError grows (net/xfrm/xfrm_policy.c; docs/kernel-notes.md).",
        evidence: "XfrmFwdHdrError grows on the router",
        summary: "the router could not decode or route the decrypted packets on (XfrmFwdHdrError)",
        remedy: "add the route for the inner destination on the router (`ip route get INNER_DST` there), and check the inner packet is well formed",
        names: &[Signal::Counter("XfrmFwdHdrError")],
        judge: Some(forward_no_route),
        ..Rule::new(CauseId::ForwardNoRoute)
    },
];

/// Counters of the inbound policy check: when one moved on a side, a forward drop in the trace
/// is explained there (or is someone else's), not by a router outside the evidence.
const POLICY_CHECK: &[&str] = &["XfrmInNoPols", "XfrmInTmplMismatch", "XfrmInPolBlock"];

fn forward_policy_missing(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if c.trace_only() {
        // A router on this machine whose counters are not in the evidence. The drop is system
        // wide: it is only ours when our datagrams went missing and no side's own policy check
        // explains them.
        if !facts.tally.loss_known() || POLICY_CHECK.iter().any(|n| facts.moved_anywhere(n)) {
            return false;
        }
        c.side = None;
        c.summary = "a router on this machine refused to forward the packets under its XFRM policies (its counters were not collected: diagnose it as a side to be sure)".into();
        return true;
    }
    let drop_here = facts.forward_drop_could_be_here(side);
    let no_policy = c.has(Signal::Counter("XfrmInNoPols"));
    if !(drop_here || (no_policy && facts::forwards_the_flow(side))) {
        return false;
    }
    // XfrmInNoPols under a `fwd` default block is the default's doing.
    if no_policy
        && !c.has(Signal::Counter("XfrmInTmplMismatch"))
        && facts::default_blocks(side, "fwd")
    {
        return false;
    }
    if !no_policy {
        c.summary = "forwarded packets did not match a forward policy's templates".into();
    }
    c.corroborate(Kind::Config, facts::forward_evidence(side));
    true
}

fn forward_no_route(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    c.context(facts::forward_evidence(side));
    true
}
