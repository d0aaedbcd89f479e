//! Rendering of diagnose results: the verdict first, then its evidence, then the fix.
//!
//! The same shape serves `diagnose`, `analyze` and `demo`; `compare` adds its cross-checks.

use serde_json::{json, Map, Value};
use tabled::builder::Builder;
use tabled::settings::{Padding, Style};
use xfrmdiag_diagnose::{Finding, Report, SideEvidence};

/// ANSI styles, empty when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn good(&self, t: &str) -> String {
        self.wrap("1;32", t)
    }
    fn bad(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
}

/// The human report: verdict, its evidence, the fix, then other findings and holes.
pub fn human(report: &Report, sides: &[SideEvidence], paint: Paint) -> String {
    human_sides(report, sides, paint, sides.len() > 1)
}

fn human_sides(report: &Report, sides: &[SideEvidence], paint: Paint, show_side: bool) -> String {
    let mut out = String::new();
    let first = &report.findings[0];
    let verdict = if report.healthy {
        paint.good(report.verdict.as_str())
    } else {
        paint.bad(report.verdict.as_str())
    };
    let on = first
        .side
        .as_deref()
        .map(|s| format!(", on {s}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "{} {verdict} ({}{on})\n  {}\n",
        paint.bold("VERDICT"),
        first.confidence.as_str(),
        first.summary
    ));
    let counts: Vec<String> = [
        report.sent.map(|n| format!("sent {n}")),
        report.received.map(|n| format!("received {n}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !counts.is_empty() {
        out.push_str(&format!("  {}\n", counts.join(", ")));
    }
    if !first.evidence.is_empty() {
        out.push_str(&format!("\n{}\n", paint.bold("Evidence")));
        out.push_str(&indent(&evidence_table(first, show_side)));
    }
    if !report.healthy || first.cause == "no-drop-seen" {
        out.push_str(&format!("\n{}\n  {}\n", paint.bold("Fix"), first.remedy));
    }
    if report.findings.len() > 1 {
        out.push_str(&format!("\n{}\n", paint.bold("Also found")));
        let mut b = Builder::default();
        for f in &report.findings[1..] {
            b.push_record([
                f.confidence.as_str().to_string(),
                f.cause.to_string(),
                f.side.clone().unwrap_or_default(),
                f.summary.clone(),
            ]);
        }
        out.push_str(&indent(
            &b.build()
                .with(Style::blank())
                .with(Padding::new(0, 2, 0, 0))
                .to_string(),
        ));
    }
    let holes: Vec<String> = sides
        .iter()
        .flat_map(|s| s.holes.iter().map(move |h| format!("{}: {h}", s.namespace)))
        .collect();
    if !holes.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            paint.dim(&format!("Not collected:\n  {}", holes.join("\n  ")))
        ));
    }
    out
}

