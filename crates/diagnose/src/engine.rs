//! The decision: one or two sides' evidence in, findings out. Pure — no I/O.
//!
//! Rules follow what the kernel was measured to do (docs/causes.md, shared/vm-recipe.md): a
//! counter or drop reason that only one fault moves makes a finding `certain`; configuration that
//! explains a loss without such proof makes it `likely`; a plausible reading `possible`. A loss
//! that nothing explains is `unknown-drop`, never a guess dressed as a cause.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::causes;
use crate::evidence::{Counters, Policy, Role, SendResult, SideEvidence, Traffic};

/// How sure a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A counter, drop reason or errno that only this cause produces.
    Certain,
    /// Configuration or a combination of signals explains it.
    Likely,
    /// Plausible, not proven.
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
    pub cause: String,
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
    /// The cause id of the first finding.
    pub verdict: String,
    /// True when the verdict means the flow is fine (exit 0).
    pub healthy: bool,
    /// Datagrams the senders handed to the kernel successfully, when a side sent them.
    pub sent: Option<u32>,
    /// Datagrams that reached a listening socket, when a side listened.
    pub received: Option<u32>,
    /// Most certain first; the first one is the verdict.
    pub findings: Vec<Finding>,
}

/// Decides what happened to the test flow from the evidence of one or more sides.
pub fn diagnose(sides: &[SideEvidence]) -> Report {
    let tally = Tally::of(sides);
    let mut findings = Vec::new();
    // Errnos and counters first: trace drops and events then attach to what they name.
    for side in sides {
        findings.extend(send_error_findings(side));
        findings.extend(counter_findings(side, sides));
        findings.extend(observed_socket_findings(side));
    }
    for side in sides {
        let more = trace_findings(side, sides, &findings);
        findings.extend(more);
        let more = event_findings(side, &findings);
        findings.extend(more);
        findings.extend(firewall_findings(side));
    }
    findings.extend(config_findings(sides, &findings));
    let findings = merge_same_cause(findings);

    if tally.delivered() {
        return finish(
            &tally,
            vec![finding(
                "delivered",
                Confidence::Certain,
                None,
                format!(
                    "{} of {} test datagrams reached the socket",
                    tally.received.unwrap_or(0),
                    tally
                        .expected()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "?".into())
                ),
                tally.traffic_evidence(sides),
            )],
        );
    }
    if !findings.is_empty() {
        return finish(&tally, findings);
    }
    if tally.loss_known() || tally.exec_failed {
        return finish(&tally, vec![unexplained_loss(&tally, sides)]);
    }
    finish(
        &tally,
        vec![finding(
            "no-drop-seen",
            Confidence::Possible,
            None,
            "no drop counter, drop reason or send error moved during the window".into(),
            tally.traffic_evidence(sides),
        )],
    )
}

/// Most certain first; among equals the order a packet meets them (the catalog's order).
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    let rank = |f: &Finding| {
        causes::CATALOG
            .iter()
            .position(|c| c.id == f.cause)
            .unwrap_or(usize::MAX)
    };
    findings.sort_by_key(|f| (f.confidence, rank(f)));
}

fn finish(tally: &Tally, mut findings: Vec<Finding>) -> Report {
    sort_findings(&mut findings);
    let verdict = findings[0].cause.clone();
    let healthy = causes::lookup(&verdict).is_some_and(|c| c.healthy);
    Report {
        verdict,
        healthy,
        sent: tally.sent,
        received: tally.received,
        findings,
    }
}

/// What the traffic itself says: how many were sent, failed, received.
#[derive(Debug, Default)]
struct Tally {
    sent: Option<u32>,
    attempted: Option<u32>,
    send_failures: u32,
    received: Option<u32>,
    /// `--count` given to a listener without a sender side.
    listen_expected: Option<u32>,
    exec_failed: bool,
}

impl Tally {
    fn of(sides: &[SideEvidence]) -> Tally {
        let mut t = Tally::default();
        for side in sides {
            match &side.traffic {
                Some(Traffic::Send(s)) => {
                    *t.sent.get_or_insert(0) += s.sent;
                    *t.attempted.get_or_insert(0) += s.attempted;
                    t.send_failures += s.errors.iter().map(|e| e.count).sum::<u32>();
                }
                Some(Traffic::Listen(l)) => {
                    *t.received.get_or_insert(0) += l.received;
                    if let Some(e) = l.expected {
                        *t.listen_expected.get_or_insert(0) += e;
                    }
                }
                Some(Traffic::Exec(e)) => t.exec_failed |= e.exit_code != Some(0),
                Some(Traffic::Observe(_)) | None => {}
            }
        }
        t
    }

    /// How many should have arrived: what was sent, or what the listener was told to expect.
    fn expected(&self) -> Option<u32> {
        self.attempted.or(self.listen_expected)
    }

    fn delivered(&self) -> bool {
        let Some(received) = self.received else {
            return false;
        };
        if self.send_failures > 0 || self.exec_failed {
            return false;
        }
        match self.expected() {
            Some(expected) => expected > 0 && received >= expected,
            // A listener with no count and no sender: anything arriving proves the path.
            None => received > 0,
        }
    }

    fn loss_known(&self) -> bool {
        self.send_failures > 0
            || match (self.expected(), self.received) {
                (Some(e), Some(r)) => r < e,
                (None, Some(r)) => r == 0,
                _ => false,
            }
    }

