//! The human table of `xfrmdiag ike`: IKE_SAs, CHILD_SAs next to their kernel SAs and policies,
//! kernel SAs no daemon owns, then the findings.

use std::fmt::Write as _;

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::join::{IkeReport, KernelSaRef};
use crate::model::TrafficSelector;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn ts(list: &[TrafficSelector]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn kernel(sa: &Option<KernelSaRef>, spi: Option<xfrmdiag_inventory::Spi>) -> String {
    match (sa, spi) {
        (Some(sa), _) => format!("{} ✓ {} pkts", sa.spi, sa.packets),
        (None, Some(spi)) => format!("{spi} MISSING"),
        (None, None) => "-".into(),
    }
}

/// The whole report as text.
pub fn report_text(r: &IkeReport) -> String {
    let mut out = String::new();
    let d = &r.daemon;
    let _ = writeln!(
        out,
        "{} ({}) at {}: {} IKE_SA(s), {} CHILD_SA(s), {} connection(s) loaded",
        d.daemon.as_str(),
        d.version.as_deref().unwrap_or("version unknown"),
        d.source,
        d.ike_sas.len(),
        r.child_sas.len(),
        d.connections.len()
    );
    if let Some(log) = &r.log {
        let _ = writeln!(
            out,
            "log: {log} ({} failure(s) still open)",
            d.failures.len()
        );
    }
    if !d.ike_sas.is_empty() {
        let mut b = Builder::default();
        b.push_record([
            "IKE_SA",
            "STATE",
            "LOCAL > REMOTE",
            "ALGORITHMS",
            "UP",
            "REKEY IN",
        ]);
        for i in &d.ike_sas {
            b.push_record([
                format!("{}#{}", i.name, opt(i.uniqueid)),
                i.state.clone(),
                format!("{} > {}", opt(i.local_host), opt(i.remote_host)),
                opt(i.algorithms.as_deref()),
                i.established_secs.map_or("-".into(), |s| format!("{s}s")),
                i.rekey_in_secs.map_or("-".into(), |s| format!("{s}s")),
            ]);
        }
        let mut t = b.build();
        t.with(Style::sharp());
        let _ = writeln!(out, "{t}");
    }
    if !r.child_sas.is_empty() {
        let mut b = Builder::default();
        let mut header = vec![
            "CHILD_SA",
            "STATE",
            "REQID",
            "KERNEL SA IN",
            "KERNEL SA OUT",
            "POLICIES",
            "LOCAL TS",
            "REMOTE TS",
            "BYTES IN/OUT",
            "REKEY IN",
        ];
        if r.flow.is_some() {
            header.push("COVERS FLOW");
        }
        b.push_record(header);
        let children = d.child_sas().map(|(_, c)| c);
        for (j, c) in r.child_sas.iter().zip(children) {
            let mut row = vec![
                format!("{}/{}#{}", j.ike_sa, j.child_sa, opt(j.uniqueid)),
                format!("{} {}", j.state, c.mode),
                opt(j.reqid),
                kernel(&j.kernel_sa_in, j.spi_in),
                kernel(&j.kernel_sa_out, j.spi_out),
                if j.kernel_policies.is_empty() {
                    "none".into()
                } else {
                    j.kernel_policies
                        .iter()
                        .map(|p| p.dir.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                },
                ts(&c.local_ts),
                ts(&c.remote_ts),
                format!("{}/{}", c.bytes_in, c.bytes_out),
                c.rekey_in_secs.map_or("-".into(), |s| format!("{s}s")),
            ];
            if let Some(cov) = j.covers_flow {
                row.push(if cov { "yes" } else { "NO" }.into());
            }
            b.push_record(row);
        }
        let mut t = b.build();
        t.with(Style::sharp());
        let _ = writeln!(out, "{t}");
    }
    if !r.kernel_sas_without_ike.is_empty() {
        let _ = writeln!(out, "kernel SAs no daemon owns:");
        for o in &r.kernel_sas_without_ike {
            let _ = writeln!(
                out,
                "  {} {} > {} spi {} reqid {} {} ({} packets)",
                o.proto, o.src, o.dst, o.spi, o.reqid, o.mode, o.packets
            );
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "no IKE problem found");
    }
    for f in &r.findings {
        let _ = writeln!(out, "PROBLEM [{}] {}", f.cause, f.summary);
        for e in &f.evidence {
            let _ = writeln!(out, "  evidence: {e}");
        }
        let _ = writeln!(out, "  fix: {}", f.remedy);
    }
    out
}
