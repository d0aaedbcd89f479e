//! Integration tests for inventory: `xfrmdiag policy|sa|info|monitor` against real namespaces.
//!
//! The host kernel has XFRM and XFRM_USER but no ESP: policies are real, SAs with keys come from
//! fixtures (tests/fixtures/*netlink-*), and the only real SAs are the larval ones the kernel
//! creates itself when an outbound policy needs an SA that does not exist (an ACQUIRE).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

#[allow(unused_imports)]
use crate::util::*;

/// The policies of `policy_fixture_ns`: every direction, both actions, priorities, marks with
/// masks, if_id, port/proto selectors, IPv4/IPv6, transport/tunnel templates with reqid and level.
const POLICIES: &str = "\
xfrm policy add src 10.0.0.0/24 dst 10.0.1.0/24 proto udp dport 53 dir out priority 100 mark 0x10 mask 0xff if_id 7 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 5 level required
xfrm policy add src fd00::/64 dst fd01::/64 proto tcp sport 22 dir in priority 200 action block
xfrm policy add src 10.1.0.0/16 dst 0.0.0.0/0 dir fwd priority 300 tmpl proto esp mode transport reqid 3 level use
xfrm policy add src 10.2.0.1/32 dst 10.2.0.2/32 proto icmp type 8 code 0 dir out priority 5 action block
xfrm policy add src fd02::1/128 dst fd02::2/128 dir out priority 50 tmpl src fd02::1 dst fd02::2 proto esp mode tunnel reqid 11
xfrm policy setdefault in block out accept fwd block
";

fn policy_fixture_ns(test: &str) -> Option<ScratchNetns> {
    if !can_use_netns(test) {
        return None;
    }
    let ns = ScratchNetns::new("xdinv").expect("create namespace");
    ns.ip_batch(POLICIES).expect("add policies");
    Some(ns)
}

fn policies_json(ns: &ScratchNetns) -> Vec<Value> {
    let out = run(&["-n", ns.name(), "policy", "--json"]);
    assert_success(&out);
    json(&out).as_array().expect("a JSON array").clone()
}

/// The one policy whose selector source is `src`.
fn by_src<'a>(policies: &'a [Value], src: &str) -> &'a Value {
    let found: Vec<&Value> = policies
        .iter()
        .filter(|p| p["selector"]["src"] == src)
        .collect();
    assert_eq!(found.len(), 1, "policies with src {src}: {policies:#?}");
    found[0]
}

