//! `xfrmdiag diagnose` on real faults in two namespaces joined by veth, through the real binary.
//!
//! Each test builds the fault the way an admin would (`ip xfrm …`, sysctl), runs diagnose across
//! both sides and asserts the verdict and the key evidence the kernel was measured to give
//! (docs/kernel-notes.md). The namespaces are deleted when the test ends, even on failure.

#[allow(unused_imports)]
use crate::util::*;
use serde_json::Value;

/// Runs diagnose from `a` to `b`'s port 5000 with `b` as peer; returns (exit code, JSON).
fn diagnose_pair(pair: &VethPair, dst: &str, extra: &[&str]) -> (i32, Value) {
    let target = if dst.contains(':') {
        format!("udp:[{dst}]:5000")
    } else {
        format!("udp:{dst}:5000")
    };
    diagnose_to_peer(&pair.a, &target, &pair.b, extra)
}

/// The evidence texts of the verdict's finding.
fn evidence(v: &Value) -> Vec<String> {
    v["findings"][0]["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[track_caller]
fn assert_evidence(v: &Value, needle: &str) {
    let ev = evidence(v);
    assert!(
        ev.iter().any(|e| e.contains(needle)),
        "evidence lacks {needle:?}: {ev:#?}\n{v:#}"
    );
}

/// True when the run captured a trace (tracefs usable); otherwise skips `test`'s trace assertions.
fn trace_collected(test: &str, v: &Value) -> bool {
    let holes = v["sides"].to_string();
    if holes.contains("trace: ") {
        skip(
            test,
            "trace assertions: the trace could not be taken here (no usable tracefs)",
        );
        return false;
    }
    true
}

fn pair(test: &str) -> Option<VethPair> {
    if !can_use_netns(test) {
        return None;
    }
    Some(VethPair::new("xd-diag").expect("create veth pair"))
}

#[test]
fn root_healthy_flow_is_delivered_and_exits_0() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_healthy_flow_is_delivered_and_exits_0") else {
        return;
    };
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "delivered", "{v:#}");
    assert_eq!(
        (v["sent"].as_u64(), v["received"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(code, 0);
    assert_eq!(v["sides"].as_array().map(Vec::len), Some(2));
}

#[test]
fn root_healthy_ipv6_flow_is_delivered() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_healthy_ipv6_flow_is_delivered") else {
        return;
    };
    let (code, v) = diagnose_pair(&p, &p.b_v6, &[]);
    assert_eq!(v["verdict"], "delivered", "{v:#}");
    assert_eq!(code, 0);
}

#[test]
fn root_plain_udp_into_inbound_esp_policy_is_template_mismatch() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_plain_udp_into_inbound_esp_policy_is_template_mismatch") else {
        return;
    };
    require_esp(&p.b, "in", &p.a_v4, &p.b_v4, "udp");
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "policy-template-mismatch", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain");
    assert_eq!(v["findings"][0]["side"], p.b.name());
    assert_evidence(&v, "XfrmInTmplMismatch +5");
    assert_evidence(&v, "Udp.InErrors +5");
    assert_evidence(&v, "dir in allow");
    if trace_collected(
        "root_plain_udp_into_inbound_esp_policy_is_template_mismatch",
        &v,
    ) {
        assert_evidence(&v, "XFRM_POLICY at udp_queue_rcv_one_skb");
    }
    // The sender's half of the story.
    let causes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cause"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"no-outbound-policy"), "{causes:?}");
    assert_eq!(v["received"], 0);
    assert_eq!(code, 1);
}

#[test]
fn root_outbound_template_without_sa_is_no_outbound_sa() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_outbound_template_without_sa_is_no_outbound_sa") else {
        return;
    };
    require_esp(&p.a, "out", &p.a_v4, &p.b_v4, "udp");
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "no-outbound-sa", "{v:#}");
    assert_evidence(&v, "XfrmOutNoStates +5");
    assert_evidence(&v, "dir out allow");
    // The kernel asked for the missing SA (our event monitor is a listener).
    assert_evidence(&v, "acquire");
    // sendto succeeded: the drop is silent, only the counter tells.
    assert_eq!(v["sent"], 5);
    assert_eq!(code, 1);
}

#[test]
fn root_outbound_block_policy_is_policy_block_out_with_eperm() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_outbound_block_policy_is_policy_block_out_with_eperm") else {
        return;
    };
    p.a.ip(&[
        "xfrm", "policy", "add", "src", &p.a_v4, "dst", &p.b_v4, "proto", "udp", "dir", "out",
        "action", "block",
    ])
    .unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "policy-block-out", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain");
    assert_evidence(&v, "EPERM");
    assert_evidence(&v, "XfrmOutPolBlock +5");
    assert_eq!(v["sent"], 0);
    assert_eq!(code, 1);
}

#[test]
fn root_default_inbound_block_is_default_policy_block() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_default_inbound_block_is_default_policy_block") else {
        return;
    };
    p.b.ip(&["xfrm", "policy", "setdefault", "in", "block"])
        .unwrap();
    for dst in [&p.b_v4, &p.b_v6] {
        let (code, v) = diagnose_pair(&p, dst, &[]);
        assert_eq!(v["verdict"], "default-policy-block", "{v:#}");
        assert_eq!(v["findings"][0]["confidence"], "certain", "{v:#}");
        assert_eq!(v["findings"][0]["side"], p.b.name(), "{v:#}");
        assert_evidence(&v, "XfrmInNoPols +5");
        assert_evidence(&v, "default in policy: block");
        // Default policies are evidence on every side, the peer's included.
        assert_eq!(v["sides"][1]["inventory"]["info"]["default_in"], "block");
        assert_eq!(v["sides"][0]["inventory"]["info"]["default_in"], "allow");
        assert_eq!(code, 1);
    }
}