/// A borderless table with a header row (demo scenario lists and summaries).
pub fn plain_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r.clone());
    }
    let table = b
        .build()
        .with(Style::blank())
        .with(Padding::new(0, 2, 0, 0))
        .to_string();
    table
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn evidence_table(f: &Finding, show_side: bool) -> String {
    let mut b = Builder::default();
    for e in &f.evidence {
        let mut row = Vec::new();
        if show_side {
            row.push(format!("[{}]", e.side));
        }
        row.push(e.kind.clone());
        row.push(e.text.clone());
        b.push_record(row);
    }
    b.build()
        .with(Style::blank())
        .with(Padding::new(0, 2, 0, 0))
        .to_string()
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The JSON report (docs/json/diagnose.md). One side: its evidence at the top level. Several:
/// under `"sides"`, with the overall verdict at the top.
pub fn json(report: &Report, sides: &[SideEvidence]) -> Value {
    let mut top = Map::new();
    top.insert("verdict".into(), json!(report.verdict));
    top.insert("healthy".into(), json!(report.healthy));
    top.insert("sent".into(), json!(report.sent));
    top.insert("received".into(), json!(report.received));
    top.insert(
        "findings".into(),
        serde_json::to_value(&report.findings).unwrap_or(Value::Null),
    );
    match sides {
        [one] => {
            if let Ok(Value::Object(side)) = serde_json::to_value(one) {
                for (k, v) in side {
                    top.entry(k).or_insert(v);
                }
            }
        }
        many => {
            top.insert(
                "sides".into(),
                serde_json::to_value(many).unwrap_or(Value::Null),
            );
        }
    }
    Value::Object(top)
}

/// `xfrmdiag compare`, human: verdict, the merged story, its evidence and fix, then what differs.
pub fn compare_human(c: &xfrmdiag_diagnose::Comparison, paint: Paint) -> String {
    let mut out = human_sides(&c.report, &[], paint, true);
    // `human` ends with the findings; the story and cross-checks follow.
    out.push_str(&format!("\n{}\n", paint.bold("Story")));
    for line in &c.story {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!("\n{}\n", paint.bold("SAs on both hosts")));
    if c.sa_pairs.is_empty() && c.unmatched_sas.is_empty() {
        out.push_str("  (no SA inventory in the reports)\n");
    }
    let mut rows = Vec::new();
    for p in &c.sa_pairs {
        let differing: Vec<_> = p.fields.iter().filter(|f| !f.same).collect();
        if differing.is_empty() {
            rows.push(vec![
                p.spi.clone(),
                format!("{} -> {}", p.src, p.dst),
                "all fields agree".into(),
                String::new(),
                String::new(),
            ]);
        }
        for f in differing {
            rows.push(vec![
                p.spi.clone(),
                format!("{} -> {}", p.src, p.dst),
                f.field.clone(),
                f.a.clone(),
                f.b.clone(),
            ]);
        }
    }
    for u in &c.unmatched_sas {
        rows.push(vec![
            u.spi.clone(),
            format!("{} -> {}", u.src, u.dst),
            format!("only on {}", u.on.to_uppercase()),
            String::new(),
            String::new(),
        ]);
    }
    if !rows.is_empty() {
        out.push_str(&indent(&plain_table(
            &["SPI", "SA", "FIELD", "A", "B"],
            &rows,
        )));
    }
    if !c.policy_checks.is_empty() {
        out.push_str(&format!("\n{}\n", paint.bold("Policies")));
        for line in &c.policy_checks {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if !c.ike_checks.is_empty() {
        out.push_str(&format!("\n{}\n", paint.bold("IKE CHILD_SAs")));
        for line in &c.ike_checks {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// `xfrmdiag compare --json` (docs/json/diagnose.md).
pub fn compare_json(c: &xfrmdiag_diagnose::Comparison) -> Value {
    json!({
        "verdict": c.report.verdict,
        "healthy": c.report.healthy,
        "sent": c.report.sent,
        "received": c.report.received,
        "findings": c.report.findings,
        "story": c.story,
        "a": c.a,
        "b": c.b,
        "sa_pairs": c.sa_pairs,
        "unmatched_sas": c.unmatched_sas,
        "policy_checks": c.policy_checks,
        "ike_checks": c.ike_checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrmdiag_diagnose::evidence::{CounterChange, Counters, ListenResult, Role, Traffic};

    fn receiver_with_mismatch() -> SideEvidence {
        let mut counters = Counters::default();
        counters
            .delta
            .insert("XfrmInTmplMismatch".into(), CounterChange::Increased(5));
        SideEvidence {
            namespace: "b".into(),
            role: Role::Receiver,
            traffic: Some(Traffic::Listen(ListenResult {
                port: 5000,
                expected: Some(5),
                ..Default::default()
            })),
            counters: Some(counters),
            holes: vec!["trace: tracefs not mounted".into()],
            ..Default::default()
        }
    }

    #[test]
    fn human_puts_verdict_first_then_evidence_then_fix() {
        let sides = [receiver_with_mismatch()];
        let report = xfrmdiag_diagnose::diagnose(&sides);
        let text = human(&report, &sides, Paint { color: false });
        assert!(text.starts_with("VERDICT policy-template-mismatch (certain, on b)"));
        let ev = text.find("XfrmInTmplMismatch +5").unwrap();
        let fix = text.find("Fix").unwrap();
        assert!(ev < fix, "{text}");
        assert!(text.contains("b: trace: tracefs not mounted"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn json_has_the_documented_top_level_fields() {
        let sides = [receiver_with_mismatch()];
        let report = xfrmdiag_diagnose::diagnose(&sides);
        let v = json(&report, &sides);
        assert_eq!(v["verdict"], "policy-template-mismatch");
        assert_eq!(v["received"], 0);
        assert_eq!(v["findings"][0]["confidence"], "certain");
        assert_eq!(
            v["counters"]["delta"]["XfrmInTmplMismatch"],
            json!({"increased": 5})
        );
        let two = [receiver_with_mismatch(), receiver_with_mismatch()];
        let v = json(&xfrmdiag_diagnose::diagnose(&two), &two);
        assert_eq!(v["sides"].as_array().unwrap().len(), 2);
    }
}
