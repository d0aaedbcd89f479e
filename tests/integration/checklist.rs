//! Integration tests for `xfrmdiag check`: checklists run against namespaces the tests create,
//! with passing and failing cases per check kind, JUnit parsed back, malformed files rejected.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::util::*;

/// A checklist file in a temporary directory, removed on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(test: &str, text: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!("xfrmdiag-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("checklist.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("write checklist");
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    fn sibling(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `results[i].status` of a JSON run, by check name.
fn status_of(json: &serde_json::Value, name: &str) -> String {
    json["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result named {name} in {json:#}"))["status"]
        .as_str()
        .expect("status")
        .to_string()
}

fn result_of<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result named {name} in {json:#}"))
}

/// Runs `xfrmdiag ARGS…` in a private mount namespace. Checks that probe or use tracefs may mount
/// it for a moment when it is not mounted; in a private mount namespace that mount is never seen
/// by tests running alongside (the trace tests compare the global tracefs state).
fn run_private_mounts(args: &[&str]) -> std::process::Output {
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run xfrmdiag under unshare")
}

/// What a checklist must not change: XFRM state, policies and default policies of `ns`.
fn xfrm_configuration(ns: &ScratchNetns) -> String {
    ["state list", "policy list", "policy getdefault"]
        .iter()
        .map(|what| {
            let mut args = vec!["xfrm"];
            args.extend(what.split(' '));
            ns.ip(&args).unwrap_or_else(|e| format!("error: {e}"))
        })
        .collect::<Vec<_>>()
        .join("\n--\n")
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exit code")
}

#[test]
fn root_sysctl_reads_the_value_of_the_namespace() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_sysctl_reads_the_value_of_the_namespace") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-sysctl").expect("namespace");
    // A value different from the caller's namespace proves the read happened inside `ns`.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("host value");
    let wanted = if host.trim() == "1" { "0" } else { "1" };
    let set = ns
        .exec(&["sysctl", "-qw", &format!("net.ipv4.ip_forward={wanted}")])
        .expect("sysctl");
    assert!(set.status.success(), "{set:?}");

    let file = TempFile::new(
        "sysctl",
        &format!(
            r#"
name = "sysctl"
[variables]
forward = "{wanted}"

[[check]]
kind = "sysctl"
name = "forwarding as set"
key = "net.ipv4.ip_forward"
equals = "${{forward}}"

[[check]]
kind = "sysctl"
name = "range holds"
key = "net/ipv4/ip_forward"
min = 0
max = 1

[[check]]
kind = "sysctl"
name = "forwarding as the host has it"
key = "net.ipv4.ip_forward"
equals = {host}

[[check]]
kind = "sysctl"
name = "no such key"
key = "net.ipv4.no_such_sysctl"
equals = 1
"#,
            host = host.trim()
        ),
    );
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    assert_eq!(status_of(&json, "forwarding as set"), "pass");
    assert_eq!(result_of(&json, "forwarding as set")["observed"], wanted);
    assert_eq!(status_of(&json, "range holds"), "pass");
    assert_eq!(status_of(&json, "forwarding as the host has it"), "fail");
    assert_eq!(status_of(&json, "no such key"), "fail");
    assert_eq!(json["summary"]["fail"], 2);
    assert_eq!(json["netns"], ns.name());

    // The same file with --var and the value set in the namespace: everything about forwarding passes.
    let file = TempFile::new(
        "sysctl-var",
        "name = \"v\"\n[variables]\nforward = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"net.ipv4.ip_forward\"\nequals = \"${forward}\"\n",
    );
    let out = run(&[
        "check",
        file.path(),
        "-n",
        ns.name(),
        "--var",
        &format!("forward={wanted}"),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn root_socket_sees_udp_sockets_bound_in_the_namespace() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_socket_sees_udp_sockets_bound_in_the_namespace") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-sock").expect("namespace");
    // Sockets created inside the namespace stay there while this test holds them.
    let _sockets = ns
        .netns()
        .run(|| {
            (
                std::net::UdpSocket::bind("0.0.0.0:4500").expect("bind 4500"),
                std::net::UdpSocket::bind("[::1]:500").expect("bind [::1]:500"),
            )
        })
        .expect("run in namespace");
    let file = TempFile::new(
        "socket",
        r#"
name = "sockets"
[[check]]
kind = "socket"
name = "nat-t"
port = 4500

[[check]]
kind = "socket"
name = "ike on v6 loopback"
port = 500
family = "ipv6"
address = "::1"

[[check]]
kind = "socket"
name = "ike on v4"
port = 500
family = "ipv4"

[[check]]
kind = "socket"
name = "nothing on 4501"
port = 4501
present = false
"#,
    );
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    assert_eq!(status_of(&json, "nat-t"), "pass");
    let reason = result_of(&json, "nat-t")["reason"].as_str().unwrap();
    assert!(reason.contains("UDP_ENCAP"), "{reason}");
    assert!(result_of(&json, "nat-t")["observed"]
        .as_str()
        .unwrap()
        .contains("0.0.0.0:4500"));
    assert_eq!(status_of(&json, "ike on v6 loopback"), "pass");
    assert_eq!(status_of(&json, "ike on v4"), "fail");
    assert_eq!(status_of(&json, "nothing on 4501"), "pass");

    // Another namespace does not see these sockets.
    let other = ScratchNetns::new("xd-chk-sock2").expect("namespace");
    let out = run(&["check", file.path(), "-n", other.name(), "--json"]);
    let other_json = crate::util::json(&out);
    assert_eq!(status_of(&other_json, "nat-t"), "fail");
    assert_eq!(status_of(&other_json, "nothing on 4501"), "pass");
}

