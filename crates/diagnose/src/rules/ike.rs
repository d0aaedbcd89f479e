//! The IKE daemon as a peer: what it is configured to protect, what it negotiated, and whether
//! the kernel holds what it negotiated (`diagnose --ike`, the side's `ike` evidence).
//!
//! Clear text is never healthy: when a connection's configured selectors cover the test flow
//! and no CHILD_SA protects it (`ike-not-established`), or a CHILD_SA of that connection or
//! with the flow's peer is up with selectors that leave the flow out (`ike-ts-mismatch`),
//! datagrams that arrived arrived in clear. The side's view was judged for the flow's
//! destination: a sender's remote selectors, a receiver's local ones. These two rules are
//! `clear_text`: a finding outranks `delivered` and the flow exits 1.
//!
//! `ike-child-sa-not-in-kernel` and `kernel-sa-without-ike` are findings about the daemon and
//! the kernel disagreeing. Next to a delivered flow they are warnings (`warns_when_delivered`):
//! the flow's packets were carried by *some* SA, which the kernel's own counters would have
//! shown missing otherwise; a stale SA left without a daemon still stops working at its next
//! rekey, which the warning says. When the flow is lost they rank as configuration findings.

use crate::cause::CauseId;
use crate::evidence::{IkeChildConfig, IkeConnection, IkeView, SideEvidence};
use crate::facts::{item, Facts};
use crate::rules::{Candidate, Kind, Rule, Signal};

pub const RULES: &[Rule] = &[
    Rule {
        title: "the IKE connection that should protect the flow is not established",
        fault: "The daemon has a connection whose configured traffic selectors cover the flow, but no CHILD_SA is installed for it: the negotiation failed (proposals, authentication, selectors, an unreachable peer) or never started. Without a CHILD_SA the kernel has no SA and no policy for the flow, so it goes out in clear (or is dropped by a trap policy).",
        evidence: "the side's IKE view: a configured connection covering the flow, no installed CHILD_SA covering it, and the daemon's failure reason when it gave one",
        summary: "the IKE connection configured for the flow has no CHILD_SA: the flow is not protected",
        remedy: "read the reason in the finding: fix the proposals, credentials or selectors so both peers agree, then initiate the connection (`swanctl --initiate --child NAME`, `ipsec auto --up NAME`)",
        names: &[Signal::Config("ike")],
        judge: Some(not_established),
        clear_text: true,
        ..Rule::new(CauseId::IkeNotEstablished)
    },
    Rule {
        title: "the traffic selectors exclude the flow",
        fault: "A CHILD_SA is up but its selectors leave the flow out, so the kernel policies (which follow the negotiated selectors) do not protect it: either the connection is configured to cover the flow and was negotiated narrower (the peer proposed or accepted less), or a CHILD_SA with the flow's peer is up for other ports or protocols and no connection covers the flow at all.",
        evidence: "the side's IKE view: an installed CHILD_SA whose negotiated selectors do not cover the flow, of a connection configured to cover it, or (no connection covering it) with the flow's peer",
        summary: "the CHILD_SA's traffic selectors exclude the flow: it is not protected",
        remedy: "make local_ts/remote_ts of both peers mirror each other and include the flow's addresses, protocol and port (`swanctl --list-sas` shows what was negotiated), then re-establish the CHILD_SA",
        names: &[Signal::Config("ike")],
        judge: Some(ts_mismatch),
        clear_text: true,
        ..Rule::new(CauseId::IkeTsMismatch)
    },
    Rule {
        title: "a CHILD_SA the daemon calls installed is not in the kernel",
        fault: "The SA was removed behind the daemon's back (`ip xfrm state flush`, a second daemon, a namespace change): the daemon keeps announcing it while the kernel has no SA with its SPI.",
        evidence: "the side's IKE view joined with its kernel SAs by SPI: a CHILD_SA in state INSTALLED in two daemon reads, no kernel SA with its SPI",
        summary: "a CHILD_SA the daemon calls installed has no SA in the kernel",
        remedy: "restart the connection (`swanctl --terminate --child NAME; swanctl --initiate --child NAME`) and find what removed the SA",
        names: &[Signal::Config("ike")],
        judge: Some(child_sa_not_in_kernel),
        warns_when_delivered: true,
        ..Rule::new(CauseId::IkeChildSaNotInKernel)
    },
    Rule {
        title: "a kernel SA that no IKE CHILD_SA owns",
        fault: "Left behind by a daemon that crashed, restarted or lost a rekey collision (or added by hand): the daemon will neither rekey nor delete it, and the peer may no longer have its twin. Next to a delivered flow it is a warning: the flow works until that SA expires.",
        evidence: "the side's IKE view joined with its kernel SAs by SPI: a kernel SA whose SPI no CHILD_SA of the daemon has, in either of two reads",
        summary: "the kernel holds SAs that no CHILD_SA of the daemon owns",
        remedy: "remove them (`ip xfrm state delete src … dst … proto esp spi …`) or restart the daemon with a clean kernel state",
        names: &[Signal::Config("ike")],
        judge: Some(kernel_sa_without_ike),
        warns_when_delivered: true,
        ..Rule::new(CauseId::KernelSaWithoutIke)
    },
];

