//! Rendering of trace results: the probe (what this kernel allows) and a capture's summary.

use tabled::builder::Builder;
use tabled::settings::Style;

use xfrmdiag_trace::{FunctionTracer, Probe, TraceResult, TracerSupport};

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut builder = Builder::new();
    builder.push_record(header.iter().map(|s| s.to_string()));
    for row in rows {
        builder.push_record(row);
    }
    builder.build().with(Style::sharp()).to_string()
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn tracer_line(support: &TracerSupport) -> String {
    match (support.usable, &support.reason) {
        (true, _) => "usable".to_string(),
        (false, Some(reason)) => format!("refused: {reason}"),
        (false, None) => "not usable".to_string(),
    }
}

/// `xfrmdiag trace --probe`.
pub fn render_probe(probe: &Probe) -> String {
    let mut out = String::new();
    let mounted = if probe.mounted_for_probe {
        " (was not mounted: probed through a private mount only this process saw)"
    } else {
        ""
    };
    out.push_str(&format!("tracefs: {}{mounted}\n", probe.tracefs.display()));
    out.push_str(&format!(
        "available tracers: {}\n",
        probe.available_tracers.join(" ")
    ));
    if let Some(mode) = &probe.lockdown {
        out.push_str(&format!("lockdown: {mode}\n"));
    }
    match (&probe.instances, &probe.instance_error) {
        (true, None) => out.push_str(&format!(
            "private instances: yes (tracers offered: {})\n",
            probe.instance_tracers.join(" ")
        )),
        (_, Some(e)) => out.push_str(&format!("private instances: no: {e}\n")),
        (false, None) => out.push_str("private instances: no\n"),
    }
    out.push_str(&format!(
        "function tracer: {}\n",
        tracer_line(&probe.function)
    ));
    out.push_str(&format!(
        "function_graph: {}\n",
        tracer_line(&probe.function_graph)
    ));
    out.push_str(&format!(
        "drop call paths (stacktrace trigger on kfree_skb): {}\n",
        yes_no(probe.stacktrace_trigger)
    ));
    out.push_str(&format!(
        "kallsyms addresses (to symbolize raw drop locations): {}\n",
        yes_no(probe.kallsyms_addresses)
    ));
    if !probe.stale_instances.is_empty() {
        out.push_str(&format!(
            "stale instances from killed runs: {} (remove with `xfrmdiag trace --remove-stale`)\n",
            probe.stale_instances.join(" ")
        ));
    }
    let mut rows: Vec<Vec<String>> = probe
        .events
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                yes_no(e.present).to_string(),
                e.fields.join(" "),
            ]
        })
        .collect();
    for name in &probe.xfrm_events {
        rows.push(vec![name.clone(), "yes".into(), String::new()]);
    }
    if probe.xfrm_events.is_empty() {
        rows.push(vec!["xfrm:*".into(), "no".into(), String::new()]);
    }
    out.push_str(&table(&["event", "present", "fields"], rows));
    out.push('\n');
    out
}

/// A capture: how it ran, the drops, audit markers and functions hit.
/// A capture as JSON (schema: docs/json/trace.md): the result as the trace crate serializes it,
/// with each audit marker's `cause_hint` taken from the diagnose rules (the same cause
/// `diagnose` gives for it).
pub fn result_json(result: &TraceResult) -> serde_json::Value {
    let mut v = serde_json::to_value(result).unwrap_or_default();
    if let Some(markers) = v["summary"]["audit_markers"].as_array_mut() {
        for m in markers {
            let cause = m["function"]
                .as_str()
                .and_then(xfrmdiag_diagnose::rules::cause_of_audit);
            m["cause_hint"] = serde_json::json!(cause);
        }
    }
    v
}

