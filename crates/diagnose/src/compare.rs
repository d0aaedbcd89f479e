//! Cross-checks only two hosts can show: each SA against the peer's copy of it (same SPI and
//! destination), each outbound policy against the peer's inbound one, and one merged story.
//!
//! Pure like the engine: two sets of sides in, a comparison out. The same engine decides the
//! verdict over both hosts' evidence; the cross-checks add what configuration alone proves.

use serde::{Deserialize, Serialize};

use crate::cause::CauseId;
use crate::evidence::{Algorithm, Policy, Sa, SideEvidence};
use crate::facts::describe_policy;
use crate::finding::{finding_for, sort_findings};
use crate::{diagnose, Confidence, EvidenceItem, Finding, Report};

/// What configuration alone shows: likely (crate::Confidence::of).
const CONFIGURATION: Confidence = Confidence::of(false, false, 1);

/// One field of an SA as each host has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCheck {
    pub field: String,
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// An SA found on both hosts (same SPI, destination and protocol) and how its copies compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaPair {
    pub spi: String,
    pub src: String,
    pub dst: String,
    pub proto: String,
    pub fields: Vec<FieldCheck>,
}

/// An SA one host has and the other does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedSa {
    /// `a` or `b`: the host that has it.
    pub on: String,
    pub spi: String,
    pub src: String,
    pub dst: String,
    pub proto: String,
}

/// The result of `xfrmdiag compare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Names of host A's and B's sides (namespaces or hosts).
    pub a: Vec<String>,
    pub b: Vec<String>,
    /// The merged verdict, findings first from the engine over both hosts, then the cross-checks.
    pub report: Report,
    /// The merged story, one sentence per line.
    pub story: Vec<String>,
    pub sa_pairs: Vec<SaPair>,
    pub unmatched_sas: Vec<UnmatchedSa>,
    /// Policy cross-checks, one line each (`ok: …` or what differs).
    pub policy_checks: Vec<String>,
    /// Both daemons' CHILD_SAs against both kernels' SAs by SPI, one line each (`ok: …` or
    /// `differs: …`); empty unless both hosts' evidence carries an IKE view.
    #[serde(default)]
    pub ike_checks: Vec<String>,
}

/// Compares host A's evidence (one or more sides) with host B's.
pub fn compare(a: &[SideEvidence], b: &[SideEvidence]) -> Comparison {
    let all: Vec<SideEvidence> = a.iter().chain(b).cloned().collect();
    let base = diagnose(&all);
    let (sas_a, sas_b) = (sas(a), sas(b));
    let name_a = host_name(a);
    let name_b = host_name(b);

    let mut cross = Vec::new();
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    for sa in &sas_a {
        match sas_b.iter().find(|o| same_sa(sa, o)) {
            Some(other) => {
                let pair = compare_sa(sa, other);
                cross.extend(sa_findings(&pair, &name_a, &name_b, b));
                pairs.push(pair);
            }
            None => unmatched.push(unmatched_sa("a", sa)),
        }
    }
    for sa in &sas_b {
        if !sas_a.iter().any(|o| same_sa(sa, o)) {
            unmatched.push(unmatched_sa("b", sa));
        }
    }
    // Only meaningful when both hosts reported their SAs.
    if a.iter().any(has_sas) && b.iter().any(has_sas) {
        for u in &unmatched {
            let (has, lacks) = if u.on == "a" {
                (&name_a, &name_b)
            } else {
                (&name_b, &name_a)
            };
            let same_dst: Vec<String> = (if u.on == "a" { &sas_b } else { &sas_a })
                .iter()
                .filter(|o| o.dst == u.dst && o.proto == u.proto)
                .map(|o| o.spi.clone())
                .collect();
            let mut text = format!(
                "{has} has SA {} {} {} -> {}; {lacks} has no SA with that SPI and destination",
                u.proto, u.spi, u.src, u.dst
            );
            if !same_dst.is_empty() {
                text.push_str(&format!(" (it has {} to {})", same_dst.join(", "), u.dst));
            }
            cross.push(finding_for(
                CauseId::NoInboundSa,
                CONFIGURATION,
                Some(lacks.clone()),
                format!("the SPI {} is known to {has} only", u.spi),
                vec![config_item(has, text)],
            ));
        }
    }
    let (policy_checks, policy_findings) = compare_policies(a, b, &name_a, &name_b);
    cross.extend(policy_findings);

    let report = merge(base, cross);
    let story = story(a, b, &name_a, &name_b, &report);
    Comparison {
        a: a.iter().map(|s| s.namespace.clone()).collect(),
        b: b.iter().map(|s| s.namespace.clone()).collect(),
        report,
        story,
        sa_pairs: pairs,
        unmatched_sas: unmatched,
        policy_checks,
        ike_checks: crate::compare_ike::ike_checks(a, b, &name_a, &name_b),
    }
}