/// The configured CHILD_SAs whose selectors cover the flow.
fn covering(ike: &IkeView) -> Vec<(&IkeConnection, &IkeChildConfig)> {
    ike.connections
        .iter()
        .flat_map(|c| c.children.iter().map(move |ch| (c, ch)))
        .filter(|(_, ch)| ch.covers_flow == Some(true))
        .collect()
}

/// An installed CHILD_SA, as far as the flow is concerned.
struct Up<'a> {
    conn: &'a str,
    child: &'a str,
    /// Its negotiated selectors cover the flow.
    covers: Option<bool>,
    /// Its selectors' addresses take in the flow's destination: it is with the flow's peer.
    with_peer: bool,
    /// `conn/child: local === remote`, negotiated.
    ts: String,
}

fn installed(ike: &IkeView) -> Vec<Up<'_>> {
    ike.ike_sas
        .iter()
        .flat_map(|i| {
            i.child_sas.iter().filter(|c| c.installed).map(move |c| Up {
                conn: &i.name,
                child: &c.name,
                covers: c.covers_flow,
                with_peer: c.peer_of_flow == Some(true),
                ts: format!(
                    "{}/{}: {} === {}",
                    i.name,
                    c.name,
                    c.local_ts.join(","),
                    c.remote_ts.join(",")
                ),
            })
        })
        .collect()
}

/// The configured selectors of `conn` that cover the flow, in words.
fn configured_item(ike: &IkeView, conn: &IkeConnection) -> Vec<String> {
    conn.children
        .iter()
        .filter(|ch| ch.covers_flow == Some(true))
        .map(|ch| {
            format!(
                "{} connection {}/{} is configured for {} === {}",
                ike.daemon,
                conn.name,
                ch.name,
                ch.local_ts.join(","),
                ch.remote_ts.join(",")
            )
        })
        .collect()
}

fn in_clear(facts: &Facts, c: &mut Candidate) {
    if facts.tally.delivered() {
        c.summary
            .push_str("; the datagrams that arrived arrived in clear");
    }
}

fn not_established(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let Some(ike) = &side.ike else { return false };
    let conf = covering(ike);
    let up = installed(ike);
    if conf.is_empty() || up.iter().any(|u| u.covers == Some(true)) {
        return false;
    }
    // An installed CHILD_SA of a covering connection that leaves the flow out: ike-ts-mismatch.
    if up.iter().any(|u| {
        conf.iter()
            .any(|(cn, ch)| cn.name == u.conn && ch.name == u.child)
    }) {
        return false;
    }
    let (conn, child) = conf[0];
    let failure = ike
        .failures
        .iter()
        .rev()
        .find(|f| f.connection.as_deref().is_none_or(|n| n == conn.name));
    let ike_sa = ike.ike_sas.iter().find(|i| i.name == conn.name);
    let reason = match (failure, ike_sa) {
        (Some(f), _) => f.reason.clone(),
        (None, Some(_)) => "in-progress".to_string(),
        (None, None) => "unknown".to_string(),
    };
    let said = match failure {
        Some(f) => format!("the daemon's log says {}", f.reason),
        None => format!("reason: {reason}"),
    };
    c.summary = format!(
        "the {} connection {}/{} covers the flow but has no CHILD_SA ({said}): the flow is not protected",
        ike.daemon, conn.name, child.name
    );
    in_clear(facts, c);
    let mut items: Vec<_> = configured_item(ike, conn)
        .into_iter()
        .map(|t| item("config", side, t))
        .collect();
    let log = ike.log.as_deref().unwrap_or("the daemon's log");
    match failure {
        Some(f) => items.push(item("config", side, format!("{log}: {}", f.detail))),
        None if ike.log.is_some() => items.push(item(
            "config",
            side,
            format!("{log}: no failure of {} after its last CHILD_SA", conn.name),
        )),
        None => items.push(item(
            "config",
            side,
            "no daemon log read (give it with --ike-log PATH|journal)".to_string(),
        )),
    }
    if let Some(i) = ike_sa {
        items.push(item(
            "config",
            side,
            format!("IKE_SA {} is {}", i.name, i.state),
        ));
    }
    c.corroborate(Kind::Config, items);
    true
}

