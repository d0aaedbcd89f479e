//! ICMP echo test flows through a raw socket (root is needed anyway for namespaces and tracing;
//! unprivileged ping sockets are off in a new namespace: `net.ipv4.ping_group_range = 1 0`).
//!
//! Replies are matched on the echo identifier; ICMP errors that quote one of our requests
//! (destination unreachable, time exceeded, packet too big) are counted by type and code.

use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use xfrmdiag_netns::Netns;

use crate::{Error, SendError};

/// What to send.
#[derive(Debug, Clone)]
pub struct IcmpOptions {
    pub dst: IpAddr,
    pub count: u32,
    /// Echo payload bytes.
    pub size: usize,
    pub interval: Duration,
    /// How long to wait for replies after the last request.
    pub wait: Duration,
}

/// What the echo requests met.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IcmpResult {
    pub dst: String,
    pub attempted: u32,
    /// `sendto` calls that succeeded.
    pub sent: u32,
    pub size: usize,
    /// Echo replies received (each request counted once).
    pub replies: u32,
    /// Failed `sendto` calls by errno.
    #[serde(default)]
    pub errors: Vec<SendError>,
    /// ICMP errors that quoted our requests.
    #[serde(default)]
    pub icmp_errors: Vec<IcmpError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the error.
    pub from: String,
    /// `destination unreachable`, `time exceeded`, `packet too big`, …
    pub kind: String,
    pub icmp_type: u8,
    pub code: u8,
    pub count: u32,
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// Sends echo requests from inside `netns` and counts the replies.
pub fn send_icmp(netns: &Netns, opts: &IcmpOptions) -> Result<IcmpResult, Error> {
    let opts = opts.clone();
    netns.run(move || send_here(&opts))?
}

