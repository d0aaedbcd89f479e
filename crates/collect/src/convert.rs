//! From the readers' types to the evidence types (`xfrmdiag-evidence`).
//!
//! The evidence keeps what a diagnosis and a cross-host comparison need, as plain strings in the
//! words `ip xfrm` uses, so saved evidence stays readable when a reader's types grow. Pure
//! conversions: no I/O. They live here, not in the evidence crate, so that crate and the decision
//! depend on no reader.

use xfrmdiag_evidence::{
    Algorithm, CounterChange, Encap, ExecResult, ListenResult, Mark, ObserveResult, Policy,
    RouteInfo, Sa, Selector, SendError, SendResult, Template, TraceDrop, TraceSummary, XfrmEvent,
    XfrmInfo,
};
use xfrmdiag_inventory as inv;

fn mark(m: &inv::Mark) -> Mark {
    Mark {
        value: m.value,
        mask: m.mask,
    }
}

/// IP protocol number as `ip xfrm` names it; 0 (any) is `None`.
fn proto_name(n: u8) -> Option<String> {
    match n {
        0 => None,
        1 => Some("icmp".into()),
        6 => Some("tcp".into()),
        17 => Some("udp".into()),
        50 => Some("esp".into()),
        51 => Some("ah".into()),
        58 => Some("ipv6-icmp".into()),
        132 => Some("sctp".into()),
        other => Some(other.to_string()),
    }
}

/// A traffic selector, ports only where the mask selects them.
pub fn selector(s: &inv::Selector) -> Selector {
    {
        Selector {
            src: s.src.to_string(),
            dst: s.dst.to_string(),
            proto: proto_name(s.proto),
            sport: (s.sport_mask != 0).then_some(s.sport),
            dport: (s.dport_mask != 0).then_some(s.dport),
        }
    }
}

fn algorithm(role: &str, a: &Option<inv::Algorithm>) -> Option<Algorithm> {
    a.as_ref().map(|a| Algorithm {
        role: role.into(),
        name: a.name.clone(),
        key_fingerprint: Some(a.key_fingerprint.clone()),
        key_bits: Some(a.key_bits),
        icv_bits: a.trunc_bits.or(a.icv_bits),
    })
}

/// An SA, keys as fingerprints only.
pub fn sa(sa: &inv::Sa) -> Sa {
    {
        let algs = &sa.algorithms;
        Sa {
            src: sa.src.to_string(),
            dst: sa.dst.to_string(),
            proto: sa.proto.to_string(),
            spi: sa.spi.to_string(),
            reqid: sa.reqid,
            mode: sa.mode.to_string(),
            encap: sa.encap.as_ref().map(|e| Encap {
                kind: e.encap_type.clone(),
                sport: e.sport,
                dport: e.dport,
            }),
            mark: sa.mark.as_ref().map(mark),
            if_id: sa.if_id,
            direction: sa.direction.map(|d| d.to_string()),
            selector: Some(selector(&sa.selector)),
            algorithms: [
                algorithm("aead", &algs.aead),
                algorithm("auth", &algs.auth),
                algorithm("enc", &algs.enc),
                algorithm("comp", &algs.comp),
            ]
            .into_iter()
            .flatten()
            .collect(),
            replay_window: Some(sa.replay.window),
            esn: sa.flags.iter().any(|f| f == "esn"),
        }
    }
}

pub fn policy(p: &inv::Policy) -> Policy {
    {
        Policy {
            dir: p.dir.to_string(),
            action: p.action.to_string(),
            priority: p.priority,
            selector: selector(&p.selector),
            templates: p
                .templates
                .iter()
                .map(|t| Template {
                    proto: t.proto.to_string(),
                    mode: t.mode.to_string(),
                    src: t.src.map(|a| a.to_string()),
                    dst: t.dst.map(|a| a.to_string()),
                    reqid: t.reqid,
                    optional: t.level == inv::Level::Use,
                })
                .collect(),
            mark: p.mark.as_ref().map(mark),
            if_id: p.if_id,
            socket: p.socket,
        }
    }
}

/// The default policies per direction.
pub fn xfrm_info(i: &inv::XfrmInfo) -> XfrmInfo {
    {
        let d = &i.default_policy;
        XfrmInfo {
            default_in: Some(d.input.to_string()),
            default_out: Some(d.output.to_string()),
            default_fwd: Some(d.forward.to_string()),
        }
    }
}

pub fn route(r: &inv::RouteInfo) -> RouteInfo {
    {
        RouteInfo {
            dst: r.dst.to_string(),
            kind: r.kind.clone(),
            dev: r.dev.clone(),
            src: r.src.map(|a| a.to_string()),
            gateway: r.gateway.map(|a| a.to_string()),
            mtu: r.mtu.or(r.link_mtu),
        }
    }
}