#[test]
fn root_default_outbound_block_is_default_policy_block_not_a_firewall() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_default_outbound_block_is_default_policy_block_not_a_firewall") else {
        return;
    };
    // Measured on 6.18: sendto fails with EPERM and no counter moves (not XfrmOutPolBlock).
    p.a.ip(&["xfrm", "policy", "setdefault", "out", "block"])
        .unwrap();
    for dst in [&p.b_v4, &p.b_v6] {
        let (code, v) = diagnose_pair(&p, dst, &[]);
        assert_eq!(v["verdict"], "default-policy-block", "{v:#}");
        assert_eq!(v["findings"][0]["confidence"], "certain", "{v:#}");
        assert_eq!(v["findings"][0]["side"], p.a.name(), "{v:#}");
        assert_evidence(&v, "EPERM");
        assert_evidence(&v, "default out policy: block");
        assert_eq!(v["sides"][0]["inventory"]["info"]["default_out"], "block");
        let remedy = v["findings"][0]["remedy"].as_str().unwrap_or_default();
        assert!(remedy.contains("setdefault DIR accept"), "{v:#}");
        assert!(
            !v["findings"].to_string().contains("firewall-drop"),
            "{v:#}"
        );
        assert_eq!(v["sent"], 0);
        assert_eq!(code, 1);
    }
    // An allow policy for the flow lets it out again: the default no longer decides.
    p.a.ip(&[
        "xfrm", "policy", "add", "src", &p.a_v4, "dst", &p.b_v4, "dir", "out", "action", "allow",
    ])
    .unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "delivered", "{v:#}");
    assert_eq!(code, 0);
}

#[test]
fn root_inbound_block_policy_is_policy_block_in() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_inbound_block_policy_is_policy_block_in") else {
        return;
    };
    p.b.ip(&[
        "xfrm", "policy", "add", "src", &p.a_v4, "dst", &p.b_v4, "proto", "udp", "dir", "in",
        "action", "block",
    ])
    .unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "policy-block-in", "{v:#}");
    assert_evidence(&v, "XfrmInPolBlock +5");
    assert_eq!(code, 1);
}

#[test]
fn root_closed_port_is_no_socket() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_closed_port_is_no_socket") else {
        return;
    };
    // --peer-observe: the peer does not bind the port, so it stays closed.
    let (code, v) = diagnose_pair(&p, &p.b_v4, &["--peer-observe"]);
    assert_eq!(v["verdict"], "no-socket", "{v:#}");
    assert_evidence(&v, "Udp.NoPorts +5");
    if trace_collected("root_closed_port_is_no_socket", &v) {
        assert_evidence(&v, "NO_SOCKET at __udp4_lib_rcv");
    }
    assert_eq!(code, 1);
}

#[test]
fn root_closed_ipv6_port_is_no_socket() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_closed_ipv6_port_is_no_socket") else {
        return;
    };
    let (code, v) = diagnose_pair(&p, &p.b_v6, &["--peer-observe"]);
    assert_eq!(v["verdict"], "no-socket", "{v:#}");
    assert_evidence(&v, "Udp6NoPorts +5");
    assert_eq!(code, 1);
}

#[test]
fn root_strict_rp_filter_with_asymmetric_route_is_rp_filter() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_strict_rp_filter_with_asymmetric_route_is_rp_filter") else {
        return;
    };
    // a sends from 10.88.0.1; b routes 10.88.0.0/24 out another device, so strict rp_filter
    // refuses what arrives on veth-b.
    p.a.ip(&["addr", "add", "10.88.0.1/32", "dev", "lo"])
        .unwrap();
    p.a.ip(&[
        "route",
        "replace",
        &format!("{}/32", p.b_v4),
        "dev",
        "veth-a",
        "src",
        "10.88.0.1",
    ])
    .unwrap();
    p.b.ip(&[
        "link", "add", "other0", "type", "veth", "peer", "name", "other1",
    ])
    .unwrap();
    p.b.ip(&["link", "set", "other0", "up"]).unwrap();
    p.b.ip(&["link", "set", "other1", "up"]).unwrap();
    p.b.ip(&["route", "add", "10.88.0.0/24", "dev", "other0"])
        .unwrap();
    let out =
        p.b.exec(&[
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.rp_filter=1",
            "net.ipv4.conf.veth-b.rp_filter=1",
        ])
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "rp-filter", "{v:#}");
    assert_evidence(&v, "TcpExt.IPReversePathFilter +5");
    assert_evidence(&v, "rp_filter = 1");
    assert_eq!(code, 1);
}

