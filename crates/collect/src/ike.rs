//! The IKE daemon of a side, read into its evidence (`diagnose --ike`).
//!
//! The daemon is read after the window (twice, around the kernel dump, as `xfrmdiag ike` does)
//! and joined with the side's SAs; its log, when given or found, adds why negotiations failed.
//! Whether a configured connection or a negotiated CHILD_SA covers the test flow is decided
//! here, where the selector parser lives, so the decision only reads booleans. The flow's source
//! address is not known, so coverage means: the selectors on the destination's side (the remote
//! ones on a sender, the local ones on a receiver) cover the destination, protocol and port.

use std::net::IpAddr;
use std::path::PathBuf;

use xfrmdiag_evidence::{
    ChildSaInfo, IkeChildConfig, IkeConnection, IkeFailure, IkeJoinFinding, IkeSaInfo, IkeView,
    SideEvidence,
};
use xfrmdiag_ike::log::LogSource;
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
    /// The daemon's log (`--ike-log`: a path, `journal` or `journal:UNIT`): failure reasons.
    pub log: Option<PathBuf>,
    /// Without `log`, look for it where the daemon usually writes it (the daemon at its
    /// default socket: the host's log is its log).
    pub discover_log: bool,
    /// The flow's destination as the sending side knows it: lets a receiver, which knows only
    /// its port, judge whether its daemon should have protected what arrived.
    pub flow_dst: Option<IpAddr>,
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
    // the log given is read here, so a log that cannot be read costs only the reasons
    let source = Source {
        choice,
        socket: request.socket.clone(),
        log: None,
    };
    let flow = ike_flow(evidence, request);
    let discover = request.discover_log && request.log.is_none();
    match xfrmdiag_ike::inspect_with(netns, &source, flow.map(|f| f.flow), discover) {
        Ok(mut report) => {
            if let Some(path) = &request.log {
                let log = LogSource::parse(&path.to_string_lossy());
                match xfrmdiag_ike::log::read_failures(&log, &report.daemon.connections) {
                    Ok(found) => {
                        report.daemon.failures.extend(found);
                        report.log = Some(log.describe());
                    }
                    Err(e) => evidence.holes.push(format!("IKE daemon log: {e}")),
                }
            }
            evidence.ike = Some(view(&report, flow));
        }
        Err(e) if request.explicit || request.log.is_some() => {
            evidence.holes.push(format!("IKE daemon: {e}"))
        }
        Err(_) => {}
    }
}

/// The test flow as this side sees it: a sender sends to `dst`; a receiver is `dst`.
#[derive(Debug, Clone, Copy)]
struct SideFlow {
    flow: xfrmdiag_ike::Flow,
    receiver: bool,
}

fn ike_flow(evidence: &SideEvidence, request: &IkeRequest) -> Option<SideFlow> {
    let f = evidence.flow.as_ref()?;
    let (dst, receiver) = match f.dst.as_deref() {
        Some(d) => (d.parse().ok()?, false),
        None => (request.flow_dst?, true),
    };
    Some(SideFlow {
        flow: xfrmdiag_ike::Flow {
            src: None,
            dst,
            proto: if f.proto == "tcp" { 6 } else { 17 },
            sport: f.sport,
            dport: f.port,
        },
        receiver,
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

/// The selectors on the flow's destination side: the remote ones on a sender, the local ones
/// on a receiver.
fn dst_side<'a, T>(flow: &SideFlow, local: &'a [T], remote: &'a [T]) -> &'a [T] {
    if flow.receiver {
        local
    } else {
        remote
    }
}

/// True when a selector's addresses take in the flow's destination (protocol and port aside).
fn takes_in_dst(ts: &[TrafficSelector], flow: &xfrmdiag_ike::Flow) -> bool {
    ts.iter()
        .any(|t| t.covers(flow.dst, t.proto.unwrap_or(flow.proto), None))
}

fn view(report: &xfrmdiag_ike::IkeReport, flow: Option<SideFlow>) -> IkeView {
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
                        let ts = dst_side(&f, &ch.local_ts, &ch.remote_ts);
                        let addrs = dst_side(&f, &c.local_addrs, &c.remote_addrs);
                        configured(ts, addrs).map(|ts| covers(&ts, &f.flow))
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
                        covers_flow: flow
                            .map(|f| covers(dst_side(&f, &c.local_ts, &c.remote_ts), &f.flow)),
                        peer_of_flow: flow.map(|f| {
                            takes_in_dst(dst_side(&f, &c.local_ts, &c.remote_ts), &f.flow)
                        }),
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
        log: report.log.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_is_judged_on_its_local_selectors() {
        let mut evidence = SideEvidence {
            flow: Some(xfrmdiag_evidence::Flow {
                proto: "udp".into(),
                dst: None,
                port: 5555,
                sport: None,
            }),
            ..Default::default()
        };
        // a receiver knows no destination of its own: none, unless the sender's is given
        assert!(ike_flow(&evidence, &IkeRequest::default()).is_none());
        let request = IkeRequest {
            flow_dst: Some("10.77.0.2".parse().unwrap()),
            ..Default::default()
        };
        let f = ike_flow(&evidence, &request).unwrap();
        assert!(f.receiver);
        // b's connection: local dynamic[udp/5555] (its own address), remote dynamic[udp]
        let local = ["dynamic[udp/5555]".to_string()];
        let remote = ["dynamic[udp]".to_string()];
        let (me, peer) = (["10.77.0.2".to_string()], ["10.77.0.1".to_string()]);
        let ts = configured(dst_side(&f, &local, &remote), dst_side(&f, &me, &peer)).unwrap();
        assert!(covers(&ts, &f.flow));
        let other = ["dynamic[udp/7000]".to_string()];
        let ts = configured(dst_side(&f, &other, &remote), dst_side(&f, &me, &peer)).unwrap();
        assert!(!covers(&ts, &f.flow));
        assert!(takes_in_dst(&ts, &f.flow));
        // the sender's own destination wins over the one given
        evidence.flow.as_mut().unwrap().dst = Some("10.77.0.2".into());
        assert!(!ike_flow(&evidence, &request).unwrap().receiver);
    }

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
