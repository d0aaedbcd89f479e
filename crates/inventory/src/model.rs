//! The plain data the inventory hands out: what `ip xfrm` shows, as serde types.
//!
//! These types are the JSON schema of `xfrmdiag sa|policy|info|monitor` (docs/json/inventory.md)
//! and the evidence `diagnose` consumes, so a field is only ever added, never renamed.
//! None of them can hold key bytes: algorithms carry a fingerprint only.

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

/// Limits configured on an SA or policy. An absent limit is infinite (the kernel's XFRM_INF).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_byte_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_byte_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_packet_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_packet_limit: Option<u64>,
    /// Seconds after adding / after first use; absent (or 0 from the kernel) means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_add_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_add_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_use_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_use_expires_seconds: Option<u64>,
}

/// What an SA or policy has used so far (`struct xfrm_lifetime_cur`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeCurrent {
    pub bytes: u64,
    pub packets: u64,
    /// Unix seconds when added / first used (0: never used).
    pub add_time: u64,
    pub use_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    pub config: LifetimeConfig,
    pub current: LifetimeCurrent,
}

/// An attribute this version does not decode, kept so nothing is silently lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownAttribute {
    /// The XFRMA_* number.
    pub kind: u16,
    /// Length of its value in bytes.
    pub len: usize,
    /// Why it is here: `unknown` (a newer kernel) or `malformed` (too short for its type).
    pub reason: String,
}

impl fmt::Display for UnknownAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason == "unknown" {
            write!(f, "unknown attribute {} ({} bytes)", self.kind, self.len)
        } else {
            write!(
                f,
                "{} attribute {} ({} bytes)",
                self.reason, self.kind, self.len
            )
        }
    }
}

/// A security context (SELinux label) on an SA or policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityContext {
    pub alg: u8,
    pub doi: u8,
    pub context: String,
}

/// Traffic direction of a policy: `in`, `out` or `fwd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    Fwd,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `allow` or `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IPsec protocol of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XfrmProto {
    Esp,
    Ah,
    Comp,
    Route2,
    Hao,
    /// Templates use 255 for "any IPsec protocol".
    Any,
    #[serde(untagged)]
    Other(u8),
}

impl XfrmProto {
    pub fn from_number(n: u8) -> Self {
        match n {
            50 => XfrmProto::Esp,
            51 => XfrmProto::Ah,
            108 => XfrmProto::Comp,
            43 => XfrmProto::Route2,
            60 => XfrmProto::Hao,
            255 => XfrmProto::Any,
            other => XfrmProto::Other(other),
        }
    }
}

impl fmt::Display for XfrmProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrmProto::Esp => f.write_str("esp"),
            XfrmProto::Ah => f.write_str("ah"),
            XfrmProto::Comp => f.write_str("comp"),
            XfrmProto::Route2 => f.write_str("route2"),
            XfrmProto::Hao => f.write_str("hao"),
            XfrmProto::Any => f.write_str("any"),
            XfrmProto::Other(n) => write!(f, "proto-{n}"),
        }
    }
}

/// SA / template mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Transport,
    Tunnel,
    Ro,
    InTrigger,
    Beet,
    Iptfs,
    #[serde(untagged)]
    Other(u8),
}

impl Mode {
    pub fn from_number(n: u8) -> Self {
        match n {
            0 => Mode::Transport,
            1 => Mode::Tunnel,
            2 => Mode::Ro,
            3 => Mode::InTrigger,
            4 => Mode::Beet,
            5 => Mode::Iptfs,
            other => Mode::Other(other),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Transport => f.write_str("transport"),
            Mode::Tunnel => f.write_str("tunnel"),
            Mode::Ro => f.write_str("ro"),
            Mode::InTrigger => f.write_str("in-trigger"),
            Mode::Beet => f.write_str("beet"),
            Mode::Iptfs => f.write_str("iptfs"),
            Mode::Other(n) => write!(f, "mode-{n}"),
        }
    }
}

/// `level required` or `level use` (the template is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Required,
    Use,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Required => "required",
            Level::Use => "use",
        })
    }
}

/// `ptype main` (the normal SPD) or `sub` (sub-policies, used by MIGRATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    Main,
    Sub,
    #[serde(untagged)]
    Other(u8),
}

impl PolicyType {
    pub fn from_number(n: u8) -> Self {
        match n {
            0 => PolicyType::Main,
            1 => PolicyType::Sub,
            other => PolicyType::Other(other),
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyType::Main => f.write_str("main"),
            PolicyType::Sub => f.write_str("sub"),
            PolicyType::Other(n) => write!(f, "type-{n}"),
        }
    }
}

