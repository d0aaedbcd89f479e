//! TCP and ICMP test flows, and the gateway faults the host kernel can show without ESP, in
//! namespaces this test creates (deleted when it ends, even on failure).
//!
//! The kernel signatures asserted here were measured on the host kernel (6.18) and in the
//! guests (6.1, 6.12): docs/kernel-notes.md.

#[allow(unused_imports)]
use crate::util::*;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use xfrmdiag_counters::Snapshot;
use xfrmdiag_traffic::{send_icmp, send_tcp, IcmpOptions, TcpListen, TcpOptions};

fn pair(test: &str) -> Option<VethPair> {
    if !can_use_netns(test) {
        return None;
    }
    Some(VethPair::new("xd-gw").expect("create veth pair"))
}

/// How much `name` grew in `ns` while `work` ran.
fn grew<T>(ns: &ScratchNetns, name: &str, work: impl FnOnce() -> T) -> (T, u64) {
    let before = Snapshot::take(&ns.netns()).expect("counters before");
    let out = work();
    let after = Snapshot::take(&ns.netns()).expect("counters after");
    let d = after
        .get(name)
        .unwrap_or(0)
        .saturating_sub(before.get(name).unwrap_or(0));
    (out, d)
}

fn tcp_to(ip: &str, port: u16, bytes: usize, window: Duration) -> TcpOptions {
    let dst = SocketAddr::new(ip.parse().unwrap(), port);
    TcpOptions::test_flow(dst, bytes, window)
}

fn icmp_to(ip: &str) -> IcmpOptions {
    IcmpOptions {
        dst: ip.parse::<IpAddr>().unwrap(),
        count: 3,
        size: 56,
        interval: Duration::from_millis(10),
        wait: Duration::from_millis(700),
    }
}

#[test]
fn root_tcp_flow_is_delivered_and_acknowledged_v4_and_v6() {
    let Some(p) = pair("root_tcp_flow_is_delivered_and_acknowledged_v4_and_v6") else {
        return;
    };
    for dst in [&p.b_v4, &p.b_v6] {
        let listen = TcpListen::bind(&p.b.netns(), 0).expect("listen in b");
        let port = listen.port();
        let sent = send_tcp(
            &p.a.netns(),
            &tcp_to(dst, port, 100_000, Duration::from_secs(3)),
        )
        .expect("send");
        assert!(sent.connected && !sent.stalled(), "{sent:?}");
        assert_eq!(sent.acked, 100_000, "{sent:?}");
        let info = sent.info.as_ref().expect("TCP_INFO");
        // veth MTU 1500: the MSS is what the path allows (minus headers and options).
        assert!(
            info.snd_mss > 1000 && info.snd_mss < 1500,
            "{info:?} to {dst}"
        );
        let got = listen.wait(Some(100_000), Duration::from_secs(3), |_, _| {});
        assert_eq!((got.connections, got.bytes), (1, 100_000), "to {dst}");
    }
}

#[test]
fn root_tcp_to_a_closed_port_is_reset_no_socket() {
    let Some(p) = pair("root_tcp_to_a_closed_port_is_reset_no_socket") else {
        return;
    };
    let (sent, rsts) = grew(&p.b, "Tcp.OutRsts", || {
        send_tcp(
            &p.a.netns(),
            &tcp_to(&p.b_v4, 9, 10, Duration::from_secs(2)),
        )
        .expect("send")
    });
    assert!(!sent.connected);
    assert_eq!(sent.connect_error.as_ref().unwrap().errno, "ECONNREFUSED");
    assert!(sent.handshake_failure().unwrap().contains("no-socket"));
    assert!(rsts >= 1, "the peer answered the SYN with a reset");
}

#[test]
fn root_tcp_into_a_require_esp_policy_dies_at_the_handshake() {
    let Some(p) = pair("root_tcp_into_a_require_esp_policy_dies_at_the_handshake") else {
        return;
    };
    let listen = TcpListen::bind(&p.b.netns(), 0).expect("listen in b");
    let port = listen.port();
    require_esp(&p.b, "in", &p.a_v4, &p.b_v4, "tcp");
    let (sent, mismatches) = grew(&p.b, "XfrmInTmplMismatch", || {
        send_tcp(
            &p.a.netns(),
            &tcp_to(&p.b_v4, port, 10, Duration::from_millis(1500)),
        )
        .expect("send")
    });
    assert!(!sent.connected, "{sent:?}");
    assert_eq!(sent.connect_error.as_ref().unwrap().errno, "ETIMEDOUT");
    // The SYN and its retransmission at 1 s.
    assert!(mismatches >= 1, "XfrmInTmplMismatch grew by {mismatches}");
    let got = listen.wait(None, Duration::from_millis(100), |_, _| {});
    assert_eq!(got.connections, 0);
}

