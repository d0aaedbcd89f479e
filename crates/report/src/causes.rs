//! docs/causes.md, generated from the diagnose rules (a test keeps it current).

use std::fmt::Write;

use xfrmdiag_diagnose::rules::{self, Rule, Signal};
use xfrmdiag_diagnose::CauseId;

/// A signal as the doc names it.
fn signal(s: &Signal) -> String {
    match s {
        Signal::Counter(n) => format!("counter `{n}`"),
        Signal::SharedCounter(n) => format!("counter `{n}` (shared with faults without a rule)"),
        Signal::Errno(e) => format!("sendto {e}"),
        Signal::Drop(r, at) => match (*r, *at) {
            (r, "*") => format!("drop reason `{r}`"),
            ("*", at) => format!("a drop in `{at}`"),
            (r, at) => format!("drop reason `{r}` in `{at}`"),
        },
        Signal::Audit(f) => format!("`{f}` (function tracer)"),
        Signal::Event(k) if *k == "expire" => "a hard EXPIRE event".into(),
        Signal::Event(k) => format!("an {} event", k.to_uppercase()),
        Signal::Route(k) => format!("route type `{k}`"),
        Signal::RouteDevice(stat) => format!("the route's device `dev:DEV:{stat}`"),
        Signal::SocketDrops => "the observed socket's drops".into(),
        Signal::FirewallRule => "an nftables drop/reject rule's counter".into(),
        Signal::Config(what) => format!("configuration: {what}"),
    }
}

fn list(signals: &[Signal]) -> String {
    signals.iter().map(signal).collect::<Vec<_>>().join("; ")
}

fn ids(causes: &[CauseId]) -> String {
    causes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn section(out: &mut String, r: &Rule) {
    let _ = write!(out, "\n### `{}`\n\n{}.\n\n", r.cause, capitalized(r.title));
    let mut field = |name: &str, text: String| {
        if !text.is_empty() {
            let _ = writeln!(out, "- **{name}**: {text}");
        }
    };
    field("Fault", r.fault.to_string());
    field("Evidence", r.evidence.to_string());
    field("Named by", list(r.names));
    field("Refines", list(r.refines));
    field("Supported by", list(r.supports));
    field("Excludes", ids(r.excludes));
    if r.compare_only {
        field(
            "Named by",
            "`xfrmdiag compare` only (the two hosts' SAs side by side)".into(),
        );
    }
    field("Remedy", capitalized(r.remedy));
    field(
        "Rule",
        format!("`crates/diagnose/src/rules/{}.rs`", rules::family(r.cause)),
    );
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The cause catalog as Markdown (docs/causes.md is this text).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Cause catalog\n\n\
Generated from the diagnose rules (`crates/diagnose/src/rules/`; \
`XFRMDIAG_UPDATE_DOCS=1 cargo test -p xfrmdiag --test integration causes_doc` rewrites it). Every \
cause `xfrmdiag diagnose`, `analyze`, `compare`, `demo` and `check` can name, in ranking order. Ids \
are stable and kebab-case. `counters`, `watch` and `trace` show the same cause for a signal: the \
rule that *names* it.\n\n\
## How a rule decides\n\n\
A rule lists the signals that **name** its cause (each signal is named by one rule only), the \
signals it **refines** (shared by several causes: its judge decides from the configuration), the \
signals that only **support** it, and the causes it **excludes** on the same side. Trace drops, \
audit functions and events are system wide: one belongs to the side whose own counters for the \
same cause moved, to nobody when every side's counters were read and none moved, else to the side \
that captured it.\n\n\
Confidence follows from the kinds of signal found, by one rule for every cause:\n\n\
1. a signal that names the cause alone on its side (its own counter, an errno, the route, the \
socket's drops): `certain`;\n\
2. a reading the judge calls plausible only (what would decide was not collected): `possible`;\n\
3. two different kinds of signal that agree (a counter and a trace drop, an errno and the \
configuration): `certain`;\n\
4. one shared, system-wide or configuration signal: `likely`.\n\n\
The verdict is the most certain finding; among equals the one a packet meets first (the order \
below). A loss nothing explains is `unknown-drop` (or `not-reached`), never a guess. `delivered` \
and `no-drop-seen` exit 0, every other cause exits 1. The kernel facts the rules rest on, with \
versions and how they were measured, are in docs/kernel-notes.md.\n\n\
## How to add a cause\n\n\
1. Add its variant to `CauseId` (`crates/diagnose/src/cause.rs`) where a packet meets it: the \
position is its rank.\n\
2. Add its rule to the family file it belongs to in `crates/diagnose/src/rules/` (or a new family \
file plus one line in `FAMILIES`): signals, judge, texts, remedy.\n\
3. Add an engine test whose verdict is the cause to the verdict table in \
`crates/diagnose/src/tests.rs`, and a kernel scenario where one can be built.\n\
4. Regenerate this file (command above).\n\n\
## Causes\n",
    );
    for cause in CauseId::ALL {
        section(&mut out, rules::rule(*cause));
    }
    out
}

#[cfg(test)]
mod tests {
    //! One truth: what `counters`, `watch` and `trace` show for a signal is what `diagnose`
    //! concludes from it, and the rules name only counters the catalog knows.

    use super::*;
    use xfrmdiag_diagnose::evidence::*;

