//! Values that name traffic: SPI, address prefix, selector, mark.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPsec SPI. Shown and serialized as `"0x%08x"`, as `ip xfrm` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Spi(pub u32);

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

impl FromStr for Spi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| format!("SPI '{s}' does not start with 0x"))?;
        u32::from_str_radix(hex, 16)
            .map(Spi)
            .map_err(|e| format!("SPI '{s}': {e}"))
    }
}

impl Serialize for Spi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Spi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An address prefix such as `10.0.0.0/24`, serialized as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// True when `ip` falls inside this prefix (a `/0` matches everything of its family,
    /// and a selector of family "unspecified" matches both).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.len.min(32));
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.len.min(128));
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => self.len == 0,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_some() {
            // Honour `{:<18}` in fixed-width output.
            f.pad(&format!("{}/{}", self.addr, self.len))
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("prefix '{s}' has no /LEN"))?;
        Ok(Prefix {
            addr: addr.parse().map_err(|e| format!("prefix '{s}': {e}"))?,
            len: len.parse().map_err(|e| format!("prefix '{s}': {e}"))?,
        })
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Which traffic a policy or SA applies to (`struct xfrm_selector`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub src: Prefix,
    pub dst: Prefix,
    /// IP protocol number; 0 means any.
    pub proto: u8,
    /// Source port (for ICMP: the type) and its mask; a mask of 0 means any port.
    pub sport: u16,
    pub sport_mask: u16,
    /// Destination port (for ICMP: the code) and its mask.
    pub dport: u16,
    pub dport_mask: u16,
    /// Interface index the selector is bound to; 0 means any.
    pub ifindex: i32,
    /// Interface name for `ifindex`, when it could be resolved in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
}

/// `mark VALUE/MASK` on a policy or SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub value: u32,
    pub mask: u32,
}
