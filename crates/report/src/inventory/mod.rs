//! Rendering of inventory results: `sa`, `policy`, `info`, `monitor`.
//!
//! Policies and SAs are written as they are decoded, one fixed-width line per object (SAs add
//! indented detail lines), straight to a reused buffer: a table whose column widths depend on
//! every row would have to hold 100k objects in memory first. The widths fit the common case
//! (IPv4 addresses); a longer value shifts the rest of its line instead of being cut, so nothing
//! is ever hidden. `info` is one small table.
//!
//! Selector and template words follow iproute2 (`ip xfrm`): ICMP type/code and GRE keys by name,
//! interface ids in hex, a template's tunnel addresses both shown as soon as one is set.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tabled::builder::Builder;
use tabled::settings::Style;
use xfrmdiag_inventory::{Mark, Selector, Template, XfrmInfo};

mod fast;
mod monitor;
mod policy;
mod sa;

pub use monitor::event_line;
pub use policy::{
    push_policy_json, push_policy_line, write_policy_header, write_policy_line, POLICY_HEADER,
};
pub use sa::{push_sa, push_sa_footer, SA_HEADER};

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

/// An interface id as `ip xfrm` prints it, on policies and SAs alike: `0x30`.
fn if_id(id: Option<u32>) -> String {
    id.map_or_else(|| "-".into(), |id| format!("0x{id:x}"))
}

/// How a selector's port fields read for its protocol (iproute2's `xfrm_selector_print`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upspec {
    /// TCP, UDP, SCTP, DCCP and anything else: `sport`/`dport`.
    Ports,
    /// ICMP, ICMPv6: the type in sport, the code in dport.
    TypeCode,
    /// Mobility header: the type in sport (the dport field has no name).
    MhType,
    /// GRE: one 32-bit key, its high half in sport, its low half in dport.
    GreKey,
}

fn upspec(proto: u8) -> Upspec {
    match proto {
        1 | 58 => Upspec::TypeCode,
        135 => Upspec::MhType,
        47 => Upspec::GreKey,
        _ => Upspec::Ports,
    }
}

/// The GRE key a selector matches, when it matches one.
fn gre_key(s: &Selector) -> Option<u32> {
    (s.sport_mask != 0 || s.dport_mask != 0)
        .then(|| (u32::from(s.sport) << 16) | u32::from(s.dport))
}

/// The SPORT and DPORT columns of the policy line: plain ports, or named when the protocol
/// gives the fields another meaning (`type 8`, `code 0`, `key 70000`).
fn port_columns(s: &Selector) -> (Cow<'static, str>, Cow<'static, str>) {
    let named = |name: &str, value: u16, mask: u16| -> Cow<'static, str> {
        if mask == 0 {
            "any".into()
        } else {
            format!("{name} {}", port(value, mask)).into()
        }
    };
    match upspec(s.proto) {
        Upspec::Ports => (
            port(s.sport, s.sport_mask).into(),
            port(s.dport, s.dport_mask).into(),
        ),
        Upspec::TypeCode => (
            named("type", s.sport, s.sport_mask),
            named("code", s.dport, s.dport_mask),
        ),
        Upspec::MhType => (
            named("type", s.sport, s.sport_mask),
            port(s.dport, s.dport_mask).into(),
        ),
        Upspec::GreKey => match gre_key(s) {
            Some(key) => (format!("key {key}").into(), "-".into()),
            None => ("any".into(), "any".into()),
        },
    }
}