    fn traffic_evidence(&self, sides: &[SideEvidence]) -> Vec<EvidenceItem> {
        sides.iter().filter_map(traffic_item).collect()
    }
}

fn traffic_item(side: &SideEvidence) -> Option<EvidenceItem> {
    let text = match side.traffic.as_ref()? {
        Traffic::Send(s) => format!(
            "sent {} of {} datagrams ({} B) to {}",
            s.sent, s.attempted, s.size, s.dst
        ),
        Traffic::Listen(l) => match l.expected {
            Some(e) => format!("port {}: received {} of {} expected", l.port, l.received, e),
            None => format!("port {}: received {}", l.port, l.received),
        },
        Traffic::Observe(o) => format!(
            "port {} observed without binding (socket {})",
            o.port,
            if o.socket_found { "present" } else { "absent" }
        ),
        Traffic::Exec(e) => format!(
            "`{}` exited with {}",
            e.command,
            e.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into())
        ),
    };
    let kind = match side.traffic.as_ref()? {
        Traffic::Send(_) | Traffic::Exec(_) => "send",
        Traffic::Listen(_) | Traffic::Observe(_) => "listen",
    };
    Some(item(kind, side, text))
}

fn item(kind: &str, side: &SideEvidence, text: String) -> EvidenceItem {
    EvidenceItem {
        kind: kind.into(),
        side: side.namespace.clone(),
        text,
    }
}

fn finding(
    cause: &str,
    confidence: Confidence,
    side: Option<&SideEvidence>,
    summary: String,
    evidence: Vec<EvidenceItem>,
) -> Finding {
    finding_for(
        cause,
        confidence,
        side.map(|s| s.namespace.clone()),
        summary,
        evidence,
    )
}

/// A finding with the catalog's remedy for `cause`.
pub(crate) fn finding_for(
    cause: &str,
    confidence: Confidence,
    side: Option<String>,
    summary: String,
    evidence: Vec<EvidenceItem>,
) -> Finding {
    let remedy = causes::lookup(cause)
        .map(|c| c.remedy.to_string())
        .unwrap_or_default();
    Finding {
        cause: cause.into(),
        confidence,
        side,
        summary,
        evidence,
        remedy,
    }
}

/// Two rules naming the same cause on the same side become one finding with all the evidence.
fn merge_same_cause(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    for f in findings {
        if let Some(existing) = merged
            .iter_mut()
            .find(|m| m.cause == f.cause && m.side == f.side)
        {
            existing.confidence = existing.confidence.min(f.confidence);
            for e in f.evidence {
                if !existing.evidence.contains(&e) {
                    existing.evidence.push(e);
                }
            }
        } else {
            merged.push(f);
        }
    }
    merged
}

fn send_result(side: &SideEvidence) -> Option<&SendResult> {
    match &side.traffic {
        Some(Traffic::Send(s)) => Some(s),
        _ => None,
    }
}

fn counter_item(side: &SideEvidence, name: &str, n: u64) -> EvidenceItem {
    item("counter", side, format!("{name} +{n}"))
}

/// What `sendto` said: each errno is a kernel decision made on the sender.
fn send_error_findings(side: &SideEvidence) -> Vec<Finding> {
    let Some(send) = send_result(side) else {
        return Vec::new();
    };
    let counters = side.counters.as_ref();
    let moved = |name: &str| counters.and_then(|c| c.increase(name));
    let mut out = Vec::new();
    for err in &send.errors {
        let errno_item = item(
            "send",
            side,
            format!(
                "sendto failed {} time(s) with {} ({}), first at datagram #{}",
                err.count, err.errno, err.message, err.first
            ),
        );
        let mut ev = vec![errno_item];
        let (cause, confidence, summary) = match err.errno.as_str() {
            "EPERM" => match moved("XfrmOutPolBlock") {
                Some(n) => {
                    ev.push(counter_item(side, "XfrmOutPolBlock", n));
                    (
                        "policy-block-out",
                        Confidence::Certain,
                        "an outbound XFRM policy with action block refused the datagrams (EPERM)",
                    )
                }
                None if counters.is_some_and(|c| c.known_unchanged("XfrmOutPolBlock")) => (
                    "firewall-drop",
                    Confidence::Likely,
                    "sendto got EPERM but no XFRM policy blocked it: an output firewall rule did",
                ),
                None => (
                    "policy-block-out",
                    Confidence::Possible,
                    "sendto got EPERM: an outbound block policy or a firewall rule (counters were not read)",
                ),
            },
            "EINVAL" => match moved("XfrmOutStateExpired") {
                Some(n) => {
                    ev.push(counter_item(side, "XfrmOutStateExpired", n));
                    (
                        "sa-expired",
                        Confidence::Certain,
                        "the outbound SA hit its hard lifetime while sending (EINVAL)",
                    )
                }
                // A blackhole route refuses with EINVAL too.
                None if side.route.as_ref().is_some_and(|r| r.kind == "blackhole") => (
                    "no-route",
                    Confidence::Certain,
                    "the route to the destination is a blackhole (EINVAL)",
                ),
                None => (
                    "sa-expired",
                    Confidence::Possible,
                    "sendto got EINVAL, which XFRM returns for an expired outbound SA",
                ),
            },
            "EMSGSIZE" => (
                "outbound-mtu",
                Confidence::Certain,
                "the datagrams do not fit the path MTU once ESP overhead is added (EMSGSIZE)",
            ),
            "ENETUNREACH" | "EHOSTUNREACH" => (
                "no-route",
                Confidence::Certain,
                "the sender has no route to the destination",
            ),
            _ => continue,
        };
        if let Some(route) = &side.route {
            if cause == "no-route" {
                ev.push(item(
                    "route",
                    side,
                    format!("route to {} is {}", route.dst, route.kind),
                ));
            }
            if cause == "outbound-mtu" {
                if let Some(mtu) = route.mtu {
                    ev.push(item(
                        "route",
                        side,
                        format!(
                            "route to {} via {} has MTU {mtu}; datagram {} B",
                            route.dst,
                            route.dev.as_deref().unwrap_or("?"),
                            send.size
                        ),
                    ));
                }
            }
        }
        out.push(finding(cause, confidence, Some(side), summary.into(), ev));
    }
    out
}

