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
    if p.ptype != xfrmdiag_inventory::PolicyType::Main {
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
    // UTC as `2026-11-25 13:35:18`: RFC 3339 with a space, easier to read in a table.
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.trim_end_matches('Z').replacen('T', " ", 1)
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
        lines.push(iptfs_text(t));
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

/// IP-TFS parameters in iproute2's words (`ip xfrm state add … iptfs-opts …`).
fn iptfs_text(t: &xfrmdiag_inventory::IpTfs) -> String {
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
            text.push_str(&format!(" {name} {v}"));
        }
    }
    if t.dont_frag {
        text.push_str(" dont-frag");
    }
    text
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

// ---------------------------------------------------------------------------------------------
// Fast policy output.
//
// `xfrmdiag policy` may print 100k policies. serde_json spends most of its time escaping the
// same static keys again and again, and `write!` with padding allocates; these writers append
// to a reused buffer instead. The JSON writer must produce exactly what serde_json produces for
// `Policy` (the schema stays the serde derive): a test compares them byte for byte.

const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends a decimal number, two digits at a time into a small stack buffer, then one copy.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        buf.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i] = DIGIT_PAIRS[pair];
        digits[i + 1] = DIGIT_PAIRS[pair + 1];
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i] = DIGIT_PAIRS[pair];
        digits[i + 1] = DIGIT_PAIRS[pair + 1];
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `0x` and 8 lowercase hex digits (an SPI).
fn push_hex8(buf: &mut Vec<u8>, n: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0', b'x', 0, 0, 0, 0, 0, 0, 0, 0];
    for (i, slot) in out[2..].iter_mut().enumerate() {
        *slot = HEX[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    buf.extend_from_slice(&out);
}

fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

fn push_ip(buf: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_u64(buf, u64::from(*octet));
            }
        }
        // IPv6 text has compression rules: leave them to std.
        std::net::IpAddr::V6(v6) => {
            let _ = write!(buf, "{v6}");
        }
    }
}

fn push_prefix(buf: &mut Vec<u8>, p: &xfrmdiag_inventory::Prefix) {
    push_ip(buf, p.addr);
    buf.push(b'/');
    push_u64(buf, u64::from(p.len));
}

/// A JSON string; plain ASCII goes straight in, anything else through serde_json's escaping.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// Appends `value` serialized by serde_json (for the rare, small parts).
fn push_serde<T: serde::Serialize>(buf: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *buf, value);
}

