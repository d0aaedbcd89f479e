//! What the engine hands out: findings with their evidence, confidence and fix, and the report.

use serde::{Deserialize, Serialize};

use crate::cause::CauseId;

/// How sure a finding is. Decided by one rule from the kinds of signal behind it
/// ([`Confidence::of`]), never written into a rule by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A signal only this cause produces on the side where it sits, or two kinds of signal that
    /// agree.
    Certain,
    /// One signal that several causes share, a system-wide one (trace drop, audit function,
    /// XFRM event) or configuration.
    Likely,
    /// Plausible, not proven: the evidence that would decide was not collected.
    Possible,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Certain => "certain",
            Confidence::Likely => "likely",
            Confidence::Possible => "possible",
        }
    }

    /// The confidence rule, the same for every cause:
    ///
    /// 1. a signal that names this cause alone on its side (the side's own counter, an errno,
    ///    the route the kernel chose, the application socket's drops): `certain`;
    /// 2. otherwise, a reading the rule's judge calls plausible only (what would decide was not
    ///    collected): `possible`;
    /// 3. otherwise, two different kinds of signal that agree (a shared counter and a trace
    ///    drop, an errno and the configuration, an audit function and a counter): `certain`;
    /// 4. otherwise (one shared, system-wide or configuration signal): `likely`.
    pub const fn of(exclusive: bool, plausible_only: bool, kinds: usize) -> Confidence {
        if exclusive {
            Confidence::Certain
        } else if plausible_only {
            Confidence::Possible
        } else if kinds >= 2 {
            Confidence::Certain
        } else {
            Confidence::Likely
        }
    }
}

/// One piece of evidence behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// `counter`, `trace`, `send`, `listen`, `config`, `event`, `sysctl`, `route`, `firewall`.
    pub kind: String,
    /// The side (namespace or host) it was seen on.
    pub side: String,
    pub text: String,
}

/// A named cause with its evidence and fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub cause: CauseId,
    pub confidence: Confidence,
    /// The side the cause sits on, when it is on one.
    #[serde(default)]
    pub side: Option<String>,
    pub summary: String,
    pub evidence: Vec<EvidenceItem>,
    pub remedy: String,
}

/// The outcome of a diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The cause of the first finding.
    pub verdict: CauseId,
    /// True when the verdict means the flow is fine (exit 0).
    pub healthy: bool,
    /// Datagrams the senders handed to the kernel successfully, when a side sent them.
    pub sent: Option<u32>,
    /// Datagrams that reached a listening socket, when a side listened.
    pub received: Option<u32>,
    /// Most certain first; the first one is the verdict.
    pub findings: Vec<Finding>,
}

/// A finding with the rule's remedy for `cause`.
pub(crate) fn finding_for(
    cause: CauseId,
    confidence: Confidence,
    side: Option<String>,
    summary: String,
    evidence: Vec<EvidenceItem>,
) -> Finding {
    Finding {
        cause,
        confidence,
        side,
        summary,
        evidence,
        remedy: crate::rules::rule(cause).remedy.to_string(),
    }
}

/// The ranking, in one place: most certain first; among equals the order a packet meets the
/// causes ([`CauseId`]'s declaration order).
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by_key(|f| (f.confidence, f.cause));
}

/// The report for ranked `findings` (at least one).
pub(crate) fn report(
    sent: Option<u32>,
    received: Option<u32>,
    mut findings: Vec<Finding>,
) -> Report {
    sort_findings(&mut findings);
    let verdict = findings[0].cause;
    Report {
        verdict,
        healthy: crate::rules::rule(verdict).healthy,
        sent,
        received,
        findings,
    }
}