fn host_name(sides: &[SideEvidence]) -> String {
    sides
        .iter()
        .map(|s| s.namespace.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

fn has_sas(s: &SideEvidence) -> bool {
    s.inventory.as_ref().and_then(|i| i.sas.as_ref()).is_some()
}

fn sas(sides: &[SideEvidence]) -> Vec<Sa> {
    sides
        .iter()
        .filter_map(|s| s.inventory.as_ref()?.sas.clone())
        .flatten()
        .collect()
}

fn policies(sides: &[SideEvidence]) -> Vec<Policy> {
    sides
        .iter()
        .filter_map(|s| s.inventory.as_ref()?.policies.clone())
        .flatten()
        .collect()
}

/// The kernel finds an inbound SA by SPI, destination and protocol: the peer's copy is the one
/// with the same three.
fn same_sa(x: &Sa, y: &Sa) -> bool {
    x.spi == y.spi && x.dst == y.dst && x.proto == y.proto
}

fn unmatched_sa(on: &str, sa: &Sa) -> UnmatchedSa {
    UnmatchedSa {
        on: on.into(),
        spi: sa.spi.clone(),
        src: sa.src.clone(),
        dst: sa.dst.clone(),
        proto: sa.proto.clone(),
    }
}

fn show<T: std::fmt::Debug>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    v.as_ref().map(f).unwrap_or_else(|| "-".into())
}

fn algorithm<'a>(algs: &'a [Algorithm], role: &str) -> Option<&'a Algorithm> {
    algs.iter().find(|a| a.role == role)
}

fn compare_sa(x: &Sa, y: &Sa) -> SaPair {
    let mut fields = Vec::new();
    let mut check = |field: &str, a: String, b: String| {
        let same = a == b;
        fields.push(FieldCheck {
            field: field.into(),
            a,
            b,
            same,
        });
    };
    check("src", x.src.clone(), y.src.clone());
    check("mode", x.mode.clone(), y.mode.clone());
    for role in ["auth", "enc", "aead", "comp"] {
        let (ax, ay) = (
            algorithm(&x.algorithms, role),
            algorithm(&y.algorithms, role),
        );
        if ax.is_none() && ay.is_none() {
            continue;
        }
        check(
            &format!("{role} algorithm"),
            show(&ax.map(|a| a.name.clone()), |n| n.clone()),
            show(&ay.map(|a| a.name.clone()), |n| n.clone()),
        );
        check(
            &format!("{role} key fingerprint"),
            show(&ax.and_then(|a| a.key_fingerprint.clone()), |k| k.clone()),
            show(&ay.and_then(|a| a.key_fingerprint.clone()), |k| k.clone()),
        );
    }
    check(
        "encap",
        show(&x.encap, |e| format!("{} {} {}", e.kind, e.sport, e.dport)),
        show(&y.encap, |e| format!("{} {} {}", e.kind, e.sport, e.dport)),
    );
    check("esn", x.esn.to_string(), y.esn.to_string());
    check(
        "selector",
        show(&x.selector, |s| format!("{} -> {}", s.src, s.dst)),
        show(&y.selector, |s| format!("{} -> {}", s.src, s.dst)),
    );
    check(
        "mark",
        show(&x.mark, |m| format!("0x{:x}/0x{:x}", m.value, m.mask)),
        show(&y.mark, |m| format!("0x{:x}/0x{:x}", m.value, m.mask)),
    );
    check(
        "if_id",
        show(&x.if_id, |i| i.to_string()),
        show(&y.if_id, |i| i.to_string()),
    );
    check(
        "replay window",
        show(&x.replay_window, |r| r.to_string()),
        show(&y.replay_window, |r| r.to_string()),
    );
    SaPair {
        spi: x.spi.clone(),
        src: x.src.clone(),
        dst: x.dst.clone(),
        proto: x.proto.clone(),
        fields,
    }
}

