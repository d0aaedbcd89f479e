//! `xfrmdiag sa`: one fixed-width line per SA, then its details on indented lines (like
//! `ip -s xfrm state`), appended to a reused buffer as the dump is decoded, so 100k SAs never
//! sit in memory together.
//!
//! ```text
//! SRC                DST                PROTO SPI        REQID      MODE      DIR SELECTOR
//! 10.0.0.1           10.0.0.2           esp   0xc0ffee01 42         tunnel    in  10.1.0.0/16 > 10.2.0.0/16
//!     auth hmac(sha256) 256b fp:3f2a9c0d11e4 trunc 128
//!     replay win 128 seq 0x0 oseq 0x0
//! ```

use std::fmt::Write as _;
use std::io::Write as _;

use xfrmdiag_inventory::{Algorithm, IpTfs, Sa};

use super::fast::{pad_from, push_ip, push_u64};
use super::{if_id, mark, opt, selector_text, time_text};

/// Column header of [`push_sa`].
pub const SA_HEADER: &str =
    "SRC                DST                PROTO SPI        REQID      MODE      DIR SELECTOR";

/// Indent of an SA's detail lines.
const DETAIL: &str = "    ";

/// Appends one SA: its line, then a detail line per algorithm, its replay state, each extra
/// (encap, marks, if_id, offload, …), and with `show_stats` its lifetime use, limits and
/// error counters.
pub fn push_sa(buf: &mut Vec<u8>, sa: &Sa, show_stats: bool) {
    let col = buf.len();
    push_ip(buf, sa.src);
    pad_from(buf, col, 18);
    let col = buf.len();
    push_ip(buf, sa.dst);
    pad_from(buf, col, 18);
    let _ = write!(
        buf,
        "{:<5} {} {:<10} {:<9} {:<3} ",
        sa.proto.to_string(),
        sa.spi,
        sa.reqid,
        sa.mode.to_string(),
        opt(sa.direction)
    );
    buf.extend_from_slice(selector_text(&sa.selector).as_bytes());
    buf.push(b'\n');

    let a = &sa.algorithms;
    for (kind, alg) in [
        ("aead", &a.aead),
        ("auth", &a.auth),
        ("enc", &a.enc),
        ("comp", &a.comp),
    ] {
        if let Some(alg) = alg {
            detail(buf, &algorithm_text(kind, alg));
        }
    }
    detail(buf, &replay_text(sa));
    for extra in sa_extras(sa) {
        detail(buf, &extra);
    }
    if show_stats {
        for line in stats_lines(sa) {
            detail(buf, &line);
        }
    }
}

/// The closing line: how many SAs were shown (or that there were none).
pub fn push_sa_footer(buf: &mut Vec<u8>, count: usize) {
    if count == 0 {
        buf.extend_from_slice(b"no SAs\n");
    } else {
        push_u64(buf, count as u64);
        buf.extend_from_slice(b" SA(s)\n");
    }
}

fn detail(buf: &mut Vec<u8>, text: &str) {
    buf.extend_from_slice(DETAIL.as_bytes());
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
}

fn algorithm_text(kind: &str, a: &Algorithm) -> String {
    let mut s = format!("{kind} {} {}b fp:{}", a.name, a.key_bits, a.key_fingerprint);
    if let Some(t) = a.trunc_bits {
        let _ = write!(s, " trunc {t}");
    }
    if let Some(icv) = a.icv_bits {
        let _ = write!(s, " icv {icv}");
    }
    s
}

fn replay_text(sa: &Sa) -> String {
    let r = &sa.replay;
    let mut s = format!(
        "replay win {} seq 0x{:x} oseq 0x{:x}",
        r.window, r.seq, r.oseq
    );
    if let (Some(hi), Some(ohi)) = (r.seq_hi, r.oseq_hi) {
        let _ = write!(s, " seq_hi 0x{hi:x} oseq_hi 0x{ohi:x}");
    }
    s
}

