//! A security policy and its templates.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::*;

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