/// Counters that only one fault moves. (name, cause, summary)
const DIRECT_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "XfrmOutNoStates",
        "no-outbound-sa",
        "the outbound policy requires an SA that does not exist; the kernel dropped the datagrams silently",
    ),
    (
        "XfrmOutPolBlock",
        "policy-block-out",
        "an outbound policy with action block matched the flow",
    ),
    (
        "XfrmOutStateExpired",
        "sa-expired",
        "the outbound SA has expired (hard lifetime)",
    ),
    (
        "XfrmInStateExpired",
        "sa-expired",
        "the inbound SA has expired (hard lifetime)",
    ),
    (
        "XfrmOutStateInvalid",
        "sa-invalid",
        "the outbound SA is not in a usable state",
    ),
    (
        "XfrmInStateInvalid",
        "sa-invalid",
        "the inbound SA is not in a usable state",
    ),
    (
        "XfrmOutStateDirError",
        "sa-direction-mismatch",
        "an SA marked `dir in` was used for output",
    ),
    (
        "XfrmInStateDirError",
        "sa-direction-mismatch",
        "an SA marked `dir out` was used for input",
    ),
    (
        "XfrmOutStateSeqError",
        "sa-seq-overflow",
        "the outbound SA's sequence number overflowed",
    ),
    (
        "Udp.SndbufErrors",
        "tx-drop",
        "the output device refused the datagrams after sendto returned (ENOBUFS is hidden from UDP senders)",
    ),
    (
        "Udp6SndbufErrors",
        "tx-drop",
        "the output device refused the datagrams after sendto returned (ENOBUFS is hidden from UDP senders)",
    ),
    (
        "XfrmInNoStates",
        "no-inbound-sa",
        "ESP arrived for an SPI/destination the receiver has no SA for",
    ),
    (
        "XfrmInStateSeqError",
        "replay-window",
        "ESP sequence numbers fell outside the receiver's replay window",
    ),
    (
        "XfrmInStateModeError",
        "sa-mode-mismatch",
        "the packet's mode does not match the inbound SA's mode (tunnel vs transport)",
    ),
    (
        "XfrmInPolBlock",
        "policy-block-in",
        "an inbound policy with action block matched the flow",
    ),
    (
        "TcpExt.IPReversePathFilter",
        "rp-filter",
        "reverse-path filtering dropped the packets (the route back to the source uses another device)",
    ),
    (
        "Udp.NoPorts",
        "no-socket",
        "no socket is bound on the destination port",
    ),
    (
        "Udp6NoPorts",
        "no-socket",
        "no socket is bound on the destination port",
    ),
    (
        "Udp.RcvbufErrors",
        "socket-buffer-full",
        "the receiving socket's buffer overflowed",
    ),
    (
        "Udp6RcvbufErrors",
        "socket-buffer-full",
        "the receiving socket's buffer overflowed",
    ),
    (
        "Udp.InCsumErrors",
        "udp-checksum",
        "datagrams arrived with a bad UDP checksum",
    ),
    (
        "Udp6InCsumErrors",
        "udp-checksum",
        "datagrams arrived with a bad UDP checksum",
    ),
];

/// Counters that travel with a cause and are shown as its evidence, but name nothing alone.
const COMPANION_COUNTERS: &[&str] = &[
    "Udp.InErrors",
    "Udp6InErrors",
    "Ip.InDiscards",
    "Ip6InDiscards",
    "Ip.OutDiscards",
    "Ip6OutDiscards",
];

