//! The decision: one or more sides' evidence in, findings out. Pure — no I/O.
//!
//! A short generic loop over the rules (crate::rules): compute the shared facts once, apply every
//! rule to every side, apply exclusions, merge, rank. A loss that nothing explains is
//! `unknown-drop` (or `not-reached`), never a guess dressed as a cause.

use crate::evidence::{SideEvidence, Traffic};
use crate::facts::{self, item, trace_item, Facts};
use crate::finding::{self, Confidence, EvidenceItem, Finding, Report};
use crate::rules::{self, Candidate, Rule, Signal};

/// Decides what happened to the test flow from the evidence of one or more sides.
pub fn diagnose(sides: &[SideEvidence]) -> Report {
    let facts = Facts::of(sides);
    let (sent, received) = (facts.tally.sent, facts.tally.received);
    if facts.tally.delivered() {
        return delivered(&facts, sides);
    }
    let mut findings = Vec::new();
    for rule in rules::all().filter(|r| !r.compare_only) {
        for side in sides {
            findings.extend(apply(rule, &facts, side));
        }
    }
    let findings = merge_same_cause(exclude(findings));
    if findings.is_empty() {
        return finding::report(sent, received, vec![rules::unexplained(&facts)]);
    }
    finding::report(sent, received, findings)
}

/// Everything arrived: `delivered`, unless a rule says the flow should have been protected and
/// was not (`clear_text`: it arrived in clear, never healthy). Warnings ride along.
fn delivered(facts: &Facts, sides: &[SideEvidence]) -> Report {
    let (sent, received) = (facts.tally.sent, facts.tally.received);
    let findings_of = |pick: fn(&Rule) -> bool| {
        let mut found = Vec::new();
        for rule in rules::all().filter(|r| pick(r)) {
            for side in sides {
                found.extend(apply(rule, facts, side));
            }
        }
        merge_same_cause(exclude(found))
    };
    let outcome = rules::delivered(facts);
    let mut clear = findings_of(|r| r.clear_text);
    if !clear.is_empty() {
        for f in &mut clear {
            f.evidence.extend(outcome.evidence.iter().cloned());
        }
        return finding::report(sent, received, clear);
    }
    let mut findings = vec![outcome];
    findings.extend(findings_of(|r| r.warns_when_delivered));
    finding::report(sent, received, findings)
}

/// One rule on one side: the signals found there, what supports them, the judge's word.
fn apply(rule: &Rule, facts: &Facts, side: &SideEvidence) -> Option<Finding> {
    let mut c = Candidate {
        cause: rule.cause,
        side: Some(side.namespace.clone()),
        summary: rule.summary.to_string(),
        evidence: Vec::new(),
        hits: Vec::new(),
        kinds: Vec::new(),
        plausible_only: false,
    };
    let named = rule.names.iter().map(|s| (s, true));
    for (signal, names) in named.chain(rule.refines.iter().map(|s| (s, false))) {
        let found = signal_on(*signal, rule, facts, side);
        if !found.is_empty() {
            c.hits.push((*signal, names && signal.exclusive()));
            if !c.kinds.contains(&signal.kind()) {
                c.kinds.push(signal.kind());
            }
            c.context(found);
        }
    }
    let config_rule = rule.names.iter().any(|s| matches!(s, Signal::Config(_)));
    if c.hits.is_empty() && !config_rule {
        return None;
    }
    for signal in rule.supports {
        let found = support_on(*signal, facts, side);
        if !found.is_empty() && !c.kinds.contains(&signal.kind()) {
            c.kinds.push(signal.kind());
        }
        c.context(found);
    }
    if let Some(judge) = rule.judge {
        if !judge(facts, side, &mut c) {
            return None;
        }
    }
    let exclusive = c.hits.iter().any(|(_, alone)| *alone);
    let confidence = Confidence::of(exclusive, c.plausible_only, c.kinds.len());
    Some(finding::finding_for(
        c.cause, confidence, c.side, c.summary, c.evidence,
    ))
}

