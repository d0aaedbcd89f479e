//! TCP and ICMP test flows: the evidence's own copies of the traffic crate's results (see
//! `traffic.rs` for why copies).

use serde::{Deserialize, Serialize};

use crate::SendError;

/// One TCP test connection (`diagnose --send tcp:DST:PORT`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpSendResult {
    pub dst: String,
    /// Payload bytes the test meant to send.
    pub bytes: u64,
    pub connected: bool,
    #[serde(default)]
    pub connect_ms: Option<u64>,
    /// Why the handshake failed: `ECONNREFUSED` (a reset: no socket on the port), `ETIMEDOUT`
    /// (the SYN went unanswered), `EHOSTUNREACH`/`ENETUNREACH`, `EPERM` (a block policy).
    #[serde(default)]
    pub connect_error: Option<SendError>,
    /// Bytes the kernel took from the program.
    pub written: u64,
    /// Bytes the peer acknowledged.
    pub acked: u64,
    #[serde(default)]
    pub write_error: Option<SendError>,
    /// The socket's TCP_INFO at the end of the wait.
    #[serde(default)]
    pub info: Option<TcpInfo>,
}

impl TcpSendResult {
    /// Connected, but not everything was acknowledged.
    pub fn stalled(&self) -> bool {
        self.connected && self.acked < self.written.max(self.bytes)
    }
}

/// The part of `struct tcp_info` that tells a stall apart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpInfo {
    pub state: String,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Retransmissions over the connection's life.
    pub retransmits: u32,
    pub backoff: u32,
    pub snd_mss: u32,
    /// The path MTU the socket believes in.
    pub pmtu: u32,
    pub rtt_us: u32,
}

/// What a TCP listener saw (`diagnose --listen tcp:PORT`, or the peer of a TCP send).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpListenResult {
    pub port: u16,
    pub connections: u32,
    pub bytes: u64,
    #[serde(default)]
    pub expected_bytes: Option<u64>,
    pub window_ms: u64,
}

/// ICMP echo requests and what answered them (`diagnose --send icmp:DST`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IcmpResult {
    pub dst: String,
    pub attempted: u32,
    pub sent: u32,
    pub size: usize,
    pub replies: u32,
    #[serde(default)]
    pub errors: Vec<SendError>,
    /// ICMP errors that quoted our requests.
    #[serde(default)]
    pub icmp_errors: Vec<IcmpError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IcmpError {
    pub from: String,
    pub kind: String,
    pub icmp_type: u8,
    pub code: u8,
    pub count: u32,
}

/// An xfrm interface (`if_id`) or VTI (`ikey`/`okey`: the marks its SAs and policies carry).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelLink {
    pub name: String,
    /// `xfrm`, `vti` or `vti6`.
    pub kind: String,
    #[serde(default)]
    pub if_id: Option<u32>,
    #[serde(default)]
    pub ikey: Option<u32>,
    #[serde(default)]
    pub okey: Option<u32>,
    /// The device it is bound to.
    #[serde(default)]
    pub underlay: Option<String>,
    /// Its local tunnel address (VTI: inbound SAs to it must carry the ikey as mark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    pub admin_up: bool,
    /// `up`, `down`, `lowerlayerdown`, `unknown`, …
    pub oper_state: String,
    #[serde(default)]
    pub mtu: Option<u32>,
}

impl TunnelLink {
    /// Admin up and not reported down by the kernel.
    pub fn is_up(&self) -> bool {
        self.admin_up && !matches!(self.oper_state.as_str(), "down" | "lowerlayerdown")
    }
}