/// One XFRM event, as `ip xfrm monitor` would say it.
pub fn event(e: &inv::XfrmEvent) -> XfrmEvent {
    {
        use inv::EventKind as K;
        let sa_line = |sa: &inv::Sa| {
            format!(
                "{} spi {} {} -> {} mode {}",
                sa.proto, sa.spi, sa.src, sa.dst, sa.mode
            )
        };
        let (kind, text, hard) = match &e.kind {
            K::Acquire {
                src, dst, proto, ..
            } => (
                "acquire",
                format!("kernel wants an {proto} SA {src} -> {dst}"),
                None,
            ),
            K::Expire { hard, sa, .. } => (
                "expire",
                format!(
                    "{} expiry of {}",
                    if *hard { "hard" } else { "soft" },
                    sa_line(sa)
                ),
                Some(*hard),
            ),
            K::Report {
                proto, selector, ..
            } => (
                "report",
                format!("{proto} report for {} -> {}", selector.src, selector.dst),
                None,
            ),
            K::Mapping {
                old_src,
                old_sport,
                new_src,
                new_sport,
                ..
            } => (
                "mapping",
                format!("NAT mapping {old_src}:{old_sport} -> {new_src}:{new_sport}"),
                None,
            ),
            K::NewSa { sa } => ("newsa", sa_line(sa), None),
            K::UpdSa { sa } => ("updsa", sa_line(sa), None),
            K::DelSa { id, .. } => (
                "delsa",
                format!("{} spi {} dst {}", id.proto, id.spi, id.dst),
                None,
            ),
            K::NewPolicy { .. } => ("newpolicy", String::new(), None),
            K::UpdPolicy { .. } => ("updpolicy", String::new(), None),
            K::DelPolicy { dir, .. } => ("delpolicy", format!("dir {dir}"), None),
            K::PolicyExpire { hard, .. } => ("polexpire", String::new(), Some(*hard)),
            K::FlushSa { .. } => ("flushsa", String::new(), None),
            K::FlushPolicy => ("flushpolicy", String::new(), None),
            K::AsyncEvent { .. } => ("aevent", String::new(), None),
            K::SetDefault {
                input,
                output,
                forward,
            } => (
                "setdefault",
                format!("default policy in {input} out {output} fwd {forward}"),
                None,
            ),
            K::Overrun => ("overrun", "events were lost".into(), None),
            K::Other { msg_type } => ("other", format!("message type {msg_type}"), None),
        };
        XfrmEvent {
            kind: kind.into(),
            text,
            hard,
        }
    }
}

/// The parts of a capture the decision uses.
pub fn trace_summary(r: &xfrmdiag_trace::TraceResult) -> TraceSummary {
    {
        use xfrmdiag_trace::FunctionTracer as F;
        TraceSummary {
            drops: r
                .summary
                .drops
                .iter()
                .map(|d| TraceDrop {
                    reason: d.reason.clone(),
                    location: d.location.clone(),
                    count: d.count,
                })
                .collect(),
            audit_markers: r
                .summary
                .audit_markers
                .iter()
                .map(|m| (m.function.clone(), m.count))
                .collect(),
            function_tracer: match &r.function_tracer {
                F::Used { tracer, .. } => format!("used ({tracer})"),
                F::Refused { reason } => format!("refused: {reason}"),
                F::NotRequested => "not requested".into(),
            },
        }
    }
}

/// What `sendto` did, in the evidence's words.
pub fn send(r: xfrmdiag_traffic::SendResult) -> SendResult {
    SendResult {
        dst: r.dst,
        attempted: r.attempted,
        sent: r.sent,
        size: r.size,
        errors: r
            .errors
            .into_iter()
            .map(|e| SendError {
                errno: e.errno,
                code: e.code,
                message: e.message,
                count: e.count,
                first: e.first,
            })
            .collect(),
    }
}

pub fn listen(r: xfrmdiag_traffic::ListenResult) -> ListenResult {
    ListenResult {
        port: r.port,
        received: r.received,
        bytes: r.bytes,
        expected: r.expected,
        window_ms: r.window_ms,
    }
}

pub fn observe(r: xfrmdiag_traffic::ObserveResult) -> ObserveResult {
    ObserveResult {
        port: r.port,
        socket_found: r.socket_found,
        socket_drops: r.socket_drops,
        window_ms: r.window_ms,
    }
}