#[test]
fn root_listener_alone_reports_what_arrived() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_listener_alone_reports_what_arrived") else {
        return;
    };
    // The receiver side on its own, with the sender being someone else's program.
    let listener = std::thread::spawn({
        let b = p.b.name().to_string();
        move || {
            run(&[
                "diagnose", "-n", &b, "--listen", "udp:5000", "--count", "3", "--window", "5s",
                "--json",
            ])
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The sender is xfrmdiag on its own: one side each, as on two hosts.
    let target = format!("udp:{}:5000", p.b_v4);
    let sender = run(&[
        "diagnose",
        "-n",
        p.a.name(),
        "--send",
        &target,
        "--count",
        "3",
        "--json",
    ]);
    let s = json(&sender);
    assert_eq!(s["verdict"], "no-drop-seen", "{s:#}");
    assert_eq!(sender.status.code(), Some(0));
    let out = listener.join().unwrap();
    let v = json(&out);
    assert_eq!(v["verdict"], "delivered", "{v:#}");
    assert_eq!(v["received"], 3);
    assert_eq!(v["role"], "receiver");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn root_saved_evidence_reruns_to_the_same_verdict() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_saved_evidence_reruns_to_the_same_verdict") else {
        return;
    };
    p.b.ip(&["xfrm", "policy", "setdefault", "in", "block"])
        .unwrap();
    let dir = std::env::temp_dir().join(format!("xfrmdiag-ev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ev.json");
    let (_, v) = diagnose_pair(&p, &p.b_v4, &["--save-evidence", file.to_str().unwrap()]);
    let out = run(&["analyze", file.to_str().unwrap(), "--json"]);
    let again = json(&out);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(again["verdict"], v["verdict"]);
    assert_eq!(again["verdict"], "default-policy-block");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn root_missing_namespace_is_a_one_line_error_exit_2() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_missing_namespace_is_a_one_line_error_exit_2") {
        return;
    }
    let out = run(&[
        "diagnose",
        "-n",
        "xfrmdiag-no-such-ns",
        "--send",
        "udp:10.99.0.2:5000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("xfrmdiag: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_target_is_a_usage_error() {
    let out = run(&["diagnose", "--send", "sctp:1.2.3.4:5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("udp:DST:PORT"), "{}", stderr(&out));
}

#[test]
fn demo_lists_its_scenarios() {
    let out = run(&["demo", "--list", "--json"]);
    assert_success(&out);
    let v = json(&out);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for needed in [
        "healthy",
        "plain-into-esp",
        "no-sa",
        "default-block",
        "closed-port",
        "rp-filter",
    ] {
        assert!(names.contains(&needed), "{names:?}");
    }
}

#[test]
fn root_demo_all_names_every_injected_fault_and_leaves_nothing() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_demo_all_names_every_injected_fault_and_leaves_nothing") {
        return;
    }
    let child = xfrmdiag()
        .args(["demo", "all", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let v = json(&out);
    for s in v.as_array().unwrap() {
        assert_eq!(s["verdict"], s["expect"], "{v:#}");
    }
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let left = demo_namespaces_of(pid);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Namespaces a demo run by process `pid` created and did not delete.
fn demo_namespaces_of(pid: u32) -> Vec<String> {
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            n.starts_with(&format!("xfrmdiag-demo-a-{pid}-"))
                || n.starts_with(&format!("xfrmdiag-demo-b-{pid}-"))
        })
        .map(String::from)
        .collect()
}

#[test]
fn root_demo_classic_prints_verdict_then_evidence_then_fix() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_demo_classic_prints_verdict_then_evidence_then_fix") {
        return;
    }
    let out = run(&["demo"]);
    assert_success(&out);
    let text = stdout(&out);
    let verdict = text.find("VERDICT policy-template-mismatch").expect(&text);
    let evidence = text.find("XfrmInTmplMismatch +5").expect(&text);
    let fix = text.find("Fix").expect(&text);
    assert!(verdict < evidence && evidence < fix, "{text}");
}

#[test]
fn root_demo_interrupted_removes_its_namespaces() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_demo_interrupted_removes_its_namespaces") {
        return;
    }
    let child = xfrmdiag().args(["demo", "healthy"]).spawn().unwrap();
    let pid = child.id();
    // Wait until its namespaces exist, then interrupt it mid-run.
    let prefix = format!("xfrmdiag-demo-a-{pid}-");
    let mut seen = false;
    for _ in 0..200 {
        let list = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&list.stdout).contains(&prefix) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Into the test window: signal as soon as its trace instance exists (the capture starts
    // right before the test traffic), so the whole window is still ahead even on a loaded
    // machine. Without tracefs, a pause after the namespaces appeared has to do.
    let capturing = xfrmdiag_trace::Tracefs::open(None)
        .ok()
        .is_some_and(|tracefs| {
            let instance = tracefs.path(&format!("instances/xfrmdiag-{pid}"));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if instance.exists() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            false
        });
    if !capturing {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let left = demo_namespaces_of(pid);
    assert!(
        left.is_empty(),
        "left behind after Ctrl-C (seen before: {seen}, status {:?}): {left:?}",
        out.status
    );
    for tracefs in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let instance = format!("{tracefs}/instances/xfrmdiag-{pid}");
        assert!(
            !std::path::Path::new(&instance).exists(),
            "{instance} left behind"
        );
    }
    if seen {
        assert_eq!(out.status.code(), Some(130), "{:?}", out.status);
    }
}

mod compare {
    //! `xfrmdiag compare` on two reports with deliberate mismatches. The host kernel cannot hold
    //! ESP SAs, so the reports are written here in the documented JSON shape (what `diagnose
    //! --json` prints on a host with ESP); the vm tests produce real ones.

    use super::*;
    use serde_json::json;

    fn sa(
        spi: &str,
        src: &str,
        dst: &str,
        auth_key: &str,
        mode: &str,
        encap_dport: Option<u16>,
    ) -> Value {
        json!({
            "src": src, "dst": dst, "proto": "esp", "spi": spi, "reqid": 1, "mode": mode,
            "encap": encap_dport.map(|d| json!({"kind": "espinudp", "sport": 4500, "dport": d})),
            "algorithms": [
                {"role": "auth", "name": "hmac(sha256)", "key_fingerprint": auth_key, "key_bits": 256},
                {"role": "enc", "name": "cbc(aes)", "key_fingerprint": "0123456789ab", "key_bits": 128}
            ]
        })
    }

    fn report(ns: &str, role: &str, sas: Vec<Value>, proto_errors: u64) -> Value {
        let mut delta = json!({});
        if proto_errors > 0 {
            delta["XfrmInStateProtoError"] = json!({"increased": proto_errors});
        }
        json!({
            "verdict": "ignored-on-input", "findings": [],
            "namespace": ns, "role": role,
            "counters": {"delta": delta},
            "inventory": {"sas": sas, "policies": []}
        })
    }

    fn healthy_sas(auth_b: &str) -> Vec<Value> {
        vec![
            sa(
                "0x00001000",
                "10.0.0.1",
                "10.0.0.2",
                auth_b,
                "transport",
                None,
            ),
            sa(
                "0x00002000",
                "10.0.0.2",
                "10.0.0.1",
                "bbbbbbbbbbbb",
                "transport",
                None,
            ),
        ]
    }

    /// Writes both reports, runs `compare --json`, returns (exit code, JSON).
    fn compare(a: Value, b: Value) -> (i32, Value) {
        let dir = std::env::temp_dir().join(format!(
            "xfrmdiag-compare-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (pa, pb) = (dir.join("a.json"), dir.join("b.json"));
        std::fs::write(&pa, a.to_string()).unwrap();
        std::fs::write(&pb, b.to_string()).unwrap();
        let out = run(&[
            "compare",
            pa.to_str().unwrap(),
            pb.to_str().unwrap(),
            "--json",
        ]);
        let _ = std::fs::remove_dir_all(&dir);
        (out.status.code().unwrap_or(-1), json(&out))
    }

    #[test]
    fn matching_hosts_compare_clean() {
        let (code, v) = compare(
            report("hostA", "sender", healthy_sas("aaaaaaaaaaaa"), 0),
            report("hostB", "receiver", healthy_sas("aaaaaaaaaaaa"), 0),
        );
        assert_eq!(v["sa_pairs"].as_array().unwrap().len(), 2, "{v:#}");
        assert!(v["unmatched_sas"].as_array().unwrap().is_empty());
        assert_eq!(code, 0, "{v:#}");
    }

    #[test]
    fn different_auth_key_is_found_with_the_receivers_proto_errors() {
        let (code, v) = compare(
            report("hostA", "sender", healthy_sas("aaaaaaaaaaaa"), 0),
            report("hostB", "receiver", healthy_sas("cccccccccccc"), 10),
        );
        assert_eq!(v["verdict"], "sa-auth-failure", "{v:#}");
        assert_eq!(v["findings"][0]["confidence"], "certain");
        assert_evidence(
            &v,
            "auth key fingerprint: hostA aaaaaaaaaaaa / hostB cccccccccccc",
        );
        assert_evidence(&v, "XfrmInStateProtoError +10");
        let story = v["story"].to_string();
        assert!(story.contains("hostB: sa-auth-failure"), "{story}");
        assert_eq!(code, 1);
        // Keys are fingerprints only: no field anywhere carries key bytes.
        assert!(!v.to_string().contains("\"key\""));
    }

    #[test]
    fn spi_on_one_host_only_is_no_inbound_sa() {
        let mut b = healthy_sas("aaaaaaaaaaaa");
        b[0]["spi"] = json!("0x00001001");
        let (code, v) = compare(
            report("hostA", "sender", healthy_sas("aaaaaaaaaaaa"), 0),
            report("hostB", "receiver", b, 0),
        );
        assert_eq!(v["verdict"], "no-inbound-sa", "{v:#}");
        assert_evidence(&v, "it has 0x00001001");
        assert_eq!(code, 1);
    }

    #[test]
    fn encap_port_difference_is_encap_mismatch() {
        let mut a = healthy_sas("aaaaaaaaaaaa");
        a[0]["encap"] = json!({"kind": "espinudp", "sport": 4500, "dport": 4500});
        let mut b = healthy_sas("aaaaaaaaaaaa");
        b[0]["encap"] = json!({"kind": "espinudp", "sport": 4500, "dport": 4501});
        let (code, v) = compare(
            report("hostA", "sender", a, 0),
            report("hostB", "receiver", b, 0),
        );
        assert_eq!(v["verdict"], "encap-mismatch", "{v:#}");
        assert_evidence(&v, "espinudp 4500 4500 / hostB espinudp 4500 4501");
        assert_eq!(code, 1);
    }

    #[test]
    fn mode_difference_is_mode_mismatch() {
        let mut b = healthy_sas("aaaaaaaaaaaa");
        b[0]["mode"] = json!("tunnel");
        let (code, v) = compare(
            report("hostA", "sender", healthy_sas("aaaaaaaaaaaa"), 0),
            report("hostB", "receiver", b, 0),
        );
        assert_eq!(v["verdict"], "sa-mode-mismatch", "{v:#}");
        assert_evidence(&v, "mode: hostA transport / hostB tunnel");
        assert_eq!(code, 1);
    }

    #[test]
    fn a_file_that_is_not_a_report_is_a_one_line_error() {
        let dir = std::env::temp_dir().join(format!("xfrmdiag-cmp-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        std::fs::write(&p, "{\"hello\": 1}").unwrap();
        let out = run(&["compare", p.to_str().unwrap(), p.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is not xfrmdiag evidence"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn analyze_names_every_esp_fault_from_its_saved_evidence() {
    // ESP faults the host kernel cannot produce: constructed evidence mirroring the measured
    // guest results (tests/fixtures/constructed-diagnose-esp/README).
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/constructed-diagnose-esp"
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let expect: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let expect = expect["expect"].as_str().unwrap().to_string();
        let out = run(&["analyze", path.to_str().unwrap(), "--json"]);
        let v = json(&out);
        assert_eq!(v["verdict"], expect.as_str(), "{}: {v:#}", path.display());
        let want_code = if expect == "delivered" { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(want_code), "{}", path.display());
        // Human output of the same evidence leads with the same verdict.
        let human = stdout(&run(&["analyze", path.to_str().unwrap()]));
        assert!(
            human.starts_with(&format!("VERDICT {expect} ")),
            "{}:\n{human}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures");
}

#[test]
fn analyze_of_the_wrong_key_case_is_certain_with_marker_and_counter() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/constructed-diagnose-esp/sa-auth-failure.json"
    );
    let v = json(&run(&["analyze", file, "--json"]));
    assert_eq!(v["findings"][0]["confidence"], "certain");
    assert_evidence(&v, "XfrmInStateProtoError +10");
    assert_evidence(&v, "sa:0x00001000:integrity_failed +10");
    assert_evidence(&v, "xfrm_audit_state_icvfail");
}

#[test]
fn root_unreachable_route_is_no_route() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_unreachable_route_is_no_route") else {
        return;
    };
    // An address inside this namespace pair's world, routed nowhere: nothing can leave.
    p.a.ip(&["route", "add", "unreachable", "10.66.0.0/24"])
        .unwrap();
    let (code, v) = diagnose_pair(&p, "10.66.0.9", &[]);
    assert_eq!(v["verdict"], "no-route", "{v:#}");
    assert_evidence(&v, "EHOSTUNREACH");
    assert_evidence(&v, "unreachable");
    assert_eq!(code, 1);
}

#[test]
fn root_blackhole_route_is_no_route() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_blackhole_route_is_no_route") else {
        return;
    };
    p.a.ip(&["route", "add", "blackhole", "10.66.0.0/24"])
        .unwrap();
    let (code, v) = diagnose_pair(&p, "10.66.0.9", &[]);
    assert_eq!(v["verdict"], "no-route", "{v:#}");
    assert_evidence(&v, "blackhole");
    assert_eq!(code, 1);
}

/// A UDP socket bound on `port` inside namespace `ns`, with the smallest receive buffer, that
/// nobody reads: the application that does not keep up.
fn slow_application(ns: &ScratchNetns, port: u16) -> std::net::UdpSocket {
    let sock = ns
        .netns()
        .run(move || std::net::UdpSocket::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &1).unwrap();
    sock
}

#[test]
fn root_port_held_by_the_application_is_observed_not_bound() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_port_held_by_the_application_is_observed_not_bound") else {
        return;
    };
    let app =
        p.b.netns()
            .run(|| std::net::UdpSocket::bind("0.0.0.0:5000"))
            .unwrap()
            .unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &["--count", "2"]);
    let holes = v["sides"][1]["holes"].to_string();
    assert!(
        holes.contains("held by another program; observed it instead"),
        "{v:#}"
    );
    assert_eq!(v["sides"][1]["traffic"]["kind"], "observe");
    assert_eq!(v["sides"][1]["traffic"]["socket_found"], true);
    // Nothing counts deliveries to someone else's socket, and nothing dropped.
    assert_eq!(v["verdict"], "no-drop-seen", "{v:#}");
    assert_eq!(code, 0);
    let mut buf = [0u8; 128];
    app.set_nonblocking(true).unwrap();
    assert!(
        app.recv(&mut buf).is_ok(),
        "the application got the datagrams"
    );
}

