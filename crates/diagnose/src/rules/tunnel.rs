//! Route-based VPNs and the flows that leave outside their tunnel: `if_id`/mark mismatches, a
//! route that bypasses the tunnel interface, NAT around the policy lookup, and clear text where
//! protection was configured.
//!
//! Three of these are silent in the kernel (measured on 6.1 and 6.12, docs/kernel-notes.md):
//! the flow is delivered, no error counter moves; the signs are configuration (the policy that
//! covers the flow, the route, the NAT rule's counter) and the outbound SA that counted nothing.
//! They are `clear_text` rules: a finding outranks `delivered` and the run exits 1.

use crate::cause::CauseId;
use crate::evidence::{Policy, Sa, SideEvidence, Template, TunnelLink};
use crate::facts::{self, item, Facts};
use crate::finding::EvidenceItem;
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "the route for the remote prefix does not point into the tunnel interface",
        fault: "A route-based VPN (xfrm interface with `if_id`, or VTI with keys) whose policies cover the flow, but the route for the flow's destination uses another device (the WAN): the lookup carries no `if_id`/mark, no policy matches, and the flow leaves in clear. Measured on 6.1 and 6.12: delivered, no counter moves, the outbound SA stays at 0 (docs/kernel-notes.md).",
        evidence: "`ip route get DST` on the side leaves through a device other than its up xfrm/VTI interface, while an `out` policy carrying that interface's `if_id` (or VTI okey as mark) covers the flow; its SAs counted nothing",
        summary: "the route for the flow does not point into the tunnel interface: it leaves outside the tunnel",
        remedy: "route the remote prefix into the tunnel interface (`ip route replace REMOTE_PREFIX dev IFACE`); check for a more specific route or a policy-routing rule that wins over it",
        names: &[Signal::Config("the flow's route bypasses the tunnel interface its policies name")],
        excludes: &[CauseId::NoOutboundSa, CauseId::NotReached],
        judge: Some(no_route_into_tunnel),
        clear_text: true,
        ..Rule::new(CauseId::NoRouteIntoTunnel)
    },
    Rule {
        title: "NAT rewrote the flow around the policy lookup",
        fault: "A NAT rule changes the packet so that the policy lookup no longer matches it: a postrouting masquerade/SNAT on a gateway runs after the bundle was chosen in ip_forward and the kernel looks up again with the new source (no policy), or a prerouting DNAT moves the destination out of the policy's selector. The flow leaves in clear (or never matches its SA). Measured on 6.1 and 6.12 (docs/kernel-notes.md): delivered, no error counter, outbound SA at 0.",
        evidence: "an nftables NAT rule on the side counted packets during the window, an `out` policy with templates covers the flow's original addresses, and the SAs of its templates counted nothing",
        summary: "a NAT rule rewrote the flow before the policy lookup: no policy matched and it left in clear",
        remedy: "exempt the tunnel's traffic from NAT (e.g. `ip daddr REMOTE_PREFIX accept` before the masquerade, or `meta ipsec exists`/`rt ipsec missing` matches), or make the policies cover the translated addresses",
        names: &[Signal::Config("a NAT rule counted the flow while its policy's SA stayed idle")],
        excludes: &[CauseId::NoOutboundSa, CauseId::NotReached],
        judge: Some(nat_before_policy),
        clear_text: true,
        ..Rule::new(CauseId::NatBeforePolicy)
    },
    Rule {
        title: "the flow left this side unencrypted",
        fault: "The flow is meant to be protected — an `out` policy here covers it, or a peer's `in`/`fwd` policy expects it from this side — but it left without ESP: the SAs that should carry it counted nothing while it was delivered. A security finding, shown even when everything arrived.",
        evidence: "the flow was received; on the side that sent or forwarded it, the outbound SAs for its policy (or for the peer's template) did not count a packet",
        summary: "the flow left this side in clear although a policy says it must be protected",
        remedy: "find why it bypassed the policy (see the other findings: route, NAT, if_id/marks), and keep it from leaking meanwhile (a `block` policy or a firewall rule for the remote prefix on the WAN)",
        names: &[Signal::Config("a protected flow left without ESP")],
        judge: Some(cleartext_leak),
        clear_text: true,
        ..Rule::new(CauseId::CleartextLeak)
    },
    Rule {
        title: "an SA's if_id or mark differs from its policy's",
        fault: "Route-based VPNs tie SAs, policies and the tunnel interface together by `if_id` (xfrm interfaces) or mark (VTI keys). When they differ the lookup finds no state or no policy. Measured on 6.1 and 6.12: outbound SA if_id differs → EHOSTUNREACH and XfrmOutPolError/XfrmOutNoStates; inbound SA if_id differs on a gateway → XfrmInNoPols with XFRM_POLICY at ip_forward (the signature of a missing fwd policy: only the configuration separates them); policy if_id differs → only the interface's tx errors; VTI in mark differs → XfrmInNoStates.",
        evidence: "a side's SA and the policy whose template it serves (or the VTI interface it belongs to) carry different `if_id`/marks, and the flow was lost",
        summary: "an SA and its policy carry different if_id/marks: the lookup finds no state",
        remedy: "give the SA, its policies and the interface the same `if_id` (xfrm interface) or mark/key (VTI); with an IKE daemon set `if_id_in`/`if_id_out` (strongSwan) or `ipsec-interface` (Libreswan) consistently",
        names: &[Signal::Config("an SA's if_id/mark differs from its policy's")],
        refines: &[
            Signal::Counter("XfrmInNoPols"),
            Signal::Counter("XfrmInNoStates"),
            Signal::Counter("XfrmOutNoStates"),
            Signal::SharedCounter("XfrmOutPolError"),
        ],
        supports: &[Signal::Drop("XFRM_POLICY", "*")],
        excludes: &[
            CauseId::ForwardPolicyMissing,
            CauseId::NoInboundPolicy,
            CauseId::NoInboundSa,
            CauseId::NoOutboundSa,
            CauseId::NotReached,
        ],
        judge: Some(if_id_mismatch),
        ..Rule::new(CauseId::IfIdMismatch)
    },
];

