//! A small harness: run the binary, skip honestly when a capability is absent.
#![allow(dead_code)]

use std::process::{Command, Output};

#[allow(unused_imports)]
pub use xfrmdiag_netns::scratch::{ScratchNetns, VethPair};

/// The `xfrmdiag` binary built for this test run.
pub fn xfrmdiag() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xfrmdiag"));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `xfrmdiag ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    xfrmdiag().args(args).output().expect("run xfrmdiag")
}

/// Stdout of a run as UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses a run's stdout as JSON, with the whole output in the panic message.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// True when this process can create namespaces; otherwise prints why the test skips.
pub fn can_use_netns(test: &str) -> bool {
    if !nix_is_root() {
        eprintln!("SKIP {test}: needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create namespaces");
        return false;
    }
    true
}

fn nix_is_root() -> bool {
    // SAFETY-free: geteuid has no preconditions; read via /proc to avoid a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Asserts a successful run, showing stderr when it was not.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "xfrmdiag failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}