#[test]
fn root_icmp_echo_is_answered_v4_and_v6() {
    let Some(p) = pair("root_icmp_echo_is_answered_v4_and_v6") else {
        return;
    };
    for dst in [&p.b_v4, &p.b_v6] {
        let r = send_icmp(&p.a.netns(), &icmp_to(dst)).expect("ping");
        assert_eq!((r.sent, r.replies), (3, 3), "{r:?}");
        assert!(r.icmp_errors.is_empty() && r.errors.is_empty(), "{r:?}");
    }
}

#[test]
fn root_icmp_blocked_by_policies_is_counted() {
    let Some(p) = pair("root_icmp_blocked_by_policies_is_counted") else {
        return;
    };
    // The receiver requires ESP for ICMP: the clear echo requests die on arrival.
    require_esp(&p.b, "in", &p.a_v4, &p.b_v4, "icmp");
    let (r, mismatches) = grew(&p.b, "XfrmInTmplMismatch", || {
        send_icmp(&p.a.netns(), &icmp_to(&p.b_v4)).expect("ping")
    });
    assert_eq!((r.sent, r.replies), (3, 0), "{r:?}");
    assert_eq!(mismatches, 3);
    // The sender blocks ICMP outbound: sendto fails with EPERM.
    p.a.ip(&[
        "xfrm", "policy", "add", "dir", "out", "src", &p.a_v4, "dst", &p.b_v4, "proto", "icmp",
        "action", "block",
    ])
    .expect("outbound block policy");
    let r = send_icmp(&p.a.netns(), &icmp_to(&p.b_v4)).expect("ping");
    assert_eq!((r.sent, r.replies), (0, 0), "{r:?}");
    assert_eq!(r.errors[0].errno, "EPERM", "{r:?}");
}

/// `diagnose` from `a` to `b` with `b` as peer, over `target`; returns (exit code, JSON).
fn diagnose(p: &VethPair, target: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    diagnose_to_peer(&p.a, target, &p.b, extra)
}

#[test]
fn root_nft_drop_on_the_receiver_is_firewall_drop_naming_the_rule() {
    let Some(p) = pair("root_nft_drop_on_the_receiver_is_firewall_drop_naming_the_rule") else {
        return;
    };
    nft(
        &p.b,
        "table inet guard {
            chain input {
                type filter hook input priority 0; policy accept;
                udp dport 5000 counter drop
            }
        }",
    );
    let (code, v) = diagnose(&p, &format!("udp:{}:5000", p.b_v4), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "firewall-drop", "{v:#}");
    let text = v["findings"].to_string();
    assert!(
        text.contains("inet guard input") && text.contains("udp dport 5000 counter drop"),
        "the finding names the rule: {v:#}"
    );
    assert!(text.contains("(5 packets)"), "and its counter: {v:#}");
}

#[test]
fn root_route_lookup_follows_the_flows_mark_and_no_tunnel_links_on_plain_veth() {
    use xfrmdiag_inventory::{route_get, route_get_for, tunnel_links, RouteQuery};
    let Some(p) =
        pair("root_route_lookup_follows_the_flows_mark_and_no_tunnel_links_on_plain_veth")
    else {
        return;
    };
    // Policy routing as route-based VPNs use it: marked traffic takes table 100.
    p.a.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        &p.b_v4,
        "table",
        "100",
    ])
    .unwrap();
    p.a.ip(&["rule", "add", "fwmark", "7", "table", "100"])
        .unwrap();
    let dst: IpAddr = "198.51.100.9".parse().unwrap();
    let plain = route_get(&p.a.netns(), dst);
    assert!(plain.is_err(), "no route without the mark: {plain:?}");
    let marked = route_get_for(
        &p.a.netns(),
        dst,
        RouteQuery {
            mark: Some(7),
            ip_proto: Some(6),
            dport: Some(443),
            ..Default::default()
        },
    )
    .expect("route with mark 7");
    assert_eq!(marked.gateway, Some(p.b_v4.parse().unwrap()));
    assert_eq!(marked.dev.as_deref(), Some("veth-a"));
    assert!(tunnel_links(&p.a.netns()).unwrap().is_empty());
}

#[test]
fn root_diagnose_tcp_and_icmp_flows_end_to_end() {
    let Some(p) = pair("root_diagnose_tcp_and_icmp_flows_end_to_end") else {
        return;
    };
    let saved = std::env::temp_dir().join(format!("xd-gw-tcp-{}.json", std::process::id()));
    let saved_arg = saved.to_string_lossy().into_owned();
    let (code, v) = diagnose(
        &p,
        &format!("tcp:{}:5001", p.b_v4),
        &["--save-evidence", &saved_arg],
    );
    assert_eq!(
        (code, v["verdict"].as_str()),
        (0, Some("delivered")),
        "{v:#}"
    );
    let text = v.to_string();
    assert!(text.contains("65536 of 65536 bytes acknowledged"), "{v:#}");
    // The saved TCP evidence reads back and decides the same.
    let again = run(&["analyze", &saved_arg, "--json"]);
    let _ = std::fs::remove_file(&saved);
    assert_eq!(json(&again)["verdict"], "delivered", "{}", stdout(&again));
    let (code, v) = diagnose(&p, &format!("icmp:{}", p.b_v6), &[]);
    assert_eq!(
        (code, v["verdict"].as_str()),
        (0, Some("delivered")),
        "{v:#}"
    );
    // A closed port: the peer only watches; the handshake is reset.
    let (code, v) = diagnose(&p, &format!("tcp:{}:5002", p.b_v4), &["--peer-observe"]);
    assert_eq!(
        (code, v["verdict"].as_str()),
        (1, Some("no-socket")),
        "{v:#}"
    );
    assert!(v.to_string().contains("ECONNREFUSED"), "{v:#}");
    // ICMP into a require-ESP inbound policy.
    require_esp(&p.b, "in", &p.a_v4, &p.b_v4, "icmp");
    let (code, v) = diagnose(&p, &format!("icmp:{}", p.b_v4), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "policy-template-mismatch", "{v:#}");
}