fn counter_findings(side: &SideEvidence, all: &[SideEvidence]) -> Vec<Finding> {
    let Some(counters) = &side.counters else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let companions: Vec<EvidenceItem> = COMPANION_COUNTERS
        .iter()
        .filter_map(|name| counters.increase(name).map(|n| counter_item(side, name, n)))
        .collect();
    for (name, cause, summary) in DIRECT_COUNTERS {
        if let Some(n) = counters.increase(name) {
            let mut ev = vec![counter_item(side, name, n)];
            if name.starts_with("Udp") {
                ev.extend(companions.iter().cloned());
            }
            if *cause == "rp-filter" {
                ev.extend(rp_filter_sysctls(side));
            }
            // The policy that decided, when the inventory shows it.
            match *cause {
                "no-outbound-sa" | "policy-block-out" => ev.extend(matching_policies(side, "out")),
                "policy-block-in" => ev.extend(matching_policies(side, "in")),
                _ => {}
            }
            out.push(finding(
                cause,
                Confidence::Certain,
                Some(side),
                (*summary).into(),
                ev,
            ));
        }
    }
    if let Some(n) = counters.increase("XfrmInStateProtoError") {
        let mut ev = vec![counter_item(side, "XfrmInStateProtoError", n)];
        let failed_sa = per_sa_failures(counters);
        ev.extend(
            failed_sa
                .iter()
                .map(|(name, n)| counter_item(side, name, *n)),
        );
        // Proto errors cover more than ICV failures; the per-SA failure count or the icvfail
        // audit marker says it was the integrity check.
        let icvfail = all.iter().filter_map(|s| s.trace.as_ref()).any(|t| {
            t.audit_markers
                .iter()
                .any(|(m, _)| m == "xfrm_audit_state_icvfail")
        });
        out.push(finding(
            "sa-auth-failure",
            if failed_sa.is_empty() && !icvfail {
                Confidence::Likely
            } else {
                Confidence::Certain
            },
            Some(side),
            "inbound ESP failed its integrity check (the keys or algorithms differ)".into(),
            ev,
        ));
    }
    if let Some(n) = counters.increase("XfrmInStateMismatch") {
        let mut ev = vec![counter_item(side, "XfrmInStateMismatch", n)];
        ev.extend(encap_sas(side));
        out.push(finding(
            "encap-mismatch",
            Confidence::Likely,
            Some(side),
            "an inbound SA matched but its encapsulation (NAT-T) or selector does not fit the packet"
                .into(),
            ev,
        ));
    }
    if let Some(n) = counters.increase("XfrmInTmplMismatch") {
        let mut ev = vec![counter_item(side, "XfrmInTmplMismatch", n)];
        ev.extend(companions.iter().cloned());
        // The policy check of a datagram that found no socket (reason NOT_SPECIFIED on 6.12,
        // XFRM_POLICY elsewhere): with ESP-in-UDP that is the missing NAT-T socket.
        let drop_in_udp_lookup = trace_drops(all)
            .any(|(_, d)| matches!(d.symbol(), "__udp4_lib_rcv" | "__udp6_lib_rcv"));
        let drop_in_forward =
            trace_drops(all).any(|(_, d)| matches!(d.symbol(), "ip_forward" | "ip6_forward"));
        // SAs that encapsulate, on this side or the sender's: ESP-in-UDP is expected here.
        let encap: Vec<EvidenceItem> = all.iter().flat_map(encap_sas).collect();
        let unbound = unbound_encap_ports(side);
        if drop_in_forward {
            ev.extend(forward_evidence(side));
            out.push(finding(
                "forward-policy-missing",
                Confidence::Certain,
                Some(side),
                "forwarded packets did not match a forward policy's templates".into(),
                ev,
            ));
        } else if !encap.is_empty() && (drop_in_udp_lookup || !unbound.is_empty()) {
            ev.extend(encap);
            ev.extend(unbound);
            out.push(finding(
                "nat-t-socket-missing",
                Confidence::Certain,
                Some(side),
                "ESP-in-UDP found no NAT-T socket, so it was treated as plain UDP and failed the inbound policy".into(),
                ev,
            ));
        } else {
            ev.extend(matching_policies(side, "in"));
            let summary = if drop_in_udp_lookup {
                "packets arrived without the ESP the inbound policy requires (and no socket was bound)"
            } else {
                "packets arrived without the ESP the inbound policy requires (plain traffic into an ESP policy)"
            };
            out.push(finding(
                "policy-template-mismatch",
                Confidence::Certain,
                Some(side),
                summary.into(),
                ev,
            ));
            if !encap.is_empty() {
                out.push(finding(
                    "nat-t-socket-missing",
                    Confidence::Possible,
                    Some(side),
                    "an SA uses UDP encapsulation: check a NAT-T socket is bound on its port"
                        .into(),
                    encap.clone(),
                ));
            }
        }
    }
    if let Some(n) = counters.increase("XfrmInNoPols") {
        let mut ev = vec![counter_item(side, "XfrmInNoPols", n)];
        let drop_in_forward =
            trace_drops(all).any(|(_, d)| matches!(d.symbol(), "ip_forward" | "ip6_forward"));
        if drop_in_forward || forwards_the_flow(side) {
            ev.extend(forward_evidence(side));
            out.push(finding(
                "forward-policy-missing",
                if drop_in_forward {
                    Confidence::Certain
                } else {
                    Confidence::Likely
                },
                Some(side),
                "forwarded packets matched no forward policy".into(),
                ev,
            ));
        } else {
            if let Some(info) = side.inventory.as_ref().and_then(|i| i.info.as_ref()) {
                if let Some(d) = &info.default_in {
                    ev.push(item("config", side, format!("default inbound policy: {d}")));
                }
            }
            out.push(finding(
                "no-inbound-policy",
                Confidence::Certain,
                Some(side),
                "no inbound policy matched the flow and the default inbound policy blocks".into(),
                ev,
            ));
        }
    }
    if let Some(n) = counters.increase("XfrmFwdHdrError") {
        out.push(finding(
            "forward-policy-missing",
            Confidence::Likely,
            Some(side),
            "the gateway refused to forward the packets under its XFRM policies".into(),
            vec![counter_item(side, "XfrmFwdHdrError", n)],
        ));
    }
    // A tunnel-mode packet decapsulated by a transport SA reaches IP with protocol IPIP/IPv6.
    let unknown_proto = counters
        .increase("Ip.InUnknownProtos")
        .map(|n| ("Ip.InUnknownProtos", n))
        .or_else(|| {
            counters
                .increase("Ip6InUnknownProtos")
                .map(|n| ("Ip6InUnknownProtos", n))
        });
    if let Some((name, n)) = unknown_proto {
        let transport_sas: Vec<EvidenceItem> = side
            .inventory
            .as_ref()
            .and_then(|i| i.sas.as_ref())
            .into_iter()
            .flatten()
            .filter(|sa| sa.mode == "transport")
            .map(|sa| {
                item(
                    "config",
                    side,
                    format!("SA {} {} -> {} mode transport", sa.spi, sa.src, sa.dst),
                )
            })
            .collect();
        let tunnel_sender = all.iter().any(|s| {
            s.namespace != side.namespace
                && s.inventory
                    .as_ref()
                    .and_then(|i| i.sas.as_ref())
                    .is_some_and(|sas| sas.iter().any(|sa| sa.mode == "tunnel"))
        });
        if !transport_sas.is_empty() {
            let mut ev = vec![counter_item(side, name, n)];
            ev.extend(transport_sas);
            out.push(finding(
                "sa-mode-mismatch",
                if tunnel_sender {
                    Confidence::Certain
                } else {
                    Confidence::Likely
                },
                Some(side),
                "a tunnel-mode packet was decapsulated by a transport-mode SA, leaving an inner IP packet nobody handles".into(),
                ev,
            ));
        }
    }
    out
}

