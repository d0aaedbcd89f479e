//! XFRM events, as `ip xfrm monitor` shows them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::*;

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
