//! What `--send` and `--listen` name: `udp:DST:PORT`, `tcp:DST:PORT`, `icmp:DST`, `udp:PORT`,
//! `tcp:PORT`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::Error;

const SEND_FORMS: &str =
    "udp:DST:PORT, tcp:DST:PORT or icmp:DST, e.g. tcp:10.0.0.2:5000 or icmp:[fd00::2]";
const LISTEN_FORMS: &str = "udp:PORT or tcp:PORT, e.g. tcp:5000";

/// A test flow to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTarget {
    Udp(SocketAddr),
    /// Connect, send bytes, watch them being acknowledged.
    Tcp(SocketAddr),
    /// Echo requests.
    Icmp(IpAddr),
}

impl SendTarget {
    /// `udp`, `tcp` or `icmp`.
    pub fn proto(&self) -> &'static str {
        match self {
            SendTarget::Udp(_) => "udp",
            SendTarget::Tcp(_) => "tcp",
            SendTarget::Icmp(_) => "icmp",
        }
    }

    pub fn ip(&self) -> IpAddr {
        match self {
            SendTarget::Udp(a) | SendTarget::Tcp(a) => a.ip(),
            SendTarget::Icmp(ip) => *ip,
        }
    }

    /// The destination port (none for ICMP).
    pub fn port(&self) -> Option<u16> {
        match self {
            SendTarget::Udp(a) | SendTarget::Tcp(a) => Some(a.port()),
            SendTarget::Icmp(_) => None,
        }
    }
}

impl FromStr for SendTarget {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTarget {
            text: text.into(),
            why: why.into(),
            expected: SEND_FORMS,
        };
        let (proto, rest) = text
            .split_once(':')
            .ok_or_else(|| bad("no protocol given"))?;
        match proto {
            "udp" => Ok(SendTarget::Udp(socket_addr(rest).map_err(bad)?)),
            "tcp" => Ok(SendTarget::Tcp(socket_addr(rest).map_err(bad)?)),
            "icmp" => rest
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map(SendTarget::Icmp)
                .map_err(|_| bad("not an IP address")),
            _ => Err(bad("the protocol must be udp, tcp or icmp")),
        }
    }
}

/// `DST:PORT`, `[V6]:PORT` or `V6:PORT`.
pub(crate) fn socket_addr(rest: &str) -> Result<SocketAddr, &'static str> {
    if let Ok(addr) = rest.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = rest.rsplit_once(':').ok_or("no port given")?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| "not an IP address")?;
    let port: u16 = port.parse().map_err(|_| "not a port number")?;
    Ok(SocketAddr::new(ip, port))
}

/// A port to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenTarget {
    Udp(u16),
    /// Accept connections and count their bytes.
    Tcp(u16),
}

impl ListenTarget {
    pub fn port(&self) -> u16 {
        match self {
            ListenTarget::Udp(p) | ListenTarget::Tcp(p) => *p,
        }
    }

    pub fn proto(&self) -> &'static str {
        match self {
            ListenTarget::Udp(_) => "udp",
            ListenTarget::Tcp(_) => "tcp",
        }
    }
}

impl FromStr for ListenTarget {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTarget {
            text: text.into(),
            why: why.into(),
            expected: LISTEN_FORMS,
        };
        let (proto, port) = text
            .split_once(':')
            .ok_or_else(|| bad("no protocol given"))?;
        let port: u16 = port.parse().map_err(|_| bad("not a port number"))?;
        match proto {
            "udp" => Ok(ListenTarget::Udp(port)),
            "tcp" => Ok(ListenTarget::Tcp(port)),
            _ => Err(bad("the protocol must be udp or tcp")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_targets_parse_every_protocol() {
        assert_eq!(
            "tcp:10.0.0.2:80".parse::<SendTarget>().unwrap(),
            SendTarget::Tcp("10.0.0.2:80".parse().unwrap())
        );
        assert_eq!(
            "udp:fd00::2:5000".parse::<SendTarget>().unwrap(),
            SendTarget::Udp("[fd00::2]:5000".parse().unwrap())
        );
        assert_eq!(
            "icmp:[fd00::2]".parse::<SendTarget>().unwrap(),
            SendTarget::Icmp("fd00::2".parse().unwrap())
        );
        assert_eq!("icmp:10.0.0.2".parse::<SendTarget>().unwrap().port(), None);
        let err = "sctp:10.0.0.2:80".parse::<SendTarget>().unwrap_err();
        assert!(err.to_string().contains("udp, tcp or icmp"), "{err}");
        assert!("tcp:10.0.0.2".parse::<SendTarget>().is_err());
        assert!("icmp:nowhere".parse::<SendTarget>().is_err());
    }

    #[test]
    fn listen_targets_parse() {
        assert_eq!(
            "tcp:5000".parse::<ListenTarget>().unwrap(),
            ListenTarget::Tcp(5000)
        );
        assert_eq!(
            "udp:4500".parse::<ListenTarget>().unwrap(),
            ListenTarget::Udp(4500)
        );
        assert!("icmp:1".parse::<ListenTarget>().is_err());
        assert!("tcp:x".parse::<ListenTarget>().is_err());
    }
}
