//! What a run produced: one result per check and a summary. Plain data, rendered by the report
//! crate and documented in docs/json/checklist.md.

use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Failed, but the check has `severity = "warning"`: does not fail the run.
    Warn,
    /// Could not be evaluated here (capability absent, not in this build); never a failure.
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// 1-based position in the checklist.
    pub index: usize,
    pub name: String,
    pub kind: String,
    /// The namespace the check looked at (`(current)` for the caller's).
    pub netns: String,
    pub status: Status,
    pub severity: Severity,
    /// Why it passed, failed or was skipped, in words.
    pub reason: String,
    /// What was seen on the system, when something was read.
    pub observed: Option<String>,
    /// Line of the `[[check]]` table in the checklist file.
    pub line: usize,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
}

/// A whole run: the checklist's identity and every result, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub checklist: String,
    /// File path or `builtin:NAME`.
    pub source: String,
    /// The namespace given with `-n` (`(current)` without it).
    pub netns: String,
    pub results: Vec<CheckResult>,
    pub summary: Summary,
    /// True when no check failed (warnings and skips allowed): exit status 0.
    pub ok: bool,
    pub duration_ms: u64,
}

impl RunReport {
    pub fn summarize(results: &[CheckResult]) -> Summary {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        Summary {
            total: results.len(),
            pass: count(Status::Pass),
            fail: count(Status::Fail),
            warn: count(Status::Warn),
            skip: count(Status::Skip),
        }
    }
}