/// Which differences break the SA, and what they cause. Mark, if_id and replay window are
/// local choices (routing, the receiver's window) and are shown, not flagged.
fn sa_findings(pair: &SaPair, a: &str, b: &str, b_sides: &[SideEvidence]) -> Vec<Finding> {
    let proto_errors_on_b = b_sides.iter().any(|s| {
        s.counters
            .as_ref()
            .is_some_and(|c| c.increase("XfrmInStateProtoError").is_some())
    });
    let mut out = Vec::new();
    for f in pair.fields.iter().filter(|f| !f.same) {
        let (cause, confidence, summary) = match f.field.as_str() {
            "auth key fingerprint"
            | "aead key fingerprint"
            | "auth algorithm"
            | "aead algorithm" => (
                CauseId::SaAuthFailure,
                // The configuration, and the receiver's proto errors when they moved.
                Confidence::of(false, false, 1 + usize::from(proto_errors_on_b)),
                format!("SA {}: the {} differs between the hosts", pair.spi, f.field),
            ),
            "enc key fingerprint" | "enc algorithm" | "comp algorithm" => (
                CauseId::SaKeyMismatch,
                CONFIGURATION,
                format!("SA {}: the {} differs between the hosts", pair.spi, f.field),
            ),
            "esn" => (
                CauseId::SaAuthFailure,
                CONFIGURATION,
                format!(
                    "SA {}: ESN on one host only (the ICV covers the high sequence bits)",
                    pair.spi
                ),
            ),
            "mode" => (
                CauseId::SaModeMismatch,
                CONFIGURATION,
                format!("SA {}: {a} uses {} mode, {b} {} mode", pair.spi, f.a, f.b),
            ),
            "encap" => (
                CauseId::EncapMismatch,
                CONFIGURATION,
                format!("SA {}: UDP encapsulation differs", pair.spi),
            ),
            "selector" => (
                CauseId::SaSelectorMismatch,
                CONFIGURATION,
                format!("SA {}: the SA selectors differ", pair.spi),
            ),
            "src" => (
                CauseId::SaSelectorMismatch,
                CONFIGURATION,
                format!("SA {}: the tunnel source address differs", pair.spi),
            ),
            _ => continue,
        };
        out.push(finding_for(
            cause,
            confidence,
            None,
            summary,
            vec![config_item(
                &format!("{a}/{b}"),
                format!(
                    "SA {} {} -> {} {}: {a} {} / {b} {}",
                    pair.spi, pair.src, pair.dst, f.field, f.a, f.b
                ),
            )],
        ));
    }
    out
}

fn config_item(side: &str, text: String) -> EvidenceItem {
    EvidenceItem {
        kind: "config".into(),
        side: side.into(),
        text,
    }
}

/// Each host's outbound ESP policies against the other's inbound ones (same selector).
fn compare_policies(
    a: &[SideEvidence],
    b: &[SideEvidence],
    name_a: &str,
    name_b: &str,
) -> (Vec<String>, Vec<Finding>) {
    let mut checks = Vec::new();
    let mut findings = Vec::new();
    let (pa, pb) = (policies(a), policies(b));
    if pa.is_empty() && pb.is_empty() {
        return (checks, findings);
    }
    let both_read = a.iter().any(|s| {
        s.inventory
            .as_ref()
            .and_then(|i| i.policies.as_ref())
            .is_some()
    }) && b.iter().any(|s| {
        s.inventory
            .as_ref()
            .and_then(|i| i.policies.as_ref())
            .is_some()
    });
    if !both_read {
        return (checks, findings);
    }
    for (out_host, out_pols, in_host, in_pols) in
        [(name_a, &pa, name_b, &pb), (name_b, &pb, name_a, &pa)]
    {
        for out in out_pols
            .iter()
            .filter(|p| p.dir == "out" && !p.templates.is_empty())
        {
            match in_pols
                .iter()
                .find(|p| p.dir == "in" && p.selector.src == out.selector.src && p.selector.dst == out.selector.dst)
            {
                Some(inp) => {
                    let modes_out: Vec<&str> = out.templates.iter().map(|t| t.mode.as_str()).collect();
                    let modes_in: Vec<&str> = inp.templates.iter().map(|t| t.mode.as_str()).collect();
                    if inp.action == "block" {
                        checks.push(format!("{out_host} encrypts {} -> {} but {in_host} blocks it", out.selector.src, out.selector.dst));
                        findings.push(finding_for(
                            CauseId::PolicyBlockIn,
                            CONFIGURATION,
                            Some(in_host.to_string()),
                            format!("{in_host}'s inbound policy blocks what {out_host} sends"),
                            vec![config_item(in_host, describe_policy(inp))],
                        ));
                    } else if !modes_in.is_empty() && modes_out != modes_in {
                        checks.push(format!(
                            "{out_host} out {:?} vs {in_host} in {:?} for {} -> {}",
                            modes_out, modes_in, out.selector.src, out.selector.dst
                        ));
                        findings.push(finding_for(
                            CauseId::SaModeMismatch,
                            CONFIGURATION,
                            None,
                            format!("the policies' template modes differ ({out_host} {modes_out:?}, {in_host} {modes_in:?})"),
                            vec![
                                config_item(out_host, describe_policy(out)),
                                config_item(in_host, describe_policy(inp)),
                            ],
                        ));
                    } else {
                        checks.push(format!(
                            "ok: {out_host} out / {in_host} in {} -> {}",
                            out.selector.src, out.selector.dst
                        ));
                    }
                }
                None => checks.push(format!(
                    "{in_host} has no inbound policy for {} -> {} (what {out_host} encrypts is accepted without a policy check)",
                    out.selector.src, out.selector.dst
                )),
            }
        }
        unencrypted_flows(
            out_host,
            out_pols,
            in_host,
            in_pols,
            &mut checks,
            &mut findings,
        );
    }
    (checks, findings)
}