#[test]
fn root_module_or_feature_reports_what_the_kernel_has() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_module_or_feature_reports_what_the_kernel_has") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-feat").expect("namespace");
    let file = TempFile::new(
        "feature",
        r#"
name = "features"
[[check]]
kind = "module-or-feature"
name = "xfrm_user"
feature = "xfrm-user"

[[check]]
kind = "module-or-feature"
name = "stats"
feature = "xfrm-statistics"

[[check]]
kind = "module-or-feature"
name = "esp4"
feature = "esp4"
"#,
    );
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    let json = json(&out);
    assert_eq!(status_of(&json, "xfrm_user"), "pass", "{json:#}");
    // What the kernel really has decides the expected result: ESP built in, loaded, or loadable.
    let esp_here = Path::new("/sys/module/esp4").exists()
        || std::fs::read_to_string("/proc/modules").is_ok_and(|m| m.contains("esp4 "))
        || std::fs::read_to_string("/proc/kallsyms")
            .is_ok_and(|k| k.contains(" esp_input\n") || k.contains(" esp_input\t"))
        || std::fs::read_to_string(format!(
            "/lib/modules/{}/modules.dep",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        ))
        .is_ok_and(|d| d.contains("/esp4.ko"));
    let stats_here = Path::new("/proc/net/xfrm_stat").exists();
    assert_eq!(
        status_of(&json, "stats"),
        if stats_here { "pass" } else { "fail" }
    );
    if esp_here {
        assert_eq!(status_of(&json, "esp4"), "pass", "{json:#}");
        assert_eq!(code(&out), if stats_here { 0 } else { 1 });
    } else {
        eprintln!("this kernel has no ESP: expecting the esp4 check to fail");
        assert_eq!(status_of(&json, "esp4"), "fail", "{json:#}");
        let reason = result_of(&json, "esp4")["reason"].as_str().unwrap();
        assert!(reason.contains("CONFIG_INET_ESP"), "{reason}");
        assert_eq!(code(&out), 1);
    }
}