/// One `tmpl` of a policy: which SA the kernel must find for matching traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// Tunnel endpoints; absent when the kernel left them zero (usual in transport mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
    pub proto: XfrmProto,
    /// 0x00000000 means any SPI.
    pub spi: Spi,
    pub mode: Mode,
    /// 0 means any reqid.
    pub reqid: u32,
    pub level: Level,
    pub share: u8,
    /// Allowed algorithm bitmasks (all ones: any).
    pub aalgos: u32,
    pub ealgos: u32,
    pub calgos: u32,
}

/// A security policy, like one entry of `ip xfrm policy list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub dir: Direction,
    /// True for a per-socket policy (`setsockopt(IP_XFRM_POLICY)`, e.g. an IKE daemon's bypass),
    /// which the kernel reports with direction `XFRM_POLICY_MAX + dir`.
    pub socket: bool,
    pub action: Action,
    pub priority: u32,
    pub index: u32,
    pub ptype: PolicyType,
    /// Flag names: `localok`, `icmp`.
    pub flags: Vec<String>,
    pub share: u8,
    pub selector: Selector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_id: Option<u32>,
    pub lifetime: Lifetime,
    pub templates: Vec<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sec_ctx: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_attributes: Vec<UnknownAttribute>,
}

/// One algorithm of an SA. Never the key: its length and fingerprint only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Algorithm {
    /// Kernel crypto name, e.g. `cbc(aes)`, `hmac(sha256)`, `rfc4106(gcm(aes))`.
    pub name: String,
    pub key_bits: u32,
    /// First 12 hex digits of SHA-256(name ‖ key bytes): equal keys give equal fingerprints.
    pub key_fingerprint: String,
    /// ICV truncation in bits (auth-trunc) or ICV length (AEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunc_bits: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icv_bits: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Algorithms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aead: Option<Algorithm>,
    /// From auth-trunc when the kernel sent it (it sends both), else from auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Algorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc: Option<Algorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comp: Option<Algorithm>,
}

/// NAT-T / TCP encapsulation of an SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encap {
    /// `espinudp`, `espinudp-nonike`, `espintcp`, or `type-N`.
    #[serde(rename = "type")]
    pub encap_type: String,
    pub sport: u16,
    pub dport: u16,
    /// Original address (before NAT), when the kernel knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oa: Option<IpAddr>,
}

/// Replay protection state of an SA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayState {
    /// Window size in packets (from the ESN attribute when present: the SA header holds one byte).
    pub window: u32,
    /// Highest sequence number seen inbound / last one sent outbound.
    pub seq: u32,
    pub oseq: u32,
    /// High 32 bits with ESN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_hi: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oseq_hi: Option<u32>,
    /// Legacy 32-bit bitmap, or the ESN bitmap words.
    pub bitmap: Vec<u32>,
}

/// Per-SA error counters (`ip -s xfrm state` "stats").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaStats {
    /// Packets dropped because they fell outside the replay window.
    pub replay_window: u32,
    /// Packets dropped as replays.
    pub replay: u32,
    /// Packets whose integrity check failed (wrong key, corruption).
    pub integrity_failed: u32,
}

/// Hardware offload of an SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offload {
    pub ifindex: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// `ipv6`, `inbound`, `packet`.
    pub flags: Vec<String>,
}

/// IP-TFS parameters (attributes 36–41, kernels ≥ 6.14).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpTfs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_time_us: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_window: Option<u16>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dont_frag: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_delay_us: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkt_size: Option<u32>,
}

/// A security association, like one entry of `ip -s xfrm state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sa {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: XfrmProto,
    pub spi: Spi,
    pub reqid: u32,
    pub mode: Mode,
    /// SA flag names: `noecn`, `decap-dscp`, `nopmtudisc`, `wildrecv`, `icmp`, `af-unspec`,
    /// `align4`, `esn`; then extra flags `dont-encap-dscp`, `oseq-may-wrap`.
    pub flags: Vec<String>,
    pub replay: ReplayState,
    pub algorithms: Algorithms,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap: Option<Encap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    /// Output mark (`output-mark` / XFRMA_SET_MARK) put on packets after encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_mark: Option<Mark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_id: Option<u32>,
    /// `in` or `out` (XFRMA_SA_DIR, kernels ≥ 6.10); absent when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    pub selector: Selector,
    pub lifetime: Lifetime,
    pub stats: SaStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload: Option<Offload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sec_ctx: Option<SecurityContext>,
    /// TFC padding length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tfcpad: Option<u32>,
    /// Care-of address (Mobile IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coaddr: Option<IpAddr>,
    /// Unix seconds of the last use (XFRMA_LASTUSED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time_threshold: Option<u32>,
    /// Seconds after which a NAT mapping change is reported (XFRMA_MTIMER_THRESH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_threshold: Option<u32>,
    /// XFRMA_NAT_KEEPALIVE_INTERVAL, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_keepalive_interval: Option<u32>,
    /// XFRMA_SA_PCPU: the CPU of a per-CPU SA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptfs: Option<IpTfs>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_attributes: Vec<UnknownAttribute>,
}