fn sas(side: &SideEvidence) -> impl Iterator<Item = &Sa> {
    side.inventory
        .as_ref()
        .and_then(|i| i.sas.as_ref())
        .into_iter()
        .flatten()
}

/// Up xfrm/VTI interfaces (not the VTI modules' fallback devices, down in every namespace).
fn tunnel_links(side: &SideEvidence) -> impl Iterator<Item = &TunnelLink> {
    side.tunnel_links
        .iter()
        .flatten()
        .filter(|l| l.is_up() && !matches!(l.name.as_str(), "ip_vti0" | "ip6_vti0"))
}

/// Whether `sa` is the state a template asks for (the kernel's template-to-state match).
fn serves(t: &Template, sa: &Sa) -> bool {
    t.proto == sa.proto
        && t.dst.as_ref().is_none_or(|d| *d == sa.dst)
        && t.src.as_ref().is_none_or(|s| *s == sa.src)
        && (t.reqid == 0 || t.reqid == sa.reqid)
}

/// The SAs on `side` that the templates of `p` would use.
pub(crate) fn policy_sas<'a>(side: &'a SideEvidence, p: &'a Policy) -> Vec<&'a Sa> {
    sas(side)
        .filter(|sa| p.templates.iter().any(|t| serves(t, sa)))
        .collect()
}

pub(crate) fn sa_packets(side: &SideEvidence, sa: &Sa) -> Option<u64> {
    facts::moved(side, &format!("sa:{}:packets", sa.spi))
}