#[test]
fn root_policy_json_has_every_field_ip_set() {
    let Some(ns) = policy_fixture_ns("root_policy_json_has_every_field_ip_set") else {
        return;
    };
    let policies = policies_json(&ns);
    assert_eq!(policies.len(), 5, "{policies:#?}");

    let out_udp = by_src(&policies, "10.0.0.0/24");
    assert_eq!(out_udp["dir"], "out");
    assert_eq!(out_udp["socket"], false);
    assert_eq!(out_udp["action"], "allow");
    assert_eq!(out_udp["priority"], 100);
    assert_eq!(out_udp["ptype"], "main");
    assert_eq!(out_udp["selector"]["dst"], "10.0.1.0/24");
    assert_eq!(out_udp["selector"]["proto"], 17);
    assert_eq!(out_udp["selector"]["dport"], 53);
    assert_eq!(out_udp["selector"]["dport_mask"], 0xffff);
    assert_eq!(out_udp["selector"]["sport_mask"], 0);
    assert_eq!(out_udp["mark"]["value"], 0x10);
    assert_eq!(out_udp["mark"]["mask"], 0xff);
    assert_eq!(out_udp["if_id"], 7);
    let t = &out_udp["templates"][0];
    assert_eq!(t["proto"], "esp");
    assert_eq!(t["mode"], "tunnel");
    assert_eq!(t["reqid"], 5);
    assert_eq!(t["level"], "required");
    assert_eq!(t["src"], "192.0.2.1");
    assert_eq!(t["dst"], "192.0.2.2");
    assert_eq!(t["spi"], "0x00000000");

    let in_v6 = by_src(&policies, "fd00::/64");
    assert_eq!(in_v6["dir"], "in");
    assert_eq!(in_v6["action"], "block");
    assert_eq!(in_v6["priority"], 200);
    assert_eq!(in_v6["selector"]["dst"], "fd01::/64");
    assert_eq!(in_v6["selector"]["proto"], 6);
    assert_eq!(in_v6["selector"]["sport"], 22);
    assert_eq!(in_v6["templates"].as_array().unwrap().len(), 0);
    assert!(in_v6.get("mark").is_none(), "no mark was set: {in_v6}");

    let fwd = by_src(&policies, "10.1.0.0/16");
    assert_eq!(fwd["dir"], "fwd");
    assert_eq!(fwd["priority"], 300);
    let t = &fwd["templates"][0];
    assert_eq!(t["mode"], "transport");
    assert_eq!(t["reqid"], 3);
    assert_eq!(t["level"], "use");
    assert!(
        t.get("src").is_none(),
        "transport template has no tunnel addresses: {t}"
    );

    // ICMP selectors carry type and code in the port fields.
    let icmp = by_src(&policies, "10.2.0.1/32");
    assert_eq!(icmp["action"], "block");
    assert_eq!(icmp["selector"]["proto"], 1);
    assert_eq!(icmp["selector"]["sport"], 8);
    assert_eq!(icmp["selector"]["dport"], 0);
    assert_eq!(icmp["selector"]["dport_mask"], 0xffff);

    let tunnel_v6 = by_src(&policies, "fd02::1/128");
    assert_eq!(tunnel_v6["templates"][0]["dst"], "fd02::2");
    assert_eq!(tunnel_v6["templates"][0]["reqid"], 11);

    // Every index is the kernel's, and unique.
    let mut indexes: Vec<u64> = policies
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), 5);
}

