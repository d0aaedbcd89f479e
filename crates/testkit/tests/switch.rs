//! Proves the switch: the same skipping test, run as a child process of this test binary, passes
//! (and is logged) without `XFRMDIAG_REQUIRE`, and fails with `XFRMDIAG_REQUIRE=all`.

use std::process::{Command, Output};

use xfrmdiag_testkit::{skip, REQUIRE_ENV, SKIP_LOG_ENV};

/// Set only in the child processes below: there this test skips, as a test lacking a tool would.
const CHILD_ENV: &str = "XFRMDIAG_TESTKIT_CHILD";

#[test]
fn child_that_skips() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // run for real only by the test below
    }
    skip("child_that_skips", "no such tool here");
}

fn run_child(require: Option<&str>, log: &std::path::Path) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_that_skips",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, "1")
    .env(SKIP_LOG_ENV, log)
    .env_remove(REQUIRE_ENV);
    if let Some(v) = require {
        cmd.env(REQUIRE_ENV, v);
    }
    cmd.output().unwrap()
}

#[test]
fn require_all_turns_a_skip_into_a_failure_and_every_skip_is_logged() {
    let dir = std::env::temp_dir().join(format!("xfrmdiag-testkit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("skips");

    let allowed = run_child(None, &log);
    let err = String::from_utf8_lossy(&allowed.stderr);
    assert!(allowed.status.success(), "a skip passes by default: {err}");
    assert!(
        err.contains("SKIP child_that_skips: no such tool here"),
        "{err}"
    );

    let forbidden = run_child(Some("all"), &log);
    let out = String::from_utf8_lossy(&forbidden.stdout).into_owned()
        + &String::from_utf8_lossy(&forbidden.stderr);
    assert!(!forbidden.status.success(), "REQUIRE=all must fail: {out}");
    assert!(
        out.contains("child_that_skips cannot run here: no such tool here"),
        "{out}"
    );

    let typo = run_child(Some("yes"), &log);
    assert!(
        !typo.status.success(),
        "an unknown value must not allow skips"
    );

    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.lines().collect::<Vec<_>>(),
        vec!["child_that_skips: no such tool here"; 3],
        "each skip, allowed or not, is one line of the log"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
