//! The daemon's view as plain serde types: the JSON schema of `xfrmdiag ike` (docs/json-schema.md)
//! and the IKE part of a side's evidence. Fields are only ever added, never renamed. No type here
//! can hold key material: the decoders drop it before these are built.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use xfrmdiag_inventory::{Mark, Prefix, Spi};

/// Which IKE daemon a view came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonKind {
    Strongswan,
    Libreswan,
}

impl DaemonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonKind::Strongswan => "strongswan",
            DaemonKind::Libreswan => "libreswan",
        }
    }
}

/// Everything one daemon said, read at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonView {
    pub daemon: DaemonKind,
    /// What was asked: the vici socket or pluto's control socket.
    pub source: String,
    /// The daemon's own version string, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub ike_sas: Vec<IkeSa>,
    /// Configured connections (loaded into the daemon), established or not.
    pub connections: Vec<Connection>,
    /// Why negotiations failed, from the daemon's log (`--log`) or status, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<NegotiationFailure>,
}

impl DaemonView {
    /// Every CHILD_SA with the IKE_SA it belongs to.
    pub fn child_sas(&self) -> impl Iterator<Item = (&IkeSa, &ChildSa)> {
        self.ike_sas
            .iter()
            .flat_map(|ike| ike.child_sas.iter().map(move |c| (ike, c)))
    }
}

/// One IKE_SA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSa {
    /// The connection it was made for.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniqueid: Option<u32>,
    /// IKE version, 1 or 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// The daemon's state name: `ESTABLISHED`, `CONNECTING`, … (strongSwan) or
    /// `STATE_V2_ESTABLISHED_IKE_SA`, … (Libreswan).
    pub state: String,
    /// True when the daemon considers it usable.
    pub established: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_host: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<bool>,
    /// Negotiated proposal, e.g. `AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<String>,
    /// Seconds since it was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub established_secs: Option<u64>,
    /// Seconds until it is rekeyed / reauthenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_in_secs: Option<u64>,
    pub child_sas: Vec<ChildSa>,
}

/// One CHILD_SA (IPsec SA pair) as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSa {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniqueid: Option<u32>,
    /// The daemon's state name: `INSTALLED`, `REKEYED`, … or Libreswan's.
    pub state: String,
    /// True when the daemon believes its SAs are in the kernel.
    pub installed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reqid: Option<u32>,
    /// `tunnel`, `transport`, `beet`.
    pub mode: String,
    /// `esp` or `ah`.
    pub protocol: String,
    /// UDP encapsulation (NAT-T).
    #[serde(default)]
    pub encap: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi_in: Option<Spi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi_out: Option<Spi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_in: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_out: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_id_in: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_id_out: Option<u32>,
    /// Negotiated algorithms, e.g. `AES_GCM_16-128` or `AES_CBC-128/HMAC_SHA2_256_128`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<String>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(default)]
    pub packets_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    #[serde(default)]
    pub packets_out: u64,
    /// Seconds since it was installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_secs: Option<u64>,
    /// Seconds until the daemon rekeys it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    /// Seconds until it expires for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_in_secs: Option<u64>,
}

/// A traffic selector: addresses, and optionally protocol and port range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSelector {
    /// As the daemon wrote it, e.g. `10.0.0.1/32[udp/6000]`.
    pub text: String,
    /// First and last address of the range (a prefix is a range too).
    pub from: IpAddr,
    pub to: IpAddr,
    /// IP protocol number; None means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<u8>,
    /// Port range; None means any port (or unknown service name, then `ports_unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<(u16, u16)>,
    /// The port was given as a service name this build cannot resolve.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ports_unknown: bool,
}

/// A connection as configured in the daemon, with the CHILD configs it would negotiate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub name: String,
    pub local_addrs: Vec<String>,
    pub remote_addrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub children: Vec<ChildConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildConfig {
    pub name: String,
    pub mode: String,
    /// Configured selectors, as written (`dynamic` means the IKE address).
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    /// `none`, `trap`, `start` (strongSwan's start_action), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_action: Option<String>,
}

/// Why a negotiation failed, as the daemon reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationFailure {
    /// Stable reason: `NO_PROPOSAL_CHOSEN`, `AUTHENTICATION_FAILED`, `TS_UNACCEPTABLE`,
    /// `timeout`, `peer-unreachable`, `config-load-failed`.
    pub reason: String,
    /// The connection it concerns, when the line names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The daemon's own words (one log line, trimmed; never key material).
    pub detail: String,
}

/// Parses a prefix or range: `10.0.0.0/24`, `10.0.0.1`, `10.0.0.1..10.0.0.9`.
pub(crate) fn parse_addr_range(text: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, b)) = text.split_once("..") {
        return Some((a.parse().ok()?, b.parse().ok()?));
    }
    if let Some((addr, len)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        return Some(prefix_range(Prefix { addr, len }));
    }
    let a: IpAddr = text.parse().ok()?;
    Some((a, a))
}

