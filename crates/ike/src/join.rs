//! The daemon's CHILD_SAs joined with the kernel's SAs (by SPI) and policies (by reqid, else by
//! selectors), and the four IKE findings.
//!
//! The daemon is read twice, before and after the kernel dump, so a rekey between the reads makes
//! no false finding: an SA counts as missing from the kernel only when both daemon reads say
//! installed, and as owned by no daemon only when neither read knows its SPI.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use xfrmdiag_inventory::{Direction, Policy, Prefix, Sa, Spi};

use crate::model::{ChildSa, DaemonView, IkeSa, NegotiationFailure, TrafficSelector};

/// Stable cause ids of the IKE findings.
pub const CHILD_SA_NOT_IN_KERNEL: &str = "ike-child-sa-not-in-kernel";
pub const KERNEL_SA_WITHOUT_IKE: &str = "kernel-sa-without-ike";
pub const NOT_ESTABLISHED: &str = "ike-not-established";
pub const TS_MISMATCH: &str = "ike-ts-mismatch";

/// The test flow the findings are about (optional): protocol, addresses, ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub proto: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    pub dport: u16,
}

/// A kernel SA, as far as the join needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSaRef {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: String,
    pub spi: Spi,
    pub reqid: u32,
    pub mode: String,
    pub bytes: u64,
    pub packets: u64,
}

impl KernelSaRef {
    fn of(sa: &Sa) -> KernelSaRef {
        KernelSaRef {
            src: sa.src,
            dst: sa.dst,
            proto: sa.proto.to_string(),
            spi: sa.spi,
            reqid: sa.reqid,
            mode: sa.mode.to_string(),
            bytes: sa.lifetime.current.bytes,
            packets: sa.lifetime.current.packets,
        }
    }
}

/// A kernel policy, as far as the join needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelPolicyRef {
    pub dir: String,
    pub index: u32,
    pub src: Prefix,
    pub dst: Prefix,
    pub proto: u8,
    pub dport: u16,
    pub action: String,
}

/// One CHILD_SA next to what the kernel holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildJoin {
    pub ike_sa: String,
    pub child_sa: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniqueid: Option<u32>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reqid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi_in: Option<Spi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi_out: Option<Spi>,
    /// The kernel SAs with those SPIs (None: the kernel has no such SA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_sa_in: Option<KernelSaRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_sa_out: Option<KernelSaRef>,
    pub kernel_policies: Vec<KernelPolicyRef>,
    /// True when every SA its state implies is in the kernel: both SAs while installed; only the
    /// inbound one once rekeyed or deleting (strongSwan removes the old outbound SA at once).
    pub in_kernel: bool,
    /// Whether its selectors cover the flow (absent without a flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers_flow: Option<bool>,
}

/// One IKE finding: a stable cause id, what was seen, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeFinding {
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub summary: String,
    /// The daemon's reason, for `ike-not-established`: NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED,
    /// TS_UNACCEPTABLE, timeout, … or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub evidence: Vec<String>,
    pub remedy: String,
}

/// `xfrmdiag ike`'s whole answer for one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeReport {
    pub daemon: DaemonView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    pub child_sas: Vec<ChildJoin>,
    pub kernel_sas_without_ike: Vec<KernelSaRef>,
    pub findings: Vec<IkeFinding>,
    /// The log the failure reasons were read from (a path or `journal (UNIT, …)`); absent when
    /// none was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

fn proto_of(child: &ChildSa) -> &str {
    child.protocol.as_str()
}

fn find_sa<'a>(sas: &'a [Sa], spi: Option<Spi>, proto: &str) -> Option<&'a Sa> {
    let spi = spi?;
    sas.iter()
        .find(|sa| sa.spi == spi && sa.proto.to_string() == proto)
}

fn ts_equal_prefix(ts: &[TrafficSelector], p: &Prefix) -> bool {
    ts.iter().any(|t| {
        let (lo, hi) = crate::model::parse_addr_range(&p.to_string()).unwrap_or((p.addr, p.addr));
        t.from == lo && t.to == hi
    })
}

