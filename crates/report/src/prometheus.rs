//! Counter snapshots in the Prometheus text exposition format (version 0.0.4), as served by
//! `xfrmdiag watch --prometheus` and written by `--textfile` for node_exporter.
//!
//! One metric family carries every kernel counter, labelled by its flat name, so a counter a newer
//! kernel adds shows up without a code change:
//! `xfrmdiag_kernel_counter_total{namespace="blue",counter="XfrmInNoPols",kind="error"} 1`.
//! Values that go up and down (`Ip.Forwarding`, `Tcp.CurrEstab`, …) are not counters, and `rate()`
//! on them would be nonsense, so they form their own gauge family, `xfrmdiag_kernel_gauge`.

use std::fmt::Write;

use xfrmdiag_counters::{Filter, Snapshot};

use crate::counters::kind_label;

/// The text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and newline (text format rules).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the counters of each snapshot (one per namespace) that pass `filter`.
pub fn render(snapshots: &[&Snapshot], filter: Option<&Filter>) -> String {
    let mut out = String::new();
    let families = [
        (
            "xfrmdiag_kernel_counter_total",
            "counter",
            "Kernel counter of a network namespace (/proc/net/xfrm_stat, snmp, netstat, snmp6, dev; per-SA stats from netlink).",
        ),
        (
            "xfrmdiag_kernel_gauge",
            "gauge",
            "Kernel value of a network namespace that is a setting or a level, not a count (Ip.Forwarding, Tcp.CurrEstab, ...).",
        ),
    ];
    for (family, metric_type, help) in families {
        let wants_gauges = metric_type == "gauge";
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {metric_type}");
        for snap in snapshots {
            let ns = label(&snap.namespace);
            for (name, value) in &snap.counters {
                let kind = kind_label(name);
                if (kind == "gauge") != wants_gauges || filter.is_some_and(|f| !f.matches(name)) {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "{family}{{namespace=\"{ns}\",counter=\"{}\",kind=\"{kind}\"}} {value}",
                    label(name),
                );
            }
        }
    }
    out.push_str("# HELP xfrmdiag_snapshot_problems Malformed lines or unreadable sources in the last reading.\n");
    out.push_str("# TYPE xfrmdiag_snapshot_problems gauge\n");
    for snap in snapshots {
        let _ = writeln!(
            out,
            "xfrmdiag_snapshot_problems{{namespace=\"{}\"}} {}",
            label(&snap.namespace),
            snap.problems.len()
        );
    }
    out.push_str("# HELP xfrmdiag_snapshot_timestamp_seconds When the counters were last read.\n");
    out.push_str("# TYPE xfrmdiag_snapshot_timestamp_seconds gauge\n");
    for snap in snapshots {
        let _ = writeln!(
            out,
            "xfrmdiag_snapshot_timestamp_seconds{{namespace=\"{}\"}} {:.3}",
            label(&snap.namespace),
            snap.taken_at_unix_ns as f64 / 1e9
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_family_with_labels_and_escaping() {
        let mut s = Snapshot::empty("we\"ird\\ns");
        s.add_counter("XfrmInNoPols", 4);
        s.add_counter("Udp.InDatagrams", 9);
        let text = render(&[&s], Some(&Filter::parse("xfrm").unwrap()));
        assert!(text.contains(
            "xfrmdiag_kernel_counter_total{namespace=\"we\\\"ird\\\\ns\",counter=\"XfrmInNoPols\",kind=\"error\"} 4\n"
        ), "{text}");
        assert!(!text.contains("Udp.InDatagrams"));
        assert!(text.contains("xfrmdiag_snapshot_problems{namespace=\"we\\\"ird\\\\ns\"} 0"));
    }

    #[test]
    fn gauges_are_not_typed_as_counters() {
        let mut s = Snapshot::empty("blue");
        s.add_counter("Ip.Forwarding", 2);
        s.add_counter("XfrmInNoPols", 1);
        let text = render(&[&s], None);
        assert!(
            text.contains("# TYPE xfrmdiag_kernel_gauge gauge\n"),
            "{text}"
        );
        assert!(text.contains(
            "xfrmdiag_kernel_gauge{namespace=\"blue\",counter=\"Ip.Forwarding\",kind=\"gauge\"} 2\n"
        ), "{text}");
        assert!(!text.contains(
            "xfrmdiag_kernel_counter_total{namespace=\"blue\",counter=\"Ip.Forwarding\""
        ));
        assert!(text.contains(
            "xfrmdiag_kernel_counter_total{namespace=\"blue\",counter=\"XfrmInNoPols\",kind=\"error\"} 1\n"
        ));
    }
}