pub fn exec(r: xfrmdiag_traffic::ExecResult) -> ExecResult {
    ExecResult {
        command: r.command,
        exit_code: r.exit_code,
        stderr_tail: r.stderr_tail,
    }
}

pub fn counter_change(c: xfrmdiag_counters::Change) -> CounterChange {
    use xfrmdiag_counters::Change as C;
    match c {
        C::Unchanged => CounterChange::Unchanged,
        C::Increased(n) => CounterChange::Increased(n),
        C::Decreased(n) => CounterChange::Decreased(n),
        C::Reset { before, after } => CounterChange::Reset { before, after },
    }
}

fn send_error(e: xfrmdiag_traffic::SendError) -> SendError {
    SendError {
        errno: e.errno,
        code: e.code,
        message: e.message,
        count: e.count,
        first: e.first,
    }
}

pub fn tcp_send(r: xfrmdiag_traffic::TcpSendResult) -> xfrmdiag_evidence::TcpSendResult {
    xfrmdiag_evidence::TcpSendResult {
        dst: r.dst,
        bytes: r.bytes,
        connected: r.connected,
        connect_ms: r.connect_ms,
        connect_error: r.connect_error.map(send_error),
        written: r.written,
        acked: r.acked,
        write_error: r.write_error.map(send_error),
        info: r.info.map(|i| xfrmdiag_evidence::TcpInfo {
            state: i.state,
            unacked: i.unacked,
            retransmits: i.retransmits,
            backoff: i.backoff,
            snd_mss: i.snd_mss,
            pmtu: i.pmtu,
            rtt_us: i.rtt_us,
        }),
    }
}

pub fn tcp_listen(r: xfrmdiag_traffic::TcpListenResult) -> xfrmdiag_evidence::TcpListenResult {
    xfrmdiag_evidence::TcpListenResult {
        port: r.port,
        connections: r.connections,
        bytes: r.bytes,
        expected_bytes: r.expected_bytes,
        window_ms: r.window_ms,
    }
}

pub fn icmp(r: xfrmdiag_traffic::IcmpResult) -> xfrmdiag_evidence::IcmpResult {
    xfrmdiag_evidence::IcmpResult {
        dst: r.dst,
        attempted: r.attempted,
        sent: r.sent,
        size: r.size,
        replies: r.replies,
        errors: r.errors.into_iter().map(send_error).collect(),
        icmp_errors: r
            .icmp_errors
            .into_iter()
            .map(|e| xfrmdiag_evidence::IcmpError {
                from: e.from,
                kind: e.kind,
                icmp_type: e.icmp_type,
                code: e.code,
                count: e.count,
            })
            .collect(),
    }
}

pub fn tunnel_link(l: &inv::TunnelLink) -> xfrmdiag_evidence::TunnelLink {
    xfrmdiag_evidence::TunnelLink {
        name: l.name.clone(),
        kind: l.kind.clone(),
        if_id: l.if_id,
        ikey: l.ikey,
        okey: l.okey,
        underlay: l.underlay.clone(),
        local: l.local.map(|a| a.to_string()),
        admin_up: l.admin_up,
        oper_state: l.oper_state.clone(),
        mtu: l.mtu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Emitted by the kernel for SAs with real keys (tests/fixtures/emitted-netlink-sa-keys).
    const KEYED_DUMP: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/emitted-netlink-sa-keys/getsa-dump.bin"
    );

    #[test]
    fn sas_from_a_real_netlink_dump_keep_fingerprints_only() {
        let bytes = std::fs::read(KEYED_DUMP)
            .unwrap_or_else(|e| panic!("the keyed SA dump fixture {KEYED_DUMP}: {e}"));
        let sas = inv::sas_from_netlink_bytes(&bytes).unwrap();
        assert!(!sas.is_empty(), "the keyed fixture holds no SA");
        let mut keys = 0;
        for sa in &sas {
            let view = super::sa(sa);
            assert!(
                view.spi.starts_with("0x") && view.spi.len() == 10,
                "{}",
                view.spi
            );
            for a in &view.algorithms {
                assert_eq!(a.key_fingerprint.as_ref().map(String::len), Some(12));
                keys += 1;
            }
        }
        assert!(keys > 0, "no SA in the keyed fixture carries a key");
        // The evidence as saved holds fingerprints, never the key bytes (README of the fixture).
        let json = serde_json::to_string(&sas.iter().map(super::sa).collect::<Vec<_>>()).unwrap();
        for key in [
            "authkey-0123456789abcdef",
            "enckey-012345678",
            "aeadkey-0123456789ab",
        ] {
            let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
            assert!(!json.contains(key) && !json.contains(&hex), "{key} leaked");
        }
    }
}
