//! SAD/SPD counts, default policies, and routes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Action;

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
