//! Site-to-site and route-based VPN evidence (hostL — gwL — gwR — hostR, diagnose run with
//! `--forward` on the gateways): the causes of rules/tunnel.rs, and the healthy variants that
//! must stay `delivered`. The shapes follow what 6.1 and 6.12 were measured to do
//! (docs/kernel-notes.md): the clear-text cases move no error counter at all.

use std::collections::BTreeMap;

use crate::evidence::*;
use crate::{diagnose, CauseId, Confidence, Report};

const GL_WAN: &str = "192.0.2.1";
const GR_WAN: &str = "192.0.2.2";
const LAN_L: &str = "10.1.0.0/24";
const LAN_R: &str = "10.2.0.0/24";
const DST: &str = "10.2.0.1";

fn flow() -> Option<Flow> {
    Some(Flow {
        proto: "udp".into(),
        dst: Some(DST.into()),
        port: 5000,
        sport: None,
    })
}

fn counters(delta: &[(&str, u64)]) -> Option<Counters> {
    Some(Counters {
        delta: delta
            .iter()
            .map(|(n, v)| (n.to_string(), CounterChange::Increased(*v)))
            .collect::<BTreeMap<_, _>>(),
        // Read on both ends: the watched counters and every SA's packet count.
        read: [
            "Ip.InReceives",
            "sa:0x00003001:packets",
            "sa:0x00003002:packets",
        ]
        .map(String::from)
        .to_vec(),
    })
}

fn host_l(sent: u32) -> SideEvidence {
    SideEvidence {
        namespace: "hostL".into(),
        role: Role::Sender,
        flow: flow(),
        traffic: Some(Traffic::Send(SendResult {
            dst: format!("{DST}:5000"),
            attempted: 5,
            sent,
            size: 100,
            errors: Vec::new(),
        })),
        counters: counters(&[]),
        route: Some(RouteInfo {
            dst: DST.into(),
            kind: "unicast".into(),
            dev: Some("lan0".into()),
            src: Some("10.1.0.1".into()),
            gateway: Some("10.1.0.254".into()),
            mtu: None,
        }),
        inventory: Some(Inventory {
            sas: Some(Vec::new()),
            policies: Some(Vec::new()),
            info: None,
        }),
        ..Default::default()
    }
}

fn host_r(received: u32) -> SideEvidence {
    SideEvidence {
        namespace: "hostR".into(),
        role: Role::Receiver,
        flow: Some(Flow {
            dst: None,
            ..flow().unwrap()
        }),
        traffic: Some(Traffic::Listen(ListenResult {
            port: 5000,
            received,
            bytes: 100 * u64::from(received),
            expected: None,
            window_ms: 1000,
        })),
        counters: counters(&[]),
        ..Default::default()
    }
}

fn esp_sa(spi: &str, src: &str, dst: &str, reqid: u32, if_id: Option<u32>) -> Sa {
    Sa {
        src: src.into(),
        dst: dst.into(),
        proto: "esp".into(),
        spi: spi.into(),
        reqid,
        mode: "tunnel".into(),
        if_id,
        ..Default::default()
    }
}

fn tunnel_policy(
    dir: &str,
    src: &str,
    dst: &str,
    t: (&str, &str, u32),
    if_id: Option<u32>,
) -> Policy {
    Policy {
        dir: dir.into(),
        action: "allow".into(),
        priority: 100,
        selector: Selector {
            src: src.into(),
            dst: dst.into(),
            ..Default::default()
        },
        templates: vec![Template {
            proto: "esp".into(),
            mode: "tunnel".into(),
            src: Some(t.0.into()),
            dst: Some(t.1.into()),
            reqid: t.2,
            optional: false,
        }],
        if_id,
        ..Default::default()
    }
}