/// A watched socket (`--observe`) whose drops column grew: the application is not keeping up.
fn observed_socket_findings(side: &SideEvidence) -> Vec<Finding> {
    let Some(Traffic::Observe(o)) = &side.traffic else {
        return Vec::new();
    };
    match o.socket_drops {
        Some(n) if n > 0 => vec![finding(
            "socket-buffer-full",
            Confidence::Certain,
            Some(side),
            "the application's socket dropped datagrams it had no room for".into(),
            vec![item(
                "listen",
                side,
                format!("socket on port {}: drops +{n} (/proc/net/udp)", o.port),
            )],
        )],
        _ => Vec::new(),
    }
}

/// Per-SA integrity failures (`sa:<spi>:integrity_failed`), named by the counters reader.
fn per_sa_failures(counters: &Counters) -> Vec<(String, u64)> {
    counters
        .delta
        .keys()
        .filter(|k| k.starts_with("sa:") && (k.ends_with(":integrity_failed")))
        .filter_map(|k| counters.increase(k).map(|n| (k.clone(), n)))
        .collect()
}

fn encap_sas(side: &SideEvidence) -> Vec<EvidenceItem> {
    side.inventory
        .as_ref()
        .and_then(|i| i.sas.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sa| {
            let e = sa.encap.as_ref()?;
            Some(item(
                "config",
                side,
                format!(
                    "SA {} {} -> {} encap {} {} {}",
                    sa.spi, sa.src, sa.dst, e.kind, e.sport, e.dport
                ),
            ))
        })
        .collect()
}

/// NAT-T ports with no socket bound on this side.
fn unbound_encap_ports(side: &SideEvidence) -> Vec<EvidenceItem> {
    side.encap_sockets
        .iter()
        .flatten()
        .filter(|e| !e.bound)
        .map(|e| {
            item(
                "config",
                side,
                format!(
                    "no UDP socket bound on NAT-T port {} (/proc/net/udp)",
                    e.port
                ),
            )
        })
        .collect()
}

fn rp_filter_sysctls(side: &SideEvidence) -> Vec<EvidenceItem> {
    side.sysctls
        .iter()
        .flat_map(|s| s.rp_filter.iter())
        .filter(|(_, v)| **v != 0)
        .map(|(dev, v)| {
            item(
                "sysctl",
                side,
                format!("net.ipv4.conf.{dev}.rp_filter = {v}"),
            )
        })
        .collect()
}

fn forward_evidence(side: &SideEvidence) -> Vec<EvidenceItem> {
    let mut ev = Vec::new();
    if let Some(f) = side.sysctls.as_ref().and_then(|s| s.ip_forward) {
        ev.push(item("sysctl", side, format!("net.ipv4.ip_forward = {f}")));
    }
    let fwd: Vec<&Policy> = policies(side).filter(|p| p.dir == "fwd").collect();
    if side
        .inventory
        .as_ref()
        .and_then(|i| i.policies.as_ref())
        .is_some()
    {
        ev.push(item(
            "config",
            side,
            format!("{} forward policies installed", fwd.len()),
        ));
    }
    ev
}

/// True when this side routes the flow onwards (a gateway) rather than receiving it.
fn forwards_the_flow(side: &SideEvidence) -> bool {
    let forwarding = side.sysctls.as_ref().and_then(|s| s.ip_forward) == Some(1);
    let not_local = side.route.as_ref().is_some_and(|r| r.kind != "local");
    forwarding && not_local && side.role == Role::Receiver
}