fn owned_policies(child: &ChildSa, policies: &[Policy]) -> Vec<KernelPolicyRef> {
    policies
        .iter()
        .filter(|p| !p.socket)
        .filter(|p| match child.reqid.filter(|r| *r != 0) {
            Some(reqid) => p.templates.iter().any(|t| t.reqid == reqid),
            None => {
                let (local, remote) = match p.dir {
                    Direction::Out => (&p.selector.src, &p.selector.dst),
                    _ => (&p.selector.dst, &p.selector.src),
                };
                !p.templates.is_empty()
                    && ts_equal_prefix(&child.local_ts, local)
                    && ts_equal_prefix(&child.remote_ts, remote)
            }
        })
        .map(|p| KernelPolicyRef {
            dir: p.dir.as_str().to_string(),
            index: p.index,
            src: p.selector.src,
            dst: p.selector.dst,
            proto: p.selector.proto,
            dport: p.selector.dport,
            action: p.action.as_str().to_string(),
        })
        .collect()
}

/// True when the CHILD_SA's selectors cover the flow in either direction.
pub fn child_covers(child: &ChildSa, flow: &Flow) -> bool {
    let side = |ts: &[TrafficSelector], addr: Option<IpAddr>, port: Option<u16>| {
        ts.iter().any(|t| match addr {
            Some(a) => t.covers(a, flow.proto, port),
            // Source unknown: only the family and port can be checked.
            None => t.covers(t.from, flow.proto, port) && t.from.is_ipv4() == flow.dst.is_ipv4(),
        })
    };
    let outbound = side(&child.local_ts, flow.src, flow.sport)
        && side(&child.remote_ts, Some(flow.dst), Some(flow.dport));
    let inbound = side(&child.remote_ts, flow.src, flow.sport)
        && side(&child.local_ts, Some(flow.dst), Some(flow.dport));
    outbound || inbound
}

/// True when the CHILD_SA's selectors take in the flow's addresses (protocol and ports aside),
/// in either direction: a CHILD_SA with the flow's peer.
pub fn child_with_peer(child: &ChildSa, flow: &Flow) -> bool {
    let side = |ts: &[TrafficSelector], addr: Option<IpAddr>| match addr {
        Some(a) => ts
            .iter()
            .any(|t| t.covers(a, t.proto.unwrap_or(flow.proto), None)),
        None => ts.iter().any(|t| t.from.is_ipv4() == flow.dst.is_ipv4()),
    };
    (side(&child.local_ts, flow.src) && side(&child.remote_ts, Some(flow.dst)))
        || (side(&child.remote_ts, flow.src) && side(&child.local_ts, Some(flow.dst)))
}

fn is_larval(sa: &Sa) -> bool {
    let a = &sa.algorithms;
    a.aead.is_none() && a.auth.is_none() && a.enc.is_none() && a.comp.is_none()
}

/// The daemon's last word on why `connection` did not come up.
fn reason_for<'a>(
    failures: &'a [NegotiationFailure],
    connection: Option<&str>,
) -> Option<&'a NegotiationFailure> {
    failures.iter().rev().find(|f| {
        connection.is_none() || f.connection.is_none() || f.connection.as_deref() == connection
    })
}

