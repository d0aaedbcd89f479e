//! `xfrmdiag policy`: one fixed-width line per policy, or compact JSON, appended to a reused
//! buffer as the dump is decoded.
//!
//! The JSON writer must produce exactly what serde_json produces for `Policy` (the schema stays
//! the serde derive): a test compares them byte for byte. The line writer has a formatted twin
//! ([`write_policy_line`]) that a test holds it to.

use std::io::{self, Write};

use xfrmdiag_inventory::Policy;

use super::fast::*;
use super::{if_id, mark, port_columns, proto_name, template_addrs, template_text, upspec, Upspec};

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
    let (sport, dport) = port_columns(sel);
    write!(
        w,
        "{dir:<10} {:<6} {:<10} {:<10} {:<18} {:<18} {:<6} {:<6} {:<6} {:<12} {:<6} ",
        p.action.as_str(),
        p.priority,
        p.index,
        sel.src,
        sel.dst,
        proto_name(sel.proto),
        sport,
        dport,
        mark(p.mark),
        if_id(p.if_id),
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
    if upspec(sel.proto) == Upspec::Ports {
        let col = buf.len();
        push_port(buf, sel.sport, sel.sport_mask);
        pad_from(buf, col, 6);
        let col = buf.len();
        push_port(buf, sel.dport, sel.dport_mask);
        pad_from(buf, col, 6);
    } else {
        // ICMP type/code, GRE key: rare enough for the formatted path.
        let (sport, dport) = port_columns(sel);
        for text in [sport, dport] {
            let col = buf.len();
            buf.extend_from_slice(text.as_bytes());
            pad_from(buf, col, 6);
        }
    }
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
        Some(id) => {
            let _ = write!(buf, "0x{id:x}");
        }
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
        if let Some((src, dst)) = template_addrs(t) {
            buf.push(b' ');
            push_ip(buf, src);
            buf.push(b'>');
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
        let mut only_src = only_dst.clone();
        only_src.templates[0].src = Some("2001:db8:50::99".parse().unwrap());
        only_src.templates[0].dst = None;
        only_src.selector.proto = 47; // GRE key 70000
        only_src.selector.sport = 1;
        only_src.selector.sport_mask = 0xffff;
        only_src.selector.dport = 4464;
        only_src.if_id = Some(0x30);
        let mut icmp = base.clone();
        icmp.selector.proto = 1;
        icmp.selector.sport = 8;
        icmp.selector.sport_mask = 0xffff;
        icmp.selector.dport_mask = 0;
        vec![base, full, only_dst, only_src, icmp]
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
    fn policy_line_names_gre_keys_and_shows_if_id_in_hex() {
        let all = policies();
        let mut line = Vec::new();
        push_policy_line(&mut line, &all[3]);
        let line = String::from_utf8(line).unwrap();
        assert!(line.contains(" gre    key 70000 - "), "{line}");
        assert!(line.contains(" 0x30 "), "{line}");
        assert!(
            line.contains("ah transport 2001:db8:50::99>:: required"),
            "{line}"
        );
        let mut line = Vec::new();
        push_policy_line(&mut line, &all[4]);
        let line = String::from_utf8(line).unwrap();
        assert!(line.contains(" icmp   type 8 any "), "{line}");
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
}
