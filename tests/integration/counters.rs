//! Integration tests for counters: real counters moving in namespaces the tests create.
//!
//! Each fault is the one measured in docs/kernel-notes.md (6.18 host): clear UDP against an
//! inbound "require ESP" policy, an outbound block policy, and `setdefault in block`. Packets go
//! only between the two namespaces of a `VethPair`, from sockets created inside them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use xfrmdiag_counters::{delta, Change, Snapshot};

use crate::util::*;

/// A UDP socket bound inside `ns` (it stays in that namespace).
fn bind_udp(ns: &ScratchNetns, addr: &str) -> UdpSocket {
    let addr = format!("{addr}:0");
    ns.netns()
        .run(move || UdpSocket::bind(addr))
        .expect("enter namespace")
        .expect("bind UDP socket")
}

/// Sends one datagram from a socket created inside `from` to `to` (an address of the pair).
fn send_udp(from: &ScratchNetns, to: std::net::SocketAddr) -> std::io::Result<usize> {
    from.netns()
        .run(move || {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.send_to(b"xfrmdiag counters test", to)
        })
        .expect("enter namespace")
}

fn snapshot(ns: &ScratchNetns) -> Snapshot {
    Snapshot::take(&ns.netns()).expect("snapshot")
}

/// Waits (bounded) until `name` reaches `at_least` in `ns`: veth delivery is normally done when
/// `sendto` returns, this only absorbs a late softirq. Not a timing assertion.
fn settle(ns: &ScratchNetns, name: &str, at_least: u64) {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if snapshot(ns).get(name).unwrap_or(0) >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// IPv6 link-local DAD, router solicitations and MLD reports of the fresh link would move
/// counters of their own (e.g. `Ip6InNoRoutes`, or `XfrmInNoPols` under a blanket default):
/// switch IPv6 off on both veth ends so the tests can assert exact sets of moved counters.
fn quiet_ipv6(pair: &VethPair) {
    quiet_ipv6_on(&pair.a, "veth-a");
    quiet_ipv6_on(&pair.b, "veth-b");
}

fn quiet_ipv6_on(ns: &ScratchNetns, dev: &str) {
    let out = ns
        .exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
        ])
        .expect("run sysctl");
    assert!(
        out.status.success(),
        "sysctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn error_names(before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    delta(before, after)
        .errors()
        .map(|(n, _)| n.to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn root_snapshot_reads_the_target_namespace_not_the_callers() {
    if !can_use_netns("root_snapshot_reads_the_target_namespace_not_the_callers") {
        return;
    }
    let pair = VethPair::new("xdc-ns").expect("veth pair");
    let a = snapshot(&pair.a);
    let b = snapshot(&pair.b);
    assert!(
        a.get("dev:veth-a:rx_packets").is_some(),
        "{:?}",
        a.counters.keys()
    );
    assert!(a.get("dev:veth-b:rx_packets").is_none());
    assert!(b.get("dev:veth-b:rx_packets").is_some());
    assert!(b.get("dev:veth-a:rx_packets").is_none());
    assert_eq!(a.namespace, pair.a.name());
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    assert!(
        a.get("XfrmInNoPols").is_some(),
        "xfrm_stat read in the namespace"
    );

    // Why /proc/thread-self: inside the namespace thread, /proc/self/net still shows the main
    // thread's namespace (no veth-a), /proc/thread-self/net shows the thread's own.
    let (self_dev, thread_dev) = pair
        .a
        .netns()
        .run(|| {
            (
                std::fs::read_to_string("/proc/self/net/dev").unwrap(),
                std::fs::read_to_string("/proc/thread-self/net/dev").unwrap(),
            )
        })
        .unwrap();
    assert!(!self_dev.contains("veth-a:"), "{self_dev}");
    assert!(thread_dev.contains("veth-a:"), "{thread_dev}");
}

#[test]
fn root_snapshot_carries_per_sa_counters_from_the_sa_dump() {
    if !can_use_netns("root_snapshot_carries_per_sa_counters_from_the_sa_dump") {
        return;
    }
    let ns = ScratchNetns::new("xdc-sa").expect("namespace");
    let before = snapshot(&ns);
    assert_eq!(
        before.sources.get("sa"),
        Some(&xfrmdiag_counters::SourceState::Read)
    );
    assert!(!before.counters.keys().any(|n| n.starts_with("sa:")));
    // This host has no ESP, but `allocspi` makes a real (larval) SA the dump returns.
    let out = ns
        .ip(&[
            "xfrm",
            "state",
            "allocspi",
            "src",
            "10.98.1.2",
            "dst",
            "10.98.1.1",
            "proto",
            "esp",
            "reqid",
            "4",
            "mode",
            "tunnel",
            "min",
            "0x1000",
            "max",
            "0x1fff",
        ])
        .expect("allocspi");
    let spi = out
        .split_whitespace()
        .skip_while(|w| *w != "spi")
        .nth(1)
        .and_then(|s| s.split('(').next())
        .unwrap_or_else(|| panic!("no spi in: {out}"))
        .to_string();
    let after = snapshot(&ns);
    for field in [
        "replay_window",
        "replay",
        "integrity_failed",
        "bytes",
        "packets",
    ] {
        assert_eq!(
            after.get(&format!("sa:{spi}:{field}")),
            Some(0),
            "{field} of {spi}"
        );
    }
    // Through the binary too, with the catalog's meaning.
    let out = run(&["-n", ns.name(), "counters", "--all", "sa"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("sa:{spi}:integrity_failed")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("failed the integrity check"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn root_inbound_require_esp_moves_tmpl_mismatch_and_udp_inerrors_in_the_receiver_only() {
    if !can_use_netns(
        "root_inbound_require_esp_moves_tmpl_mismatch_and_udp_inerrors_in_the_receiver_only",
    ) {
        return;
    }
    let pair = VethPair::new("xdc-tmpl").expect("veth pair");
    quiet_ipv6(&pair);
    require_esp(&pair.b, "in", &pair.a_v4, &pair.b_v4, "udp");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let to = receiver.local_addr().unwrap();
    let (a0, b0) = (snapshot(&pair.a), snapshot(&pair.b));
    send_udp(&pair.a, to).expect("sendto succeeds: the drop is at the receiver");
    settle(
        &pair.b,
        "XfrmInTmplMismatch",
        b0.get("XfrmInTmplMismatch").unwrap() + 1,
    );
    let (a1, b1) = (snapshot(&pair.a), snapshot(&pair.b));

    let moved = delta(&b0, &b1);
    assert_eq!(
        moved.delta.get("XfrmInTmplMismatch"),
        Some(&Change::Increased(1))
    );
    assert_eq!(moved.delta.get("Udp.InErrors"), Some(&Change::Increased(1)));
    assert_eq!(
        error_names(&b0, &b1),
        set(&["XfrmInTmplMismatch", "Udp.InErrors"])
    );
    assert_eq!(moved.events("dev:veth-b:rx_packets"), 1);
    // The sender's namespace saw no error at all.
    assert_eq!(error_names(&a0, &a1), set(&[]));
    // Nothing reached the application.
    receiver.set_nonblocking(true).unwrap();
    assert!(receiver.recv(&mut [0u8; 64]).is_err());
}

#[test]
fn root_outbound_block_moves_xfrm_out_pol_block_in_the_sender() {
    if !can_use_netns("root_outbound_block_moves_xfrm_out_pol_block_in_the_sender") {
        return;
    }
    let pair = VethPair::new("xdc-block").expect("veth pair");
    quiet_ipv6(&pair);
    pair.a
        .ip(&[
            "xfrm",
            "policy",
            "add",
            "dir",
            "out",
            "src",
            &format!("{}/32", pair.a_v4),
            "dst",
            &format!("{}/32", pair.b_v4),
            "action",
            "block",
        ])
        .expect("add outbound block policy");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let (a0, b0) = (snapshot(&pair.a), snapshot(&pair.b));
    let err = send_udp(&pair.a, receiver.local_addr().unwrap()).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(1),
        "EPERM from the block policy: {err}"
    );
    let (a1, b1) = (snapshot(&pair.a), snapshot(&pair.b));
    let moved = delta(&a0, &a1);
    assert_eq!(
        moved.delta.get("XfrmOutPolBlock"),
        Some(&Change::Increased(1))
    );
    assert!(error_names(&a0, &a1).contains("XfrmOutPolBlock"));
    assert!(!error_names(&a0, &a1)
        .iter()
        .any(|n| n.starts_with("XfrmIn")));
    assert_eq!(error_names(&b0, &b1), set(&[]));
    // No IPv4 packet reached the receiver (IPv6 DAD/MLD of the fresh link may, hence not rx_packets).
    assert_eq!(
        delta(&b0, &b1).events("Ip.InReceives"),
        0,
        "nothing left the sender"
    );
}

#[test]
fn root_setdefault_in_block_moves_xfrm_in_no_pols() {
    if !can_use_netns("root_setdefault_in_block_moves_xfrm_in_no_pols") {
        return;
    }
    let pair = VethPair::new("xdc-dflt").expect("veth pair");
    quiet_ipv6(&pair);
    pair.b
        .ip(&["xfrm", "policy", "setdefault", "in", "block"])
        .expect("setdefault in block");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let (a0, b0) = (snapshot(&pair.a), snapshot(&pair.b));
    send_udp(&pair.a, receiver.local_addr().unwrap()).expect("sendto succeeds");
    settle(&pair.b, "XfrmInNoPols", b0.get("XfrmInNoPols").unwrap() + 1);
    let (a1, b1) = (snapshot(&pair.a), snapshot(&pair.b));
    let moved = delta(&b0, &b1);
    assert_eq!(moved.delta.get("XfrmInNoPols"), Some(&Change::Increased(1)));
    let errors = error_names(&b0, &b1);
    assert!(errors.contains("XfrmInNoPols"), "{errors:?}");
    assert!(!errors.contains("XfrmInTmplMismatch"), "{errors:?}");
    assert_eq!(error_names(&a0, &a1), set(&[]));
}

#[test]
fn root_counters_save_then_since_through_the_binary() {
    if !can_use_netns("root_counters_save_then_since_through_the_binary") {
        return;
    }
    let pair = VethPair::new("xdc-bin").expect("veth pair");
    quiet_ipv6(&pair);
    require_esp(&pair.b, "in", &pair.a_v4, &pair.b_v4, "udp");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let dir = std::env::temp_dir().join(format!("xfrmdiag-counters-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file_a, file_b) = (dir.join("a.json"), dir.join("b.json"));
    for (ns, file) in [(&pair.a, &file_a), (&pair.b, &file_b)] {
        let out = run(&[
            "-n",
            ns.name(),
            "counters",
            "--save",
            file.to_str().unwrap(),
        ]);
        assert_success(&out);
        assert!(stderr(&out).contains("saved"), "{}", stderr(&out));
    }
    send_udp(&pair.a, receiver.local_addr().unwrap()).expect("sendto");
    settle(&pair.b, "XfrmInTmplMismatch", 1);

    let out = run(&[
        "-n",
        pair.b.name(),
        "counters",
        "--since",
        file_b.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an error counter moved: exit 1\n{}",
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(v["namespace"], pair.b.name());
    assert_eq!(
        v["delta"]["XfrmInTmplMismatch"],
        serde_json::json!({"increased": 1})
    );
    assert_eq!(
        v["delta"]["Udp.InErrors"],
        serde_json::json!({"increased": 1})
    );
    let errors: BTreeSet<String> = serde_json::from_value(v["errors"].clone()).unwrap();
    assert_eq!(errors, set(&["XfrmInTmplMismatch", "Udp.InErrors"]));
    assert_eq!(
        v["meanings"]["XfrmInTmplMismatch"]["cause_id"],
        "policy-template-mismatch"
    );

    // The human table names the counter and its meaning.
    let out = run(&[
        "-n",
        pair.b.name(),
        "counters",
        "--since",
        file_b.to_str().unwrap(),
        "xfrm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("XfrmInTmplMismatch") && text.contains("+1"),
        "{text}"
    );
    assert!(text.contains("policy-template-mismatch"), "{text}");
    assert!(!text.contains("Udp.InErrors"), "filtered to xfrm: {text}");

    // The sender's namespace: no error counter moved, exit 0.
    let out = run(&[
        "-n",
        pair.a.name(),
        "counters",
        "--since",
        file_a.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert!(v["delta"].get("XfrmInTmplMismatch").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn counters_json_snapshot_has_the_documented_shape() {
    let out = run(&["counters", "--json"]);
    assert_success(&out);
    let v = json(&out);
    assert_eq!(v["namespace"], "(current)");
    assert!(v["taken_at"].as_str().unwrap().ends_with('Z'));
    assert!(v["counters"]["Udp.InErrors"].is_u64(), "{v}");
    assert_eq!(v["sources"]["snmp"], "read");
    assert!(v["problems"].is_array());
}

#[test]
fn unknown_counter_or_filter_and_bad_since_file_exit_2_with_one_line() {
    let out = run(&["counters", "XfrmInTmplMismach"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("xfrmdiag: unknown counter or filter 'XfrmInTmplMismach'"),
        "{err}"
    );

    let out = run(&["watch", "--filter", "nosuch*thing", "--count", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let bad = std::env::temp_dir().join(format!("xfrmdiag-bad-since-{}.json", std::process::id()));
    std::fs::write(&bad, "{\"namespace\": 3").unwrap();
    let out = run(&["counters", "--since", bad.to_str().unwrap()]);
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not a counters snapshot") && err.contains("--save"),
        "{err}"
    );
}

/// Spawns `xfrmdiag ARGS…` with piped stdout and stderr.
fn spawn(args: &[&str]) -> Child {
    xfrmdiag()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xfrmdiag")
}

#[test]
fn root_watch_streams_one_json_object_per_interval() {
    if !can_use_netns("root_watch_streams_one_json_object_per_interval") {
        return;
    }
    let pair = VethPair::new("xdc-watch").expect("veth pair");
    quiet_ipv6(&pair);
    require_esp(&pair.b, "in", &pair.a_v4, &pair.b_v4, "udp");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let mut child = spawn(&[
        "-n",
        pair.b.name(),
        "watch",
        "-i",
        "200ms",
        "--count",
        "5",
        "--json",
        "--filter",
        "xfrm,udp",
    ]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first record proves the baseline was read: send now, it lands in a later interval.
    let first = lines.next().expect("a first record").unwrap();
    send_udp(&pair.a, receiver.local_addr().unwrap()).expect("sendto");
    let mut records: Vec<serde_json::Value> = vec![serde_json::from_str(&first).unwrap()];
    for line in lines {
        records.push(serde_json::from_str(&line.unwrap()).expect("each line is one JSON object"));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "watch exit {status:?}");
    assert_eq!(records.len(), 5);
    let intervals: Vec<u64> = records
        .iter()
        .map(|r| r["interval"].as_u64().unwrap())
        .collect();
    assert_eq!(intervals, [1, 2, 3, 4, 5]);
    let total = |name: &str| -> u64 {
        records
            .iter()
            .filter_map(|r| r["delta"][name]["increased"].as_u64())
            .sum()
    };
    assert_eq!(total("XfrmInTmplMismatch"), 1);
    assert_eq!(total("Udp.InErrors"), 1);
    let new_errors: Vec<&serde_json::Value> = records
        .iter()
        .flat_map(|r| r["new_errors"].as_array().unwrap())
        .collect();
    assert!(
        new_errors.contains(&&serde_json::json!("XfrmInTmplMismatch")),
        "{records:?}"
    );
    // The filter holds: no interface or IP counter in any record.
    for record in &records {
        for name in record["delta"].as_object().unwrap().keys() {
            assert!(
                name.starts_with("Xfrm") || name.starts_with("Udp"),
                "{name}"
            );
        }
        assert_eq!(record["namespace"], pair.b.name());
    }
}

/// One HTTP GET over loopback; returns the body.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn root_watch_serves_prometheus_on_loopback_and_writes_a_textfile() {
    if !can_use_netns("root_watch_serves_prometheus_on_loopback_and_writes_a_textfile") {
        return;
    }
    let pair = VethPair::new("xdc-prom").expect("veth pair");
    quiet_ipv6(&pair);
    pair.b
        .ip(&["xfrm", "policy", "setdefault", "in", "block"])
        .expect("setdefault in block");
    let receiver = bind_udp(&pair.b, &pair.b_v4);
    let dir = std::env::temp_dir().join(format!("xfrmdiag-textfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let textfile = dir.join("xfrm.prom");
    let mut child = spawn(&[
        "-n",
        pair.b.name(),
        "watch",
        "-i",
        "100ms",
        "--count",
        "600",
        "--prometheus",
        "127.0.0.1:0",
        "--textfile",
        textfile.to_str().unwrap(),
        "--filter",
        "xfrm",
    ]);
    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr_lines.next().expect("a banner").unwrap();
    let addr = banner
        .strip_prefix("serving Prometheus metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected banner: {banner}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "loopback by default: {addr}"
    );

    let metric = format!(
        "xfrmdiag_kernel_counter_total{{namespace=\"{}\",counter=\"XfrmInNoPols\",kind=\"error\"}}",
        pair.b.name()
    );
    let value_of = |body: &str| -> Option<u64> {
        body.lines()
            .find_map(|l| l.strip_prefix(&metric))
            .and_then(|v| v.trim().parse().ok())
    };
    let body = scrape(&addr);
    assert!(
        body.contains("# TYPE xfrmdiag_kernel_counter_total counter"),
        "{body}"
    );
    assert!(!body.contains("counter=\"Udp."), "filtered to xfrm");
    let before = value_of(&body).expect("XfrmInNoPols exported");

    send_udp(&pair.a, receiver.local_addr().unwrap()).expect("sendto");
    // The endpoint refreshes every interval; poll (bounded) until the new reading is served.
    let until = Instant::now() + Duration::from_secs(10);
    let mut after = before;
    while after == before && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        after = value_of(&scrape(&addr)).unwrap();
    }
    assert_eq!(after, before + 1, "the scrape shows the drop");

    let text = std::fs::read_to_string(&textfile).expect("textfile written");
    assert!(text.contains(&metric), "{text}");
    // Ctrl-C stops it cleanly with status 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "watch after Ctrl-C: {status:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "xfrm.prom")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

#[test]
fn fixture_captured_tmpl_mismatch_reads_cleanly() {
    let snap = Snapshot::take_from(&fixture("6.18-counters-tmpl-mismatch"), "fixture").unwrap();
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(snap.get("XfrmInTmplMismatch"), Some(1));
    assert_eq!(snap.get("Udp.InErrors"), Some(1));
    // The datagram plus IPv6 DAD/MLD of the fresh link.
    assert!(snap.get("dev:veth-b:rx_packets").unwrap() >= 1);
    // 32 xfrm_stat counters on 6.18, every one known to the catalog.
    let xfrm: Vec<&String> = snap
        .counters
        .keys()
        .filter(|n| n.starts_with("Xfrm"))
        .collect();
    assert_eq!(xfrm.len(), 32);
    assert!(xfrm.iter().all(|n| xfrmdiag_counters::lookup(n).is_some()));
    assert!(snap.get("Udp6InErrors").is_some() && snap.get("TcpExt.IPReversePathFilter").is_some());
}

#[test]
fn fixture_damaged_files_keep_the_rest_and_report_each_problem_once() {
    let snap = Snapshot::take_from(&fixture("6.18-counters-damaged"), "fixture").unwrap();
    // Kept: every whole xfrm_stat line before the cut, the Udp values that are there, netstat.
    assert_eq!(snap.get("XfrmInTmplMismatch"), Some(1));
    assert_eq!(snap.get("XfrmOutPolError"), Some(0));
    assert_eq!(snap.get("Udp.InErrors"), Some(1));
    assert!(snap.get("TcpExt.IPReversePathFilter").is_some());
    // Dropped: the non-number, the cut line, the Udp names without values.
    assert_eq!(snap.get("XfrmInNoStates"), None);
    assert_eq!(snap.get("XfrmFwdHdrError"), None);
    assert_eq!(snap.get("Udp.OutDatagrams"), None);
    assert_eq!(
        snap.sources["snmp6"],
        xfrmdiag_counters::SourceState::Missing
    );
    let problems = snap.problems.join("\n");
    assert_eq!(snap.problems.len(), 4, "{problems}");
    assert!(
        problems.contains("XfrmInNoStates is not a number"),
        "{problems}"
    );
    assert!(
        problems.contains("no value in \"XfrmFwdHdrError"),
        "{problems}"
    );
    assert!(
        problems.contains("Udp has 9 names but 3 values"),
        "{problems}"
    );
    assert!(
        problems.contains("UdpLite has no value line (file truncated?)"),
        "{problems}"
    );
}

#[test]
fn fixture_without_xfrm_stat_leaves_a_hole() {
    let snap =
        Snapshot::take_from(&fixture("6.18-counters-no-xfrm-statistics"), "fixture").unwrap();
    assert_eq!(
        snap.sources["xfrm_stat"],
        xfrmdiag_counters::SourceState::Missing
    );
    assert!(snap.counters.keys().all(|n| !n.starts_with("Xfrm")));
    assert_eq!(snap.get("Udp.InErrors"), Some(1));
    assert!(
        snap.problems.is_empty(),
        "a missing file is a hole, not a problem"
    );
}

/// docs/counters.md is generated from the catalog; this keeps it from going stale.
#[test]
fn catalog_doc_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/counters.md");
    let generated = xfrmdiag_report::counters::catalog_markdown();
    if std::env::var_os("XFRMDIAG_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/counters.md is stale: run XFRMDIAG_UPDATE_DOCS=1 cargo test -p xfrmdiag --test integration catalog_doc"
    );
}

#[test]
fn root_recreated_namespace_shows_resets_not_huge_increases() {
    if !can_use_netns("root_recreated_namespace_shows_resets_not_huge_increases") {
        return;
    }
    // Dropping `ns` deletes whatever namespace has its name, so the re-created one goes too.
    let ns = ScratchNetns::new("xdc-reset").expect("namespace");
    // Some loopback traffic inside the namespace, so Ip.InReceives is not zero.
    for _ in 0..3 {
        let receiver = bind_udp(&ns, "127.0.0.1");
        send_udp(&ns, receiver.local_addr().unwrap()).expect("loopback send");
    }
    let file = std::env::temp_dir().join(format!("xfrmdiag-reset-{}.json", std::process::id()));
    assert_success(&run(&[
        "-n",
        ns.name(),
        "counters",
        "--save",
        file.to_str().unwrap(),
    ]));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let before = saved["counters"]["Ip.InReceives"].as_u64().unwrap();
    assert!(before >= 3, "{before}");

    // Same name, new namespace: every counter starts again from zero.
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("ip netns del {0} && ip netns add {0}", ns.name()),
        ])
        .status()
        .unwrap();
    assert!(status.success());

    let out = run(&[
        "-n",
        ns.name(),
        "counters",
        "--since",
        file.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(
        v["delta"]["Ip.InReceives"],
        serde_json::json!({"reset": {"before": before, "after": 0}}),
        "{v}"
    );
    // The human view says "reset", never a wrapped-around number.
    let out = run(&[
        "-n",
        ns.name(),
        "counters",
        "--since",
        file.to_str().unwrap(),
        "ip",
    ]);
    std::fs::remove_file(&file).unwrap();
    let text = stdout(&out);
    assert!(text.contains(&format!("reset {before}→0")), "{text}");
}