fn prefix_range(p: Prefix) -> (IpAddr, IpAddr) {
    match p.addr {
        IpAddr::V4(a) => {
            let len = u32::from(p.len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let lo = u32::from(a) & mask;
            (IpAddr::V4(lo.into()), IpAddr::V4((lo | !mask).into()))
        }
        IpAddr::V6(a) => {
            let len = u32::from(p.len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            let lo = u128::from(a) & mask;
            (IpAddr::V6(lo.into()), IpAddr::V6((lo | !mask).into()))
        }
    }
}

/// The port of a service name, from this host's /etc/services (where the daemon found it).
fn service_port(name: &str) -> Option<u16> {
    static SERVICES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text =
        SERVICES.get_or_init(|| std::fs::read_to_string("/etc/services").unwrap_or_default());
    services_lookup(text, name)
}

fn services_lookup(text: &str, name: &str) -> Option<u16> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let first = words.next()?;
            let (port, _) = words.next()?.split_once('/')?;
            (first == name || words.any(|alias| alias == name))
                .then(|| port.parse().ok())
                .flatten()
        })
}

fn protocol_number(name: &str) -> Option<u8> {
    match name {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "gre" => Some(47),
        "esp" => Some(50),
        "ipv6-icmp" | "icmpv6" => Some(58),
        "sctp" => Some(132),
        n => n.parse().ok(),
    }
}

impl TrafficSelector {
    /// Parses strongSwan's notation: `NET[PROTO/PORT]`, where NET is a prefix or `A..B` range,
    /// PROTO a name or number and PORT a number, `A-B`, a service name or `OPAQUE`.
    pub fn parse_strongswan(text: &str) -> Option<TrafficSelector> {
        let (net, rest) = match text.split_once('[') {
            Some((net, rest)) => (net, Some(rest.strip_suffix(']')?)),
            None => (text, None),
        };
        let (from, to) = parse_addr_range(net)?;
        let mut ts = TrafficSelector {
            text: text.to_string(),
            from,
            to,
            proto: None,
            ports: None,
            ports_unknown: false,
        };
        if let Some(rest) = rest {
            let (proto, port) = match rest.split_once('/') {
                Some((p, port)) => (p, Some(port)),
                None => (rest, None),
            };
            if !proto.is_empty() {
                ts.proto = Some(protocol_number(proto)?).filter(|p| *p != 0);
            }
            if let Some(port) = port {
                ts.set_ports(port);
            }
        }
        Some(ts)
    }

    pub(crate) fn set_ports(&mut self, port: &str) {
        let range = port
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        if let Some(range) = range {
            self.ports = Some(range);
        } else if let Ok(p) = port.parse::<u16>() {
            if p != 0 {
                self.ports = Some((p, p));
            }
        } else if let Some(p) = service_port(port) {
            // the daemon printed the port as its /etc/services name (5555 is "rplay")
            self.ports = Some((p, p));
        } else if port != "%any" {
            self.ports_unknown = true;
        }
    }

    /// True when the selector covers this address, protocol and port (`port` None: not checked).
    pub fn covers(&self, addr: IpAddr, proto: u8, port: Option<u16>) -> bool {
        let in_range = match (self.from, self.to, addr) {
            (IpAddr::V4(f), IpAddr::V4(t), IpAddr::V4(a)) => f <= a && a <= t,
            (IpAddr::V6(f), IpAddr::V6(t), IpAddr::V6(a)) => f <= a && a <= t,
            _ => false,
        };
        in_range
            && self.proto.is_none_or(|p| p == proto)
            && match (self.ports, port) {
                (Some((lo, hi)), Some(p)) => lo <= p && p <= hi,
                _ => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongswan_selectors() {
        let ts = TrafficSelector::parse_strongswan("10.0.0.1/32[udp/6000]").unwrap();
        assert_eq!(ts.proto, Some(17));
        assert_eq!(ts.ports, Some((6000, 6000)));
        assert!(ts.covers("10.0.0.1".parse().unwrap(), 17, Some(6000)));
        assert!(!ts.covers("10.0.0.1".parse().unwrap(), 17, Some(6001)));
        assert!(!ts.covers("10.0.0.2".parse().unwrap(), 17, Some(6000)));
        let ts = TrafficSelector::parse_strongswan("10.1.0.0/16").unwrap();
        assert!(ts.covers("10.1.200.3".parse().unwrap(), 6, None));
        let ts = TrafficSelector::parse_strongswan("10.0.0.1/32[17/1000-2000]").unwrap();
        assert_eq!(ts.ports, Some((1000, 2000)));
        let ts = TrafficSelector::parse_strongswan("fd00::/64[tcp]").unwrap();
        assert!(ts.covers("fd00::5".parse().unwrap(), 6, Some(1)));
        assert!(!ts.covers("fd00::5".parse().unwrap(), 17, Some(1)));
        let ts = TrafficSelector::parse_strongswan("0.0.0.0..255.255.255.255").unwrap();
        assert!(ts.covers("192.0.2.1".parse().unwrap(), 1, None));
        assert!(TrafficSelector::parse_strongswan("dynamic").is_none());
        let services = "rplay\t\t5555/udp\t\t\t# RPlay audio service\nsmtp 25/tcp mail\n";
        assert_eq!(services_lookup(services, "rplay"), Some(5555));
        assert_eq!(services_lookup(services, "mail"), Some(25));
        assert_eq!(services_lookup(services, "nothing"), None);
        // a service name with a dash is not a range
        let mut ts = TrafficSelector::parse_strongswan("10.0.0.2/32[udp]").unwrap();
        ts.set_ports("no-such-service");
        assert_eq!((ts.ports, ts.ports_unknown), (None, true));
    }
}
