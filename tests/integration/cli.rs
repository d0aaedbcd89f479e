//! Behaviour every command shares: closed pipes, exit statuses, one-line errors.

use std::process::Stdio;

use crate::util::*;

/// Runs `xfrmdiag ARGS…` with a stdout whose reader is already gone, as under `| head -c0`.
fn run_into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    xfrmdiag()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run xfrmdiag")
}

#[test]
fn json_into_a_closed_pipe_ends_quietly() {
    let _tracefs = tracefs_shared(); // `trace --probe` makes an instance: not while state is compared
                                     // Commands that write JSON through serde_json, which hides the io::Error from the error chain.
    let mut cases: Vec<Vec<&str>> = vec![vec!["demo", "--list", "--json"]];
    if can_use_netns("json_into_a_closed_pipe_ends_quietly (root cases)") {
        cases.push(vec!["counters", "--all", "--json"]);
        cases.push(vec!["trace", "--probe", "--json"]);
    }
    for args in cases {
        let out = run_into_closed_pipe(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "xfrmdiag {args:?} into a closed pipe: stderr: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out), "", "xfrmdiag {args:?} printed on stderr");
    }
}

#[test]
fn root_diagnose_as_unprivileged_user_is_one_line_error() {
    if !can_use_netns("root_diagnose_as_unprivileged_user_is_one_line_error") {
        return;
    }
    // Drop to nobody with no capabilities; a diagnosis from partial evidence would mislead.
    for side in [
        &["--listen", "udp:5000", "--window", "1s"][..],
        &["--send", "udp:127.0.0.1:5000", "--count", "1"][..],
    ] {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_xfrmdiag"))
            .arg("diagnose")
            .args(side)
            .output()
            .expect("run setpriv");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "diagnose {side:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line expected: {err}");
        assert!(err.contains("needs root"), "{err}");
        assert_eq!(stdout(&out), "", "nothing on stdout");
    }
}

