//! The IKE daemon as a peer: what it is configured to protect, what it negotiated, and whether
//! the kernel holds what it negotiated (`diagnose --ike`, the side's `ike` evidence).
//!
//! Clear text is never healthy: when a connection's configured selectors cover the test flow
//! and no CHILD_SA protects it (`ike-not-established`) or the negotiated selectors leave it out
//! (`ike-ts-mismatch`), datagrams that arrived arrived in clear. These two rules are
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
        title: "the negotiated traffic selectors leave the flow out",
        fault: "The connection is configured to cover the flow, but its CHILD_SA was negotiated with narrower selectors (the peer proposed or accepted less): the kernel policies follow the negotiated ones, so the flow is not protected.",
        evidence: "the side's IKE view: a configured connection covering the flow, an installed CHILD_SA of it whose negotiated selectors do not cover the flow",
        summary: "the CHILD_SA's negotiated traffic selectors leave the flow out: it is not protected",
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

/// The installed CHILD_SAs as (connection, child, covers the flow).
fn installed(ike: &IkeView) -> Vec<(&str, &str, Option<bool>, String)> {
    ike.ike_sas
        .iter()
        .flat_map(|i| {
            i.child_sas.iter().filter(|c| c.installed).map(move |c| {
                let ts = format!(
                    "{}/{}: {} === {}",
                    i.name,
                    c.name,
                    c.local_ts.join(","),
                    c.remote_ts.join(",")
                );
                (i.name.as_str(), c.name.as_str(), c.covers_flow, ts)
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
    if conf.is_empty() || up.iter().any(|u| u.2 == Some(true)) {
        return false;
    }
    // An installed CHILD_SA of a covering connection that leaves the flow out: ike-ts-mismatch.
    if up
        .iter()
        .any(|u| conf.iter().any(|(cn, ch)| cn.name == u.0 && ch.name == u.1))
    {
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
    c.summary = format!(
        "the {} connection {}/{} covers the flow but has no CHILD_SA (reason: {reason}): the flow is not protected",
        ike.daemon, conn.name, child.name
    );
    in_clear(facts, c);
    let mut items: Vec<_> = configured_item(ike, conn)
        .into_iter()
        .map(|t| item("config", side, t))
        .collect();
    if let Some(f) = failure {
        items.push(item("config", side, format!("daemon: {}", f.detail)));
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
    if conf.is_empty() || up.iter().any(|u| u.2 == Some(true)) {
        return false;
    }
    let narrowed: Vec<&(&str, &str, Option<bool>, String)> = up
        .iter()
        .filter(|u| conf.iter().any(|(cn, ch)| cn.name == u.0 && ch.name == u.1))
        .collect();
    let Some(first) = narrowed.first() else {
        return false;
    };
    c.summary = format!(
        "CHILD_SA {}/{} was negotiated with traffic selectors that leave the flow out: it is not protected",
        first.0, first.1
    );
    in_clear(facts, c);
    let conn = conf
        .iter()
        .find(|(cn, _)| cn.name == first.0)
        .map(|(cn, _)| *cn);
    let mut items: Vec<_> = conn
        .map(|cn| configured_item(ike, cn))
        .unwrap_or_default()
        .into_iter()
        .map(|t| item("config", side, t))
        .collect();
    items.extend(
        narrowed
            .iter()
            .map(|u| item("config", side, format!("negotiated {}", u.3))),
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
