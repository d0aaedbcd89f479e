//! The IKE daemon of a side, read into its evidence (`diagnose --ike`).
//!
//! The daemon is read after the window (twice, around the kernel dump, as `xfrmdiag ike` does)
//! and joined with the side's SAs. Whether a configured connection or a negotiated CHILD_SA
//! covers the test flow is decided here, where the selector parser lives, so the decision only
//! reads booleans. Only the flow's destination is known (not its source address), so coverage
//! means: the remote selectors cover the destination, protocol and port.

use std::net::IpAddr;
use std::path::PathBuf;

use xfrmdiag_evidence::{
    ChildSaInfo, IkeChildConfig, IkeConnection, IkeFailure, IkeJoinFinding, IkeSaInfo, IkeView,
    SideEvidence,
};
use xfrmdiag_ike::{Choice, DaemonView, Source, TrafficSelector};
use xfrmdiag_netns::Netns;

/// Which daemon to read on a side (`--ike`, `--ike-socket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IkeMode {
    /// Don't read any (`--ike none`).
    None,
    /// strongSwan's, else Libreswan's default socket; absent is not a hole.
    #[default]
    Auto,
    Strongswan,
    Libreswan,
}

/// What to read on one side.
#[derive(Debug, Clone, Default)]
pub struct IkeRequest {
    pub mode: IkeMode,
    pub socket: Option<PathBuf>,
    /// The user asked for it (`--ike KIND` or a socket): a missing daemon is a hole.
    pub explicit: bool,
}

/// Reads the daemon `request` names and stores its view in `evidence.ike`; a daemon that is
/// not there leaves no field, and a hole only when it was asked for explicitly.
pub fn read_ike(netns: &Netns, request: &IkeRequest, evidence: &mut SideEvidence) {
    let choice = match request.mode {
        IkeMode::None => return,
        IkeMode::Auto => Choice::Auto,
        IkeMode::Strongswan => Choice::Strongswan,
        IkeMode::Libreswan => Choice::Libreswan,
    };
    let source = Source {
        choice,
        socket: request.socket.clone(),
        log: None,
    };
    let flow = ike_flow(evidence);
    match xfrmdiag_ike::inspect(netns, &source, flow) {
        Ok(report) => evidence.ike = Some(view(&report, flow)),
        Err(e) if request.explicit => evidence.holes.push(format!("IKE daemon: {e}")),
        Err(_) => {}
    }
}

fn ike_flow(evidence: &SideEvidence) -> Option<xfrmdiag_ike::Flow> {
    let f = evidence.flow.as_ref()?;
    let dst: IpAddr = f.dst.as_deref()?.parse().ok()?;
    Some(xfrmdiag_ike::Flow {
        src: None,
        dst,
        proto: if f.proto == "tcp" { 6 } else { 17 },
        sport: f.sport,
        dport: f.port,
    })
}

fn covers(ts: &[TrafficSelector], flow: &xfrmdiag_ike::Flow) -> bool {
    ts.iter()
        .any(|t| t.covers(flow.dst, flow.proto, Some(flow.dport)))
}