fn sa_extras(sa: &Sa) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(e) = &sa.encap {
        let mut s = format!("encap {} {}>{}", e.encap_type, e.sport, e.dport);
        if let Some(oa) = e.oa {
            let _ = write!(s, " oa {oa}");
        }
        lines.push(s);
    }
    if sa.mark.is_some() {
        lines.push(format!("mark {}", mark(sa.mark)));
    }
    if sa.output_mark.is_some() {
        lines.push(format!("output-mark {}", mark(sa.output_mark)));
    }
    if sa.if_id.is_some() {
        lines.push(format!("if_id {}", if_id(sa.if_id)));
    }
    if let Some(o) = &sa.offload {
        let dev = o
            .dev
            .clone()
            .unwrap_or_else(|| format!("ifindex {}", o.ifindex));
        lines.push(format!("offload {dev} {}", o.flags.join(",")));
    }
    if let Some(ctx) = &sa.sec_ctx {
        lines.push(format!("ctx {}", ctx.context));
    }
    if let Some(v) = sa.tfcpad {
        lines.push(format!("tfcpad {v}"));
    }
    if let Some(v) = sa.nat_keepalive_interval {
        lines.push(format!("nat-keepalive {v}s"));
    }
    if let Some(v) = sa.pcpu {
        lines.push(format!("pcpu {v}"));
    }
    if let Some(t) = &sa.iptfs {
        lines.push(iptfs_text(t));
    }
    if !sa.flags.is_empty() {
        lines.push(format!("flags {}", sa.flags.join(",")));
    }
    for u in &sa.unknown_attributes {
        lines.push(u.to_string());
    }
    lines
}

/// IP-TFS parameters in iproute2's words (`ip xfrm state add … iptfs-opts …`).
fn iptfs_text(t: &IpTfs) -> String {
    let mut text = String::from("iptfs");
    let numbers = [
        ("drop-time", t.drop_time_us),
        ("reorder-window", t.reorder_window.map(u32::from)),
        ("init-delay", t.init_delay_us),
        ("max-queue-size", t.max_queue_size),
        ("pkt-size", t.pkt_size),
    ];
    for (name, value) in numbers {
        if let Some(v) = value {
            let _ = write!(text, " {name} {v}");
        }
    }
    if t.dont_frag {
        text.push_str(" dont-frag");
    }
    text
}

/// `--show-stats`: lifetime use, the limits that are set, and the SA's error counters.
fn stats_lines(sa: &Sa) -> Vec<String> {
    let l = &sa.lifetime;
    let mut lines = vec![format!(
        "lifetime {} B, {} pkts, added {}, used {}",
        l.current.bytes,
        l.current.packets,
        time_text(l.current.add_time),
        time_text(l.current.use_time)
    )];
    let c = &l.config;
    for (what, soft, hard) in [
        ("bytes", c.soft_byte_limit, c.hard_byte_limit),
        ("packets", c.soft_packet_limit, c.hard_packet_limit),
        (
            "add s",
            c.soft_add_expires_seconds,
            c.hard_add_expires_seconds,
        ),
        (
            "use s",
            c.soft_use_expires_seconds,
            c.hard_use_expires_seconds,
        ),
    ] {
        if soft.is_some() || hard.is_some() {
            lines.push(format!(
                "limit {what} {}/{} (soft/hard)",
                opt(soft),
                opt(hard)
            ));
        }
    }
    lines.push(format!(
        "stats replay-window {} replay {} failed {}",
        sa.stats.replay_window, sa.stats.replay, sa.stats.integrity_failed
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptfs_in_iproute2_words() {
        let t = IpTfs {
            drop_time_us: Some(2000),
            reorder_window: Some(3),
            dont_frag: true,
            init_delay_us: None,
            max_queue_size: Some(1_048_576),
            pkt_size: None,
        };
        assert_eq!(
            iptfs_text(&t),
            "iptfs drop-time 2000 reorder-window 3 max-queue-size 1048576 dont-frag"
        );
    }

    #[test]
    fn footer_counts_or_says_none() {
        let mut buf = Vec::new();
        push_sa_footer(&mut buf, 0);
        push_sa_footer(&mut buf, 20_000);
        assert_eq!(String::from_utf8(buf).unwrap(), "no SAs\n20000 SA(s)\n");
    }
}
