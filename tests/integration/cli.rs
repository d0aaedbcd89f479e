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
