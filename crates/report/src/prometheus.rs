//! Counter snapshots in the Prometheus text exposition format (version 0.0.4), as served by
//! `xfrmdiag watch --prometheus` and written by `--textfile` for node_exporter.
//!
//! One metric family carries every kernel counter, labelled by its flat name, so a counter a newer
//! kernel adds shows up without a code change:
//! `xfrmdiag_kernel_counter_total{namespace="blue",counter="XfrmInNoPols",kind="error"} 1`.
//! Values that go up and down (`Ip.Forwarding`, `Tcp.CurrEstab`, …) are not counters, and `rate()`
//! on them would be nonsense, so they form their own gauge family, `xfrmdiag_kernel_gauge`.
//!
//! Per-SA families ([`render_sas`], `xfrmdiag_sa_*`) carry what alerts need per tunnel: traffic,
//! replay and integrity failures, outbound sequence space used, time to expiry. Their labels are
//! bounded by the SAs that exist: one series per SA and family (docs/prometheus.md).

use std::fmt::Write;

use xfrmdiag_checklist::kinds::sa_lifetime::expiry;
use xfrmdiag_checklist::kinds::sa_seq_headroom::{may_be_outbound, seq_usage};
use xfrmdiag_counters::{Filter, Snapshot};
use xfrmdiag_inventory::Sa;

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

/// One per-SA family: name, type, help, and its value for an SA (`None`: no sample).
type SaFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Sa, u64) -> Option<f64>,
);

/// Every per-SA family, in the order they are served. docs/prometheus.md lists the same.
pub const SA_FAMILIES: &[SaFamily] = &[
    (
        "xfrmdiag_sa_packets_total",
        "counter",
        "Packets processed by the SA (lifetime current).",
        |sa, _| Some(sa.lifetime.current.packets as f64),
    ),
    (
        "xfrmdiag_sa_bytes_total",
        "counter",
        "Bytes processed by the SA (lifetime current).",
        |sa, _| Some(sa.lifetime.current.bytes as f64),
    ),
    (
        "xfrmdiag_sa_replay_window_errors_total",
        "counter",
        "Inbound packets dropped as outside the SA's replay window.",
        |sa, _| Some(f64::from(sa.stats.replay_window)),
    ),
    (
        "xfrmdiag_sa_replay_errors_total",
        "counter",
        "Inbound packets dropped as replays.",
        |sa, _| Some(f64::from(sa.stats.replay)),
    ),
    (
        "xfrmdiag_sa_integrity_failures_total",
        "counter",
        "Inbound packets whose integrity check failed (wrong key, corruption).",
        |sa, _| Some(f64::from(sa.stats.integrity_failed)),
    ),
    (
        "xfrmdiag_sa_output_sequence",
        "gauge",
        "Last outbound sequence number sent on the SA (64 bits with ESN).",
        |sa, _| may_be_outbound(sa).then(|| seq_usage(sa).sent as f64),
    ),
    (
        "xfrmdiag_sa_output_sequence_used_ratio",
        "gauge",
        "Share of the outbound sequence space used: of 2^32, or of 2^64 with ESN (0 to 1).",
        |sa, _| may_be_outbound(sa).then(|| seq_usage(sa).used_ratio),
    ),
    (
        "xfrmdiag_sa_time_to_soft_expiry_seconds",
        "gauge",
        "Seconds until the SA's soft time limit (IKE rekeys there); absent without one.",
        |sa, now| expiry(sa, now).soft_seconds.map(|s| s as f64),
    ),
    (
        "xfrmdiag_sa_time_to_hard_expiry_seconds",
        "gauge",
        "Seconds until the SA's hard time limit (the kernel deletes it there); absent without one.",
        |sa, now| expiry(sa, now).hard_seconds.map(|s| s as f64),
    ),
];

/// Every metric name `watch --prometheus` can serve, for checks of dashboards and rules.
pub fn metric_names() -> Vec<&'static str> {
    let mut names = vec![
        "xfrmdiag_kernel_counter_total",
        "xfrmdiag_kernel_gauge",
        "xfrmdiag_snapshot_problems",
        "xfrmdiag_snapshot_timestamp_seconds",
        "xfrmdiag_sas",
    ];
    names.extend(SA_FAMILIES.iter().map(|f| f.0));
    names
}