fn push_key(buf: &mut Vec<u8>, key: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

fn push_opt_u64(buf: &mut Vec<u8>, key: &str, value: Option<u64>) {
    if let Some(v) = value {
        if buf.last() != Some(&b'{') {
            buf.push(b',');
        }
        push_key(buf, key);
        push_u64(buf, v);
    }
}

/// Appends one policy as compact JSON, byte-identical to `serde_json::to_writer(policy)`.
pub fn push_policy_json(buf: &mut Vec<u8>, p: &Policy) {
    buf.reserve(768 + 256 * p.templates.len());
    buf.extend_from_slice(b"{\"dir\":\"");
    buf.extend_from_slice(p.dir.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"socket\":");
    buf.extend_from_slice(if p.socket { b"true" } else { b"false" });
    buf.extend_from_slice(b",\"action\":\"");
    buf.extend_from_slice(p.action.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"priority\":");
    push_u64(buf, u64::from(p.priority));
    buf.extend_from_slice(b",\"index\":");
    push_u64(buf, u64::from(p.index));
    buf.extend_from_slice(match p.ptype {
        xfrmdiag_inventory::PolicyType::Main => b",\"ptype\":\"main\"",
        xfrmdiag_inventory::PolicyType::Sub => b",\"ptype\":\"sub\"",
        xfrmdiag_inventory::PolicyType::Other(_) => b",\"ptype\":",
    });
    if let xfrmdiag_inventory::PolicyType::Other(n) = p.ptype {
        push_u64(buf, u64::from(n));
    }
    buf.extend_from_slice(b",\"flags\":[");
    for (i, f) in p.flags.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        push_json_str(buf, f);
    }
    buf.extend_from_slice(b"],\"share\":");
    push_u64(buf, u64::from(p.share));
    let s = &p.selector;
    buf.extend_from_slice(b",\"selector\":{\"src\":\"");
    push_prefix(buf, &s.src);
    buf.extend_from_slice(b"\",\"dst\":\"");
    push_prefix(buf, &s.dst);
    buf.extend_from_slice(b"\",\"proto\":");
    push_u64(buf, u64::from(s.proto));
    buf.extend_from_slice(b",\"sport\":");
    push_u64(buf, u64::from(s.sport));
    buf.extend_from_slice(b",\"sport_mask\":");
    push_u64(buf, u64::from(s.sport_mask));
    buf.extend_from_slice(b",\"dport\":");
    push_u64(buf, u64::from(s.dport));
    buf.extend_from_slice(b",\"dport_mask\":");
    push_u64(buf, u64::from(s.dport_mask));
    buf.extend_from_slice(b",\"ifindex\":");
    push_i64(buf, i64::from(s.ifindex));
    if let Some(dev) = &s.dev {
        buf.extend_from_slice(b",\"dev\":");
        push_json_str(buf, dev);
    }
    buf.push(b'}');
    if let Some(m) = p.mark {
        buf.extend_from_slice(b",\"mark\":{\"value\":");
        push_u64(buf, u64::from(m.value));
        buf.extend_from_slice(b",\"mask\":");
        push_u64(buf, u64::from(m.mask));
        buf.push(b'}');
    }
    if let Some(id) = p.if_id {
        buf.extend_from_slice(b",\"if_id\":");
        push_u64(buf, u64::from(id));
    }
    let c = &p.lifetime.config;
    buf.extend_from_slice(b",\"lifetime\":{\"config\":{");
    push_opt_u64(buf, "soft_byte_limit", c.soft_byte_limit);
    push_opt_u64(buf, "hard_byte_limit", c.hard_byte_limit);
    push_opt_u64(buf, "soft_packet_limit", c.soft_packet_limit);
    push_opt_u64(buf, "hard_packet_limit", c.hard_packet_limit);
    push_opt_u64(buf, "soft_add_expires_seconds", c.soft_add_expires_seconds);
    push_opt_u64(buf, "hard_add_expires_seconds", c.hard_add_expires_seconds);
    push_opt_u64(buf, "soft_use_expires_seconds", c.soft_use_expires_seconds);
    push_opt_u64(buf, "hard_use_expires_seconds", c.hard_use_expires_seconds);
    let cur = &p.lifetime.current;
    buf.extend_from_slice(b"},\"current\":{\"bytes\":");
    push_u64(buf, cur.bytes);
    buf.extend_from_slice(b",\"packets\":");
    push_u64(buf, cur.packets);
    buf.extend_from_slice(b",\"add_time\":");
    push_u64(buf, cur.add_time);
    buf.extend_from_slice(b",\"use_time\":");
    push_u64(buf, cur.use_time);
    buf.extend_from_slice(b"}},\"templates\":[");
    for (i, t) in p.templates.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'{');
        if let Some(src) = t.src {
            buf.extend_from_slice(b"\"src\":\"");
            push_ip(buf, src);
            buf.extend_from_slice(b"\",");
        }
        if let Some(dst) = t.dst {
            buf.extend_from_slice(b"\"dst\":\"");
            push_ip(buf, dst);
            buf.extend_from_slice(b"\",");
        }
        buf.extend_from_slice(b"\"proto\":");
        push_serde(buf, &t.proto);
        buf.extend_from_slice(b",\"spi\":\"");
        push_hex8(buf, t.spi.0);
        buf.extend_from_slice(b"\",\"mode\":");
        push_serde(buf, &t.mode);
        buf.extend_from_slice(b",\"reqid\":");
        push_u64(buf, u64::from(t.reqid));
        buf.extend_from_slice(match t.level {
            xfrmdiag_inventory::Level::Required => b",\"level\":\"required\",\"share\":",
            xfrmdiag_inventory::Level::Use => b",\"level\":\"use\",\"share\":",
        });
        push_u64(buf, u64::from(t.share));
        buf.extend_from_slice(b",\"aalgos\":");
        push_u64(buf, u64::from(t.aalgos));
        buf.extend_from_slice(b",\"ealgos\":");
        push_u64(buf, u64::from(t.ealgos));
        buf.extend_from_slice(b",\"calgos\":");
        push_u64(buf, u64::from(t.calgos));
        buf.push(b'}');
    }
    buf.push(b']');
    if let Some(ctx) = &p.sec_ctx {
        buf.extend_from_slice(b",\"sec_ctx\":");
        push_serde(buf, ctx);
    }
    if !p.unknown_attributes.is_empty() {
        buf.extend_from_slice(b",\"unknown_attributes\":");
        push_serde(buf, &p.unknown_attributes);
    }
    buf.push(b'}');
}

/// Pads the text appended since `start` with spaces to `width` (longer text is kept whole).
fn pad_from(buf: &mut Vec<u8>, start: usize, width: usize) {
    let written = buf.len() - start;
    if written < width {
        buf.resize(start + width, b' ');
    }
    buf.push(b' ');
}