/// A gateway of the tunnel (`gl` or `gr`) as a `--forward` side, SAs and policies as an IKE
/// daemon installs them, `if_id` on every one of them when given.
fn gateway(name: &str, if_id: Option<u32>) -> SideEvidence {
    let left = name == "gwL";
    let (me, peer, lan, remote) = if left {
        (GL_WAN, GR_WAN, LAN_L, LAN_R)
    } else {
        (GR_WAN, GL_WAN, LAN_R, LAN_L)
    };
    let (out_reqid, in_reqid) = if left { (1, 2) } else { (2, 1) };
    let route = if left {
        RouteInfo {
            dst: DST.into(),
            kind: "unicast".into(),
            dev: Some("wan0".into()),
            src: Some(GL_WAN.into()),
            gateway: Some(GR_WAN.into()),
            mtu: None,
        }
    } else {
        RouteInfo {
            dst: DST.into(),
            kind: "unicast".into(),
            dev: Some("lan0".into()),
            src: Some("10.2.0.254".into()),
            gateway: None,
            mtu: None,
        }
    };
    SideEvidence {
        namespace: name.into(),
        role: Role::Receiver,
        flow: flow(),
        counters: counters(&[]),
        route: Some(route),
        sysctls: Some(Sysctls {
            ip_forward: Some(1),
            ..Default::default()
        }),
        inventory: Some(Inventory {
            sas: Some(vec![
                esp_sa("0x00003001", GL_WAN, GR_WAN, 1, if_id),
                esp_sa("0x00003002", GR_WAN, GL_WAN, 2, if_id),
            ]),
            policies: Some(vec![
                tunnel_policy("out", lan, remote, (me, peer, out_reqid), if_id),
                tunnel_policy("in", remote, lan, (peer, me, in_reqid), if_id),
                tunnel_policy("fwd", remote, lan, (peer, me, in_reqid), if_id),
            ]),
            info: None,
        }),
        firewall: Some(Vec::new()),
        nat: Some(Vec::new()),
        tunnel_links: Some(Vec::new()),
        ..Default::default()
    }
}

fn with_counters(mut s: SideEvidence, delta: &[(&str, u64)]) -> SideEvidence {
    s.counters = counters(delta);
    s
}

fn with_xfrmi(mut s: SideEvidence, routed_into_it: bool) -> SideEvidence {
    s.tunnel_links = Some(vec![TunnelLink {
        name: "ipsec0".into(),
        kind: "xfrm".into(),
        if_id: Some(42),
        underlay: Some("wan0".into()),
        admin_up: true,
        oper_state: "unknown".into(),
        ..Default::default()
    }]);
    if routed_into_it {
        let r = s.route.as_mut().unwrap();
        r.dev = Some("ipsec0".into());
        r.gateway = None;
    }
    s
}

fn with_masquerade(mut s: SideEvidence, packets: Option<u64>) -> SideEvidence {
    s.nat = Some(vec![NatRule {
        rule: "ip nat post #2: oifname \"wan0\" counter masquerade".into(),
        statement: "masquerade".into(),
        hook: Some("postrouting".into()),
        packets,
    }]);
    s
}

const ESP_OUT: &[(&str, u64)] = &[("sa:0x00003001:packets", 5)];

/// Healthy tunnels: the outbound SA carried the flow.
fn healthy(if_id: Option<u32>) -> Vec<SideEvidence> {
    let (gl, gr) = (gateway("gwL", if_id), gateway("gwR", if_id));
    let gl = if if_id.is_some() {
        with_xfrmi(gl, true)
    } else {
        gl
    };
    let gr = if if_id.is_some() {
        with_xfrmi(gr, false)
    } else {
        gr
    };
    vec![
        host_l(5),
        with_counters(gl, ESP_OUT),
        with_counters(gr, ESP_OUT),
        host_r(5),
    ]
}

fn masquerade_leak() -> Vec<SideEvidence> {
    vec![
        host_l(5),
        with_masquerade(gateway("gwL", None), Some(1)),
        gateway("gwR", None),
        host_r(5),
    ]
}

fn wan_route_leak() -> Vec<SideEvidence> {
    vec![
        host_l(5),
        with_xfrmi(gateway("gwL", Some(42)), false),
        with_xfrmi(gateway("gwR", Some(42)), false),
        host_r(5),
    ]
}

/// The receiving gateway's inbound SA carries if_id 43, everything else 42: the SA decrypts,
/// the forward check finds no policy (6.1, 6.12).
fn inbound_if_id_mismatch(mismatch: bool) -> Vec<SideEvidence> {
    let mut gr = with_xfrmi(gateway("gwR", Some(42)), false);
    if mismatch {
        gr.inventory.as_mut().unwrap().sas.as_mut().unwrap()[0].if_id = Some(43);
    } else {
        // The fwd policy is missing instead.
        gr.inventory
            .as_mut()
            .unwrap()
            .policies
            .as_mut()
            .unwrap()
            .retain(|p| p.dir != "fwd");
    }
    gr = with_counters(gr, &[("XfrmInNoPols", 5), ("sa:0x00003001:packets", 5)]);
    gr.trace = Some(TraceSummary {
        drops: vec![TraceDrop {
            reason: "XFRM_POLICY".into(),
            location: "ip_forward+0x1a3".into(),
            count: 5,
        }],
        ..Default::default()
    });
    vec![
        host_l(5),
        with_counters(with_xfrmi(gateway("gwL", Some(42)), true), ESP_OUT),
        gr,
        host_r(0),
    ]
}

fn peer_expected_leak() -> Vec<SideEvidence> {
    let mut gl = gateway("gwL", None);
    gl.inventory.as_mut().unwrap().policies = Some(Vec::new());
    vec![host_l(5), gl, gateway("gwR", None), host_r(5)]
}

