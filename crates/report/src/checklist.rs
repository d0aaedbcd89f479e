//! Rendering of checklist results: a table of checks and a summary line, or JSON.
//!
//! The JSON is the `RunReport` as it is (documented in docs/json/checklist.md).

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Modify, Style, Width};
use xfrmdiag_checklist::{RunReport, Status};

/// The human table: one row per check, in order.
pub fn table(report: &RunReport) -> String {
    let mut builder = Builder::new();
    builder.push_record(["#", "status", "check", "result", "observed"]);
    for r in &report.results {
        builder.push_record([
            r.index.to_string(),
            r.status.as_str().to_uppercase(),
            r.name.clone(),
            r.reason.clone(),
            r.observed.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut table = builder.build();
    table
        .with(Style::sharp())
        .with(Modify::new(Columns::one(2)).with(Width::wrap(32).keep_words(true)))
        .with(Modify::new(Columns::one(3)).with(Width::wrap(56).keep_words(true)))
        .with(Modify::new(Columns::one(4)).with(Width::wrap(40).keep_words(true)));
    table.to_string()
}

/// `host-ready: 12 passed, 1 failed, 3 warnings, 1 skipped (17 checks)`, optionally coloured.
pub fn summary_line(report: &RunReport, color: bool) -> String {
    let s = &report.summary;
    let paint = |text: String, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    let verdict = if report.ok {
        paint("OK".into(), "32")
    } else {
        paint("FAILED".into(), "31")
    };
    format!(
        "{verdict} {}: {} passed, {} failed, {} warnings, {} skipped ({} checks in {} ms, netns {})",
        report.checklist, s.pass, s.fail, s.warn, s.skip, s.total, report.duration_ms, report.netns
    )
}

/// A status word for a progress line, coloured when asked.
pub fn status_word(status: Status, color: bool) -> String {
    let word = status.as_str().to_uppercase();
    if !color {
        return word;
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail => "31",
        Status::Warn => "33",
        Status::Skip => "36",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

/// Pretty JSON of the whole run.
pub fn json(report: &RunReport) -> serde_json::Result<String> {
    serde_json::to_string_pretty(report)
}