/// The receiver requires ESP for a flow the sender does not encrypt.
fn unencrypted_flows(
    out_host: &str,
    out_pols: &[Policy],
    in_host: &str,
    in_pols: &[Policy],
    checks: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) {
    for inp in in_pols
        .iter()
        .filter(|p| p.dir == "in" && p.action == "allow" && p.templates.iter().any(|t| !t.optional))
    {
        let covered = out_pols.iter().any(|p| {
            p.dir == "out"
                && p.selector.src == inp.selector.src
                && p.selector.dst == inp.selector.dst
        });
        if !covered {
            checks.push(format!(
                "{in_host} requires ESP for {} -> {} but {out_host} has no outbound policy for it",
                inp.selector.src, inp.selector.dst
            ));
            findings.push(finding_for(
                CauseId::NoOutboundPolicy,
                CONFIGURATION,
                Some(out_host.to_string()),
                format!(
                    "{out_host} sends {} -> {} in clear; {in_host} requires ESP",
                    inp.selector.src, inp.selector.dst
                ),
                vec![config_item(in_host, describe_policy(inp))],
            ));
        }
    }
}

/// The engine's findings and the cross-checks as one report: a cross-check naming the verdict's
/// cause joins it; a healthy verdict gives way to a mismatch (the tested flow worked, something
/// else between the hosts does not).
fn merge(base: Report, cross: Vec<Finding>) -> Report {
    if cross.is_empty() {
        return base;
    }
    let mut findings: Vec<Finding> = base
        .findings
        .into_iter()
        .filter(|f| !matches!(f.cause, CauseId::NoDropSeen | CauseId::UnknownDrop))
        .collect();
    for c in cross {
        if let Some(f) = findings.iter_mut().find(|f| f.cause == c.cause) {
            // A counter plus the config that explains it is proof.
            f.confidence = f.confidence.min(c.confidence);
            for e in c.evidence {
                if !f.evidence.contains(&e) {
                    f.evidence.push(e);
                }
            }
        } else {
            findings.push(c);
        }
    }
    let delivered = findings.iter().any(|f| f.cause == CauseId::Delivered);
    sort_findings(&mut findings);
    if delivered {
        // Keep "delivered" visible, after the mismatches.
        findings.sort_by_key(|f| f.cause == CauseId::Delivered);
    }
    let verdict = findings[0].cause;
    Report {
        healthy: crate::rules::rule(verdict).healthy,
        verdict,
        sent: base.sent,
        received: base.received,
        findings,
    }
}