#[test]
fn root_application_not_reading_is_socket_buffer_full() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_application_not_reading_is_socket_buffer_full") else {
        return;
    };
    let _app = slow_application(&p.b, 5000);
    let (code, v) = diagnose_pair(
        &p,
        &p.b_v4,
        &["--count", "50", "--size", "1200", "--interval", "0ms"],
    );
    assert_eq!(v["verdict"], "socket-buffer-full", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain");
    assert_evidence(&v, "Udp.RcvbufErrors +");
    assert_evidence(&v, "drops +");
    assert_eq!(code, 1);
}

#[test]
fn root_exec_as_the_test_send_is_judged_by_both_sides() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_exec_as_the_test_send_is_judged_by_both_sides") else {
        return;
    };
    // The user's own client: bash writing one datagram to a closed port on the peer.
    let cmd = format!("bash -c 'echo hello > /dev/udp/{}/5000'", p.b_v4);
    let out = run(&[
        "diagnose",
        "-n",
        p.a.name(),
        "--exec",
        &cmd,
        "--peer-netns",
        p.b.name(),
        "--window",
        "300ms",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["sides"][0]["traffic"]["kind"], "exec", "{v:#}");
    assert_eq!(v["sides"][0]["traffic"]["exit_code"], 0);
    assert_eq!(v["verdict"], "no-socket", "{v:#}");
    assert_evidence(&v, "Udp.NoPorts +1");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn root_gateway_without_forward_policy_is_forward_policy_missing() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_gateway_without_forward_policy_is_forward_policy_missing") {
        return;
    }
    // a --- gw --- b, the gateway requiring ESP for what it forwards from a to b.
    let Routed {
        a,
        gw,
        b,
        a_v4: a_ip,
        b_v4: b_ip,
        gw_a_v4: ga_ip,
        gw_b_v4: gb_ip,
        ..
    } = routed("xd-fwd");
    gw.ip(&[
        "xfrm", "policy", "add", "src", &a_ip, "dst", &b_ip, "dir", "fwd", "tmpl", "src", &ga_ip,
        "dst", &gb_ip, "proto", "esp", "mode", "tunnel",
    ])
    .unwrap();
    let target = format!("udp:{b_ip}:5000");
    let out = run(&[
        "diagnose",
        "-n",
        a.name(),
        "--send",
        &target,
        "--peer-netns",
        b.name(),
        "--window",
        "1s",
        "--json",
    ]);
    let v = json(&out);
    if trace_collected(
        "root_gateway_without_forward_policy_is_forward_policy_missing",
        &v,
    ) {
        assert_eq!(v["verdict"], "forward-policy-missing", "{v:#}");
        assert_evidence(&v, "XFRM_POLICY at ip_forward");
    } else {
        // Without the trace only the ends are seen: the packets never arrived.
        assert_eq!(v["verdict"], "not-reached", "{v:#}");
    }
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn root_far_end_of_the_link_down_is_tx_drop() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_far_end_of_the_link_down_is_tx_drop") else {
        return;
    };
    p.b.ip(&["link", "set", "veth-b", "down"]).unwrap();
    // veth-a loses its carrier at once, but its queue changes only when linkwatch handles that:
    // at once, or up to a second later when a link changed in the last second (the pair's own
    // link-up just now counts; the event is not "urgent" because in a fresh namespace veth-a's
    // ifindex equals its iflink). Until then veth refuses each datagram itself
    // (Udp.SndbufErrors, Ip.OutDiscards); after, the noop qdisc takes them (QDISC_DROP,
    // tx_dropped only). linkwatch sets the operational state right before it swaps the queue:
    // wait for it, so the test sees the steady state of a link that is down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let link = p.a.ip(&["-o", "link", "show", "veth-a"]).unwrap();
        if !link.contains("state UP ") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "veth-a never lost its carrier: {link}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "tx-drop", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain", "{v:#}");
    // Each datagram counts once (the count itself is not the point; ND/MLD may add some).
    assert_evidence(&v, "dev:veth-a:tx_dropped +");
    if trace_collected("root_far_end_of_the_link_down_is_tx_drop", &v) {
        assert_evidence(&v, "QDISC_DROP at __dev_queue_xmit");
    }
    assert_eq!(code, 1);
}

