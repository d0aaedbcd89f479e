//! The IKE daemon's view on one side: what it is configured to protect and what it negotiated.
//! Plain strings and numbers only, and never key material (the daemon readers drop it).

use serde::{Deserialize, Serialize};

/// One daemon, read at the end of the window, joined with the side's kernel SAs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeView {
    /// `strongswan` or `libreswan`.
    pub daemon: String,
    #[serde(default)]
    pub version: Option<String>,
    /// The socket it was asked on.
    pub source: String,
    /// Configured connections, established or not.
    #[serde(default)]
    pub connections: Vec<IkeConnection>,
    #[serde(default)]
    pub ike_sas: Vec<IkeSaInfo>,
    /// Why negotiations failed, as the daemon reported it, newest last.
    #[serde(default)]
    pub failures: Vec<IkeFailure>,
    /// What the join of its CHILD_SAs with the kernel's SAs found: `ike-child-sa-not-in-kernel`,
    /// `kernel-sa-without-ike`.
    #[serde(default)]
    pub kernel_join: Vec<IkeJoinFinding>,
    /// The daemon's log the failures were read from (a path, or `journal (UNIT, …)`); absent
    /// when no log was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// A connection as configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeConnection {
    pub name: String,
    #[serde(default)]
    pub local_addrs: Vec<String>,
    #[serde(default)]
    pub remote_addrs: Vec<String>,
    #[serde(default)]
    pub children: Vec<IkeChildConfig>,
}

/// A CHILD_SA the connection would negotiate, with its configured traffic selectors.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeChildConfig {
    pub name: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub local_ts: Vec<String>,
    #[serde(default)]
    pub remote_ts: Vec<String>,
    /// Whether the configured selectors cover the test flow (None: no flow, or not decidable).
    #[serde(default)]
    pub covers_flow: Option<bool>,
}

/// One IKE_SA with its CHILD_SAs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeSaInfo {
    /// The connection it was made for.
    pub name: String,
    /// The daemon's state name (`ESTABLISHED`, `CONNECTING`, …).
    pub state: String,
    pub established: bool,
    #[serde(default)]
    pub local_host: Option<String>,
    #[serde(default)]
    pub remote_host: Option<String>,
    #[serde(default)]
    pub child_sas: Vec<ChildSaInfo>,
}

/// One CHILD_SA as the daemon sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChildSaInfo {
    pub name: String,
    /// The daemon's state name (`INSTALLED`, `REKEYED`, …).
    pub state: String,
    /// The daemon believes its SAs are in the kernel.
    pub installed: bool,
    #[serde(default)]
    pub reqid: Option<u32>,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub protocol: String,
    /// `0x`-prefixed hex, as `ip xfrm state` shows them.
    #[serde(default)]
    pub spi_in: Option<String>,
    #[serde(default)]
    pub spi_out: Option<String>,
    /// Negotiated selectors, as the daemon wrote them.
    #[serde(default)]
    pub local_ts: Vec<String>,
    #[serde(default)]
    pub remote_ts: Vec<String>,
    /// Every SA its state implies is in the kernel (by SPI).
    #[serde(default)]
    pub in_kernel: Option<bool>,
    /// Whether the negotiated selectors cover the test flow.
    #[serde(default)]
    pub covers_flow: Option<bool>,
    /// Whether its selectors' addresses take in the flow's destination (protocol and port
    /// aside): a CHILD_SA with the flow's peer, so one that excludes the flow excludes it by
    /// protocol or port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_of_flow: Option<bool>,
}

/// Why a negotiation failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeFailure {
    /// `NO_PROPOSAL_CHOSEN`, `AUTHENTICATION_FAILED`, `TS_UNACCEPTABLE`, `timeout`, …
    pub reason: String,
    #[serde(default)]
    pub connection: Option<String>,
    /// The daemon's own words (one line).
    pub detail: String,
}

/// A finding of the daemon/kernel join, kept as the join worded it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IkeJoinFinding {
    /// `ike-child-sa-not-in-kernel` or `kernel-sa-without-ike`.
    pub cause: String,
    #[serde(default)]
    pub connection: Option<String>,
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<String>,
}