/// What identifies an SA in the kernel: destination, SPI, protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SaId {
    pub dst: IpAddr,
    pub spi: Spi,
    pub proto: XfrmProto,
}

/// SAD counts and hash table size (`ip xfrm state count`, GETSADINFO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SadInfo {
    pub count: u32,
    pub hash_buckets: u32,
    pub hash_max: u32,
}

/// Hash threshold of the SPD for one family (`ip xfrm policy set hthresh4 L R`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashThreshold {
    pub lbits: u8,
    pub rbits: u8,
}

/// SPD counts per direction and hash info (GETSPDINFO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpdInfo {
    #[serde(rename = "in")]
    pub input: u32,
    #[serde(rename = "out")]
    pub output: u32,
    #[serde(rename = "fwd")]
    pub forward: u32,
    pub in_socket: u32,
    pub out_socket: u32,
    pub fwd_socket: u32,
    pub hash_buckets: u32,
    pub hash_max: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_hthresh: Option<HashThreshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_hthresh: Option<HashThreshold>,
}

/// What happens to traffic no policy matches (`ip xfrm policy getdefault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultPolicies {
    #[serde(rename = "in")]
    pub input: Action,
    #[serde(rename = "out")]
    pub output: Action,
    #[serde(rename = "fwd")]
    pub forward: Action,
}

/// `xfrmdiag info`: the XFRM state of one namespace in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XfrmInfo {
    /// The namespace name, or `(current)`.
    pub namespace: String,
    pub sad: SadInfo,
    pub spd: SpdInfo,
    pub default_policy: DefaultPolicies,
}

/// How the kernel would route to an address (`ip route get`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub dst: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    pub ifindex: u32,
    /// Preferred source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// Route (path) MTU, when the route or cache carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// MTU of the output device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_mtu: Option<u32>,
    /// Route type: `unicast`, `local`, `unreachable`, `blackhole`, `prohibit`, …
    pub kind: String,
}

/// One XFRM event, as `ip xfrm monitor` shows it, with when it was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XfrmEvent {
    /// Nanoseconds since the Unix epoch when xfrmdiag received it.
    pub time_ns: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Serialized with an `event` tag, e.g. `{"event":"acquire", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    NewSa {
        sa: Box<Sa>,
    },
    UpdSa {
        sa: Box<Sa>,
    },
    DelSa {
        id: SaId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sa: Option<Box<Sa>>,
    },
    NewPolicy {
        policy: Box<Policy>,
    },
    UpdPolicy {
        policy: Box<Policy>,
    },
    DelPolicy {
        dir: Direction,
        /// The deleted policy's index; left out when the kernel did not say (0).
        #[serde(default, skip_serializing_if = "is_zero")]
        index: u32,
        selector: Selector,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<Box<Policy>>,
    },
    /// The kernel asks the IKE daemon for an SA it needs and does not have.
    Acquire {
        src: IpAddr,
        dst: IpAddr,
        proto: XfrmProto,
        selector: Selector,
        templates: Vec<Template>,
        /// The policy that asked.
        policy: Box<Policy>,
        seq: u32,
    },
    /// An SA reached a soft or hard lifetime limit.
    Expire {
        hard: bool,
        id: SaId,
        sa: Box<Sa>,
    },
    PolicyExpire {
        hard: bool,
        policy: Box<Policy>,
    },
    Report {
        proto: XfrmProto,
        selector: Selector,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coaddr: Option<IpAddr>,
    },
    /// NAT-T: the peer's address or port changed.
    Mapping {
        id: SaId,
        reqid: u32,
        old_src: IpAddr,
        old_sport: u16,
        new_src: IpAddr,
        new_sport: u16,
    },
    FlushSa {
        proto: XfrmProto,
    },
    FlushPolicy,
    /// Replay/lifetime async event (`ip xfrm monitor aevent`).
    AsyncEvent {
        id: SaId,
        flags: u32,
    },
    /// The default policies were set (`ip xfrm policy setdefault`): the new defaults.
    SetDefault {
        #[serde(rename = "in")]
        input: Action,
        #[serde(rename = "out")]
        output: Action,
        #[serde(rename = "fwd")]
        forward: Action,
    },
    /// The kernel dropped events because the socket buffer was full.
    Overrun,
    /// A message this version does not interpret (type number kept).
    Other {
        msg_type: u16,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