/// The a — gw — b topology (util::routed), when this machine can make namespaces.
fn routed_for(test: &str) -> Option<Routed> {
    can_use_netns(test).then(|| routed("xd-gwr"))
}

#[test]
fn root_forward_side_names_the_gateways_nft_rule_that_drops_the_flow() {
    let _tracefs = tracefs_shared();
    let Some(r) = routed_for("root_forward_side_names_the_gateways_nft_rule_that_drops_the_flow")
    else {
        return;
    };
    nft(
        &r.gw,
        "table inet guard {
            chain forward {
                type filter hook forward priority 0; policy accept;
                udp dport 5000 counter drop
            }
        }",
    );
    let target = format!("udp:{}:5000", r.b_v4);
    let (code, v) = diagnose_to_peer(&r.a, &target, &r.b, &["--forward", r.gw.name()]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "firewall-drop", "{v:#}");
    let findings = v["findings"].to_string();
    assert!(
        findings.contains("inet guard forward #2: udp dport 5000 counter drop (5 packets)")
            && findings.contains(r.gw.name()),
        "the gateway's rule and counter are named: {v:#}"
    );
    assert_eq!(v["sides"].as_array().map(|s| s.len()), Some(3), "{v:#}");
}

/// A TCP flow through `r.gw` with `--forward`: (exit code, JSON).
fn diagnose_forwarded_tcp(r: &Routed, port: u16) -> (i32, serde_json::Value) {
    let target = format!("tcp:{}:{port}", r.b_v4);
    diagnose_to_peer(&r.a, &target, &r.b, &["--forward", r.gw.name()])
}

#[test]
fn root_a_router_whose_frag_needed_is_filtered_is_a_pmtu_blackhole_and_without_the_filter_delivers()
{
    let _tracefs = tracefs_shared();
    let Some(r) = routed_for(
        "root_a_router_whose_frag_needed_is_filtered_is_a_pmtu_blackhole_and_without_the_filter_delivers",
    ) else {
        return;
    };
    // The router's way to b is narrower than both ends' links (so neither end's SYN announces
    // the smaller MSS); its own ICMP "fragmentation needed" is dropped on the way out, as a
    // too-strict firewall does.
    r.gw.ip(&["link", "set", "to-b", "mtu", "1400"]).unwrap();
    nft(
        &r.gw,
        "table inet pmtu {
            chain out {
                type filter hook output priority 0; policy accept;
                icmp type destination-unreachable icmp code frag-needed counter drop
            }
        }",
    );
    let (code, v) = diagnose_forwarded_tcp(&r, 5003);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "pmtu-blackhole", "{v:#}");
    let f = &v["findings"][0];
    assert_eq!(f["side"], r.gw.name(), "{v:#}");
    let text = f.to_string();
    for want in [
        "the flow leaves by to-b with MTU 1400: inner MTU 1400, TCP MSS 1360",
        "Ip.FragFails +",
        "0 of 65536 bytes acknowledged",
        "path MTU 1500",
        "Tcp.RetransSegs +",
        "tcp flags syn tcp option maxseg size set 1360",
    ] {
        assert!(text.contains(want), "lacks {want:?}: {v:#}");
    }
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["cause"] != "no-socket" && f["cause"] != "firewall-drop"),
        "the sender's own reset of the stalled connection is no closed port, and the rule that \
         drops the ICMP is the black hole's evidence: {v:#}"
    );
    assert!(
        text.contains("the ICMP is dropped by inet pmtu out"),
        "{v:#}"
    );
    // Without the filter the ICMP reaches the sender, which lowers its MSS: delivered.
    r.gw.exec(&["nft", "delete", "table", "inet", "pmtu"])
        .unwrap();
    let (code, v) = diagnose_forwarded_tcp(&r, 5004);
    assert_eq!(
        (code, v["verdict"].as_str()),
        (0, Some("delivered")),
        "{v:#}"
    );
    assert!(
        v.to_string().contains("65536 of 65536 bytes acknowledged"),
        "{v:#}"
    );
}