fn send_here(opts: &IcmpOptions) -> Result<IcmpResult, Error> {
    let v6 = opts.dst.is_ipv6();
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let socket = Socket::new(domain, Type::RAW, Some(proto)).map_err(|source| Error::Socket {
        what: format!("ICMP echo to {} (a raw socket needs root)", opts.dst),
        source,
    })?;
    let id = (std::process::id() as u16).wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let dst = SockAddr::from(SocketAddr::new(opts.dst, 0));
    let mut result = IcmpResult {
        dst: opts.dst.to_string(),
        size: opts.size,
        ..Default::default()
    };
    let mut answered = vec![false; opts.count as usize];
    let mut receive = |result: &mut IcmpResult, until: Instant| {
        while result.replies < result.sent {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = socket.set_read_timeout(Some(left.min(Duration::from_millis(20))));
            let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            // SAFETY: recv_from initialised the first `n` bytes.
            let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
            let from = from
                .as_socket()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            match parse(data, v6, id) {
                Some(Seen::Reply(seq)) => {
                    if let Some(slot) = answered.get_mut(seq as usize).filter(|s| !**s) {
                        *slot = true;
                        result.replies += 1;
                    }
                }
                Some(Seen::Error { icmp_type, code }) => {
                    record_icmp_error(&mut result.icmp_errors, &from, icmp_type, code, v6)
                }
                None => {}
            }
            if Instant::now() >= until {
                break;
            }
        }
    };
    for seq in 0..opts.count {
        let packet = echo_request(v6, id, seq as u16, opts.size);
        result.attempted += 1;
        match socket.send_to(&packet, &dst) {
            Ok(_) => result.sent += 1,
            Err(err) => crate::record_error(&mut result.errors, &err, seq),
        }
        let next = Instant::now() + opts.interval;
        receive(&mut result, next);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    receive(&mut result, Instant::now() + opts.wait);
    Ok(result)
}

enum Seen {
    Reply(u16),
    Error { icmp_type: u8, code: u8 },
}

/// Echo request: type, code, checksum, identifier, sequence, payload. The kernel fills the
/// ICMPv6 checksum itself (it covers a pseudo-header we do not see).
fn echo_request(v6: bool, id: u16, seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    let tag = b"xfrmdiag";
    p.extend((0..size).map(|i| tag[i % tag.len()]));
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a received packet is to us: our reply, an error quoting our request, or nothing.
/// Raw IPv4 sockets hand over the IP header; raw IPv6 sockets do not.
fn parse(data: &[u8], v6: bool, id: u16) -> Option<Seen> {
    let icmp = if v6 { data } else { skip_ipv4_header(data)? };
    let (icmp_type, code) = (*icmp.first()?, *icmp.get(1)?);
    let ours = |header: &[u8]| header.get(4..6) == Some(&id.to_be_bytes()[..]);
    let reply = if v6 { 129 } else { 0 };
    if icmp_type == reply && ours(icmp) {
        return Some(Seen::Reply(u16::from_be_bytes([
            *icmp.get(6)?,
            *icmp.get(7)?,
        ])));
    }
    let is_error = if v6 {
        (1..=4).contains(&icmp_type)
    } else {
        matches!(icmp_type, 3 | 11 | 12)
    };
    if !is_error {
        return None;
    }
    // The error quotes the offending packet after its own 8-byte header.
    let quoted = icmp.get(8..)?;
    let inner = if v6 {
        (quoted.get(6) == Some(&58)).then(|| quoted.get(40..))??
    } else {
        (quoted.get(9) == Some(&1)).then(|| skip_ipv4_header(quoted))??
    };
    let request = if v6 { 128 } else { 8 };
    (inner.first() == Some(&request) && ours(inner)).then_some(Seen::Error { icmp_type, code })
}

fn skip_ipv4_header(data: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(data.first()? & 0x0f) * 4;
    data.get(ihl..)
}

fn record_icmp_error(errors: &mut Vec<IcmpError>, from: &str, icmp_type: u8, code: u8, v6: bool) {
    if let Some(e) = errors
        .iter_mut()
        .find(|e| e.from == from && e.icmp_type == icmp_type && e.code == code)
    {
        e.count += 1;
        return;
    }
    errors.push(IcmpError {
        from: from.into(),
        kind: icmp_kind(icmp_type, code, v6),
        icmp_type,
        code,
        count: 1,
    });
}

fn icmp_kind(icmp_type: u8, code: u8, v6: bool) -> String {
    let name = match (v6, icmp_type, code) {
        (false, 3, 4) => "fragmentation needed",
        (false, 3, 9 | 10 | 13) => "destination unreachable (administratively prohibited)",
        (false, 3, _) => "destination unreachable",
        (false, 11, _) => "time exceeded",
        (false, 12, _) => "parameter problem",
        (true, 1, 1) => "destination unreachable (administratively prohibited)",
        (true, 1, _) => "destination unreachable",
        (true, 2, _) => "packet too big",
        (true, 3, _) => "time exceeded",
        (true, 4, _) => "parameter problem",
        _ => "ICMP error",
    };
    format!("{name} (type {icmp_type} code {code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(false, 0x1234, 7, 13);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn errors_quoting_our_request_are_recognised() {
        let request = echo_request(false, 42, 3, 8);
        let mut inner_ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        inner_ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let mut icmp = vec![3, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner_ip);
        icmp.extend_from_slice(&request[..8]);
        let mut outer = inner_ip.clone();
        outer.extend_from_slice(&icmp);
        assert!(matches!(
            parse(&outer, false, 42),
            Some(Seen::Error {
                icmp_type: 3,
                code: 13
            })
        ));
        assert!(parse(&outer, false, 43).is_none(), "someone else's request");
        assert!(icmp_kind(3, 13, false).contains("administratively"));
    }

    #[test]
    fn loopback_echo_is_answered() {
        let r = send_icmp(
            &Netns::Current,
            &IcmpOptions {
                dst: "127.0.0.1".parse().unwrap(),
                count: 3,
                size: 16,
                interval: Duration::ZERO,
                wait: Duration::from_secs(2),
            },
        )
        .unwrap();
        assert_eq!((r.sent, r.replies), (3, 3), "{r:?}");
    }
}