/// Configured selectors, with `dynamic` standing for the connection's addresses (`%any` and
/// names: any address), its protocol/port part kept (`dynamic[udp/5555]`, as transport-mode
/// connections write it). None when one cannot be read.
fn configured(ts: &[String], addrs: &[String]) -> Option<Vec<TrafficSelector>> {
    let any = |suffix: &str| {
        ["0.0.0.0/0", "::/0"]
            .iter()
            .filter_map(|net| TrafficSelector::parse_strongswan(&format!("{net}{suffix}")))
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for t in ts {
        let (net, suffix) = match t.find('[') {
            Some(i) => t.split_at(i),
            None => (t.as_str(), ""),
        };
        if net == "dynamic" || net == "%any" {
            if addrs.is_empty() {
                out.extend(any(suffix));
            }
            for a in addrs {
                match TrafficSelector::parse_strongswan(&format!("{a}{suffix}")) {
                    Some(s) => out.push(s),
                    None => out.extend(any(suffix)),
                }
            }
        } else {
            out.push(TrafficSelector::parse_strongswan(t)?);
        }
    }
    Some(out)
}

fn view(report: &xfrmdiag_ike::IkeReport, flow: Option<xfrmdiag_ike::Flow>) -> IkeView {
    let d: &DaemonView = &report.daemon;
    let connections = d
        .connections
        .iter()
        .map(|c| IkeConnection {
            name: c.name.clone(),
            local_addrs: c.local_addrs.clone(),
            remote_addrs: c.remote_addrs.clone(),
            children: c
                .children
                .iter()
                .map(|ch| IkeChildConfig {
                    name: ch.name.clone(),
                    mode: ch.mode.clone(),
                    local_ts: ch.local_ts.clone(),
                    remote_ts: ch.remote_ts.clone(),
                    covers_flow: flow.and_then(|f| {
                        configured(&ch.remote_ts, &c.remote_addrs).map(|ts| covers(&ts, &f))
                    }),
                })
                .collect(),
        })
        .collect();
    let ike_sas = d
        .ike_sas
        .iter()
        .map(|i| IkeSaInfo {
            name: i.name.clone(),
            state: i.state.clone(),
            established: i.established,
            local_host: i.local_host.map(|a| a.to_string()),
            remote_host: i.remote_host.map(|a| a.to_string()),
            child_sas: i
                .child_sas
                .iter()
                .map(|c| {
                    let joined = report.child_sas.iter().find(|j| {
                        j.ike_sa == i.name && j.child_sa == c.name && j.uniqueid == c.uniqueid
                    });
                    ChildSaInfo {
                        name: c.name.clone(),
                        state: c.state.clone(),
                        installed: c.installed,
                        reqid: c.reqid,
                        mode: c.mode.clone(),
                        protocol: c.protocol.clone(),
                        spi_in: c.spi_in.map(|s| s.to_string()),
                        spi_out: c.spi_out.map(|s| s.to_string()),
                        local_ts: c.local_ts.iter().map(|t| t.text.clone()).collect(),
                        remote_ts: c.remote_ts.iter().map(|t| t.text.clone()).collect(),
                        in_kernel: joined.map(|j| j.in_kernel),
                        covers_flow: flow.map(|f| covers(&c.remote_ts, &f)),
                    }
                })
                .collect(),
        })
        .collect();
    IkeView {
        daemon: d.daemon.as_str().to_string(),
        version: d.version.clone(),
        source: d.source.clone(),
        connections,
        ike_sas,
        failures: d
            .failures
            .iter()
            .map(|f| IkeFailure {
                reason: f.reason.clone(),
                connection: f.connection.clone(),
                detail: f.detail.clone(),
            })
            .collect(),
        kernel_join: report
            .findings
            .iter()
            .filter(|f| {
                f.cause == xfrmdiag_ike::join::CHILD_SA_NOT_IN_KERNEL
                    || f.cause == xfrmdiag_ike::join::KERNEL_SA_WITHOUT_IKE
            })
            .map(|f| IkeJoinFinding {
                cause: f.cause.clone(),
                connection: f.connection.clone(),
                summary: f.summary.clone(),
                evidence: f.evidence.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_selectors_stand_for_the_connections_addresses() {
        let flow = xfrmdiag_ike::Flow {
            src: None,
            dst: "10.77.0.2".parse().unwrap(),
            proto: 17,
            sport: None,
            dport: 6000,
        };
        let ts = configured(&["dynamic".into()], &["10.77.0.2".into()]).unwrap();
        assert!(covers(&ts, &flow));
        let ts = configured(&["dynamic".into()], &["%any".into()]).unwrap();
        assert!(covers(&ts, &flow));
        let ts = configured(&["10.9.0.0/16".into()], &[]).unwrap();
        assert!(!covers(&ts, &flow));
        let ts = configured(&["10.77.0.0/24[udp/6000]".into()], &[]).unwrap();
        assert!(covers(&ts, &flow));
        assert!(configured(&["not a selector".into()], &[]).is_none());
        // transport mode (vm-tests' ike-* scenarios): `dynamic` with a protocol and port
        let ts = configured(&["dynamic[udp/6000]".into()], &["10.77.0.2".into()]).unwrap();
        assert!(covers(&ts, &flow));
        let ts = configured(&["dynamic[udp/7000]".into()], &["10.77.0.2".into()]).unwrap();
        assert!(!covers(&ts, &flow));
        let ts = configured(&["dynamic[udp/6000]".into()], &["%any".into()]).unwrap();
        assert!(covers(&ts, &flow));
    }
}
