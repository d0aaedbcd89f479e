//! A router on the tunnel's path (rules/gateway.rs): a down tunnel interface and a gateway that
//! decrypted the flow and cannot route it on, on the site-to-site evidence of [`super::tunnel`].

use crate::evidence::*;
use crate::{diagnose, CauseId, Confidence};

use super::tunnel::*;

#[test]
fn a_down_interface_whose_route_went_with_it_is_tunnel_interface_down_not_no_route() {
    let mut gl = with_xfrmi(gateway("gwL", Some(42)), true);
    let link = &mut gl.tunnel_links.as_mut().unwrap()[0];
    link.admin_up = false;
    link.oper_state = "down".into();
    let r = gl.route.as_mut().unwrap();
    r.kind = "unreachable".into();
    r.dev = None;
    let gl = with_counters(gl, &[("IpExt.InNoRoutes", 5)]);
    let r = diagnose(&[host_l(5), gl, gateway("gwR", Some(42)), host_r(0)]);
    assert_eq!(
        (r.verdict, r.findings[0].confidence),
        (CauseId::TunnelInterfaceDown, Confidence::Certain),
        "{r:#?}"
    );
    assert!(!causes(&r).contains(&CauseId::NoRoute), "{r:#?}");
}

/// Measured on 6.1 and 6.12 (vm-tests gw-xfrmi-down-leak-via-wan): gwL's ipsec0 down, a
/// fallback route via the WAN takes the flow, gwR's if_id policies do not match clear packets,
/// hostR gets all 5, no counter moves. The down interface is the cause, the leak rides along.
#[test]
fn a_down_interface_with_a_fallback_route_via_the_wan_is_a_leak_named_by_the_interface() {
    let mut gl = with_xfrmi(gateway("gwL", Some(42)), false);
    let link = &mut gl.tunnel_links.as_mut().unwrap()[0];
    link.admin_up = false;
    link.oper_state = "down".into();
    let r = diagnose(&[host_l(5), gl, gateway("gwR", Some(42)), host_r(5)]);
    assert_eq!(r.verdict, CauseId::TunnelInterfaceDown, "{r:#?}");
    assert!(!r.healthy);
    assert!(
        r.findings[0]
            .summary
            .ends_with("the flow took the route via wan0 and left in clear"),
        "{r:#?}"
    );
    assert!(causes(&r).contains(&CauseId::CleartextLeak), "{r:#?}");
}

/// strongSwan-style route-based policies (0/0 with the if_id) name no destination: with the
/// interface down, a flow that takes the WAN route is not said to bypass it. (The peer's 0/0
/// `in` policy naming gwL as the tunnel's source still reads as cleartext-leak: not this rule.)
#[test]
fn a_down_interface_with_default_route_selectors_is_no_false_alarm() {
    let mut gl = with_xfrmi(gateway("gwL", Some(42)), false);
    let link = &mut gl.tunnel_links.as_mut().unwrap()[0];
    link.admin_up = false;
    link.oper_state = "down".into();
    let mut gr = gateway("gwR", Some(42));
    for s in [&mut gl, &mut gr] {
        for p in s.inventory.as_mut().unwrap().policies.as_mut().unwrap() {
            p.selector.src = "0.0.0.0/0".into();
            p.selector.dst = "0.0.0.0/0".into();
        }
    }
    let r = diagnose(&[host_l(5), gl, gr, host_r(5)]);
    assert!(
        !causes(&r).contains(&CauseId::TunnelInterfaceDown),
        "{r:#?}"
    );
}

#[test]
fn a_down_interface_no_policy_of_the_flow_is_bound_to_is_no_false_alarm() {
    let mut sides = healthy(Some(42));
    sides[1].tunnel_links.as_mut().unwrap().push(TunnelLink {
        name: "ipsec9".into(),
        kind: "xfrm".into(),
        if_id: Some(99),
        admin_up: false,
        oper_state: "down".into(),
        ..Default::default()
    });
    let r = diagnose(&sides);
    assert!(r.healthy && r.verdict == CauseId::Delivered, "{r:#?}");
}