/// Renders the per-SA families for the SAs of each namespace at Unix time `now`. An SA is left
/// out when `filter` is given and does not take its `sa:SPI:packets` counter.
pub fn render_sas(namespaces: &[(&str, &[Sa])], filter: Option<&Filter>, now: u64) -> String {
    let mut out = String::new();
    out.push_str("# HELP xfrmdiag_sas SAs in the namespace (as `ip xfrm state count`).\n");
    out.push_str("# TYPE xfrmdiag_sas gauge\n");
    for (ns, sas) in namespaces {
        let _ = writeln!(
            out,
            "xfrmdiag_sas{{namespace=\"{}\"}} {}",
            label(ns),
            sas.len()
        );
    }
    let wanted = |sa: &Sa| filter.is_none_or(|f| f.matches(&format!("sa:{}:packets", sa.spi)));
    for (family, metric_type, help, value) in SA_FAMILIES {
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {metric_type}");
        for (ns, sas) in namespaces {
            for sa in sas.iter().filter(|sa| wanted(sa)) {
                if let Some(v) = value(sa, now) {
                    let _ = writeln!(out, "{family}{{{}}} {v}", sa_labels(ns, sa));
                }
            }
        }
    }
    out
}

/// The labels of one SA: what names it in the kernel (dst, spi, proto) and in an IKE config
/// (src, reqid), its direction when the kernel knows it (XFRMA_SA_DIR), and the namespace.
fn sa_labels(ns: &str, sa: &Sa) -> String {
    format!(
        "namespace=\"{}\",src=\"{}\",dst=\"{}\",proto=\"{}\",spi=\"{}\",reqid=\"{}\",dir=\"{}\"",
        label(ns),
        sa.src,
        sa.dst,
        sa.proto,
        sa.spi,
        sa.reqid,
        sa.direction.map_or("", |d| d.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocspi_sa() -> Sa {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/linux-6.18-netlink-sa-larval/getsa-dump.bin"
        ))
        .expect("fixture");
        xfrmdiag_inventory::sas_from_netlink_bytes(&bytes)
            .expect("decodes")
            .into_iter()
            .find(|s| s.spi.0 == 0x1f3c)
            .expect("allocspi SA")
    }

    #[test]
    fn per_sa_families_with_bounded_labels() {
        let mut sa = allocspi_sa();
        sa.replay.oseq = 0xE666_6666;
        sa.stats.integrity_failed = 3;
        let now = sa.lifetime.current.add_time + 10;
        let text = render_sas(&[("blue", std::slice::from_ref(&sa))], None, now);
        let labels = format!(
            "namespace=\"blue\",src=\"{}\",dst=\"{}\",proto=\"esp\",spi=\"0x00001f3c\",reqid=\"{}\",dir=\"\"",
            sa.src, sa.dst, sa.reqid
        );
        assert!(
            text.contains("xfrmdiag_sas{namespace=\"blue\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "xfrmdiag_sa_integrity_failures_total{{{labels}}} 3\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "xfrmdiag_sa_output_sequence{{{labels}}} 3865470566\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "xfrmdiag_sa_output_sequence_used_ratio{{{labels}}} 0.8999"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "xfrmdiag_sa_time_to_hard_expiry_seconds{{{labels}}} 20\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains("xfrmdiag_sa_time_to_soft_expiry_seconds{"),
            "no soft limit: no sample"
        );
        for name in metric_names()
            .iter()
            .filter(|n| n.starts_with("xfrmdiag_sa"))
        {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
            if name.ends_with("_total") {
                assert!(text.contains(&format!("# TYPE {name} counter")), "{name}");
            }
        }
        let filtered = render_sas(
            &[("blue", &[sa])],
            Some(&Filter::parse("udp").unwrap()),
            now,
        );
        assert!(!filtered.contains("spi=\""), "{filtered}");
    }

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