fn ts_mismatch(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    let Some(ike) = &side.ike else { return false };
    let conf = covering(ike);
    let up = installed(ike);
    if up.iter().any(|u| u.covers == Some(true)) {
        return false;
    }
    // The connection meant for the flow was negotiated narrower; or, when no connection is
    // configured for it, a CHILD_SA with the flow's peer is up for other ports or protocols:
    // either way the selectors exclude the flow and it leaves in clear.
    let narrowed: Vec<&Up> = up
        .iter()
        .filter(|u| {
            conf.iter()
                .any(|(cn, ch)| cn.name == u.conn && ch.name == u.child)
        })
        .collect();
    let excluding: Vec<&Up> = if !narrowed.is_empty() {
        narrowed
    } else if conf.is_empty() {
        up.iter().filter(|u| u.with_peer).collect()
    } else {
        Vec::new()
    };
    let Some(first) = excluding.first() else {
        return false;
    };
    let how = if conf.is_empty() {
        "was negotiated and configured with traffic selectors that exclude the flow (same peer, other protocol or ports)"
    } else {
        "was negotiated with traffic selectors that exclude the flow (narrower than configured)"
    };
    c.summary = format!(
        "CHILD_SA {}/{} {how}: the flow is not protected",
        first.conn, first.child
    );
    in_clear(facts, c);
    let conn = conf
        .iter()
        .find(|(cn, _)| cn.name == first.conn)
        .map(|(cn, _)| *cn);
    let mut items: Vec<_> = conn
        .map(|cn| configured_item(ike, cn))
        .unwrap_or_default()
        .into_iter()
        .map(|t| item("config", side, t))
        .collect();
    items.extend(
        excluding
            .iter()
            .map(|u| item("config", side, format!("negotiated {}", u.ts))),
    );
    c.corroborate(Kind::Config, items);
    true
}