fn push_port(buf: &mut Vec<u8>, port: u16, mask: u16) {
    match mask {
        0 => buf.extend_from_slice(b"any"),
        0xffff => push_u64(buf, u64::from(port)),
        m => {
            let _ = write!(buf, "{port}/0x{m:04x}");
        }
    }
}

fn push_proto_name(buf: &mut Vec<u8>, proto: u8) {
    let name: &[u8] = match proto {
        0 => b"any",
        1 => b"icmp",
        6 => b"tcp",
        17 => b"udp",
        47 => b"gre",
        50 => b"esp",
        51 => b"ah",
        58 => b"ipv6-icmp",
        132 => b"sctp",
        _ => {
            buf.extend_from_slice(proto_name(proto).as_bytes());
            return;
        }
    };
    buf.extend_from_slice(name);
}

/// Appends one policy as one fixed-width line (the same text as [`write_policy_line`]).
pub fn push_policy_line(buf: &mut Vec<u8>, p: &Policy) {
    buf.reserve(256 + 96 * p.templates.len());
    let start = buf.len();
    buf.extend_from_slice(p.dir.as_str().as_bytes());
    if p.socket {
        buf.extend_from_slice(b"/socket");
    }
    pad_from(buf, start, 10);
    let col = buf.len();
    buf.extend_from_slice(p.action.as_str().as_bytes());
    pad_from(buf, col, 6);
    let col = buf.len();
    push_u64(buf, u64::from(p.priority));
    pad_from(buf, col, 10);
    let col = buf.len();
    push_u64(buf, u64::from(p.index));
    pad_from(buf, col, 10);
    let sel = &p.selector;
    let col = buf.len();
    push_prefix(buf, &sel.src);
    pad_from(buf, col, 18);
    let col = buf.len();
    push_prefix(buf, &sel.dst);
    pad_from(buf, col, 18);
    let col = buf.len();
    push_proto_name(buf, sel.proto);
    pad_from(buf, col, 6);
    let col = buf.len();
    push_port(buf, sel.sport, sel.sport_mask);
    pad_from(buf, col, 6);
    let col = buf.len();
    push_port(buf, sel.dport, sel.dport_mask);
    pad_from(buf, col, 6);
    let col = buf.len();
    match p.mark {
        None => buf.push(b'-'),
        Some(m) if m.mask == u32::MAX => {
            let _ = write!(buf, "0x{:x}", m.value);
        }
        Some(m) => {
            let _ = write!(buf, "0x{:x}/0x{:x}", m.value, m.mask);
        }
    }
    pad_from(buf, col, 12);
    let col = buf.len();
    match p.if_id {
        None => buf.push(b'-'),
        Some(id) => push_u64(buf, u64::from(id)),
    }
    pad_from(buf, col, 6);
    if p.templates.is_empty() {
        buf.push(b'-');
    }
    for (i, t) in p.templates.iter().enumerate() {
        if i > 0 {
            buf.extend_from_slice(b"; ");
        }
        let _ = write!(buf, "{} {}", t.proto, t.mode);
        if let (Some(src), Some(dst)) = (t.src, t.dst) {
            buf.push(b' ');
            push_ip(buf, src);
            buf.push(b'>');
            push_ip(buf, dst);
        } else if let Some(dst) = t.dst {
            buf.extend_from_slice(b" >");
            push_ip(buf, dst);
        }
        if t.spi.0 != 0 {
            let _ = write!(buf, " spi {}", t.spi);
        }
        if t.reqid != 0 {
            buf.extend_from_slice(b" reqid ");
            push_u64(buf, u64::from(t.reqid));
        }
        buf.extend_from_slice(match t.level {
            xfrmdiag_inventory::Level::Required => b" required",
            xfrmdiag_inventory::Level::Use => b" use",
        });
    }
    // Rare extras go at the end, so the columns stay aligned for everyone else.
    if let Some(dev) = sel.dev.as_deref() {
        let _ = write!(buf, " dev {dev}");
    } else if sel.ifindex != 0 {
        let _ = write!(buf, " ifindex {}", sel.ifindex);
    }
    if p.ptype != xfrmdiag_inventory::PolicyType::Main {
        let _ = write!(buf, " ptype {}", p.ptype);
    }
    for flag in &p.flags {
        let _ = write!(buf, " flag {flag}");
    }
    if let Some(ctx) = &p.sec_ctx {
        let _ = write!(buf, " ctx {}", ctx.context);
    }
    for u in &p.unknown_attributes {
        let _ = write!(buf, " [{u}]");
    }
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn iptfs_in_iproute2_words() {
        let t = xfrmdiag_inventory::IpTfs {
            drop_time_us: Some(2000),
            reorder_window: Some(3),
            dont_frag: true,
            init_delay_us: None,
            max_queue_size: Some(1_048_576),
            pkt_size: None,
        };
        assert_eq!(
            super::iptfs_text(&t),
            "iptfs drop-time 2000 reorder-window 3 max-queue-size 1048576 dont-frag"
        );
    }

    #[test]
    fn times_are_utc_with_a_space() {
        assert_eq!(super::time_text(0), "-");
        assert_eq!(super::time_text(1_709_210_096), "2024-02-29 12:34:56");
    }

    use super::*;
    use xfrmdiag_inventory::*;

    fn policies() -> Vec<Policy> {
        let base = Policy {
            dir: Direction::Out,
            socket: false,
            action: Action::Allow,
            priority: 100,
            index: 17,
            ptype: PolicyType::Main,
            flags: vec![],
            share: 0,
            selector: Selector {
                src: "10.0.0.0/24".parse().unwrap(),
                dst: "10.0.1.0/24".parse().unwrap(),
                proto: 17,
                sport: 0,
                sport_mask: 0,
                dport: 53,
                dport_mask: 0xffff,
                ifindex: 0,
                dev: None,
            },
            mark: None,
            if_id: None,
            lifetime: Lifetime::default(),
            templates: vec![],
            sec_ctx: None,
            unknown_attributes: vec![],
        };
        let mut full = base.clone();
        full.dir = Direction::Fwd;
        full.socket = true;
        full.action = Action::Block;
        full.priority = u32::MAX;
        full.ptype = PolicyType::Sub;
        full.flags = vec!["localok".into(), "icmp".into()];
        full.share = 3;
        full.selector.src = "fd00::1/128".parse().unwrap();
        full.selector.dst = "::/0".parse().unwrap();
        full.selector.ifindex = -5;
        full.selector.dev = Some("veth \"x\"\\ é".into());
        full.mark = Some(Mark {
            value: 1,
            mask: u32::MAX,
        });
        full.if_id = Some(0);
        full.lifetime.config.soft_byte_limit = Some(1);
        full.lifetime.config.hard_use_expires_seconds = Some(u64::MAX - 1);
        full.lifetime.current.add_time = 1_795_600_000;
        let tmpl = Template {
            src: Some("192.0.2.1".parse().unwrap()),
            dst: Some("2001:db8::2".parse().unwrap()),
            proto: XfrmProto::Esp,
            spi: Spi(0xdeadbeef),
            mode: Mode::InTrigger,
            reqid: 5,
            level: Level::Use,
            share: 1,
            aalgos: u32::MAX,
            ealgos: 0,
            calgos: 7,
        };
        let mut odd = tmpl.clone();
        odd.src = None;
        odd.proto = XfrmProto::Other(99);
        odd.mode = Mode::Other(42);
        odd.level = Level::Required;
        full.templates = vec![tmpl, odd];
        full.sec_ctx = Some(SecurityContext {
            alg: 1,
            doi: 1,
            context: "system_u:object_r:x:s0".into(),
        });
        full.unknown_attributes = vec![UnknownAttribute {
            kind: 60,
            len: 4,
            reason: "unknown".into(),
        }];
        let mut only_dst = base.clone();
        only_dst.templates = vec![Template {
            src: None,
            dst: Some("10.9.9.9".parse().unwrap()),
            proto: XfrmProto::Ah,
            spi: Spi(0),
            mode: Mode::Transport,
            reqid: 0,
            level: Level::Required,
            share: 0,
            aalgos: 0,
            ealgos: 0,
            calgos: 0,
        }];
        vec![base, full, only_dst]
    }

    #[test]
    fn fast_policy_json_is_byte_identical_to_serde() {
        for p in policies() {
            let mut fast = Vec::new();
            push_policy_json(&mut fast, &p);
            let serde = serde_json::to_string(&p).unwrap();
            assert_eq!(String::from_utf8(fast).unwrap(), serde);
        }
    }

    #[test]
    fn fast_policy_line_matches_the_formatted_one() {
        for p in policies() {
            let mut fast = Vec::new();
            push_policy_line(&mut fast, &p);
            let mut slow = Vec::new();
            write_policy_line(&mut slow, &p).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(slow).unwrap()
            );
        }
    }

    #[test]
    fn numbers_are_formatted_like_std() {
        for n in [0u64, 1, 9, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        }
        let mut buf = Vec::new();
        push_i64(&mut buf, i64::MIN);
        assert_eq!(String::from_utf8(buf).unwrap(), i64::MIN.to_string());
    }
}