fn not_established(view: &DaemonView, connection: Option<&str>, what: String) -> IkeFinding {
    let failure = reason_for(&view.failures, connection);
    let ike_state = view
        .ike_sas
        .iter()
        .find(|i| connection.is_none_or(|c| i.name == c))
        .map(|i| format!("IKE_SA {} is {}", i.name, i.state));
    let reason = match (failure, &ike_state) {
        (Some(f), _) => f.reason.clone(),
        (None, Some(_)) => "in-progress".to_string(),
        (None, None) => "unknown".to_string(),
    };
    let mut evidence = Vec::new();
    if let Some(f) = failure {
        evidence.push(format!("daemon log: {}", f.detail));
    }
    evidence.extend(ike_state);
    if failure.is_none() {
        evidence.push(
            "no failure found in the daemon's log (give it with --log, or raise its log level)"
                .to_string(),
        );
    }
    let remedy = match reason.as_str() {
        "NO_PROPOSAL_CHOSEN" if view.daemon == crate::model::DaemonKind::Libreswan => "make the proposals (`ike=` / `esp=`) of both peers share one algorithm set; `ipsec whack --status` on both shows them",
        "NO_PROPOSAL_CHOSEN" => "make the proposals (esp_proposals / ike proposals) of both peers share one algorithm set; `swanctl --list-conns` on both shows them",
        "AUTHENTICATION_FAILED" => "the peers disagree on authentication: check the PSK (or certificate and identities) on both sides; the responder's log names the failing check",
        "TS_UNACCEPTABLE" => "the peers' traffic selectors do not intersect: make local_ts/remote_ts of each side mirror the other's",
        "timeout" => "the peer did not answer IKE: check that UDP 500/4500 reaches it and that its daemon runs and loaded the connection",
        _ if view.daemon == crate::model::DaemonKind::Libreswan => "initiate it (`ipsec whack --name NAME --initiate`) and read pluto's log for the reason",
        _ => "initiate it (`swanctl --initiate --child NAME`) and read the daemon's log for the reason",
    };
    IkeFinding {
        cause: NOT_ESTABLISHED.to_string(),
        connection: connection.map(str::to_string),
        summary: format!("{what} has no CHILD_SA (reason: {reason}); traffic it should protect goes in clear or is dropped"),
        reason: Some(reason),
        evidence,
        remedy: remedy.to_string(),
    }
}

