//! Rendering of inventory results: `sa`, `policy`, `info`, `monitor`.
//!
//! Policies are written as fixed-width lines, one per policy, straight to the writer: a table
//! whose column widths depend on every row would have to hold 100k policies in memory first.
//! The widths fit the common case (IPv4 prefixes); a longer value shifts the rest of its line
//! instead of being cut, so nothing is ever hidden. SAs and info are few: those are tables.

use std::fmt::Write as _;
use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::Style;
use xfrmdiag_inventory::{
    Algorithm, EventKind, Mark, Policy, Sa, Selector, Template, XfrmEvent, XfrmInfo,
};

/// IP protocol names as `ip xfrm` prints them (without consulting /etc/protocols).
pub fn proto_name(proto: u8) -> String {
    match proto {
        0 => "any".into(),
        1 => "icmp".into(),
        2 => "igmp".into(),
        4 => "ipip".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        33 => "dccp".into(),
        41 => "ipv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "ipv6-icmp".into(),
        103 => "pim".into(),
        108 => "comp".into(),
        132 => "sctp".into(),
        135 => "mh".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

/// `any`, `80`, or `80/0xfff0` when only some bits are matched.
fn port(port: u16, mask: u16) -> String {
    match mask {
        0 => "any".into(),
        0xffff => port.to_string(),
        m => format!("{port}/0x{m:04x}"),
    }
}

fn mark(m: Option<Mark>) -> String {
    match m {
        None => "-".into(),
        Some(m) if m.mask == u32::MAX => format!("0x{:x}", m.value),
        Some(m) => format!("0x{:x}/0x{:x}", m.value, m.mask),
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn template_text(t: &Template) -> String {
    let mut s = format!("{} {}", t.proto, t.mode);
    if let (Some(src), Some(dst)) = (t.src, t.dst) {
        let _ = write!(s, " {src}>{dst}");
    } else if let Some(dst) = t.dst {
        let _ = write!(s, " >{dst}");
    }
    if t.spi.0 != 0 {
        let _ = write!(s, " spi {}", t.spi);
    }
    if t.reqid != 0 {
        let _ = write!(s, " reqid {}", t.reqid);
    }
    let _ = write!(s, " {}", t.level);
    s
}

/// Column header of [`write_policy_line`].
pub const POLICY_HEADER: &str = "DIR        ACTION PRIO       INDEX      SRC                DST                PROTO  SPORT  DPORT  MARK         IF_ID  TEMPLATES";

pub fn write_policy_header(w: &mut impl Write) -> io::Result<()> {
    w.write_all(POLICY_HEADER.as_bytes())?;
    w.write_all(b"\n")
}

/// Writes one policy as one line (see the module doc for why lines and not a table).
pub fn write_policy_line(w: &mut impl Write, p: &Policy) -> io::Result<()> {
    let dir = if p.socket {
        format!("{}/socket", p.dir)
    } else {
        p.dir.as_str().to_string()
    };
    let sel = &p.selector;
    write!(
        w,
        "{dir:<10} {:<6} {:<10} {:<10} {:<18} {:<18} {:<6} {:<6} {:<6} {:<12} {:<6} ",
        p.action.as_str(),
        p.priority,
        p.index,
        sel.src,
        sel.dst,
        proto_name(sel.proto),
        port(sel.sport, sel.sport_mask),
        port(sel.dport, sel.dport_mask),
        mark(p.mark),
        opt(p.if_id),
    )?;
    let mut first = true;
    for t in &p.templates {
        if !first {
            w.write_all(b"; ")?;
        }
        first = false;
        w.write_all(template_text(t).as_bytes())?;
    }
    if p.templates.is_empty() {
        w.write_all(b"-")?;
    }
    // Rare extras go at the end, so the columns stay aligned for everyone else.
    if let Some(dev) = sel.dev.as_deref() {
        write!(w, " dev {dev}")?;
    } else if sel.ifindex != 0 {
        write!(w, " ifindex {}", sel.ifindex)?;
    }
    if p.ptype != "main" {
        write!(w, " ptype {}", p.ptype)?;
    }
    for flag in &p.flags {
        write!(w, " flag {flag}")?;
    }
    if let Some(ctx) = &p.sec_ctx {
        write!(w, " ctx {}", ctx.context)?;
    }
    for u in &p.unknown_attributes {
        write!(w, " [{u}]")?;
    }
    w.write_all(b"\n")
}

fn selector_text(s: &Selector) -> String {
    let mut text = format!("{} > {}", s.src, s.dst);
    if s.proto != 0 {
        let _ = write!(text, " {}", proto_name(s.proto));
        if s.sport_mask != 0 {
            let _ = write!(text, " sport {}", port(s.sport, s.sport_mask));
        }
        if s.dport_mask != 0 {
            let _ = write!(text, " dport {}", port(s.dport, s.dport_mask));
        }
    }
    if let Some(dev) = &s.dev {
        let _ = write!(text, " dev {dev}");
    }
    text
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

fn algorithms_text(sa: &Sa) -> String {
    let a = &sa.algorithms;
    let parts: Vec<String> = [
        ("aead", &a.aead),
        ("auth", &a.auth),
        ("enc", &a.enc),
        ("comp", &a.comp),
    ]
    .iter()
    .filter_map(|(k, alg)| alg.as_ref().map(|alg| algorithm_text(k, alg)))
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("\n")
    }
}

fn time_text(unix: u64) -> String {
    if unix == 0 {
        return "-".into();
    }
    // UTC, ISO-like, without a date library: days since epoch → civil date.
    let (days, rem) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn replay_text(sa: &Sa) -> String {
    let r = &sa.replay;
    let mut s = format!("win {} seq 0x{:x} oseq 0x{:x}", r.window, r.seq, r.oseq);
    if let (Some(hi), Some(ohi)) = (r.seq_hi, r.oseq_hi) {
        let _ = write!(s, "\nseq_hi 0x{hi:x} oseq_hi 0x{ohi:x}");
    }
    s
}

fn sa_extras(sa: &Sa) -> String {
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
    if let Some(id) = sa.if_id {
        lines.push(format!("if_id 0x{id:x}"));
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
        lines.push(format!("iptfs {}", serde_json_lite(t)));
    }
    if !sa.flags.is_empty() {
        lines.push(format!("flags {}", sa.flags.join(",")));
    }
    for u in &sa.unknown_attributes {
        lines.push(u.to_string());
    }
    if lines.is_empty() {
        "-".into()
    } else {
        lines.join("\n")
    }
}

fn serde_json_lite<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn limit_text(soft: Option<u64>, hard: Option<u64>) -> Option<String> {
    (soft.is_some() || hard.is_some()).then(|| format!("{}/{}", opt(soft), opt(hard)))
}

/// SAs as a table (like `ip -s xfrm state`, one row per SA, keys as fingerprints).
pub fn sa_table(sas: &[Sa], show_stats: bool) -> String {
    if sas.is_empty() {
        return "no SAs\n".into();
    }
    let mut b = Builder::default();
    let mut header = vec![
        "SRC > DST",
        "PROTO",
        "SPI",
        "REQID",
        "MODE",
        "DIR",
        "ALGORITHMS",
        "REPLAY",
        "SELECTOR",
        "EXTRA",
    ];
    if show_stats {
        header.extend(["LIFETIME (bytes, packets)", "STATS"]);
    }
    b.push_record(header);
    for sa in sas {
        let mut row = vec![
            format!("{} > {}", sa.src, sa.dst),
            sa.proto.to_string(),
            sa.spi.to_string(),
            sa.reqid.to_string(),
            sa.mode.to_string(),
            opt(sa.direction),
            algorithms_text(sa),
            replay_text(sa),
            selector_text(&sa.selector),
            sa_extras(sa),
        ];
        if show_stats {
            let l = &sa.lifetime;
            let mut life = format!(
                "{} B, {} pkts\nadded {}\nused {}",
                l.current.bytes,
                l.current.packets,
                time_text(l.current.add_time),
                time_text(l.current.use_time)
            );
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
                if let Some(t) = limit_text(soft, hard) {
                    let _ = write!(life, "\nlimit {what} {t} (soft/hard)");
                }
            }
            row.push(life);
            row.push(format!(
                "replay-window {}\nreplay {}\nfailed {}",
                sa.stats.replay_window, sa.stats.replay, sa.stats.integrity_failed
            ));
        }
        b.push_record(row);
    }
    let mut table = b.build();
    table.with(Style::sharp());
    format!("{table}\n{} SA(s)\n", sas.len())
}

/// `xfrmdiag info` as a small table.
pub fn info_table(info: &XfrmInfo) -> String {
    let mut b = Builder::default();
    b.push_record(["", "value"]);
    let spd = &info.spd;
    let rows: Vec<(&str, String)> = vec![
        ("namespace", info.namespace.clone()),
        ("SAs", info.sad.count.to_string()),
        (
            "SAD hash buckets (max)",
            format!("{} ({})", info.sad.hash_buckets, info.sad.hash_max),
        ),
        (
            "policies in/out/fwd",
            format!("{}/{}/{}", spd.input, spd.output, spd.forward),
        ),
        (
            "socket policies in/out/fwd",
            format!("{}/{}/{}", spd.in_socket, spd.out_socket, spd.fwd_socket),
        ),
        (
            "SPD hash buckets (max)",
            format!("{} ({})", spd.hash_buckets, spd.hash_max),
        ),
        (
            "SPD hthresh4 / hthresh6",
            format!(
                "{} / {}",
                spd.ipv4_hthresh
                    .map_or("-".into(), |t| format!("{} {}", t.lbits, t.rbits)),
                spd.ipv6_hthresh
                    .map_or("-".into(), |t| format!("{} {}", t.lbits, t.rbits))
            ),
        ),
        (
            "default policy in/out/fwd",
            format!(
                "{}/{}/{}",
                info.default_policy.input, info.default_policy.output, info.default_policy.forward
            ),
        ),
    ];
    for (k, v) in rows {
        b.push_record([k.to_string(), v]);
    }
    let mut table = b.build();
    table.with(Style::sharp());
    format!("{table}\n")
}

fn short_policy(p: &Policy) -> String {
    let mut s = format!(
        "dir {}{} {} prio {} index {} {}",
        p.dir,
        if p.socket { "/socket" } else { "" },
        p.action,
        p.priority,
        p.index,
        selector_text(&p.selector)
    );
    for t in &p.templates {
        let _ = write!(s, " tmpl [{}]", template_text(t));
    }
    s
}

fn short_sa(sa: &Sa) -> String {
    format!(
        "{} > {} {} spi {} reqid {} {}",
        sa.src, sa.dst, sa.proto, sa.spi, sa.reqid, sa.mode
    )
}

/// One line per event, timestamped (UTC, milliseconds), like `ip -t xfrm monitor`.
pub fn event_line(e: &XfrmEvent) -> String {
    let secs = e.time_ns / 1_000_000_000;
    let millis = (e.time_ns / 1_000_000) % 1000;
    let time = format!("{}.{millis:03}", time_text(secs));
    let what = match &e.kind {
        EventKind::NewSa { sa } => format!("new-sa {}", short_sa(sa)),
        EventKind::UpdSa { sa } => format!("upd-sa {}", short_sa(sa)),
        EventKind::DelSa { id, .. } => {
            format!("del-sa {} spi {} {}", id.dst, id.spi, id.proto)
        }
        EventKind::NewPolicy { policy } => format!("new-policy {}", short_policy(policy)),
        EventKind::UpdPolicy { policy } => format!("upd-policy {}", short_policy(policy)),
        EventKind::DelPolicy {
            dir,
            index,
            selector,
            ..
        } => format!(
            "del-policy dir {dir} index {index} {}",
            selector_text(selector)
        ),
        EventKind::Acquire {
            src,
            dst,
            proto,
            selector,
            templates,
            policy,
            seq,
        } => {
            let mut s = format!(
                "acquire {src} > {dst} {proto} seq 0x{seq:x} sel {} policy index {}",
                selector_text(selector),
                policy.index
            );
            for t in templates {
                let _ = write!(s, " tmpl [{}]", template_text(t));
            }
            s
        }
        EventKind::Expire { hard, id, .. } => format!(
            "expire {} {} spi {} {}",
            if *hard { "hard" } else { "soft" },
            id.dst,
            id.spi,
            id.proto
        ),
        EventKind::PolicyExpire { hard, policy } => format!(
            "policy-expire {} {}",
            if *hard { "hard" } else { "soft" },
            short_policy(policy)
        ),
        EventKind::Report {
            proto,
            selector,
            coaddr,
        } => format!(
            "report {proto} {}{}",
            selector_text(selector),
            coaddr.map_or(String::new(), |c| format!(" coaddr {c}"))
        ),
        EventKind::Mapping {
            id,
            reqid,
            old_src,
            old_sport,
            new_src,
            new_sport,
        } => format!(
            "mapping {} spi {} reqid {reqid}: {old_src}:{old_sport} -> {new_src}:{new_sport}",
            id.dst, id.spi
        ),
        EventKind::FlushSa { proto } => format!("flush-sa proto {proto}"),
        EventKind::FlushPolicy => "flush-policy".into(),
        EventKind::AsyncEvent { id, flags } => {
            format!("async-event {} spi {} flags 0x{flags:x}", id.dst, id.spi)
        }
        EventKind::Overrun => "overrun: the kernel dropped events (socket buffer full)".into(),
        EventKind::Other { msg_type } => format!("message type {msg_type}"),
    };
    format!("{time} {what}")
}