/// Evidence of `signal` on `side`, for a rule that names or refines with it. Trace signals are
/// system wide: a drop counts for the side that owns it ([`owner`]).
fn signal_on(signal: Signal, rule: &Rule, facts: &Facts, side: &SideEvidence) -> Vec<EvidenceItem> {
    match signal {
        Signal::Drop(..) => facts
            .drops
            .iter()
            .filter(|(_, d)| signal.matches_drop(&d.reason, d.symbol()))
            .filter(|(at, d)| {
                let owner = if d.reason == "NETFILTER_DROP" {
                    netfilter_owner(facts, at)
                } else {
                    owner(rule, facts, at)
                };
                owner.is_some_and(|o| o.namespace == side.namespace)
            })
            .map(|(_, d)| trace_item(side, d))
            .collect(),
        Signal::Audit(function) => facts
            .audits
            .iter()
            .filter(|(at, m, _)| {
                *m == function
                    && owner(rule, facts, at).is_some_and(|o| o.namespace == side.namespace)
            })
            .map(|(_, m, n)| item("trace", side, format!("{m} hit {n} time(s)")))
            .collect(),
        _ => local_signal(signal, side),
    }
}

/// Evidence of a supporting signal: trace drops from any capture count for this side.
fn support_on(signal: Signal, facts: &Facts, side: &SideEvidence) -> Vec<EvidenceItem> {
    match signal {
        Signal::Drop(..) => facts
            .drops
            .iter()
            .filter(|(_, d)| signal.matches_drop(&d.reason, d.symbol()))
            .map(|(_, d)| trace_item(side, d))
            .collect(),
        Signal::Audit(function) => facts
            .audits
            .iter()
            .filter(|(_, m, _)| *m == function)
            .map(|(_, m, n)| item("trace", side, format!("{m} hit {n} time(s)")))
            .collect(),
        _ => local_signal(signal, side),
    }
}