/// `out` policies with templates that cover the flow here. A route-based policy (`if_id` or
/// mark) whose selector is a default route (`0.0.0.0/0`, as strongSwan installs them for VTI and
/// xfrm interfaces) only applies to what is routed into its interface: it says nothing about
/// which destinations belong in the tunnel, so it does not count.
pub(crate) fn protecting_out_policies(side: &SideEvidence) -> Vec<&Policy> {
    facts::covering_policies(side, "out")
        .into_iter()
        .filter(|p| p.action == "allow" && !p.templates.is_empty())
        .filter(|p| !(route_based(p) && is_default_prefix(&p.selector.dst)))
        .collect()
}

fn route_based(p: &Policy) -> bool {
    p.if_id.is_some_and(|i| i != 0) || p.mark.as_ref().is_some_and(|m| m.value != 0)
}

fn is_default_prefix(prefix: &str) -> bool {
    prefix.ends_with("/0")
}

/// The policies' SAs, when they are known and none counted a packet (with that as evidence):
/// the flow did not go through them.
pub(crate) fn idle_sas(side: &SideEvidence, policies: &[&Policy]) -> Option<Vec<EvidenceItem>> {
    // An XFRM counter that moved here means the packets met the transforms (an SA that expired
    // and went away mid-window no longer shows its count): not a clear passage.
    let counters = facts::counters(side)?;
    if counters
        .delta
        .keys()
        .any(|n| n.starts_with("Xfrm") && counters.increase(n).is_some())
    {
        return None;
    }
    let sas: Vec<&Sa> = policies.iter().flat_map(|p| policy_sas(side, p)).collect();
    // Each SA's count must be known to have stayed still (evidence without per-SA counters
    // proves nothing).
    let still = |sa: &&Sa| counters.known_unchanged(&format!("sa:{}:packets", sa.spi));
    if !sas.iter().all(still) {
        return None;
    }
    Some(if sas.is_empty() {
        vec![item(
            "config",
            side,
            "no SA on this side serves the policy's templates".into(),
        )]
    } else {
        sas.iter()
            .map(|sa| {
                item(
                    "counter",
                    side,
                    format!(
                        "SA {} {} -> {} counted no packet during the window",
                        sa.spi, sa.src, sa.dst
                    ),
                )
            })
            .collect()
    })
}

/// Whether the flow leaves this side for the network: it sends it, or forwards it on.
pub(crate) fn sends_or_forwards(side: &SideEvidence) -> bool {
    match side.role {
        crate::evidence::Role::Sender => side.route.is_some(),
        crate::evidence::Role::Receiver => facts::forwards_the_flow(side),
    }
}

fn route_text(side: &SideEvidence) -> Option<String> {
    let r = side.route.as_ref()?;
    let via = r
        .gateway
        .as_deref()
        .map(|g| format!(" via {g}"))
        .unwrap_or_default();
    let dev = r.dev.as_deref().unwrap_or("?");
    Some(format!("route to {}{via} dev {dev} ({})", r.dst, r.kind))
}

/// The tunnel interface a policy belongs to: an xfrm interface of its `if_id`, or a VTI whose
/// okey is its mark.
fn link_of<'a>(side: &'a SideEvidence, p: &Policy) -> Option<&'a TunnelLink> {
    tunnel_links(side).find(|l| binds(l, p))
}

/// Whether policy `p` sends into interface `l`: the xfrm interface's if_id, or the VTI's okey
/// as the policy's mark.
pub(crate) fn binds(l: &TunnelLink, p: &Policy) -> bool {
    match (l.if_id, p.if_id, l.okey, p.mark.as_ref()) {
        (Some(a), Some(b), _, _) => a == b && a != 0,
        (_, _, Some(k), Some(m)) => k != 0 && m.value == k,
        _ => false,
    }
}

