//! The library API the diagnose engine uses, against the real kernel in throwaway namespaces:
//! route_get, the background event collector, dumps and info.
//! Tests need root (they create namespaces) and skip through the test harness otherwise.

use std::net::IpAddr;

use xfrmdiag_inventory::{
    dump_policies, dump_sas, route_get, xfrm_info, Action, Direction, EventKind, Monitor, Netns,
};
use xfrmdiag_netns::scratch::{ScratchNetns, VethPair};

fn is_root(test: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        xfrmdiag_testkit::skip(test, "needs root to create namespaces");
    }
    root
}

#[test]
fn root_route_get_names_device_source_and_mtu() {
    if !is_root("root_route_get_names_device_source_and_mtu") {
        return;
    }
    let pair = VethPair::new("xdrt").unwrap();
    pair.a
        .ip(&["link", "set", "veth-a", "mtu", "1400"])
        .unwrap();
    let dst: IpAddr = pair.b_v4.parse().unwrap();
    let route = route_get(&pair.a.netns(), dst).unwrap();
    assert_eq!(route.dst, dst);
    assert_eq!(route.dev.as_deref(), Some("veth-a"));
    assert_eq!(route.src, Some(pair.a_v4.parse().unwrap()));
    assert_eq!(route.link_mtu, Some(1400));
    assert_eq!(route.kind, "unicast");
    assert!(route.ifindex > 0);

    let dst6: IpAddr = pair.b_v6.parse().unwrap();
    let route6 = route_get(&pair.a.netns(), dst6).unwrap();
    assert_eq!(route6.dev.as_deref(), Some("veth-a"));

    // A route with an explicit MTU shows it as the route MTU.
    pair.a
        .ip(&[
            "route",
            "add",
            "10.250.0.0/24",
            "via",
            &pair.b_v4,
            "mtu",
            "1300",
        ])
        .unwrap();
    let via = route_get(&pair.a.netns(), "10.250.0.9".parse().unwrap()).unwrap();
    assert_eq!(via.gateway, Some(pair.b_v4.parse().unwrap()));
    assert_eq!(via.mtu, Some(1300));

    // No route: the kernel's answer is an error with its errno, not a panic.
    let err = route_get(&pair.a.netns(), "203.0.113.1".parse().unwrap()).unwrap_err();
    assert!(err.errno().is_some(), "{err}");
}

#[test]
fn root_collector_gathers_events_in_the_background() {
    if !is_root("root_collector_gathers_events_in_the_background") {
        return;
    }
    let ns = ScratchNetns::new("xdcol").unwrap();
    let collector = Monitor::start(&ns.netns()).unwrap().spawn_collector();
    // The subscription exists once start() returned: these events cannot be missed.
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "10.5.0.1/32",
        "dst",
        "10.5.0.2/32",
        "dir",
        "out",
        "priority",
        "9",
        "action",
        "block",
    ])
    .unwrap();
    ns.ip(&[
        "xfrm",
        "policy",
        "delete",
        "src",
        "10.5.0.1/32",
        "dst",
        "10.5.0.2/32",
        "dir",
        "out",
    ])
    .unwrap();
    let events = collector.stop().unwrap();
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
    assert_eq!(events.len(), 2, "{kinds:#?}");
    match kinds[0] {
        EventKind::NewPolicy { policy } => {
            assert_eq!(policy.priority, 9);
            assert_eq!(policy.action, Action::Block);
        }
        other => panic!("first event {other:?}"),
    }
    match kinds[1] {
        EventKind::DelPolicy { dir, selector, .. } => {
            assert_eq!(*dir, Direction::Out);
            assert_eq!(selector.src.to_string(), "10.5.0.1/32");
        }
        other => panic!("second event {other:?}"),
    }
    assert!(events[0].time_ns <= events[1].time_ns);
}

#[test]
fn root_dumps_and_info_through_the_library() {
    if !is_root("root_dumps_and_info_through_the_library") {
        return;
    }
    let ns = ScratchNetns::new("xdlib").unwrap();
    ns.ip_batch(
        "xfrm policy add src 10.6.0.0/24 dst 10.6.1.0/24 dir in tmpl src 10.6.0.1 dst 10.6.1.1 proto esp mode tunnel reqid 3\n\
         xfrm policy setdefault in block out block fwd accept\n",
    )
    .unwrap();
    let policies = dump_policies(&ns.netns()).unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].templates[0].reqid, 3);
    assert!(dump_sas(&ns.netns()).unwrap().is_empty());
    let info = xfrm_info(&ns.netns()).unwrap();
    assert_eq!(info.namespace, ns.name());
    assert_eq!(info.spd.input, 1);
    assert_eq!(info.default_policy.output, Action::Block);
    assert_eq!(info.default_policy.forward, Action::Allow);

    let missing = Netns::Named("xfrmdiag-no-such-namespace".into());
    let err = dump_policies(&missing).unwrap_err();
    assert!(err.to_string().contains("ip netns add"), "{err}");
}
