//! Test plans for TCP and ICMP flows (`diagnose --send tcp:DST:PORT` / `icmp:DST`).

use std::time::Duration;

use xfrmdiag_evidence::{Flow, Role};
use xfrmdiag_netns::Netns;
use xfrmdiag_traffic::{IcmpOptions, TcpOptions};

use crate::{Action, SidePlan, TestPlan};

impl TestPlan {
    /// A TCP connection from `sender` as `send` says; the other end in `receiver` (if any)
    /// listens on the port and counts the bytes (with `observe`, it only collects evidence: the
    /// port belongs to the application, or is meant to be closed).
    pub fn tcp_flow(
        sender: Netns,
        send: TcpOptions,
        receiver: Option<Netns>,
        observe: bool,
        window: Duration,
        trace: bool,
    ) -> TestPlan {
        let flow = Flow {
            proto: "tcp".into(),
            dst: Some(send.dst.ip().to_string()),
            port: send.dst.port(),
            sport: send.sport,
        };
        let action = if observe {
            Action::Watch
        } else {
            Action::ListenTcp {
                port: send.dst.port(),
                expected_bytes: Some(send.bytes as u64),
            }
        };
        let receive = receiver.map(|netns| receiver_side(netns, action, &flow));
        two_sides(sender, Action::SendTcp(send), flow, receive, window, trace)
    }

    /// ICMP echo requests from `sender`; the replies are counted there. The other end (if any)
    /// only collects evidence: its kernel answers, no program is needed.
    pub fn icmp_flow(
        sender: Netns,
        send: IcmpOptions,
        receiver: Option<Netns>,
        window: Duration,
        trace: bool,
    ) -> TestPlan {
        let flow = Flow {
            proto: "icmp".into(),
            dst: Some(send.dst.to_string()),
            port: 0,
            sport: None,
        };
        let receive = receiver.map(|netns| receiver_side(netns, Action::Watch, &flow));
        two_sides(sender, Action::SendIcmp(send), flow, receive, window, trace)
    }
}

/// The sender's side doing `action`, and the receiver's side when there is one.
pub(crate) fn two_sides(
    sender: Netns,
    action: Action,
    flow: Flow,
    receive: Option<SidePlan>,
    window: Duration,
    trace: bool,
) -> TestPlan {
    let send = SidePlan {
        netns: sender,
        role: Role::Sender,
        action,
        flow: Some(flow),
    };
    TestPlan {
        sides: std::iter::once(send).chain(receive).collect(),
        window,
        trace,
        full_window: false,
    }
}

/// The receiver's side: `action` on the same flow, whose destination is this side itself.
pub(crate) fn receiver_side(netns: Netns, action: Action, flow: &Flow) -> SidePlan {
    SidePlan {
        netns,
        role: Role::Receiver,
        action,
        flow: Some(Flow {
            dst: None,
            ..flow.clone()
        }),
    }
}
