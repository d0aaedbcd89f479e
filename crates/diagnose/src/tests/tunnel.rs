//! Site-to-site and route-based VPN evidence (hostL — gwL — gwR — hostR, diagnose run with
//! `--forward` on the gateways): the causes of rules/tunnel.rs, and the healthy variants that
//! must stay `delivered`. The shapes follow what 6.1 and 6.12 were measured to do
//! (docs/kernel-notes.md): the clear-text cases move no error counter at all.

use std::collections::BTreeMap;

use crate::evidence::*;
use crate::{diagnose, CauseId, Confidence, Report};

pub(super) const GL_WAN: &str = "192.0.2.1";
pub(super) const GR_WAN: &str = "192.0.2.2";
const LAN_L: &str = "10.1.0.0/24";
const LAN_R: &str = "10.2.0.0/24";
pub(super) const DST: &str = "10.2.0.1";

pub(super) fn flow() -> Option<Flow> {
    Some(Flow {
        proto: "udp".into(),
        dst: Some(DST.into()),
        port: 5000,
        sport: None,
    })
}

pub(super) fn counters(delta: &[(&str, u64)]) -> Option<Counters> {
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

pub(super) fn host_l(sent: u32) -> SideEvidence {
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

pub(super) fn host_r(received: u32) -> SideEvidence {
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

pub(super) fn esp_sa(spi: &str, src: &str, dst: &str, reqid: u32, if_id: Option<u32>) -> Sa {
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

pub(super) fn tunnel_policy(
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
pub(super) fn gateway(name: &str, if_id: Option<u32>) -> SideEvidence {
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

pub(super) fn with_counters(mut s: SideEvidence, delta: &[(&str, u64)]) -> SideEvidence {
    s.counters = counters(delta);
    s
}

pub(super) fn with_xfrmi(mut s: SideEvidence, routed_into_it: bool) -> SideEvidence {
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

pub(super) const ESP_OUT: &[(&str, u64)] = &[("sa:0x00003001:packets", 5)];

/// Healthy tunnels: the outbound SA carried the flow.
pub(super) fn healthy(if_id: Option<u32>) -> Vec<SideEvidence> {
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

pub(super) fn causes(r: &Report) -> Vec<CauseId> {
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
