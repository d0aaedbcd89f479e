//! `kind = "diagnose"`: the same test run as `xfrmdiag diagnose --send udp:DST:PORT
//! [--peer-netns LISTEN_NETNS]` (collected by xfrmdiag-collect, decided by xfrmdiag-diagnose),
//! then the verdict is compared with the expected one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use xfrmdiag_collect::{run_test, TestPlan};
use xfrmdiag_netns::Netns;
use xfrmdiag_traffic::SendOptions;

use super::{Context, Outcome};
use crate::model::DiagnoseCheck;

/// A `diagnose` check: the same test run as `xfrmdiag diagnose --send udp:DST:PORT
/// [--peer-netns LISTEN_NETNS]`, from the check's namespace, then the verdict is compared.
pub fn run(check: &DiagnoseCheck, ctx: &Context) -> Outcome {
    // Validated when the file was loaded.
    let Ok(dst) = check.dst.parse::<IpAddr>() else {
        return Outcome::fail(format!("`{}` is not an IP address", check.dst), None);
    };
    let port = check.port.0 as u16;
    let count = check.count.map_or(3, |n| n.0 as u32);
    let window = check
        .window
        .as_deref()
        .map(crate::parse::parse_duration)
        .transpose()
        .unwrap_or(None)
        .unwrap_or(Duration::from_secs(2));
    let plan = TestPlan::udp_flow(
        ctx.netns.clone(),
        SendOptions::test_flow(SocketAddr::new(dst, port), count),
        check.listen_netns.clone().map(Netns::Named),
        false,
        window,
        check.trace,
    );
    // No progress display: the checklist runner reports per check.
    let sides = match run_test(&plan, |_| {}) {
        Ok(sides) => sides,
        Err(e) => return Outcome::fail(format!("the test run failed: {}", one_line(&e)), None),
    };
    let report = xfrmdiag_diagnose::diagnose(&sides);
    let expect = check.expect.as_deref().unwrap_or("delivered");
    let count_text = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
    let observed = Some(format!(
        "verdict {} (sent {}, received {})",
        report.verdict,
        count_text(report.sent),
        count_text(report.received)
    ));
    let summary = report
        .findings
        .first()
        .map(|f| f.summary.clone())
        .unwrap_or_default();
    if report.verdict == expect {
        Outcome::pass(
            format!("verdict {expect}, as expected: {summary}"),
            observed,
        )
    } else {
        let remedy = report
            .findings
            .first()
            .map(|f| format!(" — {}", f.remedy))
            .unwrap_or_default();
        Outcome::fail(
            format!(
                "verdict {}, expected {expect}: {summary}{remedy}",
                report.verdict
            ),
            observed,
        )
    }
}

/// The error and its sources on one line, skipping sources whose text the error already embeds
/// (as the binary's one-line errors do).
fn one_line(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    parts.join(": ")
}
