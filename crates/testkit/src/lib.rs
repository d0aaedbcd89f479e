//! The one way a test says "I cannot run here".
//!
//! A test that needs something this machine lacks (root, tracefs, a tool) calls [`skip`] and
//! returns. By default the skip is printed on stderr and appended to the file named by
//! `XFRMDIAG_SKIP_LOG` (so `scripts/test-all.sh` can count skips that `cargo test` hides), and the
//! test passes. With `XFRMDIAG_REQUIRE=all` (CI) a skip is a failure: [`skip`] panics with the
//! reason, because a test that could not run proves nothing.

use std::io::Write;

/// `all`: every skip fails its test. Unset or empty: skips pass (and are logged).
pub const REQUIRE_ENV: &str = "XFRMDIAG_REQUIRE";
/// When set, each skip appends one line `TEST: REASON` to this file.
pub const SKIP_LOG_ENV: &str = "XFRMDIAG_SKIP_LOG";

/// What a skip does under a given `XFRMDIAG_REQUIRE` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Print and log the skip; the test passes.
    Allow,
    /// The skip fails the test.
    Forbid,
    /// The variable holds something else: a typo must not silently allow skips.
    Invalid(String),
}

/// The policy for a value of `XFRMDIAG_REQUIRE` (None: unset).
pub fn policy_for(value: Option<&str>) -> Policy {
    match value.map(str::trim) {
        None | Some("") => Policy::Allow,
        Some("all") => Policy::Forbid,
        Some(other) => Policy::Invalid(other.to_string()),
    }
}

/// The policy this process runs under.
pub fn policy() -> Policy {
    policy_for(std::env::var(REQUIRE_ENV).ok().as_deref())
}

/// True when skips are failures here (`XFRMDIAG_REQUIRE=all`).
pub fn required() -> bool {
    policy() != Policy::Allow
}

/// Records that `test` cannot run on this machine because of `reason`; the caller returns next.
/// Panics instead under `XFRMDIAG_REQUIRE=all` (or an unknown value of it).
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    let line = format!("{test}: {reason}");
    log_line(&line);
    match policy() {
        Policy::Allow => eprintln!("SKIP {line}"),
        Policy::Forbid => panic!(
            "{test} cannot run here: {reason} ({REQUIRE_ENV}=all forbids skipped tests; \
             `scripts/test-all.sh` installs what the tests need)"
        ),
        Policy::Invalid(v) => panic!(
            "{test} cannot run here: {reason}; and {REQUIRE_ENV}={v:?} is not understood \
             (use `all`, or leave it unset to allow skips)"
        ),
    }
}

/// Appends a line to the skip log when one is configured. One `write` per line on an O_APPEND
/// file: lines from tests running in parallel (threads and processes) do not interleave.
fn log_line(line: &str) {
    let Some(path) = std::env::var_os(SKIP_LOG_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let one_line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{one_line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!("cannot append to {SKIP_LOG_ENV} {path:?}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_all_forbids_and_typos_are_not_silently_allowed() {
        assert_eq!(policy_for(None), Policy::Allow);
        assert_eq!(policy_for(Some("")), Policy::Allow);
        assert_eq!(policy_for(Some("all")), Policy::Forbid);
        assert_eq!(policy_for(Some(" all\n")), Policy::Forbid);
        assert_eq!(policy_for(Some("al")), Policy::Invalid("al".into()));
        assert_eq!(policy_for(Some("1")), Policy::Invalid("1".into()));
    }
}