/// A finding the daemon/kernel join recorded with this cause.
fn from_join(side: &SideEvidence, c: &mut Candidate, id: &str) -> bool {
    let Some(ike) = &side.ike else { return false };
    let found: Vec<_> = ike.kernel_join.iter().filter(|f| f.cause == id).collect();
    if found.is_empty() {
        return false;
    }
    c.summary = found
        .iter()
        .map(|f| f.summary.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let items = found
        .iter()
        .flat_map(|f| f.evidence.iter())
        .map(|e| item("config", side, e.clone()))
        .collect();
    c.corroborate(Kind::Config, items);
    true
}

fn child_sa_not_in_kernel(_: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    from_join(side, c, CauseId::IkeChildSaNotInKernel.as_str())
}

fn kernel_sa_without_ike(facts: &Facts, side: &SideEvidence, c: &mut Candidate) -> bool {
    if !from_join(side, c, CauseId::KernelSaWithoutIke.as_str()) {
        return false;
    }
    if facts.tally.delivered() {
        c.summary.push_str(
            " (the flow was delivered; these SAs stop working at their expiry, nobody rekeys them)",
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::evidence::*;
    use crate::{diagnose, CauseId};

    fn side(
        name: &str,
        role: Role,
        dst: Option<&str>,
        traffic: Traffic,
        ike: IkeView,
    ) -> SideEvidence {
        SideEvidence {
            namespace: name.into(),
            role,
            flow: Some(Flow {
                proto: "udp".into(),
                dst: dst.map(str::to_string),
                port: 5555,
                sport: None,
            }),
            counters: Some(Counters {
                delta: BTreeMap::new(),
                read: vec!["Ip.InReceives".into(), "XfrmOutPolBlock".into()],
            }),
            traffic: Some(traffic),
            ike: Some(ike),
            ..Default::default()
        }
    }

    fn sent() -> Traffic {
        Traffic::Send(SendResult {
            dst: "10.77.0.2:5555".into(),
            attempted: 5,
            sent: 5,
            size: 64,
            errors: Vec::new(),
        })
    }

    fn listened() -> Traffic {
        Traffic::Listen(ListenResult {
            port: 5555,
            received: 5,
            bytes: 320,
            expected: None,
            window_ms: 1000,
        })
    }

    /// Connection `host` (child `flow`): its configured selectors cover the flow or not; its
    /// installed CHILD_SA (if any): covers the flow or not, is with the flow's peer or not.
    fn view(config_covers: bool, child: Option<(bool, bool)>) -> IkeView {
        IkeView {
            daemon: "strongswan".into(),
            source: "/run/ike-b/charon.vici".into(),
            connections: vec![IkeConnection {
                name: "host".into(),
                children: vec![IkeChildConfig {
                    name: "flow".into(),
                    local_ts: vec!["dynamic[udp/7000]".into()],
                    remote_ts: vec!["dynamic[udp]".into()],
                    covers_flow: Some(config_covers),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ike_sas: child
                .map(|(covers, with_peer)| IkeSaInfo {
                    name: "host".into(),
                    state: "ESTABLISHED".into(),
                    established: true,
                    child_sas: vec![ChildSaInfo {
                        name: "flow".into(),
                        state: "INSTALLED".into(),
                        installed: true,
                        local_ts: vec!["10.77.0.2/32[udp/7000]".into()],
                        remote_ts: vec!["10.77.0.1/32[udp]".into()],
                        covers_flow: Some(covers),
                        peer_of_flow: Some(with_peer),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn plain_sender() -> SideEvidence {
        let mut s = side(
            "a",
            Role::Sender,
            Some("10.77.0.2"),
            sent(),
            IkeView::default(),
        );
        s.ike = None;
        s
    }

    #[test]
    fn the_receivers_daemon_counts_for_a_flow_arriving_in_clear() {
        let mut ike = view(true, None);
        ike.log = Some("/run/ike-b/charon.log".into());
        ike.failures = vec![IkeFailure {
            reason: "AUTHENTICATION_FAILED".into(),
            connection: Some("host".into()),
            detail: "<host|1> tried 1 shared key for '10.77.0.2' - '10.77.0.1', but MAC mismatched"
                .into(),
        }];
        let r = diagnose(&[
            plain_sender(),
            side("b", Role::Receiver, None, listened(), ike),
        ]);
        assert_eq!(r.verdict, CauseId::IkeNotEstablished, "{r:#?}");
        let f = &r.findings[0];
        assert_eq!(f.side.as_deref(), Some("b"));
        assert!(
            f.summary
                .contains("daemon's log says AUTHENTICATION_FAILED"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("in clear"), "{}", f.summary);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.text.starts_with("/run/ike-b/charon.log: ")
                    && e.text.contains("MAC mismatched")),
            "{f:#?}"
        );
    }

    #[test]
    fn a_child_sa_with_the_peer_for_other_ports_excludes_the_flow() {
        // neither side's configuration covers the flow, the CHILD_SA is up for udp/7000
        let r = diagnose(&[
            side(
                "a",
                Role::Sender,
                Some("10.77.0.2"),
                sent(),
                view(false, Some((false, true))),
            ),
            side(
                "b",
                Role::Receiver,
                None,
                listened(),
                view(false, Some((false, true))),
            ),
        ]);
        assert_eq!(r.verdict, CauseId::IkeTsMismatch, "{r:#?}");
        assert!(!r.healthy);
        let f = &r.findings[0];
        assert!(f.summary.contains("exclude the flow"), "{}", f.summary);
        assert!(
            f.evidence.iter().any(|e| e.text.contains("[udp/7000]")),
            "{f:#?}"
        );
    }

    #[test]
    fn a_child_sa_with_another_peer_says_nothing_about_the_flow() {
        let r = diagnose(&[
            side(
                "a",
                Role::Sender,
                Some("10.77.0.2"),
                sent(),
                view(false, Some((false, false))),
            ),
            side("b", Role::Receiver, None, listened(), view(false, None)),
        ]);
        assert_eq!(r.verdict, CauseId::Delivered, "{r:#?}");
        assert!(r.healthy);
    }

    #[test]
    fn without_a_log_the_finding_says_none_was_read() {
        let r = diagnose(&[
            side(
                "a",
                Role::Sender,
                Some("10.77.0.2"),
                sent(),
                view(true, None),
            ),
            side("b", Role::Receiver, None, listened(), view(false, None)),
        ]);
        assert_eq!(r.verdict, CauseId::IkeNotEstablished, "{r:#?}");
        let f = &r.findings[0];
        assert!(f.summary.contains("reason: unknown"), "{}", f.summary);
        assert!(
            f.evidence.iter().any(|e| e.text.contains("--ike-log")),
            "{f:#?}"
        );
    }
}