fn story(
    a: &[SideEvidence],
    b: &[SideEvidence],
    name_a: &str,
    name_b: &str,
    report: &Report,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, sides) in [(name_a, a), (name_b, b)] {
        let own = diagnose(sides);
        let moved: Vec<String> = own
            .findings
            .first()
            .map(|f| {
                f.evidence
                    .iter()
                    .filter(|e| e.kind == "counter" || e.kind == "send" || e.kind == "listen")
                    .map(|e| e.text.clone())
                    .collect()
            })
            .unwrap_or_default();
        lines.push(format!(
            "{name}: {}{}",
            own.verdict,
            if moved.is_empty() {
                String::new()
            } else {
                format!(" ({})", moved.join("; "))
            }
        ));
    }
    if let Some(f) = report.findings.first() {
        lines.push(format!("together: {} — {}", f.cause, f.summary));
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::evidence::{CounterChange, Counters, Encap, Inventory, Role, Selector, Template};

    fn sa(spi: &str, src: &str, dst: &str, auth_key: &str) -> Sa {
        Sa {
            src: src.into(),
            dst: dst.into(),
            proto: "esp".into(),
            spi: spi.into(),
            reqid: 1,
            mode: "transport".into(),
            algorithms: vec![
                Algorithm {
                    role: "auth".into(),
                    name: "hmac(sha256)".into(),
                    key_fingerprint: Some(auth_key.into()),
                    key_bits: Some(256),
                    icv_bits: None,
                },
                Algorithm {
                    role: "enc".into(),
                    name: "cbc(aes)".into(),
                    key_fingerprint: Some("e0e0e0e0e0e0".into()),
                    key_bits: Some(128),
                    icv_bits: None,
                },
            ],
            ..Default::default()
        }
    }

    fn host(name: &str, role: Role, sas: Vec<Sa>, policies: Vec<Policy>) -> SideEvidence {
        SideEvidence {
            namespace: name.into(),
            role,
            inventory: Some(Inventory {
                sas: Some(sas),
                policies: Some(policies),
                info: None,
            }),
            ..Default::default()
        }
    }

    fn both_sas() -> Vec<Sa> {
        vec![
            sa("0x00001000", "10.0.0.1", "10.0.0.2", "aaaaaaaaaaaa"),
            sa("0x00002000", "10.0.0.2", "10.0.0.1", "bbbbbbbbbbbb"),
        ]
    }

    fn policy(dir: &str, src: &str, dst: &str, mode: &str) -> Policy {
        Policy {
            dir: dir.into(),
            action: "allow".into(),
            priority: 100,
            selector: Selector {
                src: src.into(),
                dst: dst.into(),
                ..Default::default()
            },
            templates: vec![Template {
                proto: "esp".into(),
                mode: mode.into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn identical_hosts_have_no_mismatch() {
        let a = host("a", Role::Sender, both_sas(), vec![]);
        let b = host("b", Role::Receiver, both_sas(), vec![]);
        let c = compare(&[a], &[b]);
        assert_eq!(c.sa_pairs.len(), 2);
        assert!(c.unmatched_sas.is_empty());
        assert!(c.sa_pairs.iter().all(|p| p.fields.iter().all(|f| f.same)));
        assert!(c
            .report
            .findings
            .iter()
            .all(|f| f.confidence != Confidence::Likely));
    }

    #[test]
    fn different_auth_key_is_auth_failure_certain_with_proto_errors() {
        let a = host("a", Role::Sender, both_sas(), vec![]);
        let mut b_sas = both_sas();
        b_sas[0].algorithms[0].key_fingerprint = Some("cccccccccccc".into());
        let mut b = host("b", Role::Receiver, b_sas, vec![]);
        let mut counters = Counters::default();
        counters
            .delta
            .insert("XfrmInStateProtoError".into(), CounterChange::Increased(10));
        b.counters = Some(counters);
        let c = compare(&[a], &[b]);
        assert_eq!(c.report.verdict, "sa-auth-failure", "{:#?}", c.report);
        assert_eq!(c.report.findings[0].confidence, Confidence::Certain);
        let ev: Vec<&str> = c.report.findings[0]
            .evidence
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        assert!(
            ev.iter().any(|e| e.contains("XfrmInStateProtoError +10")),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|e| e.contains("auth key fingerprint: a aaaaaaaaaaaa / b cccccccccccc")),
            "{ev:?}"
        );
        assert!(
            c.story.iter().any(|l| l.starts_with("b: sa-auth-failure")),
            "{:?}",
            c.story
        );
    }

    #[test]
    fn spi_known_to_one_host_only_is_no_inbound_sa() {
        let a = host("a", Role::Sender, both_sas(), vec![]);
        let mut b_sas = both_sas();
        b_sas[0].spi = "0x00001001".into();
        let b = host("b", Role::Receiver, b_sas, vec![]);
        let c = compare(&[a], &[b]);
        assert_eq!(c.report.verdict, "no-inbound-sa");
        assert_eq!(c.unmatched_sas.len(), 2);
        let text = &c.report.findings[0].evidence[0].text;
        assert!(
            text.contains("0x00001000") && text.contains("it has 0x00001001"),
            "{text}"
        );
    }

    #[test]
    fn encap_port_difference_is_encap_mismatch() {
        let mut a_sas = both_sas();
        a_sas[0].encap = Some(Encap {
            kind: "espinudp".into(),
            sport: 4500,
            dport: 4500,
        });
        let mut b_sas = both_sas();
        b_sas[0].encap = Some(Encap {
            kind: "espinudp".into(),
            sport: 4500,
            dport: 4501,
        });
        let c = compare(
            &[host("a", Role::Sender, a_sas, vec![])],
            &[host("b", Role::Receiver, b_sas, vec![])],
        );
        assert_eq!(c.report.verdict, "encap-mismatch");
        assert!(c.report.findings[0].evidence[0]
            .text
            .contains("espinudp 4500 4500 / b espinudp 4500 4501"));
    }

    #[test]
    fn mode_difference_is_mode_mismatch_for_sas_and_policies() {
        let mut b_sas = both_sas();
        b_sas[0].mode = "tunnel".into();
        let c = compare(
            &[host(
                "a",
                Role::Sender,
                both_sas(),
                vec![policy("out", "10.0.0.1/32", "10.0.0.2/32", "transport")],
            )],
            &[host(
                "b",
                Role::Receiver,
                b_sas,
                vec![policy("in", "10.0.0.1/32", "10.0.0.2/32", "tunnel")],
            )],
        );
        assert_eq!(c.report.verdict, "sa-mode-mismatch");
        assert!(
            c.policy_checks
                .iter()
                .any(|l| l.contains("\"transport\"") && l.contains("\"tunnel\"")),
            "{:?}",
            c.policy_checks
        );
    }

    #[test]
    fn receiver_requiring_esp_the_sender_does_not_encrypt_is_no_outbound_policy() {
        let c = compare(
            &[host("a", Role::Sender, vec![], vec![])],
            &[host(
                "b",
                Role::Receiver,
                vec![],
                vec![policy("in", "10.0.0.1/32", "10.0.0.2/32", "transport")],
            )],
        );
        assert_eq!(c.report.verdict, "no-outbound-policy");
        assert_eq!(c.report.findings[0].side.as_deref(), Some("a"));
    }

    #[test]
    fn local_choices_are_shown_not_flagged() {
        let mut b_sas = both_sas();
        b_sas[0].replay_window = Some(32);
        b_sas[0].if_id = Some(7);
        let c = compare(
            &[host("a", Role::Sender, both_sas(), vec![])],
            &[host("b", Role::Receiver, b_sas, vec![])],
        );
        assert!(c.sa_pairs[0]
            .fields
            .iter()
            .any(|f| f.field == "replay window" && !f.same));
        assert!(!c
            .report
            .findings
            .iter()
            .any(|f| f.confidence == Confidence::Likely));
    }

    /// (name, host A, host B, expected verdict): the causes only configuration side by side
    /// names (the verdict table in crate::tests uses these).
    pub(crate) fn verdict_cases(
    ) -> Vec<(&'static str, Vec<SideEvidence>, Vec<SideEvidence>, CauseId)> {
        let a = || host("a", Role::Sender, both_sas(), vec![]);
        let mut enc = both_sas();
        enc[0].algorithms[1].key_fingerprint = Some("e1e1e1e1e1e1".into());
        let mut selector = both_sas();
        selector[0].src = "10.0.0.9".into();
        let receiver_requires_esp = vec![policy("in", "10.0.0.1/32", "10.0.0.2/32", "transport")];
        vec![
            (
                "enc key differs",
                vec![a()],
                vec![host("b", Role::Receiver, enc, vec![])],
                CauseId::SaKeyMismatch,
            ),
            (
                "tunnel source differs",
                vec![a()],
                vec![host("b", Role::Receiver, selector, vec![])],
                CauseId::SaSelectorMismatch,
            ),
            (
                "receiver requires ESP the sender does not apply",
                vec![a()],
                vec![host("b", Role::Receiver, both_sas(), receiver_requires_esp)],
                CauseId::NoOutboundPolicy,
            ),
        ]
    }
}