/// The side's policies that match by selector (per-socket policies apply to their socket only).
fn policies(side: &SideEvidence) -> impl Iterator<Item = &Policy> {
    side.inventory
        .as_ref()
        .and_then(|i| i.policies.as_ref())
        .into_iter()
        .flatten()
        .filter(|p| !p.socket)
}

/// Policies of `dir` on this side whose selector covers the flow, as evidence.
fn matching_policies(side: &SideEvidence, dir: &str) -> Vec<EvidenceItem> {
    let flow_dst = flow_dst(side);
    policies(side)
        .filter(|p| p.dir == dir)
        .filter(|p| selector_covers(p, dir, flow_dst, side.flow.as_ref().map(|f| f.port)))
        .map(|p| item("config", side, describe_policy(p)))
        .collect()
}

pub(crate) fn describe_policy(p: &Policy) -> String {
    let tmpl = if p.templates.is_empty() {
        String::new()
    } else {
        let t: Vec<String> = p
            .templates
            .iter()
            .map(|t| format!("{} {}", t.proto, t.mode))
            .collect();
        format!(" tmpl {}", t.join(", "))
    };
    let proto = p
        .selector
        .proto
        .as_deref()
        .map(|p| format!(" proto {p}"))
        .unwrap_or_default();
    format!(
        "policy src {} dst {}{} dir {} {} priority {}{}",
        p.selector.src, p.selector.dst, proto, p.dir, p.action, p.priority, tmpl
    )
}

fn flow_dst(side: &SideEvidence) -> Option<IpAddr> {
    side.flow
        .as_ref()
        .and_then(|f| f.dst.as_deref())
        .and_then(|d| d.parse().ok())
}

/// Whether a policy's selector covers the flow. Unknown parts (receiver without a destination
/// address) count as covered: the selector cannot rule them out.
fn selector_covers(p: &Policy, dir: &str, dst: Option<IpAddr>, port: Option<u16>) -> bool {
    let sel = &p.selector;
    if let Some(proto) = sel.proto.as_deref() {
        if !matches!(proto, "udp" | "17" | "any" | "0") {
            return false;
        }
    }
    if let (Some(sp), Some(port)) = (sel.dport, port) {
        if sp != 0 && sp != port {
            return false;
        }
    }
    match (dir, dst) {
        ("out", Some(dst)) | ("fwd", Some(dst)) => prefix_contains(&sel.dst, dst),
        ("in", Some(dst)) => prefix_contains(&sel.dst, dst),
        _ => true,
    }
}