    /// Every counter a rule reads, as the catalog would be asked for it.
    fn rule_counters(r: &Rule) -> Vec<String> {
        r.names
            .iter()
            .chain(r.refines)
            .chain(r.supports)
            .filter_map(|s| match s {
                Signal::Counter(n) | Signal::SharedCounter(n) => Some(n.to_string()),
                Signal::RouteDevice(stat) => Some(format!("dev:*:{stat}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_cause_has_one_rule_in_one_family() {
        for cause in CauseId::ALL {
            let n = rules::all().filter(|r| r.cause == *cause).count();
            assert_eq!(n, 1, "{cause} has {n} rules");
            let r = rules::rule(*cause);
            assert!(
                !r.title.is_empty() && !r.remedy.is_empty(),
                "{cause}: texts"
            );
            assert!(!rules::family(*cause).is_empty());
        }
    }

    #[test]
    fn no_signal_is_named_by_two_rules() {
        let named: Vec<(CauseId, &Signal)> = rules::all()
            .flat_map(|r| r.names.iter().map(move |s| (r.cause, s)))
            .filter(|(_, s)| !matches!(s, Signal::Config(_)))
            .collect();
        for (i, (cause, s)) in named.iter().enumerate() {
            for (other, t) in &named[i + 1..] {
                assert!(s != t, "{s:?} is named by {cause} and {other}");
            }
        }
    }

    #[test]
    fn rules_name_only_counters_the_catalog_knows() {
        let catalog: Vec<&str> = xfrmdiag_counters::catalog()
            .iter()
            .map(|i| i.name)
            .collect();
        for r in rules::all() {
            for name in rule_counters(r) {
                let known = if name.contains('*') {
                    catalog.contains(&name.as_str())
                } else {
                    xfrmdiag_counters::lookup(&name).is_some()
                };
                assert!(
                    known,
                    "{}: counter {name} is not in the counters catalog",
                    r.cause
                );
            }
        }
    }

    /// A receiver that got none of 5 datagrams, with `f` applied to its evidence.
    fn lost(f: impl FnOnce(&mut SideEvidence)) -> Vec<SideEvidence> {
        let sender = SideEvidence {
            namespace: "a".into(),
            role: Role::Sender,
            traffic: Some(Traffic::Send(SendResult {
                dst: "10.99.1.2:5000".into(),
                attempted: 5,
                sent: 5,
                size: 64,
                errors: Vec::new(),
            })),
            counters: Some(Counters::default()),
            ..Default::default()
        };
        let mut receiver = SideEvidence {
            namespace: "b".into(),
            role: Role::Receiver,
            traffic: Some(Traffic::Listen(ListenResult {
                port: 5000,
                received: 0,
                bytes: 0,
                expected: Some(5),
                window_ms: 1000,
            })),
            counters: Some(Counters::default()),
            ..Default::default()
        };
        f(&mut receiver);
        vec![sender, receiver]
    }

    /// Walks every counter of the catalog (patterns with a concrete name) and every counter a
    /// rule names: the cause `counters`/`watch` show is the verdict `diagnose` gives when that
    /// counter alone moved, and a counter that names no cause makes diagnose name none from it.
    #[test]
    fn counters_watch_and_diagnose_agree_on_every_counter() {
        let mut names: Vec<String> = xfrmdiag_counters::catalog()
            .iter()
            .map(|i| i.name.replace('*', "0x00001000"))
            .collect();
        names.extend(
            rules::all()
                .flat_map(rule_counters)
                .map(|n| n.replace('*', "x")),
        );
        for name in names {
            let sides = lost(|r| {
                let c = r.counters.as_mut().unwrap();
                c.delta.insert(name.clone(), CounterChange::Increased(5));
            });
            let report = xfrmdiag_diagnose::diagnose(&sides);
            match rules::cause_of_counter(&name) {
                Some(cause) => assert_eq!(report.verdict, cause, "{name}: {report:#?}"),
                None => {
                    // Only a rule that refines the counter (its judge reading the
                    // configuration) may name a cause from it.
                    let refined_by: Vec<CauseId> = rules::all()
                        .filter(|r| r.refines.iter().any(|s| s.matches_counter(&name)))
                        .map(|r| r.cause)
                        .collect();
                    let unnamed =
                        matches!(report.verdict, CauseId::UnknownDrop | CauseId::NotReached);
                    assert!(
                        unnamed || refined_by.contains(&report.verdict),
                        "{name} names no cause, yet diagnose said {}",
                        report.verdict
                    );
                }
            }
        }
    }

    /// `trace` shows for an audit function what `diagnose` concludes from it.
    #[test]
    fn trace_and_diagnose_agree_on_every_audit_function() {
        for r in rules::all() {
            for s in r.names {
                let Signal::Audit(function) = s else { continue };
                assert_eq!(rules::cause_of_audit(function), Some(r.cause));
                let sides = lost(|side| {
                    side.counters = None;
                    side.trace = Some(TraceSummary {
                        audit_markers: vec![(function.to_string(), 5)],
                        ..Default::default()
                    });
                });
                let report = xfrmdiag_diagnose::diagnose(&sides);
                assert_eq!(report.verdict, r.cause, "{function}: {report:#?}");
            }
        }
    }

    #[test]
    fn the_contradictions_of_issue_11_are_gone() {
        assert_eq!(
            rules::cause_of_counter("XfrmFwdHdrError"),
            Some(CauseId::ForwardNoRoute)
        );
        assert_eq!(
            rules::cause_of_audit("xfrm_audit_state_replay_overflow"),
            Some(CauseId::SaSeqOverflow)
        );
        assert_eq!(
            rules::cause_of_counter("Udp.SndbufErrors"),
            Some(CauseId::TxDrop)
        );
    }

    #[test]
    fn the_doc_has_a_section_per_cause_in_ranking_order() {
        let doc = markdown();
        let mut at = 0;
        for cause in CauseId::ALL {
            let pos = doc[at..]
                .find(&format!("### `{cause}`"))
                .unwrap_or_else(|| panic!("{cause} missing or out of order"));
            at += pos;
        }
    }
}