#[test]
fn root_policy_human_output_has_one_line_per_policy() {
    let Some(ns) = policy_fixture_ns("root_policy_human_output_has_one_line_per_policy") else {
        return;
    };
    let out = run(&["-n", ns.name(), "policy"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "header + 5 policies:\n{text}");
    assert!(lines[0].starts_with("DIR"), "{text}");
    let udp = lines
        .iter()
        .find(|l| l.contains("10.0.0.0/24"))
        .expect("udp policy line");
    for part in [
        "out",
        "allow",
        "100",
        "udp",
        "53",
        "0x10/0xff",
        "7",
        "esp tunnel 192.0.2.1>192.0.2.2 reqid 5 required",
    ] {
        assert!(udp.contains(part), "missing {part:?} in {udp:?}");
    }
    let fwd = lines.iter().find(|l| l.contains("10.1.0.0/16")).unwrap();
    assert!(fwd.contains("esp transport reqid 3 use"), "{fwd:?}");
}

#[test]
fn root_info_shows_counts_and_default_policies() {
    let Some(ns) = policy_fixture_ns("root_info_shows_counts_and_default_policies") else {
        return;
    };
    let out = run(&["-n", ns.name(), "info", "--json"]);
    assert_success(&out);
    let info = json(&out);
    assert_eq!(info["namespace"], ns.name());
    assert_eq!(info["spd"]["in"], 1);
    assert_eq!(info["spd"]["out"], 3);
    assert_eq!(info["spd"]["fwd"], 1);
    assert_eq!(info["sad"]["count"], 0);
    assert_eq!(info["default_policy"]["in"], "block");
    assert_eq!(info["default_policy"]["out"], "allow");
    assert_eq!(info["default_policy"]["fwd"], "block");

    let out = run(&["-n", ns.name(), "info"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("block/allow/block"),
        "{}",
        stdout(&out)
    );
}

/// A per-socket policy, set the way an IKE daemon sets its bypass (`IP_XFRM_POLICY`).
const SOCKET_POLICY_PY: &str = r#"
import socket, struct, sys
INF = 0xffffffffffffffff
sel = bytes(40) + struct.pack("=H", 2) + bytes(14)        # xfrm_selector, family AF_INET
cfg = struct.pack("=8Q", INF, INF, INF, INF, 0, 0, 0, 0)   # xfrm_lifetime_cfg
info = sel + cfg + bytes(32) + struct.pack("=IIBBBB4x", 0, 0, int(sys.argv[1]), 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 17, info)                  # IP_XFRM_POLICY
print("ready", flush=True)
sys.stdin.read()                                           # hold the socket until stdin closes
"#;

#[test]
fn root_socket_policies_are_marked() {
    if !can_use_netns("root_socket_policies_are_marked") {
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        skip(
            "root_socket_policies_are_marked",
            "needs python3 to set IP_XFRM_POLICY",
        );
        return;
    }
    let ns = ScratchNetns::new("xdsock").unwrap();
    let mut holder = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "python3",
            "-c",
            SOCKET_POLICY_PY,
            "1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    holder
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut ready)
        .unwrap();
    assert_eq!(&ready, b"ready\n");
    let policies = policies_json(&ns);
    let info = json(&run(&["-n", ns.name(), "info", "--json"]));
    drop(holder.stdin.take());
    holder.wait().unwrap();

    assert_eq!(policies.len(), 1, "{policies:#?}");
    assert_eq!(policies[0]["dir"], "out");
    assert_eq!(policies[0]["socket"], true);
    assert_eq!(info["spd"]["out_socket"], 1);
    assert_eq!(info["spd"]["out"], 0);
}

#[test]
fn root_policy_dump_sees_unchanged_policies_exactly_once_under_churn() {
    if !can_use_netns("root_policy_dump_sees_unchanged_policies_exactly_once_under_churn") {
        return;
    }
    let ns = ScratchNetns::new("xdchurn").unwrap();
    // 3000 stable policies (10.1.x.y), several dump datagrams' worth.
    let mut stable = String::new();
    for i in 0..3000u32 {
        stable.push_str(&format!(
            "xfrm policy add src 10.1.{}.{}/32 dst 10.200.0.1/32 dir out priority {i}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    ns.ip_batch(&stable).unwrap();

    // Another task adds and deletes 10.2.x.y policies while we dump.
    let mut churn_add = String::new();
    let mut churn_del = String::new();
    for i in 0..500u32 {
        let sel = format!(
            "src 10.2.{}.{}/32 dst 10.200.0.1/32 dir out",
            i / 250,
            i % 250 + 1
        );
        churn_add.push_str(&format!("xfrm policy add {sel} priority {i}\n"));
        churn_del.push_str(&format!("xfrm policy delete {sel}\n"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let stop = stop.clone();
        let name = ns.name().to_string();
        std::thread::spawn(move || {
            let batch = |lines: &str| {
                let mut child = Command::new("ip")
                    .args(["-n", &name, "-force", "-batch", "-"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(lines.as_bytes())
                    .unwrap();
                child.wait().unwrap();
            };
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                batch(&churn_add);
                batch(&churn_del);
                rounds += 1;
            }
            rounds
        })
    };

    for _ in 0..5 {
        let policies = policies_json(&ns);
        let mut seen = std::collections::HashMap::new();
        for p in &policies {
            let src = p["selector"]["src"].as_str().unwrap().to_string();
            if src.starts_with("10.1.") {
                *seen.entry(src).or_insert(0u32) += 1;
            } else {
                assert!(src.starts_with("10.2."), "unexpected policy {p}");
            }
        }
        assert_eq!(seen.len(), 3000, "every unchanged policy must appear");
        let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
        assert!(dupes.is_empty(), "unchanged policies seen twice: {dupes:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churner.join().unwrap();
    assert!(rounds >= 1, "the churn task ran");
}

#[test]
fn root_missing_namespace_is_one_line_and_exit_2() {
    if !can_use_netns("root_missing_namespace_is_one_line_and_exit_2") {
        return;
    }
    for cmd in ["policy", "sa", "info", "monitor"] {
        let out = run(&["-n", "xfrmdiag-no-such-ns", cmd]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.starts_with("xfrmdiag: "), "{err}");
        assert!(err.contains("ip netns add"), "{err}");
        assert!(stdout(&out).is_empty(), "{cmd}: nothing on stdout");
    }
}

#[test]
fn root_not_root_is_one_line_and_exit_2() {
    if !can_use_netns("root_not_root_is_one_line_and_exit_2") {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip(
            "root_not_root_is_one_line_and_exit_2",
            "needs setpriv (util-linux) to drop privileges",
        );
        return;
    }
    for cmd in ["policy", "sa", "info", "monitor"] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
            .arg(cmd)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.contains("needs root or CAP_NET_ADMIN"), "{cmd}: {err}");
        assert!(stdout(&out).is_empty(), "{cmd}: {}", stdout(&out));
    }
}

#[test]
fn root_closed_stdout_ends_quietly() {
    if !can_use_netns("root_closed_stdout_ends_quietly") {
        return;
    }
    let ns = ScratchNetns::new("xdpipe").unwrap();
    let mut many = String::new();
    for i in 0..5000u32 {
        many.push_str(&format!(
            "xfrm policy add src 10.3.{}.{}/32 dst 10.200.0.1/32 dir in\n",
            i / 250,
            i % 250 + 1
        ));
    }
    ns.ip_batch(&many).unwrap();
    for json_flag in [false, true] {
        let mut cmd = xfrmdiag();
        cmd.args(["-n", ns.name(), "policy"]);
        if json_flag {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, then close our end, like `| head -1`.
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "json={json_flag}: {:?}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SAs

fn fixture(path: &str) -> String {
    format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Keys inside tests/fixtures/emitted-netlink-sa-keys (see its README).
const FIXTURE_KEYS: [&[u8]; 3] = [
    b"authkey-0123456789abcdef-ABCDEF!",
    b"enckey-012345678",
    b"aeadkey-0123456789ab",
];

#[test]
fn sa_keys_never_appear_in_any_output_mode() {
    let capture = fixture("emitted-netlink-sa-keys/getsa-dump.bin");
    for mode in [
        vec!["sa"],
        vec!["sa", "--show-stats"],
        vec!["sa", "--json"],
        vec!["sa", "--json", "--show-stats"],
    ] {
        let mut args = mode.clone();
        args.extend(["--from-capture", &capture]);
        let out = run(&args);
        assert_success(&out);
        let shown = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            shown.contains("hmac(sha256)"),
            "{mode:?}: SAs are shown:\n{shown}"
        );
        for key in FIXTURE_KEYS {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let ascii = std::str::from_utf8(key).unwrap();
            for needle in [hex.clone(), hex.to_uppercase(), ascii.to_string()] {
                assert!(!shown.contains(&needle), "{mode:?} leaks a key ({needle})");
            }
            // Not even a recognisable piece of it.
            assert!(!shown.contains(&hex[..16]), "{mode:?} leaks part of a key");
        }
    }
}

#[test]
fn sa_json_from_capture_has_documented_fields() {
    let capture = fixture("emitted-netlink-sa-keys/getsa-dump.bin");
    let out = run(&["sa", "--json", "--from-capture", &capture]);
    assert_success(&out);
    let sas = json(&out);
    let sa = &sas[0];
    assert_eq!(sa["spi"], "0xc0ffee01");
    assert_eq!(sa["proto"], "esp");
    assert_eq!(sa["mode"], "tunnel");
    assert_eq!(sa["reqid"], 42);
    assert_eq!(sa["direction"], "in");
    assert_eq!(sa["replay"]["window"], 128);
    assert_eq!(sa["algorithms"]["auth"]["trunc_bits"], 128);
    assert_eq!(
        sa["algorithms"]["auth"]["key_fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(sa["algorithms"]["enc"]["key_bits"], 128);
    assert_eq!(sa["encap"]["type"], "espinudp");
    assert_eq!(sa["mark"]["mask"], 0xff);
    assert_eq!(sa["if_id"], 9);
    assert_eq!(sa["stats"]["integrity_failed"], 5);
    assert_eq!(sa["unknown_attributes"][0]["kind"], 60);
    assert_eq!(sas[1]["algorithms"]["aead"]["name"], "rfc4106(gcm(aes))");
    assert_eq!(sas[2]["mode"], "iptfs");

    let table = run(&["sa", "--show-stats", "--from-capture", &capture]);
    assert_success(&table);
    let text = stdout(&table);
    for part in [
        "0xc0ffee01",
        "unknown attribute 60",
        "trunc 128",
        "failed 5",
        "3 SA(s)",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
}

#[test]
fn truncated_capture_is_one_line_and_exit_2() {
    let bytes = std::fs::read(fixture("emitted-netlink-sa-keys/getsa-dump.bin")).unwrap();
    let dir = std::env::temp_dir().join(format!("xfrmdiag-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.bin");
    // Cut inside the first SA's fixed header, but keep the netlink length consistent.
    let mut cut = bytes[..16 + 100].to_vec();
    cut[..4].copy_from_slice(&(116u32).to_ne_bytes());
    std::fs::write(&path, &cut).unwrap();
    let out = run(&["sa", "--from-capture", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("xfrm_usersa_info needs 224 bytes"), "{err}");
}

/// Sends UDP from `a` to `b` until `done` says stop (at most ~10 s), so a listener racing with
/// its own start-up still sees the kernel react.
fn send_udp_until(pair: &VethPair, done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        let _ = pair.a.exec(&[
            "python3",
            "-c",
            &format!(
                "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 try: s.sendto(b'x', ('{}', 9999))\nexcept OSError: pass",
                pair.b_v4
            ),
        ]);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn root_monitor_sees_acquire_and_sa_dump_shows_the_larval_sa() {
    if !can_use_netns("root_monitor_sees_acquire_and_sa_dump_shows_the_larval_sa") {
        return;
    }
    let pair = VethPair::new("xdacq").unwrap();
    pair.a
        .ip(&[
            "xfrm",
            "policy",
            "add",
            "src",
            &format!("{}/32", pair.a_v4),
            "dst",
            &format!("{}/32", pair.b_v4),
            "dir",
            "out",
            "tmpl",
            "src",
            &pair.a_v4,
            "dst",
            &pair.b_v4,
            "proto",
            "esp",
            "mode",
            "tunnel",
            "reqid",
            "9",
        ])
        .unwrap();
    // The kernel only sends ACQUIRE (and only makes the larval SA) while a key manager listens.
    let monitor = xfrmdiag()
        .args([
            "-n",
            pair.a.name(),
            "monitor",
            "--json",
            "--count",
            "1",
            "--duration",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = monitor.id();
    let exited = || {
        // Still running while /proc/PID/stat says anything but a zombie.
        std::fs::read_to_string(format!("/proc/{id}/stat"))
            .map(|s| s.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    };
    send_udp_until(&pair, exited);
    let out = monitor.wait_with_output().unwrap();
    assert_success(&out);
    let event: Value = serde_json::from_str(stdout(&out).lines().next().expect("one event"))
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(event["event"], "acquire");
    assert_eq!(event["dst"], pair.b_v4.as_str());
    assert_eq!(event["proto"], "esp");
    assert_eq!(event["templates"][0]["reqid"], 9);
    assert_eq!(event["templates"][0]["mode"], "tunnel");
    assert_eq!(event["selector"]["dport"], 9999);
    assert!(event["time_ns"].as_u64().unwrap() > 0);

    let sas = json(&run(&["-n", pair.a.name(), "sa", "--json"]));
    let larval = sas
        .as_array()
        .unwrap()
        .iter()
        .find(|sa| sa["reqid"] == 9)
        .unwrap_or_else(|| panic!("larval SA in {sas:#}"));
    assert_eq!(larval["spi"], "0x00000000");
    assert_eq!(larval["dst"], pair.b_v4.as_str());
    assert_eq!(larval["selector"]["dev"], "veth-a");
    let table = run(&["-n", pair.a.name(), "sa"]);
    assert_success(&table);
    assert!(stdout(&table).contains("1 SA(s)"), "{}", stdout(&table));
}

#[test]
fn root_monitor_reports_policy_changes() {
    if !can_use_netns("root_monitor_reports_policy_changes") {
        return;
    }
    let ns = ScratchNetns::new("xdmon").unwrap();
    let monitor = xfrmdiag()
        .args([
            "-n",
            ns.name(),
            "monitor",
            "--json",
            "--count",
            "2",
            "--duration",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = monitor.id();
    // Add and delete a policy until the monitor has seen two events (it may start late).
    for i in 0..100u32 {
        let running = std::fs::read_to_string(format!("/proc/{id}/stat"))
            .map(|s| s.split_whitespace().nth(2) != Some("Z"))
            .unwrap_or(false);
        if !running {
            break;
        }
        let sel = format!("src 10.7.0.{}/32 dst 10.8.0.1/32", i % 250 + 1);
        let _ = ns.ip_batch(&format!(
            "xfrm policy add {sel} dir in priority 77 action block\nxfrm policy delete {sel} dir in\n"
        ));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = monitor.wait_with_output().unwrap();
    assert_success(&out);
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{}", stdout(&out));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        kinds == ["new_policy", "del_policy"] || kinds == ["del_policy", "new_policy"],
        "{kinds:?}"
    );
    let new = events.iter().find(|e| e["event"] == "new_policy").unwrap();
    assert_eq!(new["policy"]["priority"], 77);
    assert_eq!(new["policy"]["action"], "block");
    assert_eq!(new["policy"]["dir"], "in");
    let del = events.iter().find(|e| e["event"] == "del_policy").unwrap();
    assert_eq!(del["dir"], "in");
}

// ---------------------------------------------------------------------------------------------
// Reproducers from a cross-check against iproute2: each output reads as `ip xfrm` reads.

/// A namespace whose larval SAs (from `allocspi`) live for ten minutes: the expiry is a
/// per-namespace sysctl, so the host's stays as it was.
fn long_acquire_ns(prefix: &str) -> ScratchNetns {
    let ns = ScratchNetns::new(prefix).unwrap();
    let out = ns
        .exec(&["sysctl", "-qw", "net.core.xfrm_acq_expires=600"])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ns
}

/// Runs `xfrmdiag -n NS monitor [--json] --count N` while `act` runs every 100 ms until the
/// monitor has seen N events (it may subscribe only after the first tries); returns its stdout.
fn monitor_while(ns: &ScratchNetns, json: bool, count: u32, mut act: impl FnMut(u32)) -> String {
    let count_text = count.to_string();
    let mut args = vec!["-n", ns.name(), "monitor", "--count", &count_text];
    args.extend(["--duration", "20"]);
    if json {
        args.push("--json");
    }
    let monitor = xfrmdiag()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = monitor.id();
    for round in 0..150u32 {
        let running = std::fs::read_to_string(format!("/proc/{id}/stat"))
            .map(|s| s.split_whitespace().nth(2) != Some("Z"))
            .unwrap_or(false);
        if !running {
            break;
        }
        act(round);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = monitor.wait_with_output().unwrap();
    assert_success(&out);
    stdout(&out)
}

/// A larval IPv6 AH SA whose selector the kernel leaves without a family.
const AH_ALLOCSPI: &str =
    "xfrm state allocspi src dead::1 dst dead::2 proto ah mode transport reqid 8";

#[test]
fn root_sa_selector_without_family_reads_in_the_sas_family() {
    if !can_use_netns("root_sa_selector_without_family_reads_in_the_sas_family") {
        return;
    }
    let ns = long_acquire_ns("xdsel6");
    // The kernel leaves the selector's family at 0 for allocspi SAs.
    ip_words(&ns, AH_ALLOCSPI).unwrap();
    let ip_text = ns.ip(&["xfrm", "state"]).unwrap();
    assert!(
        ip_text.contains("sel src dead::1/128 dst dead::2/128"),
        "{ip_text}"
    );

    let sas = json(&run(&["-n", ns.name(), "sa", "--json"]));
    let sa = &sas[0];
    assert_eq!(sa["src"], "dead::1");
    assert_eq!(sa["selector"]["src"], "dead::1/128", "{sa}");
    assert_eq!(sa["selector"]["dst"], "dead::2/128", "{sa}");

    for args in [vec!["sa"], vec!["sa", "--show-stats"]] {
        let mut full = vec!["-n", ns.name()];
        full.extend(args);
        let out = run(&full);
        assert_success(&out);
        let table = stdout(&out);
        assert!(table.contains("dead::1/128 > dead::2/128"), "{table}");
        assert!(!table.contains("222.173"), "{table}");
        assert!(table.ends_with("1 SA(s)\n"), "{table}");
    }

    // The same SA, deleted, as the monitor reports it (the full SA travels with the event).
    let events = monitor_while(&ns, true, 1, |round| {
        if round > 0 {
            let _ = ip_words(&ns, AH_ALLOCSPI);
        }
        let _ = ip_words(&ns, "xfrm state deleteall src dead::1 dst dead::2");
    });
    let event: Value = serde_json::from_str(events.lines().next().expect("one event")).unwrap();
    assert_eq!(event["event"], "del_sa", "{event}");
    assert_eq!(event["sa"]["selector"]["src"], "dead::1/128", "{event}");
    let line = monitor_while(&ns, false, 1, |_| {
        let _ = ip_words(&ns, AH_ALLOCSPI);
        let _ = ip_words(&ns, "xfrm state deleteall src dead::1 dst dead::2");
    });
    assert!(line.contains("del-sa dead::2 spi 0x"), "{line}");
}

/// Policies whose selectors and templates ip prints in its own words.
const IP_WORDS_POLICIES: &str = "\
xfrm policy add src 10.0.0.1 dst 10.0.0.2 proto gre key 70000 dir out tmpl src 10.9.9.9 dst 0.0.0.0 proto esp mode tunnel
xfrm policy add src 2001:db8::1 dst 2001:db8::2 dir out tmpl src 2001:db8:50::99 proto hao mode ro
xfrm policy add src 10.0.0.1 dst 10.0.0.4 proto icmp type 8 code 3 dir out if_id 0x30
";

#[test]
fn root_policy_table_says_what_ip_says() {
    if !can_use_netns("root_policy_table_says_what_ip_says") {
        return;
    }
    let ns = ScratchNetns::new("xdwords").unwrap();
    ns.ip_batch(IP_WORDS_POLICIES).unwrap();
    let ip_text = ns.ip(&["xfrm", "policy"]).unwrap();
    for part in [
        "proto gre key 70000",
        "tmpl src 10.9.9.9 dst 0.0.0.0",
        "tmpl src 2001:db8:50::99 dst ::",
        "proto icmp type 8 code 3",
        "if_id 0x30",
    ] {
        assert!(
            ip_text.contains(part),
            "ip on this machine: {part:?} in\n{ip_text}"
        );
    }

    let out = run(&["-n", ns.name(), "policy"]);
    assert_success(&out);
    let table = stdout(&out);
    let line = |needle: &str| -> String {
        table
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{table}"))
            .to_string()
    };
    let gre = line("10.0.0.2/32");
    assert!(gre.contains(" gre    key 70000 "), "{gre}");
    assert!(
        !gre.contains("4464"),
        "the key's halves are not ports: {gre}"
    );
    assert!(
        gre.contains("esp tunnel 10.9.9.9>0.0.0.0 required"),
        "{gre}"
    );
    let hao = line("2001:db8::2/128");
    assert!(hao.contains("hao ro 2001:db8:50::99>:: required"), "{hao}");
    let icmp = line("10.0.0.4/32");
    assert!(icmp.contains(" icmp   type 8 code 3 "), "{icmp}");
    assert!(
        icmp.contains(" 0x30 "),
        "if_id in hex, as ip prints it: {icmp}"
    );

    // JSON keeps the kernel's fields as they are.
    let policies = policies_json(&ns);
    let gre = policies
        .iter()
        .find(|p| p["selector"]["dst"] == "10.0.0.2/32")
        .unwrap();
    assert_eq!(gre["selector"]["sport"], 1);
    assert_eq!(gre["selector"]["dport"], 4464);
    assert_eq!(gre["templates"][0]["src"], "10.9.9.9");
    assert!(gre["templates"][0].get("dst").is_none(), "{gre}");
    let icmp = policies
        .iter()
        .find(|p| p["selector"]["dst"] == "10.0.0.4/32")
        .unwrap();
    assert_eq!(icmp["if_id"], 0x30);
}

#[test]
fn sa_table_shows_if_id_in_hex_like_ip() {
    let capture = fixture("emitted-netlink-sa-keys/getsa-dump.bin");
    let out = run(&["sa", "--from-capture", &capture]);
    assert_success(&out);
    let table = stdout(&out);
    assert!(table.contains("    if_id 0x9\n"), "{table}");
}

#[test]
fn root_monitor_decodes_setdefault_and_names_deleted_policies() {
    if !can_use_netns("root_monitor_decodes_setdefault_and_names_deleted_policies") {
        return;
    }
    let ns = ScratchNetns::new("xdmondef").unwrap();
    // `ip xfrm monitor` prints the new defaults; so does xfrmdiag.
    let flip = |round: u32| {
        let out = if round.is_multiple_of(2) {
            "accept"
        } else {
            "block"
        };
        let _ = ns.ip(&[
            "xfrm",
            "policy",
            "setdefault",
            "in",
            "block",
            "fwd",
            "block",
            "out",
            out,
        ]);
    };
    let events = monitor_while(&ns, true, 1, flip);
    let event: Value = serde_json::from_str(events.lines().next().expect("one event")).unwrap();
    assert_eq!(event["event"], "set_default", "{event}");
    assert_eq!(event["in"], "block", "{event}");
    assert_eq!(event["fwd"], "block", "{event}");
    assert!(
        event["out"] == "allow" || event["out"] == "block",
        "{event}"
    );
    let line = monitor_while(&ns, false, 1, flip);
    assert!(
        line.contains("set-default in block fwd block out "),
        "{line}"
    );

    // Deleted by selector: the header's index is 0, the policy's own index is not.
    let sel = ["src", "10.5.5.5/32", "dst", "10.6.6.6/32", "dir", "in"];
    let events = monitor_while(&ns, true, 2, |_| {
        let mut add = vec!["xfrm", "policy", "add"];
        add.extend(sel);
        let mut del = vec!["xfrm", "policy", "delete"];
        del.extend(sel);
        let _ = ns.ip(&add);
        let _ = ns.ip(&del);
    });
    let events: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let del = events
        .iter()
        .find(|e| e["event"] == "del_policy")
        .unwrap_or_else(|| panic!("{events:#?}"));
    let index = del["index"].as_u64().expect("an index");
    assert_ne!(index, 0, "{del}");
    assert_eq!(del["policy"]["index"].as_u64(), Some(index), "{del}");
    assert_eq!(del["selector"]["src"], "10.5.5.5/32");

    // Deleted by index: the header has no selector, the policy has.
    let events = monitor_while(&ns, true, 2, |_| {
        let mut add = vec!["xfrm", "policy", "add"];
        add.extend(sel);
        if ns.ip(&add).is_err() {
            return;
        }
        let policies = policies_json(&ns);
        let index = policies[0]["index"].to_string();
        let _ = ns.ip(&["xfrm", "policy", "delete", "dir", "in", "index", &index]);
    });
    let del: Value = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "del_policy")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(del["selector"]["src"], "10.5.5.5/32", "{del}");
    assert_ne!(del["index"].as_u64().unwrap_or(0), 0, "{del}");
    let line = monitor_while(&ns, false, 2, |_| {
        let mut add = vec!["xfrm", "policy", "add"];
        add.extend(sel);
        let mut del = vec!["xfrm", "policy", "delete"];
        del.extend(sel);
        let _ = ns.ip(&add);
        let _ = ns.ip(&del);
    });
    let del_line = line
        .lines()
        .find(|l| l.contains("del-policy"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(!del_line.contains("index 0 "), "{del_line}");
    assert!(del_line.contains("10.5.5.5/32 > 10.6.6.6/32"), "{del_line}");
}