/// Joins the daemon's reads (`before`, then `after` the kernel dump) with the kernel's SAs and
/// policies. `after` is the view shown.
pub fn join(
    before: &DaemonView,
    after: DaemonView,
    sas: &[Sa],
    policies: &[Policy],
    flow: Option<Flow>,
) -> IkeReport {
    let mut findings = Vec::new();
    let installed_before: HashSet<(Option<Spi>, Option<Spi>)> = before
        .child_sas()
        .filter(|(_, c)| c.installed)
        .map(|(_, c)| (c.spi_in, c.spi_out))
        .collect();
    let mut children = Vec::new();
    for (ike, child) in after.child_sas() {
        let sa_in = find_sa(sas, child.spi_in, proto_of(child));
        let sa_out = find_sa(sas, child.spi_out, proto_of(child));
        let stable = installed_before.contains(&(child.spi_in, child.spi_out));
        let outbound_expected = !matches!(child.state.as_str(), "REKEYED" | "DELETING");
        let mut missing = Vec::new();
        if child.installed {
            if let (Some(spi), None) = (child.spi_in, sa_in) {
                missing.push(format!("inbound SPI {spi}"));
            }
            if let (Some(spi), None, true) = (child.spi_out, sa_out, outbound_expected) {
                missing.push(format!("outbound SPI {spi}"));
            }
        }
        let in_kernel = missing.is_empty();
        if stable && !missing.is_empty() {
            findings.push(IkeFinding {
                cause: CHILD_SA_NOT_IN_KERNEL.to_string(),
                connection: Some(ike.name.clone()),
                summary: format!(
                    "CHILD_SA {}{{{}}} is {} in the daemon, but the kernel has no SA for its {}",
                    child.name,
                    child.uniqueid.map_or("?".to_string(), |u| u.to_string()),
                    child.state,
                    missing.join(" and ")
                ),
                reason: None,
                evidence: vec![format!("{} kernel SAs checked by SPI", sas.len())],
                remedy: "the SA was removed behind the daemon's back (ip xfrm state flush, a \
                             second daemon, a netns change): restart the connection \
                             (`swanctl --terminate --child NAME; swanctl --initiate --child NAME`)"
                    .to_string(),
            });
        }
        children.push(ChildJoin {
            ike_sa: ike.name.clone(),
            child_sa: child.name.clone(),
            uniqueid: child.uniqueid,
            state: child.state.clone(),
            reqid: child.reqid,
            spi_in: child.spi_in,
            spi_out: child.spi_out,
            kernel_sa_in: sa_in.map(KernelSaRef::of),
            kernel_sa_out: sa_out.map(KernelSaRef::of),
            kernel_policies: owned_policies(child, policies),
            in_kernel,
            covers_flow: flow.map(|f| child_covers(child, &f)),
        });
    }

    // Kernel SAs no read of the daemon knows: leftovers.
    let known: HashSet<Spi> = before
        .child_sas()
        .chain(after.child_sas())
        .flat_map(|(_, c)| [c.spi_in, c.spi_out])
        .flatten()
        .collect();
    let orphans: Vec<KernelSaRef> = sas
        .iter()
        .filter(|sa| matches!(sa.proto.to_string().as_str(), "esp" | "ah"))
        .filter(|sa| !is_larval(sa) && sa.spi.0 != 0 && !known.contains(&sa.spi))
        .map(KernelSaRef::of)
        .collect();
    if !orphans.is_empty() {
        findings.push(IkeFinding {
            cause: KERNEL_SA_WITHOUT_IKE.to_string(),
            connection: None,
            summary: format!(
                "{} kernel SA(s) that no CHILD_SA of the {} daemon owns",
                orphans.len(),
                after.daemon.as_str()
            ),
            reason: None,
            evidence: orphans
                .iter()
                .map(|o| {
                    format!(
                        "{} {} -> {} spi {} reqid {} ({} packets)",
                        o.proto, o.src, o.dst, o.spi, o.reqid, o.packets
                    )
                })
                .collect(),
            remedy: "left behind by a daemon that crashed, restarted or lost a rekey collision: \
                     the peer will not use them; remove them (`ip xfrm state delete … spi …`) \
                     or restart the daemon with a clean kernel state"
                .to_string(),
        });
    }

    match flow {
        Some(f) => {
            let installed: Vec<(&IkeSa, &ChildSa)> =
                after.child_sas().filter(|(_, c)| c.installed).collect();
            let covering = installed.iter().any(|(_, c)| child_covers(c, &f));
            // CHILD_SAs with the flow's peer: when none covers the flow, their selectors
            // exclude it (other ports or protocol); without any, nothing was negotiated for it.
            let with_peer: Vec<&(&IkeSa, &ChildSa)> = installed
                .iter()
                .filter(|(_, c)| child_with_peer(c, &f))
                .collect();
            let flow_text = format!(
                "flow {} {} -> {}:{}",
                proto_name(f.proto),
                f.src.map_or("*".to_string(), |s| s.to_string()),
                f.dst,
                f.dport
            );
            if covering {
            } else if with_peer.is_empty() {
                findings.push(not_established(&after, None, format!("the {flow_text}")));
            } else {
                let (ike, child) = with_peer[0];
                findings.push(IkeFinding {
                    cause: TS_MISMATCH.to_string(),
                    connection: Some(ike.name.clone()),
                    summary: format!(
                        "CHILD_SA {}/{} is up with the flow's peer, but its traffic selectors exclude the {flow_text}: it is not protected",
                        ike.name, child.name
                    ),
                    reason: None,
                    evidence: with_peer
                        .iter()
                        .map(|(i, c)| {
                            format!(
                                "{}/{}: {} === {}",
                                i.name,
                                c.name,
                                ts_text(&c.local_ts),
                                ts_text(&c.remote_ts)
                            )
                        })
                        .collect(),
                    remedy: "widen local_ts/remote_ts (both peers) to include the flow's \
                             addresses, protocol and port, or add a CHILD_SA for it"
                        .to_string(),
                });
            }
        }
        None => {
            for conn in &after.connections {
                for cfg in &conn.children {
                    let up = after
                        .child_sas()
                        .any(|(i, c)| i.name == conn.name && c.name == cfg.name && c.installed);
                    if !up {
                        let mut f = not_established(
                            &after,
                            Some(&conn.name),
                            format!("connection {} (child {})", conn.name, cfg.name),
                        );
                        f.connection = Some(conn.name.clone());
                        findings.push(f);
                    }
                }
            }
        }
    }
    IkeReport {
        daemon: after,
        flow,
        child_sas: children,
        kernel_sas_without_ike: orphans,
        findings,
        log: None,
    }
}

fn ts_text(ts: &[TrafficSelector]) -> String {
    ts.iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        n => n.to_string(),
    }
}
