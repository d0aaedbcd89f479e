//! A flow that should be protected leaves in clear: NAT before the policy lookup, measured on
//! the host kernel with a router namespace (no ESP needed: the policy alone decides), in
//! namespaces this test creates and deletes.
//!
//! What the kernel does here (6.18, docs/kernel-notes.md): with an `out` policy for the flow and
//! no SA, the router drops the forwarded packets (XfrmOutNoStates); a prerouting DNAT that moves
//! the destination out of the policy's selector runs before the forward lookup, no policy
//! matches, and the flow is delivered in clear with no xfrm counter moving.
//! xfrm interfaces and VTI are not built into the host kernel: no-route-into-tunnel and
//! if-id-mismatch are proven in the guests (vm-tests/scenarios/gw-xfrmi-*.scn).

#[allow(unused_imports)]
use crate::util::*;

/// [`Routed`] a — gw — b, the gateway with an `out` tunnel policy for a's LAN to b's LAN (no
/// SA), and b with a second address outside that LAN that the gateway routes to it.
struct Router {
    a: ScratchNetns,
    gw: ScratchNetns,
    b: ScratchNetns,
    b_ip: String,
    b_outside: String,
}

fn router(test: &str) -> Option<Router> {
    if !can_use_netns(test) || !have_tool(test, "nft", "NAT rules are written with nft") {
        return None;
    }
    let r = routed("xd-tun");
    let lan = |addr: &str| format!("{}.0/24", addr.rsplit_once('.').unwrap().0);
    let b_outside = "10.93.7.1";
    r.b.ip(&["addr", "add", &format!("{b_outside}/32"), "dev", "eth0"])
        .unwrap();
    r.gw.ip(&["route", "add", &format!("{b_outside}/32"), "via", &r.b_v4])
        .unwrap();
    r.gw.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        &lan(&r.a_v4),
        "dst",
        &lan(&r.b_v4),
        "dir",
        "out",
        "tmpl",
        "src",
        &r.gw_b_v4,
        "dst",
        "198.51.100.1",
        "proto",
        "esp",
        "mode",
        "tunnel",
    ])
    .expect("the gateway's tunnel policy");
    Some(Router {
        a: r.a,
        gw: r.gw,
        b: r.b,
        b_ip: r.b_v4,
        b_outside: b_outside.into(),
    })
}

fn diagnose_through(r: &Router, forward: bool, extra: &[&str]) -> (i32, serde_json::Value) {
    let target = format!("udp:{}:5000", r.b_ip);
    let mut args = Vec::from(extra);
    if forward {
        args.extend(["--forward", r.gw.name()]);
    }
    diagnose_to_peer(&r.a, &target, &r.b, &args)
}

fn causes(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["cause"].as_str().map(String::from))
        .collect()
}

#[test]
fn root_dnat_before_the_policy_lookup_is_nat_before_policy_and_a_cleartext_leak() {
    let _tracefs = tracefs_shared();
    let Some(r) =
        router("root_dnat_before_the_policy_lookup_is_nat_before_policy_and_a_cleartext_leak")
    else {
        return;
    };
    // The policy covers the flow: without NAT the gateway finds no SA and drops it.
    let (code, v) = diagnose_through(&r, true, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "no-outbound-sa", "{v:#}");
    assert_eq!(v["received"], 0, "{v:#}");

    // A port forward on the gateway moves the destination out of the selector before the
    // forward lookup: delivered, in clear.
    nft(
        &r.gw,
        &format!(
            "table ip nat {{
                chain pre {{
                    type nat hook prerouting priority -100; policy accept;
                    ip daddr {} udp dport 5000 counter dnat to {}
                }}
            }}",
            r.b_ip, r.b_outside
        ),
    );
    let saved = std::env::temp_dir().join(format!("xd-tun-nat-{}.json", std::process::id()));
    let saved_arg = saved.to_string_lossy().into_owned();
    let (code, v) = diagnose_through(&r, true, &["--save-evidence", &saved_arg]);
    assert_eq!(v["received"], 5, "delivered: {v:#}");
    assert_eq!(code, 1, "clear text is never healthy: {v:#}");
    assert_eq!(v["verdict"], "nat-before-policy", "{v:#}");
    let first = &v["findings"][0];
    assert_eq!(first["side"], r.gw.name(), "{v:#}");
    assert!(
        first.to_string().contains(&format!(
            "ip nat pre #2: ip daddr {} udp dport 5000 counter dnat to {}",
            r.b_ip, r.b_outside
        )),
        "the rule is named: {v:#}"
    );
    assert!(causes(&v).contains(&"cleartext-leak".to_string()), "{v:#}");

    // The saved evidence decides the same elsewhere.
    let again = run(&["analyze", &saved_arg, "--json"]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert_eq!(json(&again)["verdict"], "nat-before-policy");

    // And as two hosts' files (the sender with its gateway, the receiver): compare agrees.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let _ = std::fs::remove_file(&saved);
    let sides = file["sides"].as_array().expect("sides").clone();
    let (here, there): (Vec<_>, Vec<_>) = sides
        .into_iter()
        .partition(|s| s["namespace"] != r.b.name());
    let mut paths = Vec::new();
    for (tag, part) in [("a", here), ("b", there)] {
        let p = std::env::temp_dir().join(format!("xd-tun-cmp-{tag}-{}.json", std::process::id()));
        let body = serde_json::json!({ "xfrmdiag_evidence": 1, "sides": part });
        std::fs::write(&p, body.to_string()).unwrap();
        paths.push(p.to_string_lossy().into_owned());
    }
    let cmp = run(&["compare", &paths[0], &paths[1], "--json"]);
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(cmp.status.code(), Some(1), "{}", stdout(&cmp));
    assert_eq!(
        json(&cmp)["verdict"],
        "nat-before-policy",
        "{}",
        stdout(&cmp)
    );
}

#[test]
fn root_a_flow_the_peers_policy_expects_protected_is_a_cleartext_leak_even_when_delivered() {
    if !can_use_netns(
        "root_a_flow_the_peers_policy_expects_protected_is_a_cleartext_leak_even_when_delivered",
    ) {
        return;
    }
    let p = VethPair::new("xd-tun-leak").expect("create veth pair");
    let target = format!("udp:{}:5000", p.b_v4);
    let diagnose = || {
        let out = run(&[
            "diagnose",
            "-n",
            p.a.name(),
            "--send",
            &target,
            "--peer-netns",
            p.b.name(),
            "--window",
            "1s",
            "--json",
        ]);
        (out.status.code(), json(&out))
    };
    let (code, v) = diagnose();
    assert_eq!(
        (code, v["verdict"].as_str()),
        (Some(0), Some("delivered")),
        "{v:#}"
    );
    // The receiver wants ESP but still accepts clear text (`level use`, as during a migration);
    // the sender has no policy: every datagram arrives, unencrypted.
    p.b.ip(&[
        "xfrm",
        "policy",
        "add",
        "dir",
        "in",
        "src",
        &p.a_v4,
        "dst",
        &p.b_v4,
        "proto",
        "udp",
        "tmpl",
        "proto",
        "esp",
        "mode",
        "transport",
        "level",
        "use",
    ])
    .expect("inbound optional-ESP policy");
    let (code, v) = diagnose();
    assert_eq!(v["received"], 5, "{v:#}");
    assert_eq!(code, Some(1), "clear text is never healthy: {v:#}");
    assert_eq!(v["verdict"], "cleartext-leak", "{v:#}");
    let first = v["findings"][0].to_string();
    assert!(
        first.contains(p.a.name()) && first.contains("level use"),
        "the leaking side and the peer's policy: {v:#}"
    );
}