fn no_route_into_tunnel(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !sends_or_forwards(side) {
        return false;
    }
    let Some(route) = side.route.as_ref() else {
        return false;
    };
    let Some(dev) = route.dev.as_deref() else {
        return false;
    };
    if route.kind != "unicast" || tunnel_links(side).any(|l| l.name == dev) {
        return false;
    }
    let policies = protecting_out_policies(side);
    let Some((policy, link)) = policies
        .iter()
        .find_map(|p| link_of(side, p).map(|l| (*p, l)))
    else {
        return false;
    };
    c.summary = format!(
        "the route to {} leaves through {dev}, not the tunnel interface {}: the flow leaves outside the tunnel",
        route.dst, link.name
    );
    c.context(route_text(side).map(|t| item("route", side, t)));
    c.corroborate(
        Kind::Config,
        vec![
            item(
                "config",
                side,
                facts::describe_policy(policy) + &key_text(policy),
            ),
            item(
                "config",
                side,
                format!("{}: {} interface, up", link.name, link.kind),
            ),
        ],
    );
    if let Some(idle) = idle_sas(side, &[policy]) {
        c.corroborate(Kind::Counter, idle);
    }
    true
}

fn key_text(p: &Policy) -> String {
    match (p.if_id, p.mark.as_ref()) {
        (Some(id), _) => format!(" if_id {id}"),
        (None, Some(m)) => format!(" mark {:#x}/{:#x}", m.value, m.mask),
        _ => String::new(),
    }
}

fn nat_before_policy(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if facts.tally.sent.unwrap_or(0) == 0 {
        return false;
    }
    let nat = side.nat.as_deref().unwrap_or_default();
    let counted: Vec<_> = nat.iter().filter(|n| n.packets.unwrap_or(0) > 0).collect();
    let uncounted: Vec<_> = nat.iter().filter(|n| n.packets.is_none()).collect();
    if counted.is_empty() && uncounted.is_empty() {
        return false;
    }
    let policies = protecting_out_policies(side);
    if policies.is_empty() {
        return false;
    }
    let Some(idle) = idle_sas(side, &policies) else {
        return false;
    };
    let first = counted.first().or(uncounted.first()).expect("one NAT rule");
    c.summary = format!(
        "NAT rule `{}` ({}) rewrote the flow around the policy lookup: no policy matched and it left in clear",
        first.rule,
        first.hook.as_deref().unwrap_or("?")
    );
    if counted.is_empty() {
        // Without a counter the rule may not have matched this flow.
        c.plausible_only = true;
    }
    c.corroborate(
        Kind::Firewall,
        counted
            .iter()
            .map(|n| {
                item(
                    "firewall",
                    side,
                    format!(
                        "{} (hook {}): {} packet(s) translated during the window",
                        n.rule,
                        n.hook.as_deref().unwrap_or("?"),
                        n.packets.unwrap_or(0)
                    ),
                )
            })
            .collect(),
    );
    c.context(uncounted.iter().map(|n| {
        item(
            "firewall",
            side,
            format!("{} (no counter: whether it matched is unknown)", n.rule),
        )
    }));
    c.corroborate(
        Kind::Config,
        policies
            .iter()
            .map(|p| item("config", side, facts::describe_policy(p)))
            .collect(),
    );
    c.corroborate(Kind::Counter, idle);
    true
}

/// A policy on another side that expects the flow protected from `side`: an `in`/`fwd` policy
/// covering it whose template names this side as the tunnel's source (tunnel mode), or whose
/// selector source is this side's address (transport mode).
fn peer_expects<'a>(facts: &Facts<'a>, side: &SideEvidence) -> Option<(&'a SideEvidence, Policy)> {
    let src: std::net::IpAddr = side.route.as_ref()?.src.as_deref()?.parse().ok()?;
    let dst = facts::flow_dst(side);
    facts
        .sides
        .iter()
        .filter(|s| s.namespace != side.namespace)
        .find_map(|s| {
            facts::policies(s)
                .filter(|p| matches!(p.dir.as_str(), "in" | "fwd") && p.action == "allow")
                .filter(|p| facts::selector_covers(p, side.flow.as_ref(), dst))
                .find(|p| {
                    p.templates.iter().any(|t| match t.mode.as_str() {
                        "tunnel" => t.src.as_deref() == Some(src.to_string().as_str()),
                        _ => facts::prefix_contains(&p.selector.src, src),
                    })
                })
                .map(|p| (s, p.clone()))
        })
}

