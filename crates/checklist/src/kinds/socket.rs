//! `kind = "socket"`: a UDP (or listening TCP) socket bound on a local port, from
//! /proc/thread-self/net/{udp,udp6,tcp,tcp6} read inside the check's namespace.
//!
//! Whether a UDP socket has `UDP_ENCAP_ESPINUDP` set (what makes it a NAT-T socket) is not shown
//! in /proc nor by sock_diag, so the check says so instead of guessing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::{in_netns, Context, Outcome};
use crate::model::{Family, SocketCheck, SocketProto};

/// One line of /proc/net/udp or tcp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub local: IpAddr,
    pub port: u16,
    /// Kernel socket state (`0A` = TCP LISTEN, `07` = UDP unconnected).
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
}

/// TCP_LISTEN in the kernel's state numbering.
const TCP_LISTEN: u8 = 0x0a;

const ENCAP_NOTE: &str = "whether it is an ESP-in-UDP (UDP_ENCAP) socket is not visible in /proc";

pub fn run(check: &SocketCheck, ctx: &Context) -> Outcome {
    let proto = check.proto;
    let files: Vec<(&str, bool)> = match check.family {
        Family::Ipv4 => vec![(proto.as_str(), false)],
        Family::Ipv6 => vec![(v6_name(proto), true)],
        Family::Any => vec![(proto.as_str(), false), (v6_name(proto), true)],
    };
    let net_dir = net_dir(ctx);
    let names: Vec<(String, bool)> = files.iter().map(|(n, v6)| (n.to_string(), *v6)).collect();
    let read = in_netns(ctx, move || {
        names
            .into_iter()
            .map(|(name, v6)| {
                (
                    name.clone(),
                    v6,
                    std::fs::read_to_string(net_dir.join(&name)),
                )
            })
            .collect::<Vec<_>>()
    });
    let read = match read {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let mut entries = Vec::new();
    for (name, v6, text) in read {
        match text {
            Ok(text) => entries.extend(parse(&text, v6)),
            // No IPv6 in this kernel: nothing bound there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && v6 => {}
            Err(e) => return Outcome::fail(format!("cannot read /proc/net/{name}: {e}"), None),
        }
    }
    evaluate(check, &entries)
}

fn v6_name(proto: SocketProto) -> &'static str {
    match proto {
        SocketProto::Udp => "udp6",
        SocketProto::Tcp => "tcp6",
    }
}

/// /proc/thread-self/net under the context's proc root: the netns of the reading thread
/// (/proc/net would show the main thread's namespace; see `Netns::proc_net_dir`).
fn net_dir(ctx: &Context) -> PathBuf {
    ctx.proc_root.join("thread-self").join("net")
}

/// Decides the check from the sockets found.
pub fn evaluate(check: &SocketCheck, entries: &[SocketEntry]) -> Outcome {
    let port = check.port.0 as u16;
    let wanted_addr: Option<IpAddr> = check.address.as_deref().and_then(|a| a.parse().ok());
    if let (Some(text), None) = (&check.address, wanted_addr) {
        return Outcome::fail(format!("`address = \"{text}\"` is not an IP address"), None);
    }
    let matching: Vec<&SocketEntry> = entries
        .iter()
        .filter(|e| e.port == port)
        .filter(|e| check.proto == SocketProto::Udp || e.state == TCP_LISTEN)
        .filter(|e| match wanted_addr {
            Some(a) => e.local == a || e.local.is_unspecified(),
            None => true,
        })
        .collect();
    let proto = check.proto.as_str();
    let what = match &check.address {
        Some(a) => format!("{proto} socket on {a} port {port}"),
        None => format!("{proto} socket on port {port}"),
    };
    let observed = if matching.is_empty() {
        let others: Vec<String> = entries
            .iter()
            .filter(|e| check.proto == SocketProto::Udp || e.state == TCP_LISTEN)
            .map(endpoint)
            .collect();
        // A busy host has hundreds of sockets: show a few, count the rest.
        const SHOWN: usize = 8;
        Some(match others.len() {
            0 => format!("no {proto} sockets bound"),
            n if n <= SHOWN => format!("bound: {}", others.join(", ")),
            n => format!(
                "bound: {}, and {} more",
                others[..SHOWN].join(", "),
                n - SHOWN
            ),
        })
    } else {
        Some(
            matching
                .iter()
                .map(|e| format!("{} (uid {}, inode {})", endpoint(e), e.uid, e.inode))
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    let note = if check.proto == SocketProto::Udp {
        format!("; {ENCAP_NOTE}")
    } else {
        String::new()
    };
    match (check.present, matching.is_empty()) {
        (true, false) => Outcome::pass(format!("{what} is bound{note}"), observed),
        (true, true) => Outcome::fail(format!("no {what}"), observed),
        (false, true) => Outcome::pass(format!("no {what}, as expected"), observed),
        (false, false) => Outcome::fail(format!("{what} is bound, expected none"), observed),
    }
}

fn endpoint(e: &SocketEntry) -> String {
    match e.local {
        IpAddr::V4(a) => format!("{a}:{}", e.port),
        IpAddr::V6(a) => format!("[{a}]:{}", e.port),
    }
}

/// Parses /proc/net/udp, udp6, tcp or tcp6 (`v6` says which address format the file uses).
/// Lines that do not parse are skipped: the header and anything a future kernel adds.
pub fn parse(text: &str, v6: bool) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| parse_line(line, v6))
        .collect()
}

fn parse_line(line: &str, v6: bool) -> Option<SocketEntry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
    let (addr_hex, port_hex) = fields.get(1)?.split_once(':')?;
    let local = if v6 {
        IpAddr::V6(parse_v6(addr_hex)?)
    } else {
        IpAddr::V4(parse_v4(addr_hex)?)
    };
    Some(SocketEntry {
        local,
        port: u16::from_str_radix(port_hex, 16).ok()?,
        state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
        uid: fields.get(7)?.parse().ok()?,
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// The kernel prints the address's 32-bit words with %08X in host byte order.
fn parse_v4(hex: &str) -> Option<Ipv4Addr> {
    let word = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(word.to_ne_bytes()))
}

fn parse_v6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for i in 0..4 {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Int;

    fn fixture(name: &str) -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/6.18-checklist-sockets/"
        );
        std::fs::read_to_string(format!("{path}{name}")).expect("fixture")
    }

    #[test]
    fn parses_captured_udp_tables() {
        let v4 = parse(&fixture("udp"), false);
        assert!(v4
            .iter()
            .any(|e| e.port == 4500 && e.local == IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert!(v4
            .iter()
            .any(|e| e.port == 500 && e.local == "127.0.0.1".parse::<IpAddr>().unwrap()));
        let v6 = parse(&fixture("udp6"), true);
        assert!(v6
            .iter()
            .any(|e| e.port == 4500 && e.local == "::1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn address_filter_accepts_wildcard_binds() {
        let entries = parse(&fixture("udp"), false);
        let mut check = SocketCheck {
            port: Int(4500),
            proto: SocketProto::Udp,
            address: Some("10.1.2.3".into()),
            family: Family::Any,
            present: true,
        };
        assert_eq!(
            evaluate(&check, &entries).verdict,
            super::super::Verdict::Pass
        );
        check.port = Int(500);
        // 500 is bound to 127.0.0.1 only.
        assert_eq!(
            evaluate(&check, &entries).verdict,
            super::super::Verdict::Fail
        );
    }
}