/// Rows for the verdict table (crate::tests).
pub(super) fn verdict_rows() -> Vec<(&'static str, Vec<SideEvidence>, CauseId)> {
    use CauseId::*;
    vec![
        ("site-to-site healthy", healthy(None), Delivered),
        ("xfrm interfaces healthy", healthy(Some(42)), Delivered),
        (
            "masquerade before the policy",
            masquerade_leak(),
            NatBeforePolicy,
        ),
        (
            "remote LAN routed via the WAN",
            wan_route_leak(),
            NoRouteIntoTunnel,
        ),
        (
            "peer gateway expects ESP",
            peer_expected_leak(),
            CleartextLeak,
        ),
        (
            "inbound SA if_id differs",
            inbound_if_id_mismatch(true),
            IfIdMismatch,
        ),
        (
            "fwd policy missing (same counters)",
            inbound_if_id_mismatch(false),
            ForwardPolicyMissing,
        ),
    ]
}

fn causes(r: &Report) -> Vec<CauseId> {
    r.findings.iter().map(|f| f.cause).collect()
}

#[test]
fn healthy_tunnels_stay_delivered_with_a_counting_masquerade_rule() {
    for if_id in [None, Some(42)] {
        let r = diagnose(&healthy(if_id));
        assert!(r.healthy && r.verdict == CauseId::Delivered, "{r:#?}");
    }
    // A masquerade for other traffic (or the ESP packets themselves) counted, and the tunnel's
    // SA carried the flow: no finding.
    let mut sides = healthy(None);
    sides[1] = with_masquerade(sides[1].clone(), Some(3));
    let r = diagnose(&sides);
    assert!(r.healthy, "{r:#?}");
}

#[test]
fn nat_before_policy_names_the_rule_and_the_leak_is_shown_too() {
    let r = diagnose(&masquerade_leak());
    assert!(!r.healthy);
    let f = &r.findings[0];
    assert_eq!(
        (f.cause, f.confidence, f.side.as_deref()),
        (CauseId::NatBeforePolicy, Confidence::Certain, Some("gwL")),
        "{r:#?}"
    );
    let text = format!("{r:?}");
    assert!(
        text.contains("oifname \\\"wan0\\\" counter masquerade"),
        "{r:#?}"
    );
    assert!(text.contains("SA 0x00003001"), "{r:#?}");
    assert!(causes(&r).contains(&CauseId::CleartextLeak), "{r:#?}");
    // Without a counter on the rule, it may not have matched: possible only.
    let mut sides = masquerade_leak();
    sides[1] = with_masquerade(sides[1].clone(), None);
    let r = diagnose(&sides);
    let nat = r
        .findings
        .iter()
        .find(|f| f.cause == CauseId::NatBeforePolicy)
        .expect("nat-before-policy");
    assert_eq!(nat.confidence, Confidence::Possible, "{r:#?}");
    assert!(!r.healthy);
}

#[test]
fn a_route_via_the_wan_is_no_route_into_tunnel_and_a_leak() {
    let r = diagnose(&wan_route_leak());
    assert_eq!(r.verdict, CauseId::NoRouteIntoTunnel, "{r:#?}");
    assert!(!r.healthy);
    let f = &r.findings[0];
    assert_eq!(f.side.as_deref(), Some("gwL"));
    assert!(
        f.summary.contains("wan0") && f.summary.contains("ipsec0"),
        "{f:#?}"
    );
    assert!(causes(&r).contains(&CauseId::CleartextLeak), "{r:#?}");
    // The receiving gateway routes into the LAN, as it should: nothing there.
    assert!(
        r.findings.iter().all(|f| f.side.as_deref() != Some("gwR")),
        "{r:#?}"
    );
}

#[test]
fn lan_hosts_sending_in_clear_to_their_gateway_are_no_leak() {
    let r = diagnose(&peer_expected_leak());
    assert_eq!(r.verdict, CauseId::CleartextLeak, "{r:#?}");
    assert!(
        r.findings.iter().all(|f| f.side.as_deref() == Some("gwL")),
        "only the gateway the peer's template names leaked: {r:#?}"
    );
}

#[test]
fn inbound_if_id_mismatch_wins_over_forward_policy_missing_only_by_configuration() {
    let r = diagnose(&inbound_if_id_mismatch(true));
    assert_eq!(
        (r.verdict, r.findings[0].confidence),
        (CauseId::IfIdMismatch, Confidence::Certain),
        "{r:#?}"
    );
    assert!(
        !causes(&r).contains(&CauseId::ForwardPolicyMissing),
        "{r:#?}"
    );
    assert!(format!("{r:?}").contains("if_id 43"), "{r:#?}");
    // A default fwd block with the same counters stays the default's.
    let mut sides = inbound_if_id_mismatch(false);
    sides[2].inventory.as_mut().unwrap().info = Some(XfrmInfo {
        default_fwd: Some("block".into()),
        ..Default::default()
    });
    assert_eq!(diagnose(&sides).verdict, CauseId::DefaultPolicyBlock);
}