pub fn render_result(result: &TraceResult) -> String {
    let mut out = String::new();
    let saved = result.instance.is_none();
    match &result.function_tracer {
        FunctionTracer::Used { tracer, .. } if saved => {
            out.push_str(&format!("saved trace with {tracer} lines\n"))
        }
        FunctionTracer::Used { tracer, filters } => {
            out.push_str(&format!("{tracer} tracer on {}\n", filters.join(" ")))
        }
        FunctionTracer::Refused { reason } => out.push_str(&format!(
            "function tracer refused ({reason}): events only\n"
        )),
        FunctionTracer::NotRequested => {}
    }
    let stacks = if result.stack_on_drop {
        ", kernel stacks for drops"
    } else {
        ""
    };
    if saved {
        out.push_str(&format!(
            "read {} events from {} lines{stacks}\n",
            result.events.len(),
            result.raw_lines
        ));
    } else {
        out.push_str(&format!(
            "captured {:.1}s in instance {} ({} events, {} lines{stacks})\n",
            result.duration_s,
            result.instance.as_deref().unwrap_or("?"),
            result.events.len(),
            result.raw_lines
        ));
    }
    if !result.events_missing.is_empty() {
        out.push_str(&format!(
            "events not on this kernel: {}\n",
            result.events_missing.join(" ")
        ));
    }
    if result.lost_events > 0 {
        out.push_str(&format!(
            "LOST {} events (ring buffer overrun): counts below are incomplete\n",
            result.lost_events
        ));
    }
    let summary = &result.summary;
    if summary.drops.is_empty() {
        out.push_str("no drops");
        if summary.drops_filtered_out > 0 {
            out.push_str(&format!(
                " matched the filter ({} others left out)",
                summary.drops_filtered_out
            ));
        }
        out.push('\n');
    } else {
        let rows = summary
            .drops
            .iter()
            .map(|d| {
                vec![
                    d.count.to_string(),
                    d.reason.clone(),
                    d.location.clone(),
                    protocols(&d.protocols),
                    d.devices.join(" "),
                    short_path(&d.call_path),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "drops",
                "reason",
                "location",
                "proto",
                "device",
                "call path",
            ],
            rows,
        ));
        out.push('\n');
        if summary.drops_filtered_out > 0 {
            out.push_str(&format!(
                "({} other drops left out by the filter)\n",
                summary.drops_filtered_out
            ));
        }
    }
    if !summary.audit_markers.is_empty() {
        let rows = summary
            .audit_markers
            .iter()
            .map(|m| {
                vec![
                    m.count.to_string(),
                    m.function.clone(),
                    m.meaning.clone(),
                    xfrmdiag_diagnose::rules::cause_of_audit(&m.function)
                        .map_or_else(String::new, |c| c.to_string()),
                ]
            })
            .collect();
        out.push_str(&table(&["hits", "xfrm audit", "meaning", "cause"], rows));
        out.push('\n');
    }
    if !summary.functions_hit.is_empty() {
        let rows = summary
            .functions_hit
            .iter()
            .take(20)
            .map(|f| vec![f.count.to_string(), f.name.clone()])
            .collect();
        out.push_str(&table(&["calls", "function"], rows));
        out.push('\n');
        if summary.functions_hit.len() > 20 {
            out.push_str(&format!(
                "({} more functions in --json)\n",
                summary.functions_hit.len() - 20
            ));
        }
    }
    for note in &result.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// The last frames of a call path (where the decision was made); the whole path is in --json.
fn short_path(path: &[String]) -> String {
    const SHOWN: usize = 4;
    if path.len() <= SHOWN {
        return path.join(" > ");
    }
    format!("… > {}", path[path.len() - SHOWN..].join(" > "))
}

fn protocols(list: &[u16]) -> String {
    list.iter()
        .map(|p| match p {
            0x0800 => "ipv4".to_string(),
            0x86dd => "ipv6".to_string(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrmdiag_trace::DropFilter;

    const ICVFAIL: &str = "\
  <idle>-0 [000] ..s2. 10.000001: xfrm_input <-xfrm4_rcv_spi
  <idle>-0 [000] ..s2. 10.000002: esp_input <-xfrm_input
  <idle>-0 [000] ..s2. 10.000003: xfrm_audit_state_icvfail <-xfrm_input
  <idle>-0 [000] ..s2. 10.000004: kfree_skb: skbaddr=ffff8880041a2b00 protocol=2048 location=xfrm_input+0x1df/0x9c0 reason: NOT_SPECIFIED
CPU:0 [LOST 3 EVENTS]
";

    #[test]
    fn result_shows_drop_marker_and_loss() {
        let result = TraceResult::from_text(ICVFAIL, None, &DropFilter::default());
        let text = render_result(&result);
        assert!(
            text.starts_with("saved trace with function lines\n"),
            "{text}"
        );
        assert!(text.contains("LOST 3 events"), "{text}");
        let drop_row = text
            .lines()
            .find(|l| l.contains("NOT_SPECIFIED"))
            .expect("drop row");
        assert!(drop_row.contains("xfrm_input+0x1df"), "{drop_row}");
        assert!(
            drop_row.contains("xfrm_input > xfrm_audit_state_icvfail"),
            "{drop_row}"
        );
        assert!(text.contains("sa-auth-failure"), "{text}");
    }

    #[test]
    fn long_call_paths_keep_their_end() {
        let path: Vec<String> = ["a", "b", "c", "d", "e", "f"].map(String::from).to_vec();
        assert_eq!(short_path(&path), "… > c > d > e > f");
        assert_eq!(short_path(&path[..2]), "a > b");
    }
}
