//! Integration tests for trace: real drops in test namespaces seen through a private tracefs
//! instance, the fallback when the function tracer is refused, the tracefs state left exactly as
//! found (normal exit, errors, SIGINT/SIGTERM mid-capture, panic), and the parser on fixtures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xfrmdiag_trace::{Capture, CaptureOptions, DropFilter, FunctionTracer, TraceResult};

#[allow(unused_imports)]
use crate::util::*;

/// Trace tests compare global tracefs state: one at a time, and no other test (or suite on this
/// machine) captures meanwhile.
fn serial() -> TracefsGuard {
    tracefs_exclusive()
}

/// True when this host can trace events; otherwise prints why the test skips.
fn can_trace(test: &str) -> bool {
    if !can_use_netns(test) {
        return false;
    }
    match xfrmdiag_trace::probe(None) {
        Ok(p)
            if p.instances
                && p.events
                    .iter()
                    .any(|e| e.name == "skb:kfree_skb" && e.present) =>
        {
            true
        }
        Ok(p) => {
            skip(
                test,
                &format!("no tracefs instances or no skb:kfree_skb event ({p:?})"),
            );
            false
        }
        Err(e) => {
            skip(test, &format!("tracefs unavailable: {e}"));
            false
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

// ---------------------------------------------------------------------------------------------
// tracefs state, read from a private mount namespace so reading it changes nothing here.

#[derive(Debug, Clone, PartialEq, Eq)]
struct TracefsState {
    instances: BTreeSet<String>,
    current_tracer: String,
    tracing_on: String,
    set_event: String,
    set_ftrace_filter: String,
}

/// A mount namespace of its own for the binary under test, kept alive by a holder process, so
/// "tracefs unmounted again if we mounted it" can be checked after the binary exits without
/// other processes' mounts (tests running alongside) getting in the way.
struct PrivateMounts {
    holder: std::process::Child,
}

impl PrivateMounts {
    fn new() -> PrivateMounts {
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "600"])
            .spawn()
            .expect("start unshare");
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let theirs = format!("/proc/{}/ns/mnt", holder.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(&theirs).ok().as_ref() == Some(&ours)
            || !Path::new(&theirs).exists()
        {
            assert!(
                Instant::now() < deadline,
                "unshare did not create a mount namespace"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        PrivateMounts { holder }
    }

    /// `xfrmdiag` running in the private mount namespace (nsenter execs it: same pid).
    fn xfrmdiag(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
            .env("NO_COLOR", "1");
        cmd
    }

    /// tracefs mounted at /sys/kernel/tracing in the private namespace.
    fn tracefs_mounted(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.holder.id()))
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(" /sys/kernel/tracing ") && l.contains(" - tracefs "))
    }

    /// Waits until the subject's instance exists and records. Looked at through a tracefs handle
    /// of this test process (a private mount when none is mounted): the subject's own mount, if it
    /// made one, is private to it and visible nowhere else.
    fn wait_for_capture(&self, pid: u32) -> bool {
        let tracefs = xfrmdiag_trace::Tracefs::open(None).expect("open tracefs");
        let on = tracefs.path(&format!("instances/xfrmdiag-{pid}/tracing_on"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if std::fs::read_to_string(&on).is_ok_and(|s| s.trim() == "1") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for PrivateMounts {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn read_state() -> TracefsState {
    let script = "[ -e /sys/kernel/tracing/trace ] || mount -t tracefs nodev /sys/kernel/tracing || exit 3; \
        cd /sys/kernel/tracing; \
        ls instances; echo @@; cat current_tracer; echo @@; cat tracing_on; echo @@; \
        cat set_event; echo @@; cat set_ftrace_filter 2>&1 | head -100";
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .output()
        .expect("run unshare to read tracefs state");
    assert!(out.status.success(), "cannot read tracefs state: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let parts: Vec<&str> = text.split("@@\n").collect();
    assert_eq!(parts.len(), 5, "unexpected state text: {text}");
    TracefsState {
        instances: parts[0].lines().map(str::to_string).collect(),
        current_tracer: parts[1].trim().to_string(),
        tracing_on: parts[2].trim().to_string(),
        set_event: parts[3].to_string(),
        set_ftrace_filter: parts[4].to_string(),
    }
}

/// Leaves out `xfrmdiag-<pid>` instances of other processes (tests running alongside); the
/// subject's own instances, and every instance not named by xfrmdiag, always count.
fn without_others(mut state: TracefsState, subject_pid: u32) -> TracefsState {
    state.instances.retain(|name| {
        let Some(rest) = name.strip_prefix("xfrmdiag-") else {
            return true;
        };
        rest.split('-').next().unwrap_or("").parse::<u32>() == Ok(subject_pid)
    });
    state
}

#[track_caller]
fn assert_same_state(before: &TracefsState, subject_pid: u32, case: &str) {
    let after = without_others(read_state(), subject_pid);
    let before = without_others(before.clone(), subject_pid);
    assert_eq!(before, after, "tracefs state changed by: {case}");
}

// ---------------------------------------------------------------------------------------------
// Real drops in namespaces, through the library API diagnose uses.

fn udp_send(ns: &ScratchNetns, dst: &str, port: u16) {
    let dst = dst.to_string();
    ns.netns()
        .run(move || {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
            sock.send_to(b"xfrmdiag trace test", (dst.as_str(), port))
        })
        .expect("enter namespace")
        .expect("send UDP");
}

fn events_only() -> CaptureOptions {
    CaptureOptions {
        functions: true, // refused on hosts with lockdown: the capture must carry on
        ..CaptureOptions::default()
    }
}

#[test]
fn root_trace_sees_no_socket_drop_in_namespace() {
    let _serial = serial();
    if !can_trace("root_trace_sees_no_socket_drop_in_namespace") {
        return;
    }
    let pair = VethPair::new("xdtr-nosock").expect("veth pair");
    let before = read_state();
    let mut options = events_only();
    options.drop_filter = DropFilter {
        reasons: vec!["NO_SOCKET".into()],
        locations: vec!["__udp4_lib_rcv".into()],
        protocols: vec![0x0800],
        ..Default::default()
    };
    let capture = Capture::start(options).expect("start capture");
    udp_send(&pair.a, &pair.b_v4, 9);
    let result = capture.stop().expect("stop capture");

    let no_socket = result
        .summary
        .drops
        .iter()
        .find(|d| d.reason == "NO_SOCKET")
        .unwrap_or_else(|| panic!("no NO_SOCKET drop in {:#?}", result.summary));
    assert!(
        no_socket.location.starts_with("__udp4_lib_rcv+0x"),
        "{no_socket:?}"
    );
    assert!(no_socket.count >= 1);
    assert_eq!(no_socket.protocols, [0x0800]);
    // The skb was followed from netif_receive_skb on the receiving veth.
    assert!(
        no_socket.devices.iter().any(|d| d == "veth-b"),
        "{no_socket:?}"
    );
    if result.stack_on_drop {
        assert_eq!(
            no_socket.call_path.last().map(String::as_str),
            Some("__udp4_lib_rcv")
        );
        assert!(
            no_socket
                .call_path
                .iter()
                .any(|f| f == "ip_local_deliver_finish"),
            "{no_socket:?}"
        );
    }
    drop_pair_then_check(pair, &before);
}

#[test]
fn root_trace_sees_xfrm_policy_drop_at_udp_delivery() {
    let _serial = serial();
    if !can_trace("root_trace_sees_xfrm_policy_drop_at_udp_delivery") {
        return;
    }
    let pair = VethPair::new("xdtr-pol").expect("veth pair");
    // The receiver requires ESP for UDP from a; the packet arrives in clear.
    require_esp(&pair.b, "in", &pair.a_v4, &pair.b_v4, "udp");
    let b_addr = pair.b_v4.clone();
    let listener = pair
        .b
        .netns()
        .run(move || std::net::UdpSocket::bind((b_addr.as_str(), 5555)))
        .expect("enter namespace")
        .expect("bind listener");
    listener.set_nonblocking(true).unwrap();
    let before = read_state();

    let mut options = events_only();
    options.drop_filter.reasons = vec!["XFRM_POLICY".into()];
    let capture = Capture::start(options).expect("start capture");
    udp_send(&pair.a, &pair.b_v4, 5555);
    let result = capture.stop().expect("stop capture");

    let policy_drop = result
        .summary
        .drops
        .iter()
        .find(|d| d.location.starts_with("udp_queue_rcv_one_skb+"))
        .unwrap_or_else(|| {
            panic!(
                "no XFRM_POLICY drop at udp_queue_rcv_one_skb: {:#?}",
                result.summary
            )
        });
    assert_eq!(policy_drop.reason, "XFRM_POLICY");
    assert!(
        policy_drop.devices.iter().any(|d| d == "veth-b"),
        "{policy_drop:?}"
    );
    // Nothing reached the socket.
    let mut buf = [0u8; 64];
    assert!(listener.recv(&mut buf).is_err());
    drop(listener);
    drop_pair_then_check(pair, &before);
}

#[test]
fn root_trace_reports_lost_events_when_the_buffer_overruns() {
    let _serial = serial();
    if !can_trace("root_trace_reports_lost_events_when_the_buffer_overruns") {
        return;
    }
    let pair = VethPair::new("xdtr-lost").expect("veth pair");
    let before = read_state();
    // A tiny ring buffer and a burst of drops (each with a kernel stack): the kernel must
    // overwrite events before the reader gets them, and the result must say so.
    let options = CaptureOptions {
        buffer_size_kb: 4,
        ..events_only()
    };
    let capture = Capture::start(options).expect("start capture");
    let dst = pair.b_v4.clone();
    pair.a
        .netns()
        .run(move || -> std::io::Result<()> {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
            for _ in 0..5000 {
                sock.send_to(b"burst", (dst.as_str(), 9))?;
            }
            Ok(())
        })
        .expect("enter namespace")
        .expect("send burst");
    let result = capture.stop().expect("stop capture");
    assert!(
        result.lost_events > 0,
        "no lost events reported: {} events read",
        result.events.len()
    );
    assert!(
        result.notes.iter().any(|n| n.contains("lost")),
        "{:?}",
        result.notes
    );
    drop_pair_then_check(pair, &before);
}

#[test]
fn root_trace_summary_stays_complete_beyond_max_events() {
    let _serial = serial();
    if !can_trace("root_trace_summary_stays_complete_beyond_max_events") {
        return;
    }
    let pair = VethPair::new("xdtr-max").expect("veth pair");
    let before = read_state();
    let mut options = events_only();
    options.max_events = 3;
    options.drop_filter.reasons = vec!["NO_SOCKET".into()];
    options.drop_filter.locations = vec!["__udp4_lib_rcv".into()];
    let capture = Capture::start(options).expect("start capture");
    for _ in 0..20 {
        udp_send(&pair.a, &pair.b_v4, 9);
    }
    let result = capture.stop().expect("stop capture");
    assert_eq!(result.events.len(), 3);
    assert!(result.events_not_kept > 0);
    let counted: u64 = result.summary.drops.iter().map(|d| d.count).sum();
    assert!(
        counted >= 20,
        "summary counted {counted} NO_SOCKET drops: {:#?}",
        result.summary
    );
    assert!(
        result.notes.iter().any(|n| n.contains("not kept")),
        "{:?}",
        result.notes
    );
    drop_pair_then_check(pair, &before);
}

#[test]
fn root_trace_exec_in_namespace_sees_its_drop() {
    let _serial = serial();
    if !can_trace("root_trace_exec_in_namespace_sees_its_drop") {
        return;
    }
    let pair = VethPair::new("xdtr-exec").expect("veth pair");
    let before = read_state();
    // bash's /dev/udp sends one datagram from inside namespace a (-n) to a closed port on b.
    let send = format!("echo xfrmdiag > /dev/udp/{}/9", pair.b_v4);
    let out = run(&[
        "-n",
        pair.a.name(),
        "trace",
        "--json",
        "--summary-only",
        "--reason",
        "NO_SOCKET",
        "--dev",
        "veth-b",
        "--exec",
        "bash",
        "-c",
        &send,
    ]);
    assert_success(&out);
    let r: TraceResult = serde_json::from_value(json(&out)).unwrap();
    let drop = r
        .summary
        .drops
        .iter()
        .find(|d| d.location.starts_with("__udp4_lib_rcv+"))
        .unwrap_or_else(|| {
            panic!(
                "no NO_SOCKET drop from the --exec command: {:#?}",
                r.summary
            )
        });
    assert_eq!(drop.reason, "NO_SOCKET");
    assert!(r.events.is_empty(), "--summary-only leaves the events out");
    drop_pair_then_check(pair, &before);
}

#[test]
fn root_trace_graph_request_falls_back_with_a_note() {
    let _serial = serial();
    if !can_trace("root_trace_graph_request_falls_back_with_a_note") {
        return;
    }
    let probe = xfrmdiag_trace::probe(None).unwrap();
    if probe.function_graph.usable {
        skip(
            "root_trace_graph_request_falls_back_with_a_note",
            "function_graph works here, so there is no fallback to see (vm-tests cover the graph)",
        );
        return;
    }
    let out = run(&[
        "trace",
        "--graph",
        "--window",
        "200ms",
        "--json",
        "--summary-only",
    ]);
    assert_success(&out);
    let r: TraceResult = serde_json::from_value(json(&out)).unwrap();
    if !probe.instance_tracers.iter().any(|t| t == "function_graph") {
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("function_graph is not offered")),
            "{:?}",
            r.notes
        );
    }
    assert!(
        !matches!(&r.function_tracer, FunctionTracer::Used { tracer, .. } if tracer == "function_graph"),
        "{:?}",
        r.function_tracer
    );
    assert!(r.events_enabled.iter().any(|e| e == "skb:kfree_skb"));
}

fn drop_pair_then_check(pair: VethPair, before: &TracefsState) {
    drop(pair);
    assert_same_state(before, std::process::id(), "a capture through the library");
}

#[test]
fn root_trace_function_tracer_refusal_is_reported_once_and_events_still_captured() {
    let _serial = serial();
    if !can_trace("root_trace_function_tracer_refusal_is_reported_once_and_events_still_captured") {
        return;
    }
    let probe = xfrmdiag_trace::probe(None).unwrap();
    let out = run(&["trace", "--window", "500ms", "--json"]);
    assert_success(&out);
    let v = json(&out);
    let state = v["function_tracer"]["state"].as_str().unwrap();
    if probe.function.usable {
        assert_eq!(state, "used", "{v}");
    } else {
        assert_eq!(state, "refused", "{v}");
        assert!(!v["function_tracer"]["reason"].as_str().unwrap().is_empty());
    }
    let enabled: Vec<&str> = v["events_enabled"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(enabled.contains(&"skb:kfree_skb"), "{enabled:?}");

    if !probe.function.usable {
        // Human output: said once, in either stream.
        let out = run(&["trace", "--window", "300ms"]);
        assert_success(&out);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(all.matches("refused").count(), 1, "{all}");
        assert!(all.contains("events only"), "{all}");
    }
}

#[test]
fn root_trace_probe_reports_what_this_kernel_allows() {
    let _serial = serial();
    if !can_trace("root_trace_probe_reports_what_this_kernel_allows") {
        return;
    }
    let out = run(&["trace", "--probe", "--json"]);
    assert_success(&out);
    let v = json(&out);
    assert_eq!(v["tracefs"], "/sys/kernel/tracing", "{v}");
    assert_eq!(v["instances"], true, "{v}");
    for tracer in ["function", "function_graph"] {
        let t = &v[tracer];
        // Either it works, or the probe says why (EPERM under lockdown, or not in instances).
        assert!(
            t["usable"] == true || t["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{tracer}: {t}"
        );
    }
    let kfree = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "skb:kfree_skb")
        .expect("kfree_skb listed");
    assert_eq!(kfree["present"], true);
    let fields: Vec<&str> = kfree["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(
        fields.contains(&"reason") && fields.contains(&"location"),
        "{fields:?}"
    );
    // What the probe says is what a capture does.
    let out = run(&["trace", "--window", "200ms", "--json", "--summary-only"]);
    assert_success(&out);
    let capture = json(&out);
    let state = capture["function_tracer"]["state"].as_str().unwrap();
    assert_eq!(
        state == "used",
        v["function"]["usable"] == true,
        "{capture}"
    );
    assert_eq!(capture["events"].as_array().map(Vec::len), Some(0));
    assert_eq!(capture["stack_on_drop"], v["stacktrace_trigger"]);
}

#[test]
fn root_trace_status_line_only_on_a_terminal() {
    let _serial = serial();
    if !can_trace("root_trace_status_line_only_on_a_terminal") {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        skip(
            "root_trace_status_line_only_on_a_terminal",
            "needs `script` (bsdutils) to provide a terminal",
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_xfrmdiag");
    // Under `script`, stderr is a terminal: the status line is drawn (and cleared at the end).
    let out = Command::new("script")
        .args(["-qec", &format!("{bin} trace --window 600ms"), "/dev/null"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("tracing ("),
        "no status line on a terminal: {text}"
    );
    // Without a terminal: no status line, no escape codes.
    let out = run(&["trace", "--window", "300ms"]);
    assert_success(&out);
    assert!(!stderr(&out).contains("tracing ("), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\x1b'));
}

// ---------------------------------------------------------------------------------------------
// Leaving the system as found.

#[test]
fn root_trace_leaves_tracefs_as_found_on_exit_and_errors() {
    let _serial = serial();
    if !can_trace("root_trace_leaves_tracefs_as_found_on_exit_and_errors") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mounted_before = mounts.tracefs_mounted();
    let before = read_state();
    let cases: &[(&str, &[&str], Option<i32>)] = &[
        ("normal exit", &["trace", "--window", "300ms"], Some(0)),
        ("probe", &["trace", "--probe"], Some(0)),
        (
            "no such event",
            &["trace", "--no-functions", "--events", "nosuch:event"],
            Some(2),
        ),
        (
            "--exec command missing",
            &["trace", "--exec", "/nonexistent/xfrmdiag-cmd"],
            Some(2),
        ),
        (
            "--exec command fails",
            &["trace", "--exec", "false"],
            Some(0),
        ),
        (
            "raw file not writable",
            &["trace", "--raw", "/nonexistent/dir/raw.txt"],
            Some(2),
        ),
    ];
    for (case, args, code) in cases {
        let child = mounts
            .xfrmdiag()
            .args(*args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), *code, "{case}: {out:?}");
        if *code == Some(2) {
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{case}: one error line: {err}");
            assert!(err.starts_with("xfrmdiag: "), "{case}: {err}");
        }
        assert_same_state(&before, pid, case);
        assert_eq!(
            mounts.tracefs_mounted(),
            mounted_before,
            "tracefs mount after {case}"
        );
    }
}

/// Two runs at once, tracefs possibly unmounted: both capture, and neither the mount table (a
/// tracefs one of them needs is a private mount) nor the tracefs state changes, during or after.
#[test]
fn root_trace_two_concurrent_runs_both_succeed_and_leave_tracefs_as_found() {
    let _serial = serial();
    if !can_trace("root_trace_two_concurrent_runs_both_succeed_and_leave_tracefs_as_found") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mounted_before = mounts.tracefs_mounted();
    let before = read_state();
    let start = || {
        mounts
            .xfrmdiag()
            .args(["trace", "--window", "2s", "--json", "--summary-only"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let pids = [first.id(), second.id()];
    let both_capturing = pids.iter().all(|pid| mounts.wait_for_capture(*pid));
    let mounted_during = mounts.tracefs_mounted();
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for out in &outputs {
        assert_success(out);
    }
    assert!(both_capturing, "both runs had their instance recording");
    assert_eq!(
        mounted_during, mounted_before,
        "tracefs mount during two runs"
    );
    let instances: Vec<String> = outputs
        .iter()
        .map(|out| {
            json(out)["instance"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        instances,
        pids.map(|pid| format!("xfrmdiag-{pid}")),
        "each run had its own instance"
    );
    for pid in pids {
        assert_same_state(&before, pid, "two concurrent runs");
    }
    assert_eq!(
        mounts.tracefs_mounted(),
        mounted_before,
        "tracefs mount after two runs"
    );
}

#[test]
fn root_trace_leaves_tracefs_as_found_on_sigint_and_sigterm_mid_capture() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _serial = serial();
    if !can_trace("root_trace_leaves_tracefs_as_found_on_sigint_and_sigterm_mid_capture") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mounted_before = mounts.tracefs_mounted();
    let before = read_state();
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let mut child = mounts
            .xfrmdiag()
            .args(["trace", "--window", "60s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let started = mounts.wait_for_capture(pid);
        // Even while it traces, the subject's mount namespace looks as found (a tracefs it had
        // to mount is private to the process).
        let mounted_during = mounts.tracefs_mounted();
        kill(Pid::from_raw(pid as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert!(started, "capture of pid {pid} never started");
        assert_eq!(status.code(), Some(code), "{signal} mid-capture");
        assert_eq!(
            mounted_during, mounted_before,
            "tracefs mount during a capture"
        );
        assert_same_state(&before, pid, &format!("{signal} mid-capture"));
        assert_eq!(
            mounts.tracefs_mounted(),
            mounted_before,
            "tracefs mount after {signal}"
        );
    }

    // With --exec, the command does not outlive an interrupted xfrmdiag.
    let mut child = mounts
        .xfrmdiag()
        .args(["trace", "--exec", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(
        mounts.wait_for_capture(pid),
        "capture of pid {pid} never started"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sleepers = children_of(pid);
    while sleepers.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        sleepers = children_of(pid);
    }
    assert_eq!(sleepers.len(), 1, "the --exec command runs");
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(sleepers[0]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !is_running(sleepers[0]),
        "the --exec command was left running"
    );
    assert_same_state(&before, pid, "SIGTERM during --exec");
    assert_eq!(
        mounts.tracefs_mounted(),
        mounted_before,
        "tracefs mount after --exec"
    );
}

/// Pids whose parent is `parent` (from /proc/*/stat).
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// True while `pid` exists and is not a zombie.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z")
        })
        .unwrap_or(false)
}

#[test]
fn root_trace_remove_stale_removes_only_instances_of_dead_runs() {
    let _serial = serial();
    if !can_trace("root_trace_remove_stale_removes_only_instances_of_dead_runs") {
        return;
    }
    let mounts = PrivateMounts::new();
    let holder = mounts.holder.id();
    let status = Command::new("nsenter")
        .arg(format!("--mount=/proc/{holder}/ns/mnt"))
        .args([
            "sh",
            "-c",
            "[ -e /sys/kernel/tracing/trace ] || mount -t tracefs nodev /sys/kernel/tracing",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let instances = PathBuf::from(format!("/proc/{holder}/root/sys/kernel/tracing/instances"));
    // A run killed with SIGKILL: its pid is gone, its instance stayed.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = format!("xfrmdiag-{dead_pid}");
    // A live process's instance must not be touched.
    let live = format!("xfrmdiag-{}-999", std::process::id());
    for name in [&stale, &live] {
        std::fs::create_dir(instances.join(name)).unwrap();
    }
    let out = mounts
        .xfrmdiag()
        .args(["trace", "--remove-stale", "--json"])
        .output()
        .unwrap();
    let removed = json(&out)["removed"].clone();
    let stale_left = instances.join(&stale).exists();
    // The probe lists the stale ones it finds; it creates an instance, so it removes them too.
    std::fs::create_dir(instances.join(&stale)).unwrap();
    let probe = mounts
        .xfrmdiag()
        .args(["trace", "--probe", "--json"])
        .output()
        .unwrap();
    let listed = json(&probe)["stale_instances"].clone();
    let stale_left_by_probe = instances.join(&stale).exists();
    let live_left = instances.join(&live).exists();
    let _ = std::fs::remove_dir(instances.join(&live));
    let _ = std::fs::remove_dir(instances.join(&stale));
    assert_success(&out);
    assert_success(&probe);
    assert!(!stale_left_by_probe, "the probe left {stale}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == stale.as_str()),
        "{listed}"
    );
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == live.as_str()),
        "{listed}"
    );
    // (Other dead runs' instances, if any, go too: that is the point.)
    let removed = removed.as_array().unwrap();
    assert!(removed.iter().any(|n| n == stale.as_str()), "{removed:?}");
    assert!(!removed.iter().any(|n| n == live.as_str()), "{removed:?}");
    assert!(!stale_left && live_left);
}

#[test]
fn root_trace_binary_leaves_tracefs_as_found_on_panic_mid_capture() {
    let _serial = serial();
    if !can_trace("root_trace_binary_leaves_tracefs_as_found_on_panic_mid_capture") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mounted_before = mounts.tracefs_mounted();
    let before = read_state();
    let child = mounts
        .xfrmdiag()
        .args(["trace", "--window", "60s"])
        .env("XFRMDIAG_TEST_PANIC_MID_CAPTURE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(101), "{out:?}");
    assert!(
        stderr(&out).contains("panicking with a capture running"),
        "{out:?}"
    );
    assert_same_state(&before, pid, "panic in the binary");
    assert_eq!(
        mounts.tracefs_mounted(),
        mounted_before,
        "tracefs mount after a panic"
    );
}

#[test]
fn root_trace_leaves_tracefs_as_found_on_panic_mid_capture() {
    let _serial = serial();
    if !can_trace("root_trace_leaves_tracefs_as_found_on_panic_mid_capture") {
        return;
    }
    let before = read_state();
    let instance = std::sync::Arc::new(Mutex::new(String::new()));
    let seen = instance.clone();
    let outcome = std::thread::spawn(move || {
        let capture = Capture::start(events_only()).expect("start capture");
        *seen.lock().unwrap() = capture.instance_name().to_string();
        panic!("deliberate panic with a capture running");
    })
    .join();
    assert!(outcome.is_err(), "the thread panicked");
    let name = instance.lock().unwrap().clone();
    assert!(name.starts_with("xfrmdiag-"), "{name}");
    let after = read_state();
    assert!(!after.instances.contains(&name), "{name} left behind");
    assert_same_state(&before, std::process::id(), "panic mid-capture");
}

// ---------------------------------------------------------------------------------------------
// The parser on captured and constructed text (no root needed).

fn from_fixture(dir: &str, extra: &[&str]) -> serde_json::Value {
    let path = fixtures().join(dir).join("trace.txt");
    let mut args = vec!["trace", "--json", "--from", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_success(&out);
    json(&out)
}

fn result(v: &serde_json::Value) -> TraceResult {
    serde_json::from_value(v.clone()).expect("trace JSON reads back as TraceResult")
}

#[test]
fn trace_fixture_6_18_no_socket_events_with_stacks() {
    let r = result(&from_fixture(
        "linux-6.18-trace-nosocket-events",
        &["--reason", "NO_SOCKET", "--dev", "veth-b"],
    ));
    assert!(
        r.notes.iter().all(|n| !n.contains("not understood")),
        "{:?}",
        r.notes
    );
    let locations: Vec<&str> = r
        .summary
        .drops
        .iter()
        .map(|d| d.location.as_str())
        .collect();
    assert_eq!(locations, ["__udp4_lib_rcv+0x4bc", "__udp6_lib_rcv+0xe1"]);
    assert_eq!(r.summary.drops[1].protocols, [0x86dd]);
    assert_eq!(
        r.summary.drops[0].call_path,
        [
            "__netif_receive_skb_one_core",
            "ip_local_deliver_finish",
            "ip_protocol_deliver_rcu",
            "__udp4_lib_rcv"
        ]
    );
    // The multicast NOT_SPECIFIED noise is counted as left out, not lost.
    assert_eq!(r.summary.drops_filtered_out, 3);
    assert!(r.stack_on_drop);
    assert_eq!(r.lost_events, 0);
}

#[test]
fn trace_fixture_6_18_xfrm_policy_events() {
    let r = result(&from_fixture(
        "linux-6.18-trace-xfrm-policy-events",
        &["--location", "udp_*"],
    ));
    assert_eq!(r.summary.drops.len(), 1, "{:#?}", r.summary);
    let d = &r.summary.drops[0];
    assert_eq!(
        (d.reason.as_str(), d.location.as_str(), d.count),
        ("XFRM_POLICY", "udp_queue_rcv_one_skb+0x153", 1)
    );
    assert_eq!(d.devices, ["veth-b"]);
    assert_eq!(d.call_path.last().unwrap(), "udp_queue_rcv_one_skb");
}

#[test]
fn trace_fixture_6_1_function_raw_address_symbolized_and_lost_reported() {
    let dir = fixtures().join("linux-6.1-trace-constructed-icvfail-lost");
    let r = result(&from_fixture(
        "linux-6.1-trace-constructed-icvfail-lost",
        &[
            "--kallsyms-root",
            dir.to_str().unwrap(),
            "--location",
            "xfrm*",
        ],
    ));
    assert_eq!(r.lost_events, 57);
    assert_eq!(
        r.function_tracer,
        FunctionTracer::Used {
            tracer: "function".into(),
            filters: vec![]
        }
    );
    let d = &r.summary.drops[0];
    assert_eq!(
        (d.reason.as_str(), d.location.as_str()),
        ("NOT_SPECIFIED", "xfrm_input+0x1df")
    );
    assert_eq!(
        d.call_path,
        [
            "ip_rcv",
            "ip_local_deliver",
            "xfrm4_rcv",
            "xfrm4_rcv_spi",
            "xfrm_input",
            "xfrm_audit_state_icvfail"
        ]
    );
    assert_eq!(r.summary.audit_markers.len(), 1);
    assert_eq!(
        xfrmdiag_diagnose::rules::cause_of_audit(&r.summary.audit_markers[0].function)
            .map(|c| c.as_str()),
        Some("sa-auth-failure")
    );
    assert!(r
        .summary
        .functions_hit
        .iter()
        .any(|f| f.name == "esp_input_done2"));

    // Human output says the trace lost events.
    let out = run(&[
        "trace",
        "--from",
        dir.join("trace.txt").to_str().unwrap(),
        "--kallsyms-root",
        dir.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(stdout(&out).contains("LOST 57 events"), "{}", stdout(&out));

    // Without kallsyms the address stays an address, and the output says why.
    let r = result(&from_fixture(
        "linux-6.1-trace-constructed-icvfail-lost",
        &["--kallsyms-root", "/nonexistent"],
    ));
    assert!(r
        .summary
        .drops
        .iter()
        .any(|d| d.location == "0xffffffff81a2b3df"));
    assert!(
        r.notes.iter().any(|n| n.contains("left as addresses")),
        "{:?}",
        r.notes
    );
}

#[test]
fn trace_fixture_6_12_function_graph_nesting() {
    let r = result(&from_fixture(
        "linux-6.12-trace-constructed-notfound-graph",
        &[],
    ));
    assert!(
        r.notes.iter().all(|n| !n.contains("not understood")),
        "{:?}",
        r.notes
    );
    let d = &r.summary.drops[0];
    assert_eq!(d.location, "xfrm_input+0x1fc");
    assert_eq!(
        d.call_path,
        [
            "ip_local_deliver",
            "xfrm4_rcv",
            "xfrm4_rcv_spi",
            "xfrm_input",
            "xfrm_audit_state_notfound"
        ]
    );
    assert_eq!(d.devices, ["veth-b"]);
    let markers: Vec<&str> = r
        .summary
        .audit_markers
        .iter()
        .map(|m| m.function.as_str())
        .collect();
    assert_eq!(markers, ["xfrm_audit_state_notfound"]);
    assert_eq!(
        xfrmdiag_diagnose::rules::cause_of_audit(&r.summary.audit_markers[0].function)
            .map(|c| c.as_str()),
        Some("no-inbound-sa")
    );
}

#[test]
fn root_trace_as_unprivileged_user_is_one_line_error() {
    let _serial = serial();
    if !can_trace("root_trace_as_unprivileged_user_is_one_line_error") {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip(
            "root_trace_as_unprivileged_user_is_one_line_error",
            "needs setpriv (util-linux) to drop privileges",
        );
        return;
    }
    let before = read_state();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
        .args(["trace", "--window", "200ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("xfrmdiag: cannot start the trace: "),
        "{err}"
    );
    assert_same_state(&before, 0, "unprivileged run");
}

/// A fixture captured in a 6.1 or 6.12 guest (function tracer working): drop, marker, functions.
fn assert_guest_fixture(dir: &str, location: &str, marker: &str, cause: &str, functions: &[&str]) {
    let root = fixtures().join(dir);
    let r = result(&from_fixture(
        dir,
        &["--kallsyms-root", root.to_str().unwrap()],
    ));
    assert!(
        r.notes.iter().all(|n| !n.contains("not understood")),
        "{dir}: {:?}",
        r.notes
    );
    assert_eq!(r.lost_events, 0, "{dir}");
    let drop = r
        .summary
        .drops
        .iter()
        .find(|d| d.location == location)
        .unwrap_or_else(|| panic!("{dir}: no drop at {location}: {:#?}", r.summary.drops));
    assert_eq!(
        (drop.reason.as_str(), drop.count),
        ("NOT_SPECIFIED", 1),
        "{dir}"
    );
    // The kernel stack of the drop, through the ESP receive path.
    assert_eq!(
        drop.call_path[drop.call_path.len() - 2..],
        ["xfrm4_esp_rcv", "xfrm_input"],
        "{dir}"
    );
    assert_eq!(drop.devices, ["vb"], "{dir}");
    let markers: Vec<&str> = r
        .summary
        .audit_markers
        .iter()
        .map(|m| m.function.as_str())
        .collect();
    assert_eq!(markers, [marker], "{dir}");
    assert_eq!(
        xfrmdiag_diagnose::rules::cause_of_audit(&r.summary.audit_markers[0].function)
            .map(|c| c.as_str()),
        Some(cause),
        "{dir}"
    );
    for f in functions {
        assert!(
            r.summary.functions_hit.iter().any(|h| h.name == *f),
            "{dir}: {f} not among {:?}",
            r.summary.functions_hit
        );
    }
}

#[test]
fn trace_fixture_6_1_guest_function_tracer_icvfail() {
    assert_guest_fixture(
        "linux-6.1-trace-icvfail-function",
        "xfrm_input+0x1df",
        "xfrm_audit_state_icvfail",
        "sa-auth-failure",
        &["esp_input", "esp_input_done2", "xfrm_input", "esp_output"],
    );
}

#[test]
fn trace_fixture_6_1_guest_function_tracer_notfound() {
    assert_guest_fixture(
        "linux-6.1-trace-notfound-function",
        "xfrm_input+0x1df",
        "xfrm_audit_state_notfound",
        "no-inbound-sa",
        &["xfrm_input", "xfrm_state_lookup"],
    );
}

#[test]
fn trace_fixture_6_12_guest_function_graph_icvfail() {
    assert_guest_fixture(
        "linux-6.12-trace-icvfail-graph",
        "xfrm_input+0x1fc",
        "xfrm_audit_state_icvfail",
        "sa-auth-failure",
        // Module functions print as `esp_input [esp4]()` in the graph.
        &["esp_input", "esp_input_done2", "xfrm_input", "esp_output"],
    );
}

#[test]
fn trace_fixture_6_12_guest_function_graph_notfound() {
    assert_guest_fixture(
        "linux-6.12-trace-notfound-graph",
        "xfrm_input+0x1fc",
        "xfrm_audit_state_notfound",
        "no-inbound-sa",
        &["xfrm_input", "xfrm_input_state_lookup"],
    );
}

/// The JSON keys docs/json/trace.md documents: fields may be added, never renamed or removed.
#[test]
fn trace_json_has_the_documented_fields() {
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let v = from_fixture("linux-6.18-trace-xfrm-policy-events", &[]);
    assert_eq!(
        keys(&v),
        [
            "duration_s",
            "events",
            "events_enabled",
            "events_missing",
            "events_not_kept",
            "function_tracer",
            "instance",
            "lost_events",
            "notes",
            "raw_lines",
            "stack_on_drop",
            "summary",
            "tracefs"
        ]
    );
    assert_eq!(
        keys(&v["summary"]),
        [
            "audit_markers",
            "drops",
            "drops_filtered_out",
            "events_by_name",
            "functions_hit"
        ]
    );
    assert_eq!(
        keys(&v["summary"]["drops"][0]),
        [
            "call_path",
            "count",
            "devices",
            "location",
            "protocols",
            "reason"
        ]
    );
    let kfree = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "kfree_skb")
        .unwrap();
    assert_eq!(
        keys(kfree),
        [
            "cpu",
            "fields",
            "location",
            "name",
            "pid",
            "reason",
            "task",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(kfree["type"], "tracepoint");
    assert_eq!(kfree["fields"]["reason"], "XFRM_POLICY");
}

#[test]
fn trace_from_missing_file_is_one_line_error() {
    let out = run(&["trace", "--from", "/nonexistent/trace.txt"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot read saved trace /nonexistent/trace.txt"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// A run killed with SIGKILL cannot clean up: the next capture removes what it left.

/// True while `instances/NAME` exists (seen through this process's tracefs handle).
fn instance_exists(name: &str) -> bool {
    let tracefs = xfrmdiag_trace::Tracefs::open(None).expect("open tracefs");
    tracefs.path(&format!("instances/{name}")).exists()
}

/// `xfrmdiag trace --window 20s` in `mounts`, once its instance records.
fn start_long_capture(mounts: &PrivateMounts) -> std::process::Child {
    let child = mounts
        .xfrmdiag()
        .args(["trace", "--window", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        mounts.wait_for_capture(child.id()),
        "capture of pid {} never started",
        child.id()
    );
    child
}

/// A short capture, run to its end: its stderr.
fn short_capture(mounts: &PrivateMounts) -> String {
    let out = mounts
        .xfrmdiag()
        .args(["trace", "--window", "200ms", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    stderr(&out)
}

#[test]
fn root_trace_capture_start_removes_the_instance_of_a_killed_run() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _serial = serial();
    if !can_trace("root_trace_capture_start_removes_the_instance_of_a_killed_run") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mut killed = start_long_capture(&mounts);
    let pid = killed.id();
    let name = format!("xfrmdiag-{pid}");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    killed.wait().unwrap();
    // What SIGKILL leaves: the instance, still recording every drop on the machine.
    let left_by_kill = instance_exists(&name);

    let err = short_capture(&mounts);
    let left_after_next_capture = instance_exists(&name);
    if left_after_next_capture {
        let tracefs = xfrmdiag_trace::Tracefs::open(None).unwrap();
        let _ = std::fs::write(tracefs.path(&format!("instances/{name}/tracing_on")), "0");
        let _ = std::fs::remove_dir(tracefs.path(&format!("instances/{name}")));
    }
    assert!(left_by_kill, "SIGKILL left no instance: nothing to test");
    assert!(
        !left_after_next_capture,
        "the next capture left {name}; stderr:\n{err}"
    );
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("removed stale trace instance") && l.contains(&name))
        .collect();
    assert_eq!(said.len(), 1, "one stderr line names {name}:\n{err}");
    assert!(said[0].contains(&format!("pid {pid}")), "{}", said[0]);
}

#[test]
fn root_trace_capture_start_leaves_a_live_capture_alone() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _serial = serial();
    if !can_trace("root_trace_capture_start_leaves_a_live_capture_alone") {
        return;
    }
    let mounts = PrivateMounts::new();
    let mut live = start_long_capture(&mounts);
    let pid = live.id();
    let name = format!("xfrmdiag-{pid}");
    let err = short_capture(&mounts);
    let still_there = instance_exists(&name);
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let status = live.wait().unwrap();
    assert!(
        still_there,
        "another capture removed the live {name}; its stderr:\n{err}"
    );
    assert!(!err.contains(&name), "{err}");
    assert_eq!(status.code(), Some(143), "the live capture was disturbed");
    assert!(!instance_exists(&name), "SIGTERM removes its own instance");
}