#[test]
fn root_empty_tables_say_so() {
    if !can_use_netns("root_empty_tables_say_so") {
        return;
    }
    let ns = ScratchNetns::new("xd-cli").expect("namespace");
    let out = run(&["-n", ns.name(), "policy"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "no policies\n");
    let out = run(&["-n", ns.name(), "policy", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out), serde_json::json!([]));
}

// ---------------------------------------------------------------------------------------------
// One duration syntax for every flag and checklist field (xfrmdiag_duration).

/// A TOML basic string holding `text` exactly (controls as \uXXXX).
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where a duration can be given: (what, the run's stderr for `text`). Each run fails on purpose
/// right after the duration (an unknown flag, a wrong cause id), so an accepted duration never
/// starts a capture and the error says which came first.
fn duration_sites(text: &str, dir: &std::path::Path) -> Vec<(String, std::process::Output)> {
    let mut runs = Vec::new();
    for (cmd, flag) in [
        ("diagnose", "--window"),
        ("trace", "--window"),
        ("watch", "--interval"),
        ("monitor", "--duration"),
    ] {
        let out = xfrmdiag()
            .args([cmd, &format!("{flag}={text}"), "--no-such-flag-after"])
            .output()
            .unwrap();
        runs.push((format!("{cmd} {flag}"), out));
    }
    let bad_cause = "[[check]]\nkind = \"diagnose\"\ndst = \"10.0.0.1\"\nport = 5000\nexpect = \"not-a-cause\"\n";
    for (field, toml) in [
        (
            "checklist diagnose window",
            format!("[[check]]\nkind = \"diagnose\"\ndst = \"10.0.0.1\"\nport = 5000\nwindow = {}\nexpect = \"not-a-cause\"\n", toml_string(text)),
        ),
        (
            "checklist counter window",
            format!("[[check]]\nkind = \"counter\"\ncounter = \"Udp.InErrors\"\nwindow = {}\n\n{bad_cause}", toml_string(text)),
        ),
    ] {
        let file = dir.join(format!("{}.toml", field.replace(' ', "-")));
        std::fs::write(&file, format!("name = \"durations\"\n{toml}")).unwrap();
        let out = xfrmdiag().arg("check").arg(&file).output().unwrap();
        runs.push((field.to_string(), out));
    }
    runs
}

#[test]
fn durations_follow_one_rule_set_on_every_flag_and_checklist_field() {
    let dir = std::env::temp_dir().join(format!("xfrmdiag-durations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, _) in xfrmdiag_duration::ACCEPTED {
        for (site, out) in duration_sites(text, &dir) {
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{site} {text:?}: {err}");
            assert!(
                !err.contains("is not a duration"),
                "{site} refused {text:?}: {err}"
            );
            assert!(
                err.contains("no-such-flag-after") || err.contains("not-a-cause"),
                "{site} {text:?} did not get past the duration: {err}"
            );
        }
    }
    for text in xfrmdiag_duration::REFUSED {
        for (site, out) in duration_sites(text, &dir) {
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{site} {text:?}: {err}");
            assert!(
                err.contains("is not a duration"),
                "{site} accepted {text:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{site} {text:?}: one line: {err:?}");
            assert!(
                !err.contains('\u{1b}'),
                "{site} {text:?}: raw escape: {err:?}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `diagnose --interval` is a pause: the same rules, and zero (back to back) on top.
#[test]
fn diagnose_interval_is_a_duration_or_zero() {
    let interval = |text: &str| {
        let out = xfrmdiag()
            .args([
                "diagnose",
                &format!("--interval={text}"),
                "--no-such-flag-after",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        stderr(&out)
    };
    let accepted = xfrmdiag_duration::ACCEPTED.iter().map(|(text, _)| *text);
    for text in accepted.chain(["0", "0s", "0ms", "250ms"]) {
        let err = interval(text);
        assert!(
            err.contains("no-such-flag-after"),
            "refused {text:?}: {err}"
        );
    }
    for text in xfrmdiag_duration::REFUSED
        .iter()
        .filter(|t| !["0", "0s"].contains(t))
    {
        let err = interval(text);
        assert!(
            err.contains("is not a duration"),
            "accepted {text:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{text:?}: one line: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Error lines: controls escaped, one line, whatever the input.

#[test]
fn control_characters_in_a_path_are_escaped_in_the_error_line() {
    let out = run(&["check", "/nonexistent/a\nforged line\u{1b}[31m.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("a\\nforged line\\u{1b}[31m.toml"), "{err:?}");
}

#[test]
fn control_characters_in_a_usage_error_are_escaped_on_one_line() {
    let out = run(&["policy", "--no-such\n\u{1b}[2Jflag"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.starts_with("xfrmdiag: "), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// `-n NAME` as `ip -n NAME`: a name under /run/netns, never a path.

#[test]
fn root_netns_name_is_never_a_path() {
    if !can_use_netns("root_netns_name_is_never_a_path") {
        return;
    }
    for name in [
        "/proc/1/ns/net",
        "../../proc/1/ns/net",
        "/run/netns/x",
        "..",
    ] {
        for cmd in [&["policy"][..], &["counters"], &["trace", "--exec", "true"]] {
            let mut args = vec!["-n", name];
            args.extend_from_slice(cmd);
            let out = run(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "-n {name} {cmd:?}: {err}");
            assert!(
                err.contains("invalid network namespace name") && err.contains("ip netns list"),
                "-n {name} {cmd:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "-n {name} {cmd:?} printed data");
        }
    }
}

/// A file under /run/netns with a unique name, removed on drop.
struct RunNetnsFile(std::path::PathBuf);

impl Drop for RunNetnsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn root_netns_file_that_is_not_a_namespace_is_said_so() {
    if !can_use_netns("root_netns_file_that_is_not_a_namespace_is_said_so") {
        return;
    }
    std::fs::create_dir_all("/run/netns").unwrap();
    let name = format!("xd-notns-{}", std::process::id());
    let file = RunNetnsFile(std::path::Path::new("/run/netns").join(&name));
    std::fs::write(&file.0, "not a namespace").unwrap();
    for cmd in [&["policy"][..], &["counters"]] {
        let mut args = vec!["-n", name.as_str()];
        args.extend_from_slice(cmd);
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(err.contains("is not a network namespace"), "{cmd:?}: {err}");
        assert!(!err.contains("needs root"), "{cmd:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
}

#[test]
fn root_missing_netns_says_no_such_namespace_and_what_to_do() {
    if !can_use_netns("root_missing_netns_says_no_such_namespace_and_what_to_do") {
        return;
    }
    let name = format!("xd-missing-{}", std::process::id());
    let out = run(&["-n", &name, "policy"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no such namespace"), "{err}");
    assert!(err.contains(&format!("ip netns add {name}")), "{err}");
    // A name holding controls is printed escaped, on one line.
    let out = run(&["-n", "xd\nforged\u{1b}[31m", "policy"]);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        !err.contains('\u{1b}') && err.contains("xd\\nforged\\u{1b}[31m"),
        "{err:?}"
    );
}