#[test]
fn root_junit_parses_back_with_the_same_counts() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_junit_parses_back_with_the_same_counts") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-junit").expect("namespace");
    let file = TempFile::new(
        "junit",
        r#"
name = "junit <&> check"
[[check]]
kind = "sysctl"
name = "passes"
key = "net.ipv4.conf.all.disable_xfrm"
equals = 0

[[check]]
kind = "sysctl"
name = "fails \"quoted\" & <marked>"
key = "net.ipv4.conf.all.disable_xfrm"
equals = 1

[[check]]
kind = "sysctl"
name = "warns"
key = "net.ipv4.conf.all.disable_xfrm"
equals = 1
severity = "warning"

# No such interface in the namespace: the counter is not shown, so the check skips.
[[check]]
kind = "counter"
name = "skipped"
counter = "dev:nosuchdev:rx_dropped"
window = "10ms"
"#,
    );
    let junit = file.sibling("junit.xml");
    let out = run(&[
        "check",
        file.path(),
        "-n",
        ns.name(),
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    let xml = std::fs::read_to_string(&junit).expect("junit file written");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    assert_eq!(suite.attribute("name"), Some("junit <&> check"));
    let attr = |name: &str| suite.attribute(name).unwrap().parse::<u64>().unwrap();
    assert_eq!(attr("tests"), json["summary"]["total"].as_u64().unwrap());
    assert_eq!(attr("failures"), json["summary"]["fail"].as_u64().unwrap());
    assert_eq!(attr("skipped"), json["summary"]["skip"].as_u64().unwrap());
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(failed, vec!["fails \"quoted\" & <marked>"]);
    let failure = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(failure
        .attribute("message")
        .unwrap()
        .contains("expected = 1"));
    assert!(cases[2]
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap()
        .starts_with("WARNING"));
    let skipped: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(skipped, vec!["skipped"]);
    assert_eq!(json["summary"]["skip"], 1);
}

#[test]
fn malformed_files_are_rejected_with_their_position_before_anything_runs() {
    let cases = [
        (
            "name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"a.b\"\nequals = 1\nequal = 2\n",
            ":6:1: unknown field `equal`",
        ),
        (
            "name = \"x\"\n[[check]]\nkind = \"socket\"\nport = \"four\"\n",
            ":4:8: invalid value",
        ),
        (
            "name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"${nope}\"\nequals = 1\n",
            ":4:7: variable `nope` is not defined",
        ),
        (
            "name = \"x\"\n[[check]]\nkind = \"sa\"\nproto = \"esp\"\nmode = \"tunel\"\n",
            ":5:8: unknown variant `tunel`",
        ),
        ("name = \"x\"\n[[check]\n", ":2:"),
    ];
    for (i, (text, wanted)) in cases.iter().enumerate() {
        // A check that would fail if it ran, to prove nothing ran.
        let file = TempFile::new(&format!("malformed-{i}"), text);
        let out = run(&["check", file.path()]);
        assert_eq!(code(&out), 2, "case {i}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "case {i}: {}", stdout(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("xfrmdiag: invalid checklist: "), "{err}");
        assert!(
            err.contains(&format!("{}{wanted}", file.path())),
            "case {i}: wanted `{wanted}` in: {err}"
        );
    }
    let out = run(&["check", "/nonexistent/checklist.toml"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("cannot read checklist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_var_and_missing_namespace_are_environment_errors() {
    let file = TempFile::new(
        "env-errors",
        "name = \"x\"\n[variables]\nport = 1\n[[check]]\nkind = \"sysctl\"\nkey = \"net.ipv4.ip_forward\"\nmin = 0\n",
    );
    let out = run(&["check", file.path(), "--var", "prot=2"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("declares no variable `prot` (declared: port)"),
        "{}",
        stderr(&out)
    );
    let out = run(&["check", file.path(), "-n", "xfrmdiag-no-such-ns"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn builtins_are_listed_and_unknown_ones_rejected() {
    let out = run(&["check", "--builtin", "--list"]);
    assert_success(&out);
    assert!(stdout(&out).starts_with("host-ready "), "{}", stdout(&out));
    let out = run(&["check", "--builtin", "nope"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--builtin --list"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_builtin_host_ready_runs_every_check() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_builtin_host_ready_runs_every_check") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-ready").expect("namespace");
    let out = run_private_mounts(&[
        "check",
        "--builtin",
        "host-ready",
        "-n",
        ns.name(),
        "--json",
    ]);
    let json = json(&out);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
    assert_eq!(json["ok"], code(&out) == 0);
    assert_eq!(status_of(&json, "XFRM netlink (xfrm_user)"), "pass");
    let total = json["summary"]["total"].as_u64().unwrap();
    assert_eq!(total as usize, json["results"].as_array().unwrap().len());
    // Human output: a table and a summary line naming the counts.
    let out = run_private_mounts(&["check", "--builtin", "host-ready", "-n", ns.name()]);
    let text = stdout(&out);
    assert!(text.contains("XFRM netlink (xfrm_user)"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains(&format!("({total} checks")),
        "{text}"
    );
}

#[test]
fn example_checklists_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        // A namespace that does not exist stops the run after validation, so nothing runs or sends.
        let out = run(&[
            "check",
            path.to_str().unwrap(),
            "-n",
            "xfrmdiag-no-such-ns-examples",
        ]);
        assert_eq!(code(&out), 2);
        assert!(
            stderr(&out).contains("network namespace 'xfrmdiag-no-such-ns-examples' not found"),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
    }
    assert!(
        seen >= 2,
        "examples/ has the tunnel and transport checklists"
    );
}

#[test]
fn root_policy_and_default_policy_checks_read_the_namespace_configuration() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_policy_and_default_policy_checks_read_the_namespace_configuration") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-pol").expect("namespace");
    ns.ip_batch(
        "xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src 192.0.2.1 dst 198.51.100.1 proto esp mode tunnel reqid 7\n\
         xfrm policy add src 10.2.0.0/16 dst 10.1.0.0/16 proto udp dir in action block\n\
         xfrm policy setdefault in accept fwd block out accept\n",
    )
    .expect("policies");
    let file = TempFile::new(
        "policy",
        r#"
name = "policies"
[variables]
local_net = "10.1.0.0/16"
remote_net = "10.2.0.0/16"

[[check]]
kind = "policy"
name = "out with tunnel template"
dir = "out"
src = "${local_net}"
dst = "${remote_net}"
action = "allow"
template = { proto = "esp", mode = "tunnel", src = "192.0.2.1", dst = "198.51.100.1", reqid = 7 }

[[check]]
kind = "policy"
name = "out with transport template"
dir = "out"
src = "${local_net}"
dst = "${remote_net}"
template = { mode = "transport" }

[[check]]
kind = "policy"
name = "in blocks udp"
dir = "in"
src = "${remote_net}"
dst = "${local_net}"
l4proto = "udp"
action = "block"

[[check]]
kind = "policy"
name = "fwd missing"
dir = "fwd"
src = "${remote_net}"
dst = "${local_net}"

[[check]]
kind = "policy"
name = "no clear-text bypass"
dir = "out"
src = "${local_net}"
dst = "0.0.0.0/0"
present = false

[[check]]
kind = "default-policy"
name = "fwd blocks"
dir = "fwd"
action = "block"

[[check]]
kind = "default-policy"
name = "in allows"
dir = "in"
action = "allow"

[[check]]
kind = "default-policy"
name = "out should block"
dir = "out"
action = "block"
"#,
    );
    let configured = xfrm_configuration(&ns);
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    assert_eq!(
        xfrm_configuration(&ns),
        configured,
        "a checklist only reads"
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    for (name, want) in [
        ("out with tunnel template", "pass"),
        ("out with transport template", "fail"),
        ("in blocks udp", "pass"),
        ("fwd missing", "fail"),
        ("no clear-text bypass", "pass"),
        ("fwd blocks", "pass"),
        ("in allows", "pass"),
        ("out should block", "fail"),
    ] {
        assert_eq!(status_of(&json, name), want, "{name}: {json:#}");
    }
    let observed = result_of(&json, "out with transport template")["observed"]
        .as_str()
        .unwrap();
    assert!(
        observed.contains("tmpl esp tunnel 192.0.2.1->198.51.100.1 reqid 7"),
        "{observed}"
    );
    assert!(result_of(&json, "out should block")["reason"]
        .as_str()
        .unwrap()
        .contains("ip xfrm policy setdefault out block"));
}

#[test]
fn root_sa_checks_count_match_and_watch_lifetimes() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_sa_checks_count_match_and_watch_lifetimes") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-sa").expect("namespace");
    // This host has no ESP, so no keyed SA can be added; `allocspi` makes a real (larval) SA
    // with SPI 0x1234 and a 30 s hard lifetime on any kernel with XFRM.
    ip_words(
        &ns,
        "xfrm state allocspi src 10.98.0.2 dst 10.98.0.1 proto esp reqid 4 mode tunnel min 0x1234 max 0x1234",
    )
    .expect("allocspi");
    let file = TempFile::new(
        "sa",
        r#"
name = "sas"
[variables]
peer = "10.98.0.2"

[[check]]
kind = "sa"
name = "usable SA"
src = "${peer}"
dst = "10.98.0.1"
proto = "esp"

[[check]]
kind = "sa"
name = "larval SA counted"
src = "${peer}"
dst = "10.98.0.1"
proto = "esp"
spi = "0x1234"
mode = "tunnel"
reqid = 4
encap = "none"
include_larval = true
lifetime_margin_percent = 0

[[check]]
kind = "sa"
name = "any finite lifetime is too near"
spi = 0x1234
include_larval = true
lifetime_margin_percent = 100

[[check]]
kind = "sa"
name = "wrong mode"
spi = 0x1234
mode = "transport"
include_larval = true

[[check]]
kind = "sa"
name = "no SA the other way"
src = "10.98.0.1"
dst = "${peer}"
min_count = 0
max_count = 0

[[check]]
kind = "sa"
name = "at most zero"
include_larval = true
max_count = 0
min_count = 0
"#,
    );
    let configured = xfrm_configuration(&ns);
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    assert_eq!(
        xfrm_configuration(&ns),
        configured,
        "a checklist only reads"
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    for (name, want) in [
        ("usable SA", "fail"),
        ("larval SA counted", "pass"),
        ("any finite lifetime is too near", "fail"),
        ("wrong mode", "fail"),
        ("no SA the other way", "pass"),
        ("at most zero", "fail"),
    ] {
        assert_eq!(status_of(&json, name), want, "{name}: {json:#}");
    }
    assert!(result_of(&json, "usable SA")["reason"]
        .as_str()
        .unwrap()
        .contains("1 more larval"));
    assert!(result_of(&json, "larval SA counted")["observed"]
        .as_str()
        .unwrap()
        .contains("esp 10.98.0.2 -> 10.98.0.1 spi 0x00001234 tunnel reqid 4 (larval)"));
    assert!(
        result_of(&json, "any finite lifetime is too near")["reason"]
            .as_str()
            .unwrap()
            .contains("s since added")
    );
}

/// Sends UDP from inside `ns` to a blocked destination until dropped: every datagram bumps
/// `XfrmOutPolBlock` there (the outbound policy is `action block`).
struct BlockedSender {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlockedSender {
    fn start(ns: &ScratchNetns, dst: &str) -> BlockedSender {
        use std::sync::atomic::{AtomicBool, Ordering};
        let socket = ns
            .netns()
            .run(|| std::net::UdpSocket::bind("0.0.0.0:0").expect("bind"))
            .expect("socket in namespace");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let dst = format!("{dst}:9");
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                // EPERM from the block policy is the point.
                let _ = socket.send_to(b"x", &dst);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        BlockedSender {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BlockedSender {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn root_counter_checks_measure_deltas_over_a_window_and_around_a_check() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_counter_checks_measure_deltas_over_a_window_and_around_a_check") {
        return;
    }
    let pair = VethPair::new("xd-chk-cnt").expect("veth pair");
    pair.a
        .ip(&[
            "xfrm", "policy", "add", "src", &pair.a_v4, "dst", &pair.b_v4, "dir", "out", "action",
            "block",
        ])
        .expect("block policy");
    let file = TempFile::new(
        "counter",
        r#"
name = "counters"
[[check]]
kind = "counter"
name = "blocked packets seen"
counter = "XfrmOutPolBlock"
window = "300ms"
min = 1

[[check]]
kind = "counter"
name = "no blocked packets"
counter = "XfrmOutPolBlock"
window = "300ms"
max = 0

[[check]]
kind = "counter"
name = "quiet inbound"
counter = "XfrmInNoStates"
window = "100ms"
max = 0

[[check]]
kind = "counter"
name = "blocked around the window"
counter = "XfrmOutPolBlock"
around = "quiet inbound"
min = 1
"#,
    );
    {
        let _sender = BlockedSender::start(&pair.a, &pair.b_v4);
        let out = run(&["check", file.path(), "-n", pair.a.name(), "--json"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let json = json(&out);
        assert_eq!(status_of(&json, "blocked packets seen"), "pass", "{json:#}");
        assert_eq!(status_of(&json, "no blocked packets"), "fail", "{json:#}");
        assert_eq!(status_of(&json, "quiet inbound"), "pass", "{json:#}");
        assert_eq!(
            status_of(&json, "blocked around the window"),
            "pass",
            "{json:#}"
        );
        let reason = result_of(&json, "no blocked packets")["reason"]
            .as_str()
            .unwrap();
        assert!(reason.contains("expected exactly 0"), "{reason}");
    }
    // Nothing sent: the same file gives the opposite for the blocked counter.
    let out = run(&["check", file.path(), "-n", pair.a.name(), "--json"]);
    let json = json(&out);
    assert_eq!(status_of(&json, "blocked packets seen"), "fail", "{json:#}");
    assert_eq!(status_of(&json, "no blocked packets"), "pass", "{json:#}");
    assert_eq!(
        status_of(&json, "blocked around the window"),
        "fail",
        "{json:#}"
    );

    // Unknown counters are rejected before anything runs, at the value's position.
    let bad = TempFile::new(
        "counter-unknown",
        "name = \"x\"\n[[check]]\nkind = \"counter\"\ncounter = \"XfrmInNoState\"\nwindow = \"1s\"\n",
    );
    let out = run(&["check", bad.path()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&format!(
            "{}:4:11: unknown counter `XfrmInNoState`",
            bad.path()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_trace_capability_agrees_with_the_trace_probe() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_trace_capability_agrees_with_the_trace_probe") {
        return;
    }
    let probe_out = run_private_mounts(&["trace", "--probe", "--json"]);
    if !probe_out.status.success() {
        skip(
            "root_trace_capability_agrees_with_the_trace_probe",
            &format!("no tracefs here: {}", stderr(&probe_out).trim()),
        );
        return;
    }
    let probe = json(&probe_out);
    let file = TempFile::new(
        "trace",
        r#"
name = "trace"
[[check]]
kind = "trace-capability"
name = "tracefs"
need = "tracefs"

[[check]]
kind = "trace-capability"
name = "function"
need = "function-tracer"

[[check]]
kind = "trace-capability"
name = "kfree_skb"
need = "tracepoint"

[[check]]
kind = "trace-capability"
name = "made-up event"
need = "tracepoint"
event = "skb:no_such_event"
"#,
    );
    let out = run_private_mounts(&["check", file.path(), "--json"]);
    let json = json(&out);
    let want = |ok: bool| if ok { "pass" } else { "fail" };
    assert_eq!(
        status_of(&json, "tracefs"),
        want(probe["instances"].as_bool().unwrap())
    );
    assert_eq!(
        status_of(&json, "function"),
        want(probe["function"]["usable"].as_bool().unwrap()),
        "{json:#}"
    );
    let kfree = probe["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "skb:kfree_skb")
        .map(|e| e["present"].as_bool().unwrap())
        .unwrap_or(false);
    assert_eq!(status_of(&json, "kfree_skb"), want(kfree));
    let made_up = status_of(&json, "made-up event");
    assert!(made_up == "fail" || made_up == "skip", "{json:#}");
    assert_eq!(
        code(&out),
        1,
        "the made-up event or the function tracer fails"
    );
}

#[test]
fn root_without_root_a_checklist_needing_it_is_an_environment_error() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_without_root_a_checklist_needing_it_is_an_environment_error") {
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(
            "root_without_root_a_checklist_needing_it_is_an_environment_error",
            "needs setpriv (util-linux) to drop privileges",
        );
        return;
    }
    let as_nobody = |args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("setpriv")
    };
    let out = as_nobody(&["check", "--builtin", "host-ready"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("xfrmdiag: not root: "),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    // Sysctls of the caller's namespace need no privileges.
    let dir = std::env::temp_dir().join(format!("xfrmdiag-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sysctl.toml");
    std::fs::write(
        &path,
        "name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"net.ipv4.ip_forward\"\nmin = 0\n",
    )
    .unwrap();
    let out = as_nobody(&["check", path.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn root_each_check_can_name_its_own_namespace() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_each_check_can_name_its_own_namespace") {
        return;
    }
    let on = ScratchNetns::new("xd-chk-on").expect("namespace");
    let off = ScratchNetns::new("xd-chk-off").expect("namespace");
    for (ns, value) in [(&on, "1"), (&off, "0")] {
        let out = ns
            .exec(&["sysctl", "-qw", &format!("net.ipv4.ip_forward={value}")])
            .expect("sysctl");
        assert!(out.status.success(), "{out:?}");
    }
    let file = TempFile::new(
        "per-check-netns",
        r#"
name = "two sides"
[variables]
left = "x"
right = "y"

[[check]]
kind = "sysctl"
name = "left forwards"
netns = "${left}"
key = "net.ipv4.ip_forward"
equals = 1

[[check]]
kind = "sysctl"
name = "right does not"
netns = "${right}"
key = "net.ipv4.ip_forward"
equals = 0
"#,
    );
    let out = run(&[
        "check",
        file.path(),
        "--var",
        &format!("left={}", on.name()),
        "--var",
        &format!("right={}", off.name()),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let json = json(&out);
    assert_eq!(result_of(&json, "left forwards")["netns"], on.name());
    assert_eq!(result_of(&json, "right does not")["netns"], off.name());
    // Swapped, both fail: the values really come from the named namespaces.
    let out = run(&[
        "check",
        file.path(),
        "--var",
        &format!("left={}", off.name()),
        "--var",
        &format!("right={}", on.name()),
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(json_summary_fail(&out), 2);
}

fn json_summary_fail(out: &std::process::Output) -> u64 {
    json(out)["summary"]["fail"].as_u64().expect("summary.fail")
}

#[test]
fn root_diagnose_check_expects_a_verdict_from_a_real_test_flow() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_diagnose_check_expects_a_verdict_from_a_real_test_flow") {
        return;
    }
    let pair = VethPair::new("xd-chk-diag").expect("veth pair");
    let file = TempFile::new(
        "diagnose",
        r#"
name = "flow"
[variables]
peer = "x"
receiver = "x"

[[check]]
kind = "diagnose"
name = "delivered to the peer"
dst = "${peer}"
port = 5099
listen_netns = "${receiver}"
count = 3
window = "1s"
trace = false

[[check]]
kind = "counter"
name = "nothing blocked during the flow"
counter = "XfrmOutPolBlock"
around = "delivered to the peer"
max = 0
"#,
    );
    let vars = [
        "--var".to_string(),
        format!("peer={}", pair.b_v4),
        "--var".to_string(),
        format!("receiver={}", pair.b.name()),
    ];
    let mut args = vec!["check", file.path(), "-n", pair.a.name(), "--json"];
    args.extend(vars.iter().map(String::as_str));
    let out = run(&args);
    let report = json(&out);
    let json = &report;
    assert_eq!(code(&out), 0, "{json:#}\n{}", stderr(&out));
    assert_eq!(status_of(json, "delivered to the peer"), "pass");
    assert!(result_of(json, "delivered to the peer")["observed"]
        .as_str()
        .unwrap()
        .contains("verdict delivered (sent 3, received 3)"));
    assert_eq!(status_of(json, "nothing blocked during the flow"), "pass");

    // An outbound block policy: the same checklist now fails, with the cause named.
    pair.a
        .ip(&[
            "xfrm", "policy", "add", "src", &pair.a_v4, "dst", &pair.b_v4, "dir", "out", "action",
            "block",
        ])
        .expect("block policy");
    let out = run(&args);
    let report = crate::util::json(&out);
    let json = &report;
    assert_eq!(code(&out), 1, "{json:#}");
    assert_eq!(status_of(json, "delivered to the peer"), "fail");
    let reason = result_of(json, "delivered to the peer")["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("verdict policy-block-out, expected delivered"),
        "{reason}"
    );
    assert_eq!(status_of(json, "nothing blocked during the flow"), "fail");

    // A checklist can also expect a fault: an unknown cause id is rejected at load.
    let bad = TempFile::new(
        "diagnose-bad",
        "name = \"x\"\n[[check]]\nkind = \"diagnose\"\ndst = \"10.0.0.1\"\nport = 9\nexpect = \"deliverd\"\n",
    );
    let out = run(&["check", bad.path()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("is not a cause id"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_site_to_site_example_on_a_gateway_whose_ike_never_finished() {
    let _tracefs = tracefs_shared(); // may capture: not while a test compares tracefs state
    if !can_use_netns("root_site_to_site_example_on_a_gateway_whose_ike_never_finished") {
        return;
    }
    // Gateway `a` protects 10.1.0.0/16 and talks to gateway `b` for 10.2.0.0/16: policies are
    // installed as an IKE daemon would, but no SA ever came (and this host cannot key ESP).
    let pair = VethPair::new("xd-chk-s2s").expect("veth pair");
    let (gw_a, gw_b) = (pair.a_v4.clone(), pair.b_v4.clone());
    pair.a
        .ip_batch(&format!(
            "addr add 10.1.0.1/16 dev lo\n\
             route add 10.2.0.0/16 via {gw_b} src 10.1.0.1\n\
             xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out tmpl src {gw_a} dst {gw_b} proto esp mode tunnel\n\
             xfrm policy add src 10.2.0.0/16 dst 10.1.0.0/16 dir in tmpl src {gw_b} dst {gw_a} proto esp mode tunnel\n\
             xfrm policy add src 10.2.0.0/16 dst 10.1.0.0/16 dir fwd tmpl src {gw_b} dst {gw_a} proto esp mode tunnel\n"
        ))
        .expect("gateway configuration");
    let set = pair
        .a
        .exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .expect("sysctl");
    assert!(set.status.success());

    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site-to-site-tunnel.toml");
    let vars = [
        format!("local_gw={gw_a}"),
        format!("remote_gw={gw_b}"),
        "local_net=10.1.0.0/16".to_string(),
        "remote_net=10.2.0.0/16".to_string(),
        "remote_host=10.2.0.10".to_string(),
        "quiet_window=200ms".to_string(),
    ];
    let mut args = vec![
        "check".to_string(),
        example.to_str().unwrap().to_string(),
        "-n".to_string(),
        pair.a.name().to_string(),
        "--json".to_string(),
    ];
    for v in vars {
        args.push("--var".to_string());
        args.push(v);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_private_mounts(&args);
    let report = json(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    for (name, want) in [
        ("forwarding on", "pass"),
        ("rp_filter not strict", "pass"),
        ("policy out", "pass"),
        ("policy in", "pass"),
        ("policy fwd", "pass"),
        ("SA out", "fail"),
        ("SA in", "fail"),
        ("no inbound SA misses", "pass"),
        ("test flow to the remote site", "fail"),
        ("the test flow met no XFRM error", "fail"),
    ] {
        assert_eq!(status_of(&report, name), want, "{name}: {report:#}");
    }
    let reason = result_of(&report, "test flow to the remote site")["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("verdict no-outbound-sa"), "{reason}");
    let observed = result_of(&report, "the test flow met no XFRM error")["observed"]
        .as_str()
        .unwrap();
    assert!(observed.starts_with("XfrmOutNoStates +"), "{observed}");
}

#[test]
fn root_sa_lifetime_and_seq_headroom_on_a_real_sa() {
    if !can_use_netns("root_sa_lifetime_and_seq_headroom_on_a_real_sa") {
        return;
    }
    let ns = ScratchNetns::new("xd-chk-sahealth").expect("namespace");
    // A keyless `allocspi` SA: hard add-expire = net.core.xfrm_acq_expires (30 s by default,
    // per namespace), no packets sent so its sequence space is untouched.
    ip_words(
        &ns,
        "xfrm state allocspi src 10.98.0.2 dst 10.98.0.1 proto esp reqid 4 mode tunnel min 0x1234 max 0x1234",
    )
    .expect("allocspi");
    let file = TempFile::new(
        "sahealth",
        r#"
name = "sa-health"

[[check]]
kind = "sa-lifetime"
name = "10 s left"
spi = 0x1234
include_larval = true
min_remaining_seconds = 10

[[check]]
kind = "sa-lifetime"
name = "two minutes left"
dst = "10.98.0.1"
include_larval = true
min_remaining_seconds = 120

[[check]]
kind = "sa-lifetime"
name = "larval left out"
spi = 0x1234

[[check]]
kind = "sa-seq-headroom"
name = "sequence space"
src = "10.98.0.2"
reqid = 4

[[check]]
kind = "sa-seq-headroom"
name = "no such SA"
spi = 0x9999
"#,
    );
    let out = run(&["check", file.path(), "-n", ns.name(), "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json = json(&out);
    for (name, want) in [
        ("10 s left", "pass"),
        ("two minutes left", "fail"),
        ("larval left out", "skip"),
        ("sequence space", "pass"),
        ("no such SA", "skip"),
    ] {
        assert_eq!(status_of(&json, name), want, "{name}: {json:#}");
    }
    let reason = result_of(&json, "two minutes left")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("SA spi 0x00001234 is deleted by the kernel in"),
        "{reason}"
    );
    let observed = result_of(&json, "sequence space")["observed"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(observed.contains("sequence 0 of 2^32"), "{observed}");
}