#[test]
fn root_frames_to_the_wrong_mac_are_not_reached() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_frames_to_the_wrong_mac_are_not_reached") else {
        return;
    };
    // A stale neighbour entry: frames reach b's device but not its IP layer (PACKET_OTHERHOST).
    p.a.ip(&[
        "neigh",
        "replace",
        &p.b_v4,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "veth-a",
        "nud",
        "permanent",
    ])
    .unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &[]);
    assert_eq!(v["verdict"], "not-reached", "{v:#}");
    assert_evidence(&v, "Ip.InReceives / Ip6InReceives did not move");
    assert_eq!(code, 1);
}

mod peer_ssh {
    //! `--peer ssh://…` against a real sshd started in a test namespace with a throwaway key.

    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};

    /// An sshd listening on the pair's `b` address, port 2222; killed (by its pid) on drop.
    struct Sshd {
        child: Child,
        dir: PathBuf,
    }

    impl Drop for Sshd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn sshd(p: &VethPair, test: &str) -> Option<Sshd> {
        if !Path::new("/usr/sbin/sshd").exists() || Command::new("ssh").arg("-V").output().is_err()
        {
            skip(test, "needs OpenSSH (/usr/sbin/sshd and ssh)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "xfrmdiag-sshd-{}-{}",
            std::process::id(),
            p.b.name()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd"); // privilege separation directory
        for key in ["client", "host"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
        let config = format!(
            "ListenAddress {}\nPort 2222\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nPidFile none\n",
            p.b_v4,
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", p.b.name(), "/usr/sbin/sshd", "-D", "-f"])
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("log"))
            .spawn()
            .unwrap();
        let server = Sshd { child, dir };
        // Wait until it accepts connections (from a, where the client runs).
        let addr: std::net::SocketAddr = format!("{}:2222", p.b_v4).parse().unwrap();
        for _ in 0..100 {
            let up =
                p.a.netns()
                    .run(move || {
                        std::net::TcpStream::connect_timeout(
                            &addr,
                            std::time::Duration::from_millis(50),
                        )
                        .is_ok()
                    })
                    .unwrap();
            if up {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(server.dir.join("log")).unwrap_or_default()
        );
    }

    /// A veth pair with an sshd on `b`, or `None` when the test skips (said with the reason).
    fn pair_with_sshd(test: &str) -> Option<(VethPair, Sshd)> {
        let p = pair(test)?;
        let s = sshd(&p, test)?;
        Some((p, s))
    }

    /// `diagnose -n a --send udp:b:PORT --peer ssh://root@b:2222` with the test's key.
    fn diagnose_over_ssh(
        port: u16,
        p: &VethPair,
        s: &Sshd,
        key: &str,
        peer_xfrmdiag: &str,
    ) -> std::process::Output {
        diagnose_over_ssh_as("udp", port, p, s, key, peer_xfrmdiag)
    }

    /// The same with `PROTO:b:PORT` as the test flow.
    fn diagnose_over_ssh_as(
        proto: &str,
        port: u16,
        p: &VethPair,
        s: &Sshd,
        key: &str,
        peer_xfrmdiag: &str,
    ) -> std::process::Output {
        let target = format!("{proto}:{}:{port}", p.b_v4);
        let peer = format!("ssh://root@{}:2222", p.b_v4);
        let identity = format!("IdentityFile={}", s.dir.join(key).display());
        run(&[
            "diagnose",
            "-n",
            p.a.name(),
            "--send",
            &target,
            "--peer",
            &peer,
            "--peer-xfrmdiag",
            peer_xfrmdiag,
            "--ssh-opt",
            &identity,
            "--ssh-opt",
            "IdentitiesOnly=yes",
            "--ssh-opt",
            "StrictHostKeyChecking=no",
            "--ssh-opt",
            "UserKnownHostsFile=/dev/null",
            "--ssh-opt",
            "LogLevel=ERROR",
            "--window",
            "1s",
            "--json",
        ])
    }

    /// A test port unique to this test process (n < 3): `nothing_left_listening` looks at every
    /// process on the machine, and another suite running at the same time has listeners of its own.
    fn port_for_this_run(n: u16) -> u16 {
        20000 + (std::process::id() % 10000) as u16 * 3 + n
    }

    /// No peer listener (nor ssh client) for this port is still running.
    fn nothing_left_listening(port: u16) -> bool {
        let pattern = format!("listen (udp|tcp):{port}");
        let out = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .unwrap();
        out.stdout.is_empty()
    }

    #[test]
    fn root_ssh_peer_covers_both_hosts() {
        let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
        let test = "root_ssh_peer_covers_both_hosts";
        let Some((p, s)) = pair_with_sshd(test) else {
            return;
        };
        let me = env!("CARGO_BIN_EXE_xfrmdiag");
        let out = diagnose_over_ssh(port_for_this_run(0), &p, &s, "client", me);
        let v = json(&out);
        assert_eq!(v["verdict"], "delivered", "{v:#}\n{}", stderr(&out));
        assert_eq!(v["received"], 5);
        assert_eq!(v["sides"][1]["namespace"], p.b_v4.as_str());
        // The peer knows the whole flow, not only its port (its selectors are judged on it).
        assert_eq!(v["sides"][1]["flow"]["dst"], p.b_v4.as_str(), "{v:#}");
        assert_eq!(out.status.code(), Some(0));

        // The classic fault on the far host, seen from here.
        require_esp(&p.b, "in", &p.a_v4, &p.b_v4, "udp");
        let out = diagnose_over_ssh(port_for_this_run(0), &p, &s, "client", me);
        let v = json(&out);
        assert_eq!(v["verdict"], "policy-template-mismatch", "{v:#}");
        assert_eq!(v["findings"][0]["side"], p.b_v4.as_str());
        assert_evidence(&v, "XfrmInTmplMismatch +5");
        assert_eq!(out.status.code(), Some(1));
        assert!(nothing_left_listening(port_for_this_run(0)));
    }

    /// A TCP test flow over --peer: the peer listens on TCP for the bytes this side sends, and
    /// the peer's missing ESP shows as the handshake that never completes.
    #[test]
    fn root_ssh_peer_takes_a_tcp_flow() {
        let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
        let test = "root_ssh_peer_takes_a_tcp_flow";
        let Some((p, s)) = pair_with_sshd(test) else {
            return;
        };
        let me = env!("CARGO_BIN_EXE_xfrmdiag");
        let port = port_for_this_run(2);
        let out = diagnose_over_ssh_as("tcp", port, &p, &s, "client", me);
        let v = json(&out);
        assert_eq!(v["verdict"], "delivered", "{v:#}\n{}", stderr(&out));
        assert_eq!(v["sides"][1]["traffic"]["kind"], "tcp-listen", "{v:#}");
        assert_eq!(v["sides"][1]["traffic"]["bytes"], 65536, "{v:#}");
        assert_eq!(out.status.code(), Some(0));

        // The peer wants ESP for the flow's port (not for ssh's); this side sends in clear.
        let policy = format!(
            "xfrm policy add src {} dst {} proto tcp dport {port} dir in tmpl proto esp mode transport",
            p.a_v4, p.b_v4
        );
        ip_words(&p.b, &policy).expect("require-ESP policy for the test port");
        let out = diagnose_over_ssh_as("tcp", port, &p, &s, "client", me);
        let v = json(&out);
        assert_eq!(v["verdict"], "policy-template-mismatch", "{v:#}");
        assert_eq!(v["findings"][0]["side"], p.b_v4.as_str());
        assert_eq!(out.status.code(), Some(1));
        assert!(nothing_left_listening(port));
    }

    #[test]
    fn root_ssh_peer_failures_are_clear_and_leave_nothing_running() {
        let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
        let test = "root_ssh_peer_failures_are_clear_and_leave_nothing_running";
        let Some((p, s)) = pair_with_sshd(test) else {
            return;
        };
        let me = env!("CARGO_BIN_EXE_xfrmdiag");
        // A key the peer does not accept.
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(s.dir.join("stranger"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = diagnose_over_ssh(port_for_this_run(1), &p, &s, "stranger", me);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("cannot log in to"),
            "{}",
            stderr(&out)
        );
        // No xfrmdiag on the peer.
        let out = diagnose_over_ssh(
            port_for_this_run(1),
            &p,
            &s,
            "client",
            "/nonexistent/xfrmdiag",
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is not installed on"),
            "{}",
            stderr(&out)
        );
        // An older xfrmdiag that does not know the peer protocol.
        let old = s.dir.join("old-xfrmdiag");
        std::fs::write(
            &old,
            "#!/bin/sh\necho \"error: unexpected argument '--announce-ready' found\" >&2\nexit 2\n",
        )
        .unwrap();
        Command::new("chmod").arg("+x").arg(&old).status().unwrap();
        let out = diagnose_over_ssh(
            port_for_this_run(1),
            &p,
            &s,
            "client",
            old.to_str().unwrap(),
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("is too old"), "{}", stderr(&out));
        // One line, `xfrmdiag: what: what to do`.
        assert_eq!(
            stderr(&out).trim_end().lines().count(),
            1,
            "{}",
            stderr(&out)
        );
        assert!(nothing_left_listening(port_for_this_run(1)));
    }
}

#[test]
fn root_df_datagram_over_the_path_mtu_is_outbound_mtu() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    let Some(p) = pair("root_df_datagram_over_the_path_mtu_is_outbound_mtu") else {
        return;
    };
    p.a.ip(&["link", "set", "veth-a", "mtu", "1280"]).unwrap();
    let (code, v) = diagnose_pair(&p, &p.b_v4, &["--size", "1400", "--pmtu", "do"]);
    assert_eq!(v["verdict"], "outbound-mtu", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain");
    assert_evidence(&v, "EMSGSIZE");
    assert_evidence(&v, "MTU 1280");
    assert_eq!(v["sent"], 0);
    assert_eq!(code, 1);
}

/// docs/causes.md is generated from the rules; this keeps it from going stale.
#[test]
fn causes_doc_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/causes.md");
    let generated = xfrmdiag_report::causes::markdown();
    if std::env::var_os("XFRMDIAG_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/causes.md is stale: run XFRMDIAG_UPDATE_DOCS=1 cargo test -p xfrmdiag --test integration causes_doc"
    );
}

#[test]
fn root_routers_default_forward_block_is_default_policy_block() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_routers_default_forward_block_is_default_policy_block") {
        return;
    }
    let r = routed("xd-dfwd");
    r.gw.ip(&["xfrm", "policy", "setdefault", "fwd", "block"])
        .unwrap();
    for (dst, target) in [
        (&r.b_v4, format!("udp:{}:5000", r.b_v4)),
        (&r.b_v6, format!("udp:[{}]:5000", r.b_v6)),
    ] {
        // The router is the peer side: its counters and configuration are the evidence.
        let out = run(&[
            "diagnose",
            "-n",
            r.a.name(),
            "--send",
            &target,
            "--peer-netns",
            r.gw.name(),
            "--window",
            "1s",
            "--json",
        ]);
        let v = json(&out);
        if dst.contains(':')
            && !trace_collected(
                "root_routers_default_forward_block_is_default_policy_block",
                &v,
            )
        {
            // IPv6 forwarding is told by the drop at ip6_forward (the sysctl read is IPv4's).
            continue;
        }
        assert_eq!(v["verdict"], "default-policy-block", "{dst}: {v:#}");
        assert_eq!(v["findings"][0]["side"], r.gw.name(), "{v:#}");
        assert_evidence(&v, "XfrmInNoPols +");
        assert_evidence(&v, "default fwd policy: block");
        if trace_collected(
            "root_routers_default_forward_block_is_default_policy_block",
            &v,
        ) {
            // Measured on 6.18: XFRM_POLICY at ip_forward, NOT_SPECIFIED at ip6_forward.
            let at = if dst.contains(':') {
                "NOT_SPECIFIED at ip6_forward"
            } else {
                "XFRM_POLICY at ip_forward"
            };
            assert_evidence(&v, at);
        }
        assert_eq!(out.status.code(), Some(1));
    }
    drop(r.b);
}