#[test]
fn vti_inbound_sa_with_another_mark_is_if_id_mismatch() {
    let mut gr = gateway("gwR", None);
    gr.tunnel_links = Some(vec![TunnelLink {
        name: "vti0".into(),
        kind: "vti".into(),
        ikey: Some(42),
        okey: Some(42),
        local: Some(GR_WAN.into()),
        admin_up: true,
        oper_state: "unknown".into(),
        ..Default::default()
    }]);
    gr.inventory.as_mut().unwrap().sas.as_mut().unwrap()[0].mark = Some(Mark {
        value: 43,
        mask: 0xffff_ffff,
    });
    let gr = with_counters(gr, &[("XfrmInNoStates", 5)]);
    let r = diagnose(&[host_l(5), gateway("gwL", None), gr, host_r(0)]);
    assert_eq!(r.verdict, CauseId::IfIdMismatch, "{r:#?}");
    assert!(format!("{r:?}").contains("vti0 ikey 42"), "{r:#?}");
}

#[test]
fn vti_with_default_route_selectors_is_no_false_alarm() {
    // strongSwan-style VTI: policies 0.0.0.0/0 with the key as mark. The receiving gateway routes
    // the flow into its LAN (not vti0) and its outbound SA is idle (one-way UDP): healthy.
    let vti = |mut s: SideEvidence, routed_into_it: bool| {
        s.tunnel_links = Some(vec![TunnelLink {
            name: "vti0".into(),
            kind: "vti".into(),
            ikey: Some(7),
            okey: Some(7),
            admin_up: true,
            oper_state: "unknown".into(),
            ..Default::default()
        }]);
        let inv = s.inventory.as_mut().unwrap();
        for p in inv.policies.as_mut().unwrap() {
            p.selector.src = "0.0.0.0/0".into();
            p.selector.dst = "0.0.0.0/0".into();
            p.mark = Some(Mark {
                value: 7,
                mask: 0xffff_ffff,
            });
        }
        for sa in inv.sas.as_mut().unwrap() {
            sa.mark = Some(Mark {
                value: 7,
                mask: 0xffff_ffff,
            });
        }
        if routed_into_it {
            s.route.as_mut().unwrap().dev = Some("vti0".into());
        }
        s
    };
    let r = diagnose(&[
        host_l(5),
        with_counters(vti(gateway("gwL", None), true), ESP_OUT),
        with_counters(vti(gateway("gwR", None), false), ESP_OUT),
        host_r(5),
    ]);
    assert!(r.healthy && r.verdict == CauseId::Delivered, "{r:#?}");
}

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

/// A selector's protocol is part of what it covers: policies for TCP only do not make a UDP flow
/// "meant to be protected", and do make a TCP flow so.
#[test]
fn a_policy_for_another_protocol_does_not_cover_the_flow() {
    let with_proto = |sides: Vec<SideEvidence>, sel: &str, flow: &str| -> Vec<SideEvidence> {
        sides
            .into_iter()
            .map(|mut s| {
                if let Some(f) = s.flow.as_mut() {
                    f.proto = flow.into();
                }
                let inv = s.inventory.as_mut().and_then(|i| i.policies.as_mut());
                for p in inv.into_iter().flatten() {
                    p.selector.proto = Some(sel.into());
                }
                s
            })
            .collect()
    };
    let r = diagnose(&with_proto(peer_expected_leak(), "tcp", "udp"));
    assert!(r.healthy && r.verdict == CauseId::Delivered, "{r:#?}");
    let r = diagnose(&with_proto(peer_expected_leak(), "tcp", "tcp"));
    assert_eq!(r.verdict, CauseId::CleartextLeak, "{r:#?}");
    let r = diagnose(&with_proto(masquerade_leak(), "6", "udp"));
    assert!(r.healthy, "{r:#?}");
    let r = diagnose(&with_proto(masquerade_leak(), "any", "udp"));
    assert_eq!(r.verdict, CauseId::NatBeforePolicy, "{r:#?}");
}

#[test]
fn without_per_sa_counters_an_idle_sa_is_not_assumed() {
    // Evidence that never read the SAs' packet counts (older files): no clear-text claim.
    let mut sides = masquerade_leak();
    sides[1]
        .counters
        .as_mut()
        .unwrap()
        .read
        .retain(|n| !n.starts_with("sa:"));
    let r = diagnose(&sides);
    assert!(r.healthy, "{r:#?}");
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
