//! `kind = "ike-connection"`: connection NAME is established in the IKE daemon (strongSwan over
//! vici, Libreswan over whack) and each CHILD_SA it has installed is in the kernel of the check's
//! namespace, both SPIs. A daemon that cannot be reached fails the check: nothing negotiates.

use std::path::PathBuf;

use xfrmdiag_ike::{Choice, IkeReport, Source};

use super::{Context, Outcome};
use crate::model::{IkeConnectionCheck, IkeDaemonChoice};

pub fn run(check: &IkeConnectionCheck, ctx: &Context) -> Outcome {
    let source = Source {
        choice: match check.ike {
            IkeDaemonChoice::Auto => Choice::Auto,
            IkeDaemonChoice::Strongswan => Choice::Strongswan,
            IkeDaemonChoice::Libreswan => Choice::Libreswan,
        },
        socket: check.socket.as_ref().map(PathBuf::from),
        log: check.log.as_ref().map(PathBuf::from),
    };
    match xfrmdiag_ike::inspect(&ctx.netns, &source, None) {
        Ok(report) => evaluate(&check.connection, &report),
        Err(e) => Outcome::fail(e.to_string(), None),
    }
}

pub fn evaluate(connection: &str, report: &IkeReport) -> Outcome {
    let ikes: Vec<_> = report
        .daemon
        .ike_sas
        .iter()
        .filter(|i| i.name == connection)
        .collect();
    let children: Vec<_> = report
        .child_sas
        .iter()
        .filter(|c| c.ike_sa == connection)
        .collect();
    let observed = Some(if ikes.is_empty() {
        format!(
            "no IKE_SA for {connection} among {} ({} connections loaded)",
            report.daemon.ike_sas.len(),
            report.daemon.connections.len()
        )
    } else {
        let mut parts: Vec<String> = ikes
            .iter()
            .map(|i| format!("IKE_SA #{} {}", i.uniqueid.unwrap_or(0), i.state))
            .collect();
        parts.extend(children.iter().map(|c| {
            format!(
                "CHILD_SA {} {} in {} out {}",
                c.child_sa,
                c.state,
                present(c.spi_in, c.kernel_sa_in.is_some()),
                present(c.spi_out, c.kernel_sa_out.is_some())
            )
        }));
        parts.join("; ")
    });
    let reason_down = || {
        report
            .findings
            .iter()
            .find(|f| {
                f.cause == xfrmdiag_ike::join::NOT_ESTABLISHED
                    && f.connection.as_deref() == Some(connection)
            })
            .and_then(|f| f.reason.clone())
            .unwrap_or_else(|| "unknown".into())
    };
    if !ikes.iter().any(|i| i.established) {
        return Outcome::fail(
            format!(
                "connection {connection} is not established (reason: {})",
                reason_down()
            ),
            observed,
        );
    }
    let installed: Vec<_> = report
        .daemon
        .child_sas()
        .filter(|(i, c)| i.name == connection && c.installed)
        .collect();
    if installed.is_empty() {
        return Outcome::fail(
            format!(
                "connection {connection} has an IKE_SA but no installed CHILD_SA (reason: {})",
                reason_down()
            ),
            observed,
        );
    }
    let missing: Vec<String> = children
        .iter()
        .filter(|c| !c.in_kernel)
        .filter(|c| {
            // only CHILD_SAs the daemon calls installed must be in the kernel
            installed
                .iter()
                .any(|(_, i)| i.spi_in == c.spi_in && i.spi_out == c.spi_out)
        })
        .map(|c| c.child_sa.clone())
        .collect();
    Outcome::check(
        missing.is_empty(),
        if missing.is_empty() {
            format!(
                "connection {connection} is established; its {} CHILD_SA(s) are in the kernel",
                installed.len()
            )
        } else {
            format!(
                "connection {connection} is established, but the kernel lacks the SAs of CHILD_SA {}",
                missing.join(", ")
            )
        },
        observed,
    )
}

fn present(spi: Option<xfrmdiag_inventory::Spi>, in_kernel: bool) -> String {
    match spi {
        Some(spi) if in_kernel => format!("{spi} (in kernel)"),
        Some(spi) => format!("{spi} (NOT in kernel)"),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Verdict;

    /// A report as `xfrmdiag ike --json` prints it (constructed), with one CHILD_SA whose
    /// outbound SA may be missing from the kernel.
    fn report(ike_state: &str, out_in_kernel: bool) -> IkeReport {
        let kernel_out = if out_in_kernel {
            r#","kernel_sa_out":{"src":"10.0.0.1","dst":"10.0.0.2","proto":"esp","spi":"0xc2000002","reqid":1,"mode":"transport","bytes":0,"packets":0}"#
        } else {
            ""
        };
        let json = format!(
            r#"{{"daemon":{{"daemon":"strongswan","source":"/x","connections":[],
            "ike_sas":[{{"name":"host","state":"{ike_state}","established":{est},"child_sas":[
              {{"name":"flow","state":"INSTALLED","installed":true,"mode":"transport","protocol":"esp",
                "spi_in":"0xc1000001","spi_out":"0xc2000002","local_ts":[],"remote_ts":[]}}]}}]}},
            "child_sas":[{{"ike_sa":"host","child_sa":"flow","state":"INSTALLED",
              "spi_in":"0xc1000001","spi_out":"0xc2000002",
              "kernel_sa_in":{{"src":"10.0.0.2","dst":"10.0.0.1","proto":"esp","spi":"0xc1000001","reqid":1,"mode":"transport","bytes":0,"packets":0}}
              {kernel_out},"kernel_policies":[],"in_kernel":{out_in_kernel}}}],
            "kernel_sas_without_ike":[],"findings":[]}}"#,
            est = ike_state == "ESTABLISHED"
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn established_with_its_sas_in_the_kernel_passes() {
        let o = evaluate("host", &report("ESTABLISHED", true));
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.reason);
    }

    #[test]
    fn a_missing_kernel_sa_fails() {
        let o = evaluate("host", &report("ESTABLISHED", false));
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.reason.contains("kernel lacks"), "{}", o.reason);
    }

    #[test]
    fn not_established_or_unknown_connection_fails() {
        assert_eq!(
            evaluate("host", &report("CONNECTING", true)).verdict,
            Verdict::Fail
        );
        let o = evaluate("other", &report("ESTABLISHED", true));
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.reason.contains("not established"), "{}", o.reason);
    }
}
