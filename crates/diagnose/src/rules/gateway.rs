//! A router on the path: forward policies and what it cannot route on.

use crate::cause::CauseId;
use crate::evidence::{Role, SideEvidence};
use crate::facts::{self, Facts};
use crate::finding::EvidenceItem;
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "the tunnel interface of a route-based VPN is down",
        fault: "An xfrm interface (`type xfrm … if_id N`) or VTI (`type vti key N`) is administratively or operationally down: the kernel removes the routes into it, so the remote prefix has no route (IpExt.InNoRoutes, ENETUNREACH) or, with a default route via the WAN, leaves in clear (measured on 6.1 and 6.12: docs/kernel-notes.md).",
        evidence: "a side's xfrm/VTI interface (rtnetlink) is not up while the flow was lost, or while it arrived by another route although an out policy bound to the interface covers it (a leak)",
        summary: "a tunnel interface is down",
        remedy: "bring it up (`ip link set DEV up`) and restore the route into it (`ip route replace REMOTE_PREFIX dev DEV`); check what took it down (the IKE daemon's updown script, the underlying device)",
        names: &[Signal::Config("an xfrm or VTI interface is down")],
        // The route into the interface went with it: the side's lookup finds none, which is
        // this cause, not a routing mistake of its own.
        excludes: &[CauseId::NoRoute],
        judge: Some(tunnel_interface_down),
        // With a fallback route via the WAN the flow arrives, unencrypted.
        clear_text: true,
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
        title: "a gateway decrypted the packet but has no route to send it on",
        fault: "The receiving gateway of a site-to-site tunnel decrypts the packets (its inbound SA counts them) but has no route to the inner destination: the route to the LAN was deleted, its device lost the address, or a blackhole/unreachable route covers it. Measured on 6.1 and 6.12 (docs/kernel-notes.md): route deleted gives `IpExt.InNoRoutes` and `kfree_skb IP_INNOROUTES at ip_error` (IPv6: `Ip6InNoRoutes`, `IP_INNOROUTES at ip6_pkt_drop`); the gateway's ICMP network unreachable returns through the tunnel (ENETUNREACH on the sender) only when sourced inside the tunnel's selectors, otherwise in clear, and dies in the sending gateway's policy check (XfrmInTmplMismatch there, not the flow's loss); a blackhole route moves no counter (`NOT_SPECIFIED at ip_error` only). XfrmFwdHdrError (an inner packet `__xfrm_route_forward()` cannot decode or route) never moved in any measured run.",
        evidence: "on a forwarding side (`--forward`), the inbound SA of the flow's forward policy counted packets, and IpExt.InNoRoutes / Ip6InNoRoutes grew there, or its route to the destination is unreachable/blackhole/prohibit (kfree_skb at ip_error), or XfrmFwdHdrError grew",
        summary: "the gateway decrypted the packets but could not route them on (XfrmFwdHdrError)",
        remedy: "add the route to the inner destination on that gateway (`ip route get INNER_DST` there; `ip route replace LAN_PREFIX dev LAN_DEV`) and check the LAN device is up with its address",
        names: &[Signal::Counter("XfrmFwdHdrError")],
        refines: &[
            Signal::SharedCounter("IpExt.InNoRoutes"),
            Signal::SharedCounter("Ip6InNoRoutes"),
            Signal::Route("unreachable"),
            Signal::Route("blackhole"),
            Signal::Route("prohibit"),
        ],
        supports: &[
            Signal::Drop("IP_INNOROUTES", "ip_error"),
            Signal::Drop("NOT_SPECIFIED", "ip_error"),
            // IPv6 (measured on 6.12)
            Signal::Drop("IP_INNOROUTES", "ip6_pkt_drop"),
        ],
        // The gateway's own `ip route get` is unreachable too: that is this cause, seen from
        // the route evidence, not a routing mistake of a sender.
        excludes: &[CauseId::NoRoute],
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
    if returning_icmp_errors(facts, side) {
        return false;
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

fn forward_no_route(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if c.has(Signal::Counter("XfrmFwdHdrError")) {
        c.context(facts::forward_evidence(side));
        return true;
    }
    let Some(decrypted) = decrypted_without_route(facts, side) else {
        return false;
    };
    let dst = facts::flow_dst(side).map_or("the destination".into(), |d| d.to_string());
    let route = side.route.as_ref().filter(|r| r.kind != "unicast");
    let missing = route.map_or("no route".into(), |r| {
        let article = if r.kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {} route", r.kind)
    });
    c.summary = format!(
        "gateway {} decrypted the packets but has {missing} to {dst}: they die there (ip_error) instead of going on to the LAN",
        side.namespace
    );
    if let Some(r) = route {
        c.corroborate(
            Kind::Route,
            vec![facts::item(
                "route",
                side,
                format!("ip route get {} on the gateway: {}", r.dst, r.kind),
            )],
        );
    }
    c.corroborate(Kind::Config, decrypted);
    c.context(facts::forward_evidence(side));
    true
}

/// A gateway further on decrypted the flow and had no route on: its ICMP errors (sourced from its
/// WAN address, outside the tunnel's selectors) come back in clear and die in this side's policy
/// check (measured on 6.12: XfrmInTmplMismatch, XFRM_POLICY at ip_forward). They are not the
/// flow's loss: true when there are no more of them here than that gateway's InNoRoutes.
pub(crate) fn returning_icmp_errors(facts: &Facts, side: &SideEvidence) -> bool {
    let count = |s: &SideEvidence, names: &[&str]| -> u64 {
        names.iter().filter_map(|n| facts::moved(s, n)).sum()
    };
    let refused = count(side, &["XfrmInTmplMismatch", "XfrmInNoPols"]);
    facts.sides.iter().any(|s| {
        s.namespace != side.namespace
            && decrypted_without_route(facts, s).is_some()
            && refused <= count(s, &["IpExt.InNoRoutes", "Ip6InNoRoutes"])
    })
}

/// On a forwarding side whose forward path lost the flow: the inbound SAs (the templates of the
/// `fwd` policies covering the flow) that counted packets, as evidence. `None` when this side did
/// not decrypt the flow, forwards nothing, or has a tunnel interface down (that cause's reading).
pub(crate) fn decrypted_without_route(
    facts: &Facts,
    side: &SideEvidence,
) -> Option<Vec<EvidenceItem>> {
    let forwarding = side.sysctls.as_ref().and_then(|s| s.ip_forward) == Some(1);
    if !facts.tally.loss_known() || !forwarding || side.role != Role::Receiver {
        return None;
    }
    let local = side.route.as_ref().is_some_and(|r| r.kind == "local");
    let interface_down = side
        .tunnel_links
        .iter()
        .flatten()
        .any(|l| !l.is_up() && !matches!(l.name.as_str(), "ip_vti0" | "ip6_vti0"));
    if local || interface_down {
        return None;
    }
    let no_route = ["IpExt.InNoRoutes", "Ip6InNoRoutes"]
        .iter()
        .any(|n| facts::moved(side, n).is_some())
        || side
            .route
            .as_ref()
            .is_some_and(|r| matches!(r.kind.as_str(), "unreachable" | "blackhole" | "prohibit"));
    if !no_route {
        return None;
    }
    let decrypted: Vec<EvidenceItem> = facts::covering_policies(side, "fwd")
        .into_iter()
        .filter(|p| p.action == "allow")
        .flat_map(|p| crate::rules::tunnel::policy_sas(side, p))
        .filter_map(|sa| {
            let n = crate::rules::tunnel::sa_packets(side, sa)?;
            Some(facts::item(
                "counter",
                side,
                format!(
                    "inbound SA {} {} -> {} decrypted {n} packet(s) of the flow",
                    sa.spi, sa.src, sa.dst
                ),
            ))
        })
        .collect();
    (!decrypted.is_empty()).then_some(decrypted)
}

fn tunnel_interface_down(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let leaked = facts.tally.delivered();
    if !facts.tally.loss_known() && !leaked {
        return false;
    }
    let down: Vec<_> = side
        .tunnel_links
        .iter()
        .flatten()
        // ip_vti0 / ip6_vti0 are the VTI modules' fallback devices, down in every namespace.
        .filter(|l| !l.is_up() && !matches!(l.name.as_str(), "ip_vti0" | "ip6_vti0"))
        .collect();
    // Everything arrived: the down interface is this flow's cause only when an out policy bound
    // to it covers the flow and the route took another device, so it left in clear.
    let down: Vec<_> = if leaked {
        down.into_iter().filter(|l| bypassed(side, l)).collect()
    } else {
        down
    };
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
    if leaked {
        let dev = side
            .route
            .as_ref()
            .and_then(|r| r.dev.clone())
            .unwrap_or_default();
        c.summary += &format!(": the flow took the route via {dev} and left in clear");
        let bound = bound_policies(side, first);
        let Some(idle) = crate::rules::tunnel::idle_sas(side, &bound) else {
            return false;
        };
        c.corroborate(Kind::Counter, idle);
        c.corroborate(
            Kind::Route,
            vec![facts::item(
                "route",
                side,
                format!("the flow's route leaves by {dev}, not {}", first.name),
            )],
        );
    }
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

/// Whether an out policy covering the flow is bound to `link` while the flow's route leaves by
/// another device.
fn bypassed(side: &SideEvidence, link: &crate::evidence::TunnelLink) -> bool {
    let route_dev = side.route.as_ref().and_then(|r| r.dev.as_deref());
    crate::rules::tunnel::sends_or_forwards(side)
        && route_dev.is_some_and(|d| d != link.name)
        && !bound_policies(side, link).is_empty()
}

/// The out policies protecting the flow (crate::rules::tunnel's reading: allow, templates, no
/// 0/0 route-based catch-all) that are bound to `link`: its if_id, or a VTI's okey as mark.
fn bound_policies<'a>(
    side: &'a SideEvidence,
    link: &crate::evidence::TunnelLink,
) -> Vec<&'a crate::evidence::Policy> {
    use crate::rules::tunnel::{binds, protecting_out_policies};
    protecting_out_policies(side)
        .into_iter()
        .filter(|p| binds(link, p))
        .collect()
}
