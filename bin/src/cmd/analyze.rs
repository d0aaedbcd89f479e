//! `xfrmdiag analyze`: rerun the decision on evidence saved with `diagnose --save-evidence` (or on
//! `diagnose --json` reports), offline. Several files are the sides of one test.

use std::path::PathBuf;

use anyhow::Context;
use xfrmdiag_diagnose::{diagnose, SideEvidence};

use crate::cli::{Global, Status};
use crate::cmd::diagnose::{print_report, status_of};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  xfrmdiag analyze evidence.json
  xfrmdiag analyze sender.json receiver.json     (both ends of one test)")]
pub struct Args {
    /// Evidence files (`diagnose --save-evidence`) or `diagnose --json` reports.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let mut sides = Vec::new();
    for path in &args.files {
        sides.extend(read_sides(path)?);
    }
    let report = diagnose(&sides);
    print_report(global, &report, &sides)?;
    Ok(status_of(&report))
}

/// The sides in one evidence file or diagnose report.
pub fn read_sides(path: &std::path::Path) -> anyhow::Result<Vec<SideEvidence>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_sides(&text).with_context(|| {
        format!(
            "{} is not xfrmdiag evidence: give a file from `diagnose --save-evidence` or `diagnose --json`",
            path.display()
        )
    })
}

pub fn parse_sides(text: &str) -> anyhow::Result<Vec<SideEvidence>> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let newest = xfrmdiag_diagnose::evidence::EVIDENCE_VERSION;
    if let Some(version) = value.get("xfrmdiag_evidence").and_then(|v| v.as_u64()) {
        if version > u64::from(newest) {
            anyhow::bail!(
                "evidence format {version} is newer than this xfrmdiag reads ({newest}): analyze it with a newer xfrmdiag"
            );
        }
    }
    if let Some(sides) = value.get("sides") {
        return Ok(serde_json::from_value(sides.clone())?);
    }
    // A one-sided diagnose report carries the side's evidence at its top level.
    if value.get("namespace").is_some() {
        return Ok(vec![serde_json::from_value(value)?]);
    }
    anyhow::bail!("no `sides` and no `namespace` field")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_evidence_files_and_one_sided_reports() {
        let file = r#"{"xfrmdiag_evidence":1,"sides":[{"namespace":"a","role":"sender"}]}"#;
        assert_eq!(parse_sides(file).unwrap()[0].namespace, "a");
        let report =
            r#"{"verdict":"no-drop-seen","findings":[],"namespace":"b","role":"receiver"}"#;
        assert_eq!(parse_sides(report).unwrap()[0].namespace, "b");
        assert!(parse_sides(r#"{"hello":1}"#).is_err());
        let future = r#"{"xfrmdiag_evidence":99,"sides":[]}"#;
        let err = parse_sides(future).unwrap_err().to_string();
        assert!(err.contains("evidence format 99 is newer"), "{err}");
        assert!(parse_sides("not json").is_err());
    }
}