/// `10.0.0.0/24` contains `10.0.0.7`; a bare address is a /32 or /128. Mixed families: no.
pub(crate) fn prefix_contains(prefix: &str, addr: IpAddr) -> bool {
    let (net, len) = match prefix.split_once('/') {
        Some((n, l)) => (n, l.parse::<u32>().ok()),
        None => (prefix, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let len = len.unwrap_or(32).min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let len = len.unwrap_or(128).min(128);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Every trace drop of every side: `kfree_skb` is system wide, so a drop seen in one capture may
/// belong to the other side of a two-namespace test.
fn trace_drops(
    sides: &[SideEvidence],
) -> impl Iterator<Item = (&SideEvidence, &crate::evidence::TraceDrop)> {
    sides.iter().flat_map(|s| {
        s.trace
            .iter()
            .flat_map(move |t| t.drops.iter().map(move |d| (s, d)))
    })
}

/// Drop reasons that name a cause on their own (kernel `SKB_DROP_REASON_*`).
const DROP_REASONS: &[(&str, &str, &str)] = &[
    (
        "NO_SOCKET",
        "no-socket",
        "the kernel dropped the datagrams because no socket is bound on the port",
    ),
    (
        "IP_RPFILTER",
        "rp-filter",
        "reverse-path filtering dropped the packets",
    ),
    (
        "NETFILTER_DROP",
        "firewall-drop",
        "a netfilter (nftables/iptables) rule dropped the packets",
    ),
    (
        "SOCKET_RCVBUFF",
        "socket-buffer-full",
        "the receiving socket's buffer was full",
    ),
    (
        "UDP_CSUM",
        "udp-checksum",
        "datagrams failed the UDP checksum",
    ),
];

/// Counters that move in the namespace where a drop with this cause happens.
fn cause_counters(cause: &str) -> &'static [&'static str] {
    match cause {
        "no-socket" => &["Udp.NoPorts", "Udp6NoPorts"],
        "rp-filter" => &["TcpExt.IPReversePathFilter"],
        "socket-buffer-full" => &["Udp.RcvbufErrors", "Udp6RcvbufErrors"],
        "udp-checksum" => &["Udp.InCsumErrors", "Udp6InCsumErrors"],
        "sa-auth-failure" => &["XfrmInStateProtoError"],
        "no-inbound-sa" => &["XfrmInNoStates"],
        "replay-window" => &["XfrmInStateSeqError"],
        "sa-seq-overflow" => &["XfrmOutStateSeqError"],
        _ => &[],
    }
}

/// A system-wide trace drop belongs to another namespace when every side's counters were read
/// and none of the counters that drop moves went up on any side.
fn happened_elsewhere(all: &[SideEvidence], cause: &str) -> bool {
    let names = cause_counters(cause);
    !names.is_empty()
        && all.iter().all(|s| s.counters.is_some())
        && !all.iter().any(|s| {
            let c = s.counters.as_ref().expect("checked above");
            names.iter().any(|n| c.increase(n).is_some())
        })
}

/// Which `xfrm_audit_*` function names which cause inside `xfrm_input` (no drop reason there).
const AUDIT_MARKERS: &[(&str, &str, &str)] = &[
    (
        "xfrm_audit_state_icvfail",
        "sa-auth-failure",
        "ESP failed its integrity check (xfrm_audit_state_icvfail)",
    ),
    (
        "xfrm_audit_state_notfound",
        "no-inbound-sa",
        "ESP arrived for an unknown SPI (xfrm_audit_state_notfound)",
    ),
    (
        "xfrm_audit_state_notfound_simple",
        "no-inbound-sa",
        "ESP arrived for an unknown SPI (xfrm_audit_state_notfound_simple)",
    ),
    (
        "xfrm_audit_state_replay",
        "replay-window",
        "ESP sequence number failed the replay check (xfrm_audit_state_replay)",
    ),
    (
        "xfrm_audit_state_replay_overflow",
        "sa-seq-overflow",
        "the outbound sequence number overflowed (xfrm_audit_state_replay_overflow)",
    ),
];

fn trace_item(side: &SideEvidence, d: &crate::evidence::TraceDrop) -> EvidenceItem {
    item(
        "trace",
        side,
        format!(
            "kfree_skb reason {} at {} x{}",
            d.reason, d.location, d.count
        ),
    )
}

/// Drops that say where, not why: the counter findings they belong to.
fn findings_a_drop_supports(d: &crate::evidence::TraceDrop) -> Option<&'static [&'static str]> {
    match d.reason.as_str() {
        "XFRM_POLICY" => Some(&[
            "policy-template-mismatch",
            "nat-t-socket-missing",
            "no-inbound-policy",
            "policy-block-in",
            "forward-policy-missing",
        ]),
        "IP_NOPROTO" => Some(&["sa-mode-mismatch"]),
        // Every failure inside xfrm_input drops here without a reason of its own.
        "NOT_SPECIFIED" if d.symbol() == "xfrm_input" => Some(&[
            "sa-auth-failure",
            "no-inbound-sa",
            "replay-window",
            "sa-mode-mismatch",
            "encap-mismatch",
            "sa-invalid",
            "sa-expired",
            "sa-direction-mismatch",
        ]),
        _ => None,
    }
}

fn trace_findings(side: &SideEvidence, all: &[SideEvidence], so_far: &[Finding]) -> Vec<Finding> {
    let Some(trace) = &side.trace else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The side a drop belongs to: a counter finding for the same cause on another side (one
    // capture covers both namespaces) claims it; otherwise the capturing side.
    let owner = |cause: &str| -> &SideEvidence {
        so_far
            .iter()
            .find(|f| f.cause == cause)
            .and_then(|f| f.side.as_deref())
            .and_then(|name| all.iter().find(|s| s.namespace == name))
            .unwrap_or(side)
    };
    for d in &trace.drops {
        if let Some((_, cause, summary)) = DROP_REASONS.iter().find(|(r, _, _)| *r == d.reason) {
            if happened_elsewhere(all, cause) {
                continue;
            }
            let at = owner(cause);
            // kfree_skb is system wide: alone it cannot be tied to this flow. With the side's
            // counter for the same cause (merged below) the finding is certain.
            out.push(finding(
                cause,
                Confidence::Likely,
                Some(at),
                (*summary).into(),
                vec![trace_item(at, d)],
            ));
        } else if let Some(related) = findings_a_drop_supports(d) {
            // Evidence for the finding the counters name (the drop alone names nothing).
            let forwarded = matches!(d.symbol(), "ip_forward" | "ip6_forward");
            if forwarded && !so_far.iter().any(|f| related.contains(&f.cause.as_str())) {
                // A gateway on this machine whose counters are not in the evidence.
                out.push(finding(
                    "forward-policy-missing",
                    Confidence::Likely,
                    None,
                    "a router on this machine refused to forward the packets under its XFRM policies (its counters were not collected: diagnose it as a side to be sure)".into(),
                    vec![trace_item(side, d)],
                ));
                continue;
            }
            if let Some(f) = so_far.iter().find(|f| related.contains(&f.cause.as_str())) {
                let at = f
                    .side
                    .as_deref()
                    .and_then(|n| all.iter().find(|s| s.namespace == n))
                    .unwrap_or(side);
                out.push(finding(
                    &f.cause,
                    f.confidence,
                    Some(at),
                    f.summary.clone(),
                    vec![trace_item(at, d)],
                ));
            }
        }
    }
    for (marker, hits) in &trace.audit_markers {
        if let Some((_, cause, summary)) = AUDIT_MARKERS.iter().find(|(m, _, _)| m == marker) {
            if happened_elsewhere(all, cause) {
                continue;
            }
            let at = owner(cause);
            // System wide too (any SA on the machine); the counter makes it certain.
            out.push(finding(
                cause,
                Confidence::Likely,
                Some(at),
                (*summary).into(),
                vec![item("trace", at, format!("{marker} hit {hits} time(s)"))],
            ));
        }
    }
    out
}

fn event_findings(side: &SideEvidence, so_far: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for ev in side.events.iter().flatten() {
        let evidence = vec![item("event", side, format!("{}: {}", ev.kind, ev.text))];
        match ev.kind.as_str() {
            // The kernel asked the IKE daemon for an SA: the policy wants one and none exists.
            "acquire" => out.push(finding(
                "no-outbound-sa",
                if so_far.iter().any(|f| f.cause == "no-outbound-sa") {
                    Confidence::Certain
                } else {
                    Confidence::Likely
                },
                Some(side),
                "the kernel asked the IKE daemon for an SA (ACQUIRE) and got none".into(),
                evidence,
            )),
            "expire" if ev.hard == Some(true) => out.push(finding(
                "sa-expired",
                Confidence::Likely,
                Some(side),
                "an SA expired (hard) during the window".into(),
                evidence,
            )),
            _ => {}
        }
    }
    out
}

fn firewall_findings(side: &SideEvidence) -> Vec<Finding> {
    let drops: Vec<EvidenceItem> = side
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
        .collect();
    if drops.is_empty() {
        return Vec::new();
    }
    vec![finding(
        "firewall-drop",
        Confidence::Likely,
        Some(side),
        "an nftables rule that drops matched packets during the window".into(),
        drops,
    )]
}

/// Findings only configuration across sides can show.
fn config_findings(sides: &[SideEvidence], so_far: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    // A receiver rejected plain traffic its policy wants encrypted: did the sender even try?
    let receiver_wants_esp = so_far.iter().any(|f| f.cause == "policy-template-mismatch");
    if receiver_wants_esp {
        for sender in sides.iter().filter(|s| s.role == Role::Sender) {
            let Some(all) = sender.inventory.as_ref().and_then(|i| i.policies.as_ref()) else {
                continue;
            };
            let dst = flow_dst(sender);
            let port = sender.flow.as_ref().map(|f| f.port);
            let out_policies: Vec<&Policy> = all
                .iter()
                .filter(|p| !p.socket && p.dir == "out" && selector_covers(p, "out", dst, port))
                .collect();
            if out_policies.is_empty() {
                out.push(finding(
                    "no-outbound-policy",
                    Confidence::Likely,
                    Some(sender),
                    "the sender has no outbound policy for the flow, so it went out in clear"
                        .into(),
                    vec![item(
                        "config",
                        sender,
                        format!(
                            "{} policies installed, none `dir out` covering {}",
                            all.len(),
                            dst.map(|d| d.to_string())
                                .unwrap_or_else(|| "the flow".into())
                        ),
                    )],
                ));
            }
        }
    }
    out
}

/// Counters worth showing when nothing explains a loss: errors, drops, discards.
fn looks_like_a_drop(name: &str) -> bool {
    name.starts_with("Xfrm")
        || name.starts_with("sa:")
        || [
            "Err", "Drop", "Discard", "Unknown", "Fail", "NoPorts", "NoRoutes",
        ]
        .iter()
        .any(|w| name.contains(w))
}

/// Nothing names the loss: say what is known, and whether the packets arrived at all.
fn unexplained_loss(tally: &Tally, sides: &[SideEvidence]) -> Finding {
    let mut ev = tally.traffic_evidence(sides);
    // A sender route that goes nowhere.
    for s in sides {
        if let Some(r) = &s.route {
            if matches!(r.kind.as_str(), "unreachable" | "blackhole" | "prohibit") {
                ev.push(item(
                    "route",
                    s,
                    format!("route to {} is {}", r.dst, r.kind),
                ));
                return finding(
                    "no-route",
                    Confidence::Certain,
                    Some(s),
                    format!("the route to {} is {}", r.dst, r.kind),
                    ev,
                );
            }
        }
    }
    // Counters the catalog has no rule for, and drops with other reasons: shown, not guessed at.
    for s in sides {
        if let Some(c) = &s.counters {
            for (name, change) in &c.delta {
                if let crate::evidence::CounterChange::Increased(n) = change {
                    if looks_like_a_drop(name) {
                        ev.push(counter_item(s, name, *n));
                    }
                }
            }
        }
    }
    for (s, d) in trace_drops(sides) {
        ev.push(trace_item(s, d));
    }
    let nothing_arrived = sides.iter().find(|s| {
        s.role == Role::Receiver
            && s.counters.as_ref().is_some_and(|c| {
                let v6 = sides.iter().filter_map(flow_dst).any(|d| d.is_ipv6());
                c.known_unchanged(if v6 { "Ip6InReceives" } else { "Ip.InReceives" })
            })
    });
    // Counters of our namespaces, not the system-wide trace: a drop elsewhere on the machine
    // says nothing about whether our packets arrived.
    let moved_anything = ev.iter().any(|e| e.kind == "counter");
    if let (Some(receiver), false) = (nothing_arrived, moved_anything) {
        let mut ev = ev;
        ev.push(item(
            "counter",
            receiver,
            "Ip.InReceives / Ip6InReceives did not move".into(),
        ));
        return finding(
            "not-reached",
            Confidence::Likely,
            Some(receiver),
            "the datagrams never arrived at the receiver's IP layer".into(),
            ev,
        );
    }
    finding(
        "unknown-drop",
        Confidence::Possible,
        None,
        "datagrams were lost and nothing collected names why".into(),
        ev,
    )
}