fn cleartext_leak(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    // A leak is silent: everything arrives. A partial loss has a cause of its own.
    if !facts.tally.delivered() || !sends_or_forwards(side) {
        return false;
    }
    let own = protecting_out_policies(side);
    let reason = if !own.is_empty() {
        let Some(idle) = idle_sas(side, &own) else {
            return false;
        };
        c.corroborate(
            Kind::Config,
            own.iter()
                .map(|p| item("config", side, facts::describe_policy(p) + &key_text(p)))
                .collect(),
        );
        c.corroborate(Kind::Counter, idle);
        "an out policy here covers it"
    } else {
        let Some((peer, p)) = peer_expects(facts, side) else {
            return false;
        };
        // Nothing here could have encrypted it: no policy of its own.
        let src = side.route.as_ref().and_then(|r| r.src.clone());
        let encrypted =
            sas(side).any(|sa| Some(&sa.src) == src.as_ref() && sa_packets(side, sa).is_some());
        if encrypted || facts::counters(side).is_none() {
            return false;
        }
        c.corroborate(
            Kind::Config,
            vec![
                item(
                    "config",
                    peer,
                    facts::describe_policy(&p)
                        + if p.templates.iter().any(|t| t.optional) {
                            " (level use: it accepts clear text)"
                        } else {
                            ""
                        },
                ),
                item("config", side, "no out policy here covers the flow".into()),
            ],
        );
        "the peer's policy expects it protected"
    };
    c.summary = format!(
        "the flow left {} in clear although {reason}",
        side.namespace
    );
    c.context(route_text(side).map(|t| item("route", side, t)));
    true
}

/// Pairs of a policy and an SA its template serves (or a VTI and its SA) whose if_id or mark
/// differ, described.
pub(crate) fn if_id_mismatches(side: &SideEvidence) -> Vec<String> {
    let mut found = Vec::new();
    for p in facts::policies(side).filter(|p| !p.templates.is_empty()) {
        for sa in policy_sas(side, p) {
            let ids = (p.if_id.unwrap_or(0), sa.if_id.unwrap_or(0));
            let marks = match (p.mark.as_ref(), sa.mark.as_ref()) {
                (Some(pm), Some(sm)) if pm.value & sm.mask != sm.value & sm.mask => {
                    Some((pm.value, sm.value))
                }
                _ => None,
            };
            if ids.0 != ids.1 {
                found.push(format!(
                    "policy {} -> {} dir {} if_id {} but SA {} ({} -> {}) if_id {}",
                    p.selector.src, p.selector.dst, p.dir, ids.0, sa.spi, sa.src, sa.dst, ids.1
                ));
            } else if let Some((pm, sm)) = marks {
                found.push(format!(
                    "policy {} -> {} dir {} mark {pm:#x} but SA {} ({} -> {}) mark {sm:#x}",
                    p.selector.src, p.selector.dst, p.dir, sa.spi, sa.src, sa.dst
                ));
            }
        }
    }
    // A VTI takes inbound SAs by its ikey: an SA to its local address with another mark is
    // never found.
    for l in tunnel_links(side).filter(|l| l.ikey.is_some_and(|k| k != 0)) {
        let Some(local) = l.local.as_deref() else {
            continue;
        };
        for sa in sas(side).filter(|sa| sa.dst == local) {
            if let Some(m) = sa.mark.as_ref().filter(|m| Some(m.value) != l.ikey) {
                found.push(format!(
                    "{} ikey {} but inbound SA {} mark {:#x}",
                    l.name,
                    l.ikey.unwrap_or(0),
                    sa.spi,
                    m.value
                ));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn if_id_mismatch(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !facts.tally.loss_known() {
        return false;
    }
    let found = if_id_mismatches(side);
    if found.is_empty() {
        return false;
    }
    c.summary = format!("{}: the lookup finds no state", found[0]);
    c.corroborate(
        Kind::Config,
        found.into_iter().map(|t| item("config", side, t)).collect(),
    );
    true
}