/// Signals read on the side itself: its counters, errnos, events, route, sockets, firewall.
fn local_signal(signal: Signal, side: &SideEvidence) -> Vec<EvidenceItem> {
    match signal {
        Signal::Counter(_) | Signal::SharedCounter(_) => facts::counters(side)
            .into_iter()
            .flat_map(|c| c.delta.keys())
            .filter(|name| signal.matches_counter(name))
            .filter_map(|name| facts::moved(side, name).map(|n| facts::counter_item(side, name, n)))
            .collect(),
        Signal::Errno(errno) => facts::send_failures(side)
            .into_iter()
            .filter(|f| f.error.errno == errno)
            .map(|f| {
                let e = f.error;
                let text = match f.call {
                    "sendto" => format!(
                        "sendto failed {} time(s) with {} ({}), first at datagram #{}",
                        e.count, e.errno, e.message, e.first
                    ),
                    call => format!("TCP {call} failed with {} ({})", e.errno, e.message),
                };
                item("send", side, text)
            })
            .collect(),
        Signal::Event(kind) => side
            .events
            .iter()
            .flatten()
            .filter(|e| e.kind == kind && (kind != "expire" || e.hard == Some(true)))
            .map(|e| item("event", side, format!("{}: {}", e.kind, e.text)))
            .collect(),
        Signal::Route(kind) => side
            .route
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| item("route", side, format!("route to {} is {}", r.dst, r.kind)))
            .collect(),
        Signal::RouteDevice(stat) => {
            let Some(dev) = side.route.as_ref().and_then(|r| r.dev.as_deref()) else {
                return Vec::new();
            };
            let name = format!("dev:{dev}:{stat}");
            facts::moved(side, &name)
                .map(|n| facts::counter_item(side, &name, n))
                .into_iter()
                .collect()
        }
        Signal::SocketDrops => match &side.traffic {
            Some(Traffic::Observe(o)) => o
                .socket_drops
                .filter(|n| *n > 0)
                .map(|n| {
                    let text = format!("socket on port {}: drops +{n} (/proc/net/udp)", o.port);
                    item("listen", side, text)
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        Signal::FirewallRule => side
            .firewall
            .iter()
            .flatten()
            .filter(|h| h.verdict == "drop" || h.verdict == "reject")
            .map(|h| {
                item(
                    "firewall",
                    side,
                    format!("{} ({} packets)", h.rule, h.packets),
                )
            })
            .collect(),
        Signal::Drop(..) | Signal::Audit(_) | Signal::Config(_) => Vec::new(),
    }
}

/// The side a system-wide trace signal of `rule` belongs to. One capture covers every namespace
/// on the machine: the side whose counters show the rule's own counters moving owns it; when
/// every side's counters were read and none moved, the drop was someone else's (`None`);
/// otherwise the side whose capture saw it.
fn owner<'a>(
    rule: &Rule,
    facts: &Facts<'a>,
    captured_by: &'a SideEvidence,
) -> Option<&'a SideEvidence> {
    let counters: Vec<Signal> = rule
        .names
        .iter()
        .chain(rule.refines)
        .copied()
        .filter(|s| matches!(s, Signal::Counter(_) | Signal::SharedCounter(_)))
        .collect();
    let moved_on = |s: &SideEvidence| {
        facts::counters(s).is_some_and(|c| {
            c.delta.keys().any(|n| {
                counters.iter().any(|sig| sig.matches_counter(n)) && c.increase(n).is_some()
            })
        })
    };
    if let Some(side) = facts.sides.iter().find(|s| moved_on(s)) {
        return Some(side);
    }
    let own_counters = rule.names.iter().any(|s| matches!(s, Signal::Counter(_)));
    let all_read = facts.sides.iter().all(|s| s.counters.is_some());
    if own_counters && all_read {
        return None;
    }
    Some(captured_by)
}

/// The side a `NETFILTER_DROP` belongs to: only a namespace with a netfilter table can drop
/// so. The capturing side when it may, else the first side that may. When every side's tables
/// were read and none has any, the drop is another namespace's on this machine: the flow's when
/// a router stands between the sides (it may be one, outside the evidence: the capturing side
/// reports it), never when the sides are on one link.
fn netfilter_owner<'a>(
    facts: &Facts<'a>,
    captured_by: &'a SideEvidence,
) -> Option<&'a SideEvidence> {
    let may_drop = |s: &SideEvidence| s.netfilter_tables.as_ref().is_none_or(|t| !t.is_empty());
    if may_drop(captured_by) {
        return Some(captured_by);
    }
    if let Some(side) = facts.sides.iter().find(|s| may_drop(s)) {
        return Some(side);
    }
    (!facts.flow_is_on_link()).then_some(captured_by)
}

/// A finding replaces the findings its rule excludes on the same side, when at least as sure.
fn exclude(findings: Vec<Finding>) -> Vec<Finding> {
    let excluded = |f: &Finding| {
        findings.iter().any(|g| {
            g.side == f.side
                && g.confidence <= f.confidence
                && rules::rule(g.cause).excludes.contains(&f.cause)
        })
    };
    let keep: Vec<bool> = findings.iter().map(|f| !excluded(f)).collect();
    findings
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect()
}

/// Findings of the same cause on the same side become one, with all the evidence.
fn merge_same_cause(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    for f in findings {
        match merged
            .iter_mut()
            .find(|m| m.cause == f.cause && m.side == f.side)
        {
            Some(existing) => {
                existing.confidence = existing.confidence.min(f.confidence);
                for e in f.evidence {
                    if !existing.evidence.contains(&e) {
                        existing.evidence.push(e);
                    }
                }
            }
            None => merged.push(f),
        }
    }
    merged
}