/// The receiving gateway decrypted the flow (its inbound SA counted 5) and its route to the LAN
/// is gone, as measured on 6.12: `IpExt.InNoRoutes`, IP_INNOROUTES at ip_error; its ICMP network
/// unreachable errors (rate limited to 2, sourced from its WAN address) go back in clear and die
/// in gwL's forward policy check (XfrmInTmplMismatch, XFRM_POLICY at ip_forward).
pub(super) fn decrypted_no_route_sides() -> Vec<SideEvidence> {
    let mut gr = gateway("gwR", None);
    let r = gr.route.as_mut().unwrap();
    r.kind = "unreachable".into();
    r.dev = None;
    r.src = None;
    let mut gr = with_counters(gr, &[("IpExt.InNoRoutes", 5), ("sa:0x00003001:packets", 5)]);
    gr.trace = Some(TraceSummary {
        drops: vec![
            TraceDrop {
                reason: "IP_INNOROUTES".into(),
                location: "ip_error+0x97".into(),
                count: 5,
            },
            TraceDrop {
                reason: "XFRM_POLICY".into(),
                location: "ip_forward+0x262".into(),
                count: 2,
            },
        ],
        ..Default::default()
    });
    let gl = with_counters(
        gateway("gwL", None),
        &[("sa:0x00003001:packets", 5), ("XfrmInTmplMismatch", 2)],
    );
    vec![host_l(5), gl, gr, host_r(0)]
}

/// The same with the ICMP error making it back to hostL (measured with the error sourced inside
/// the tunnel's selectors): ENETUNREACH on the sender, whose own route is fine.
fn decrypted_no_route_enetunreach() -> Vec<SideEvidence> {
    let mut sides = decrypted_no_route_sides();
    if let Some(Traffic::Send(s)) = sides[0].traffic.as_mut() {
        s.errors.push(SendError {
            errno: "ENETUNREACH".into(),
            code: 101,
            message: "Network is unreachable".into(),
            count: 1,
            first: 1,
        });
    }
    sides
}

#[test]
fn a_gateway_that_decrypted_the_flow_and_has_no_route_on_is_forward_no_route() {
    let r = diagnose(&decrypted_no_route_sides());
    let f = &r.findings[0];
    assert_eq!(
        (r.verdict, f.confidence, f.side.as_deref()),
        (CauseId::ForwardNoRoute, Confidence::Certain, Some("gwR")),
        "{r:#?}"
    );
    assert!(
        f.summary.contains("gwR") && f.summary.contains(DST),
        "{f:#?}"
    );
    assert!(f.summary.contains("unreachable route"), "{f:#?}");
    assert!(f.remedy.contains("ip route"), "{f:#?}");
    assert!(
        f.evidence.iter().any(|e| e.text.contains("0x00003001")),
        "{f:#?}"
    );
    // The ICMP errors dying at gwL's forward policy check are not the flow's loss.
    assert!(
        !causes(&r).contains(&CauseId::ForwardPolicyMissing),
        "{r:#?}"
    );
}

#[test]
fn the_senders_enetunreach_from_a_gateway_without_a_route_is_not_the_senders_no_route() {
    let r = diagnose(&decrypted_no_route_enetunreach());
    assert_eq!(r.verdict, CauseId::ForwardNoRoute, "{r:#?}");
    assert!(!causes(&r).contains(&CauseId::NoRoute), "{r:#?}");
}

#[test]
fn a_blackhole_route_on_the_receiving_gateway_moves_no_counter_and_is_still_forward_no_route() {
    // Measured: a blackhole sends no ICMP error; only `NOT_SPECIFIED at ip_error` is seen.
    let mut sides = decrypted_no_route_sides();
    sides[1] = with_counters(sides[1].clone(), &[("sa:0x00003001:packets", 5)]);
    sides[2].route.as_mut().unwrap().kind = "blackhole".into();
    sides[2] = with_counters(sides[2].clone(), &[("sa:0x00003001:packets", 5)]);
    sides[2].trace.as_mut().unwrap().drops = vec![TraceDrop {
        reason: "NOT_SPECIFIED".into(),
        location: "ip_error+0x97".into(),
        count: 5,
    }];
    let r = diagnose(&sides);
    assert_eq!(r.verdict, CauseId::ForwardNoRoute, "{r:#?}");
    assert!(r.findings[0].summary.contains("blackhole"), "{r:#?}");
}

#[test]
fn a_gateway_without_a_route_that_decrypted_nothing_is_not_forward_no_route() {
    // The inbound SA stayed at 0: the packets never reached the gateway's forward path.
    let mut sides = decrypted_no_route_sides();
    sides[2] = with_counters(sides[2].clone(), &[("IpExt.InNoRoutes", 5)]);
    let r = diagnose(&sides);
    assert!(!causes(&r).contains(&CauseId::ForwardNoRoute), "{r:#?}");
}

#[test]
fn the_senders_own_missing_route_stays_no_route() {
    let mut sides = decrypted_no_route_enetunreach();
    let r = sides[0].route.as_mut().unwrap();
    r.kind = "unreachable".into();
    r.gateway = None;
    for s in &mut sides[1..3] {
        *s = gateway(&s.namespace.clone(), None);
    }
    let r = diagnose(&sides);
    assert_eq!(r.verdict, CauseId::NoRoute, "{r:#?}");
    assert!(!causes(&r).contains(&CauseId::ForwardNoRoute), "{r:#?}");
}
