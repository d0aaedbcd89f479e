//! JUnit XML for CI servers (Jenkins, GitLab, GitHub test reporters): one `<testsuite>` per
//! checklist run, one `<testcase>` per check. A failed check is a `<failure>`, a skipped one
//! `<skipped>`; a warning passes and says so in `<system-out>`.

use std::fmt::Write as _;

use xfrmdiag_checklist::{RunReport, Status};

/// The whole document.
pub fn checklist(report: &RunReport) -> String {
    let s = &report.summary;
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"xfrmdiag check\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        s.total,
        s.fail,
        s.skip,
        secs(report.duration_ms)
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        escape(&report.checklist),
        s.total,
        s.fail,
        s.skip,
        secs(report.duration_ms)
    );
    out.push_str("    <properties>\n");
    for (name, value) in [("source", &report.source), ("netns", &report.netns)] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(value)
        );
    }
    out.push_str("    </properties>\n");
    for r in &report.results {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            escape(&r.name),
            escape(&format!("{}.{}", report.checklist, r.kind)),
            secs(r.duration_ms)
        );
        out.push_str(">\n");
        let observed = r.observed.as_deref().unwrap_or("-");
        match r.status {
            Status::Fail => {
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"{}\">observed: {}</failure>",
                    escape(&r.reason),
                    escape(&r.kind),
                    escape(observed)
                );
            }
            Status::Skip => {
                let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(&r.reason));
            }
            Status::Pass | Status::Warn => {}
        }
        let prefix = if r.status == Status::Warn {
            "WARNING (severity = warning, does not fail the run): "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "      <system-out>{}{}\nobserved: {}\nnetns: {}</system-out>",
            prefix,
            escape(&r.reason),
            escape(observed),
            escape(&r.netns)
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Escapes text for an XML attribute or element, dropping characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use xfrmdiag_checklist::model::Severity;
    use xfrmdiag_checklist::CheckResult;

    fn result(index: usize, name: &str, status: Status) -> CheckResult {
        CheckResult {
            index,
            name: name.into(),
            kind: "sysctl".into(),
            netns: "(current)".into(),
            status,
            severity: Severity::Error,
            reason: format!("reason <{index}> & \u{7}"),
            observed: Some("0".into()),
            line: index,
            duration_ms: 1,
        }
    }

    #[test]
    fn parses_back_as_xml_with_the_counts() {
        let results = vec![
            result(1, "a \"quoted\" name", Status::Pass),
            result(2, "b", Status::Fail),
            result(3, "c", Status::Skip),
            result(4, "d", Status::Warn),
        ];
        let summary = RunReport::summarize(&results);
        let report = RunReport {
            checklist: "list & co".into(),
            source: "x.toml".into(),
            netns: "(current)".into(),
            ok: false,
            summary,
            results,
            duration_ms: 1234,
        };
        let xml = checklist(&report);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("4"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("skipped"), Some("1"));
        assert_eq!(root.attribute("time"), Some("1.234"));
        let suite = root.first_element_child().unwrap();
        assert_eq!(suite.attribute("name"), Some("list & co"));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases[0].attribute("name"), Some("a \"quoted\" name"));
        let failure = cases[1].first_element_child().unwrap();
        assert_eq!(failure.tag_name().name(), "failure");
        assert_eq!(failure.attribute("message"), Some("reason <2> & \u{fffd}"));
        assert!(cases[2].children().any(|n| n.has_tag_name("skipped")));
        assert!(!cases[3]
            .children()
            .any(|n| n.has_tag_name("failure") || n.has_tag_name("skipped")));
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
