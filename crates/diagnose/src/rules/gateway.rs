//! A router on the path: forward policies and what it cannot route on.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::{self, Facts};
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "the tunnel interface of a route-based VPN is down",
        fault: "An xfrm interface (`type xfrm … if_id N`) or VTI (`type vti key N`) is administratively or operationally down: the kernel removes the routes into it, so the remote prefix has no route (IpExt.InNoRoutes, ENETUNREACH) or, with a default route via the WAN, leaves in clear (measured on 6.1 and 6.12: docs/kernel-notes.md).",
        evidence: "a side's xfrm/VTI interface (rtnetlink) is not up while the flow was lost",
        summary: "a tunnel interface is down",
        remedy: "bring it up (`ip link set DEV up`) and restore the route into it (`ip route replace REMOTE_PREFIX dev DEV`); check what took it down (the IKE daemon's updown script, the underlying device)",
        names: &[Signal::Config("an xfrm or VTI interface is down")],
        // The route into the interface went with it: the side's lookup finds none, which is
        // this cause, not a routing mistake of its own.
        excludes: &[CauseId::NoRoute],
        judge: Some(tunnel_interface_down),
        ..Rule::new(CauseId::TunnelInterfaceDown)
    },
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
        supports: &[Signal::Drop("*", "ip6_forward")],
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
        // explains them, and only when a router can be on the path at all.
        if !facts.tally.loss_known()
            || facts.flow_is_on_link()
            || POLICY_CHECK.iter().any(|n| facts.moved_anywhere(n))
        {
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
    // The same signature comes from an inbound SA whose if_id/mark differs from the policies':
    // only the configuration separates them, and then it is `if-id-mismatch`.
    if !crate::rules::tunnel::if_id_mismatches(side).is_empty() {
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

fn tunnel_interface_down(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !facts.tally.loss_known() {
        return false;
    }
    let down: Vec<_> = side
        .tunnel_links
        .iter()
        .flatten()
        // ip_vti0 / ip6_vti0 are the VTI modules' fallback devices, down in every namespace.
        .filter(|l| !l.is_up() && !matches!(l.name.as_str(), "ip_vti0" | "ip6_vti0"))
        .collect();
    let Some(first) = down.first() else {
        return false;
    };
    let key = match (first.if_id, first.ikey) {
        (Some(id), _) => format!("if_id {id}"),
        (None, Some(k)) => format!("key {k}"),
        _ => String::new(),
    };
    c.summary = format!(
        "tunnel interface {} ({} {key}) is down",
        first.name, first.kind
    );
    if let Some(r) = side
        .route
        .as_ref()
        .filter(|r| matches!(r.kind.as_str(), "unreachable" | "blackhole" | "prohibit"))
    {
        c.corroborate(
            Kind::Route,
            vec![facts::item(
                "route",
                side,
                format!(
                    "route to {} is {}: the route into the interface is gone",
                    r.dst, r.kind
                ),
            )],
        );
    }
    c.corroborate(
        Kind::Config,
        down.iter()
            .map(|l| {
                facts::item(
                    "config",
                    side,
                    format!(
                        "{}: {} interface, admin {}, state {}",
                        l.name,
                        l.kind,
                        if l.admin_up { "up" } else { "down" },
                        l.oper_state
                    ),
                )
            })
            .collect(),
    );
    true
}