/// The unspecified address of `like`'s family (`0.0.0.0`, `::`).
fn unspecified_like(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// A template's `src>dst`, both shown as soon as one is set (as `ip xfrm` prints `tmpl src
/// 10.9.9.9 dst 0.0.0.0`); `None` when neither is (transport mode).
fn template_addrs(t: &Template) -> Option<(IpAddr, IpAddr)> {
    match (t.src, t.dst) {
        (Some(src), Some(dst)) => Some((src, dst)),
        (Some(src), None) => Some((src, unspecified_like(src))),
        (None, Some(dst)) => Some((unspecified_like(dst), dst)),
        (None, None) => None,
    }
}

fn template_text(t: &Template) -> String {
    let mut s = format!("{} {}", t.proto, t.mode);
    if let Some((src, dst)) = template_addrs(t) {
        let _ = write!(s, " {src}>{dst}");
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

/// `SRC > DST [PROTO [sport N] [dport N] | [type N] [code N] | [key N]] [dev D]`.
fn selector_text(s: &Selector) -> String {
    let mut text = format!("{} > {}", s.src, s.dst);
    if s.proto != 0 {
        let _ = write!(text, " {}", proto_name(s.proto));
        let (first, second) = match upspec(s.proto) {
            Upspec::Ports => ("sport", "dport"),
            Upspec::TypeCode => ("type", "code"),
            Upspec::MhType => ("type", "dport"),
            Upspec::GreKey => {
                if let Some(key) = gre_key(s) {
                    let _ = write!(text, " key {key}");
                }
                ("", "")
            }
        };
        if !first.is_empty() && s.sport_mask != 0 {
            let _ = write!(text, " {first} {}", port(s.sport, s.sport_mask));
        }
        if !second.is_empty() && s.dport_mask != 0 {
            let _ = write!(text, " {second} {}", port(s.dport, s.dport_mask));
        }
    }
    if let Some(dev) = &s.dev {
        let _ = write!(text, " dev {dev}");
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;
    use xfrmdiag_inventory::{Level, Mode, Spi, XfrmProto};

    fn sel(proto: u8, sport: u16, sport_mask: u16, dport: u16, dport_mask: u16) -> Selector {
        Selector {
            src: "10.0.0.1/32".parse().unwrap(),
            dst: "10.0.0.2/32".parse().unwrap(),
            proto,
            sport,
            sport_mask,
            dport,
            dport_mask,
            ifindex: 0,
            dev: None,
        }
    }

    #[test]
    fn selector_ports_read_as_ip_xfrm_names_them() {
        // `proto gre key 70000`: the kernel holds 1 in sport and 4464 in dport.
        let gre = sel(47, 1, 0xffff, 4464, 0xffff);
        assert_eq!(
            selector_text(&gre),
            "10.0.0.1/32 > 10.0.0.2/32 gre key 70000"
        );
        assert_eq!(port_columns(&gre), ("key 70000".into(), "-".into()));
        let icmp = sel(1, 8, 0xffff, 3, 0xffff);
        assert_eq!(
            selector_text(&icmp),
            "10.0.0.1/32 > 10.0.0.2/32 icmp type 8 code 3"
        );
        assert_eq!(port_columns(&icmp), ("type 8".into(), "code 3".into()));
        let icmp6 = sel(58, 135, 0xffff, 0, 0);
        assert_eq!(port_columns(&icmp6), ("type 135".into(), "any".into()));
        let udp = sel(17, 0, 0, 53, 0xffff);
        assert_eq!(
            selector_text(&udp),
            "10.0.0.1/32 > 10.0.0.2/32 udp dport 53"
        );
        assert_eq!(port_columns(&udp), ("any".into(), "53".into()));
        assert_eq!(
            port_columns(&sel(47, 0, 0, 0, 0)),
            ("any".into(), "any".into())
        );
    }

    #[test]
    fn template_shows_its_source_when_the_destination_is_zero() {
        let t = |src: Option<&str>, dst: Option<&str>| Template {
            src: src.map(|a| a.parse().unwrap()),
            dst: dst.map(|a| a.parse().unwrap()),
            proto: XfrmProto::Esp,
            spi: Spi(0),
            mode: Mode::Tunnel,
            reqid: 0,
            level: Level::Required,
            share: 0,
            aalgos: 0,
            ealgos: 0,
            calgos: 0,
        };
        assert_eq!(
            template_text(&t(Some("10.9.9.9"), None)),
            "esp tunnel 10.9.9.9>0.0.0.0 required"
        );
        assert_eq!(
            template_text(&t(Some("2001:db8:50::99"), None)),
            "esp tunnel 2001:db8:50::99>:: required"
        );
        assert_eq!(
            template_text(&t(None, Some("10.9.9.9"))),
            "esp tunnel 0.0.0.0>10.9.9.9 required"
        );
        assert_eq!(template_text(&t(None, None)), "esp tunnel required");
    }

    #[test]
    fn times_are_utc_with_a_space() {
        assert_eq!(time_text(0), "-");
        assert_eq!(time_text(1_709_210_096), "2024-02-29 12:34:56");
    }
}
