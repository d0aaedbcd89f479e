//! A security association and its parts: algorithms, encapsulation, replay state, statistics.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::*;

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
