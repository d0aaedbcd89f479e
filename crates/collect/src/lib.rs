//! Running the readers around a test flow and assembling each side's Evidence: inventory,
//! counters before/after, trace, traffic, events. Owns the order of work; must not decide (that
//! is diagnose) or print (report).
//!
//! Progress (a listener counting, the settle wait, "ready for the send") is handed to the
//! caller as [`Progress`] events; drawing a status line is the binary's business.

use std::time::Duration;

use xfrmdiag_evidence::{Flow, Role, SideEvidence, Traffic};
use xfrmdiag_netns::Netns;

pub use ike::{read_ike, IkeMode, IkeRequest};
use xfrmdiag_traffic::{Listener, Observer, SendOptions};

use crate::flows::{receiver_side, two_sides};

pub mod convert;
mod early;
mod esp_path;
pub mod flows;
mod ike;
pub mod readers;

pub use early::Accounted;

/// Why a test run could not go on. Readers that fail do not end the run: they leave a hole in
/// the evidence instead; only the test traffic itself is fatal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding, sending, running the command or observing the port failed.
    #[error(transparent)]
    Traffic(#[from] xfrmdiag_traffic::Error),
}

/// What the run is doing right now, for a progress display drawn by the caller.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A listener is waiting for the test datagrams.
    Listening {
        port: u16,
        netns: &'a Netns,
        received: u32,
        left: Duration,
    },
    /// Nothing to count with: the run gives the kernel `settle` to drop or deliver.
    Watching { settle: Duration },
    /// The wait (listening or watching) is over: any status line may go.
    Waited,
    /// Counters, trace and listeners are up: another host may send now (the --peer protocol).
    Ready,
    /// Every datagram sent was received or counted as dropped: the window closed early.
    Accounted(Accounted),
}

/// What one side does during the test.
#[derive(Debug, Clone)]
pub enum Action {
    Send(SendOptions),
    Listen {
        port: u16,
        expected: Option<u32>,
    },
    Observe(u16),
    Exec(String),
    /// Only collect evidence (the peer of a listener or of --exec).
    Watch,
    /// Connect, send bytes, wait for the acknowledgements (see [`flows`]).
    SendTcp(xfrmdiag_traffic::TcpOptions),
    /// Accept TCP connections and count their bytes.
    ListenTcp {
        port: u16,
        expected_bytes: Option<u64>,
    },
    /// ICMP echo requests; the replies are counted by the sender itself.
    SendIcmp(xfrmdiag_traffic::IcmpOptions),
}

/// One side of the test: where it runs, what it is, what it does.
#[derive(Debug, Clone)]
pub struct SidePlan {
    pub netns: Netns,
    pub role: Role,
    pub action: Action,
    pub flow: Option<Flow>,
}

/// Everything a test run needs: the sides and the window.
#[derive(Debug, Clone)]
pub struct TestPlan {
    pub sides: Vec<SidePlan>,
    pub window: Duration,
    /// Capture `skb:kfree_skb` (and functions where allowed) during the window.
    pub trace: bool,
    /// Wait the whole window even when every datagram is already accounted for.
    pub full_window: bool,
}

impl TestPlan {
    /// UDP datagrams from `sender` as `send` says, with the other end in `receiver` (if any):
    /// it binds the port and counts what arrives, or with `observe` watches a port the
    /// application already holds. What `diagnose --send udp:DST:PORT --peer-netns NS` runs.
    pub fn udp_flow(
        sender: Netns,
        send: SendOptions,
        receiver: Option<Netns>,
        observe: bool,
        window: Duration,
        trace: bool,
    ) -> TestPlan {
        let (port, count) = (send.dst.port(), send.count);
        let flow = Flow {
            proto: "udp".into(),
            dst: Some(send.dst.ip().to_string()),
            port,
            sport: send.sport,
        };
        let action = if observe {
            Action::Observe(port)
        } else {
            Action::Listen {
                port,
                expected: Some(count),
            }
        };
        let receive = receiver.map(|netns| receiver_side(netns, action, &flow));
        two_sides(sender, Action::Send(send), flow, receive, window, trace)
    }
}

/// One side while the test runs.
struct Running {
    plan: SidePlan,
    evidence: SideEvidence,
    counters_before: Option<xfrmdiag_counters::Snapshot>,
    events: Option<xfrmdiag_inventory::Collector>,
    /// nftables rules before the window (`None`: no nft here, or it failed: see holes).
    nft_before: Option<xfrmdiag_netfilter::Ruleset>,
    listener: Option<Listener>,
    tcp_listener: Option<xfrmdiag_traffic::TcpListen>,
    observer: Option<Observer>,
}

/// Runs the test: evidence before on every side, listeners up, traffic, wait, evidence after.
pub fn run_test(
    plan: &TestPlan,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Vec<SideEvidence>, Error> {
    let mut running = Vec::new();
    for side in &plan.sides {
        running.push(start_side(side)?);
    }
    check_encap_sockets(&mut running);
    // One capture: kfree_skb is system wide, so it covers every side on this machine.
    let capture = if plan.trace {
        match xfrmdiag_trace::Capture::start(xfrmdiag_trace::CaptureOptions::default()) {
            Ok(c) => Some(c),
            Err(e) => {
                for r in &mut running {
                    r.evidence.holes.push(format!("trace: {e}"));
                }
                None
            }
        }
    } else {
        None
    };
    // Listeners first, so nothing sent is missed.
    for r in &mut running {
        match r.plan.action.clone() {
            Action::Listen { port, .. } => match Listener::bind(&r.plan.netns, port) {
                Ok(l) => r.listener = Some(l),
                // The real application holds the port: watch it instead, and say so.
                Err(xfrmdiag_traffic::Error::PortTaken { .. }) if r.plan.role == Role::Receiver => {
                    r.evidence.holes.push(format!(
                        "listen: udp:{port} is held by another program; observed it instead"
                    ));
                    r.plan.action = Action::Observe(port);
                    r.observer = Some(Observer::start(
                        &r.plan.netns,
                        std::path::Path::new("/proc"),
                        port,
                    )?);
                }
                Err(e) => return Err(e.into()),
            },
            Action::Observe(port) => {
                r.observer = Some(Observer::start(
                    &r.plan.netns,
                    std::path::Path::new("/proc"),
                    port,
                )?);
            }
            Action::ListenTcp { port, .. } => {
                r.tcp_listener = Some(xfrmdiag_traffic::TcpListen::bind(&r.plan.netns, port)?);
            }
            _ => {}
        }
    }
    // Counters, trace and listeners are up: another host may send now.
    progress(Progress::Ready);
    let mut sent_by_test = false;
    for r in &mut running {
        match &r.plan.action {
            Action::Send(opts) => {
                let result = xfrmdiag_traffic::send_udp(&r.plan.netns, opts)?;
                r.evidence.traffic = Some(Traffic::Send(convert::send(result)));
                sent_by_test = true;
            }
            Action::Exec(cmd) => {
                let result = xfrmdiag_traffic::exec(&r.plan.netns, cmd)?;
                r.evidence.traffic = Some(Traffic::Exec(convert::exec(result)));
                sent_by_test = true;
            }
            Action::SendTcp(opts) => {
                let result = xfrmdiag_traffic::send_tcp(&r.plan.netns, opts)?;
                r.evidence.traffic = Some(Traffic::Tcp(convert::tcp_send(result)));
                sent_by_test = true;
            }
            Action::SendIcmp(opts) => {
                let result = xfrmdiag_traffic::send_icmp(&r.plan.netns, opts)?;
                r.evidence.traffic = Some(Traffic::Icmp(convert::icmp(result)));
                sent_by_test = true;
            }
            _ => {}
        }
    }
    let mut early = early::for_run(plan, &running);
    let mut waited = false;
    for r in &mut running {
        if let Some(listener) = r.listener.take() {
            let Action::Listen { expected, .. } = r.plan.action else {
                continue;
            };
            let port = listener.port();
            let netns = &r.plan.netns;
            let result = listener.wait_until(expected, plan.window, |received, left| {
                progress(Progress::Listening {
                    port,
                    netns,
                    received,
                    left,
                });
                let accounted = early.as_mut().and_then(|e| e.check(received));
                if let Some(a) = accounted {
                    progress(Progress::Accounted(a));
                }
                accounted.is_some()
            });
            progress(Progress::Waited);
            r.evidence.traffic = Some(Traffic::Listen(convert::listen(result)));
            waited = true;
        }
        if let Some(listener) = r.tcp_listener.take() {
            let Action::ListenTcp { expected_bytes, .. } = r.plan.action else {
                continue;
            };
            let port = listener.port();
            let netns = &r.plan.netns;
            let result = listener.wait(expected_bytes, plan.window, |bytes, left| {
                progress(Progress::Listening {
                    port,
                    netns,
                    received: u32::try_from(bytes).unwrap_or(u32::MAX),
                    left,
                })
            });
            progress(Progress::Waited);
            r.evidence.traffic = Some(Traffic::TcpListen(convert::tcp_listen(result)));
            waited = true;
        }
    }
    if !waited {
        // Nothing to count with: give the kernel the window to drop or deliver (an observed
        // port needs the whole window; a lone sender only a moment for asynchronous drops).
        let settle = if sent_by_test && running.iter().all(|r| r.observer.is_none()) {
            plan.window.min(Duration::from_millis(300))
        } else {
            plan.window
        };
        progress(Progress::Watching { settle });
        std::thread::sleep(settle);
        progress(Progress::Waited);
    }
    if let Some(capture) = capture {
        match capture.stop() {
            Ok(result) => {
                let summary = convert::trace_summary(&result);
                // Attached once, to the first side; the decision pools every side's trace.
                let first = &mut running[0].evidence;
                first.trace = Some(summary);
                if result.lost_events > 0 {
                    first.holes.push(format!(
                        "trace: {} events lost (ring buffer overrun): drops may be missing",
                        result.lost_events
                    ));
                }
            }
            Err(e) => {
                for r in &mut running {
                    r.evidence.holes.push(format!("trace: {e}"));
                }
            }
        }
    }
    running.into_iter().map(finish_side).collect()
}

/// For every NAT-T port any side's SAs use, whether each side has a UDP socket bound on it.
fn check_encap_sockets(running: &mut [Running]) {
    let mut ports: Vec<u16> = running
        .iter()
        .filter_map(|r| r.evidence.inventory.as_ref()?.sas.as_ref())
        .flatten()
        .filter_map(|sa| sa.encap.as_ref())
        .flat_map(|e| [e.sport, e.dport])
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if ports.is_empty() {
        return;
    }
    for r in running {
        let mut found = Vec::new();
        for &port in &ports {
            let bound = r.plan.netns.run(move || {
                xfrmdiag_traffic::proc_udp::read_drops(std::path::Path::new("/proc"), port)
            });
            match bound {
                Ok(Ok(drops)) => found.push(xfrmdiag_evidence::EncapSocket {
                    port,
                    bound: drops.is_some(),
                }),
                Ok(Err(e)) => r.evidence.holes.push(format!("NAT-T sockets: {e}")),
                Err(e) => r.evidence.holes.push(format!("NAT-T sockets: {e}")),
            }
        }
        r.evidence.encap_sockets = Some(found);
    }
}

fn start_side(plan: &SidePlan) -> Result<Running, Error> {
    let mut evidence = SideEvidence {
        namespace: plan.netns.display_name().to_string(),
        role: plan.role,
        flow: plan.flow.clone(),
        ..Default::default()
    };
    match readers::sysctls(&plan.netns) {
        Ok(s) => evidence.sysctls = Some(s),
        Err(e) => evidence.holes.push(format!("sysctls: {e}")),
    }
    evidence.inventory = Some(readers::inventory(&plan.netns, &mut evidence.holes));
    // Every side that knows the destination routes the flow: the sender, and a gateway
    // (`--forward`) on the path. A receiver knows only its port.
    let dst = plan.flow.as_ref().and_then(|f| f.dst.as_deref());
    if let Some(dst) = dst.and_then(|d| d.parse().ok()) {
        match readers::route(&plan.netns, dst) {
            Ok(r) => evidence.route = Some(r),
            Err(e) => evidence.holes.push(format!("route: {e}")),
        }
    }
    if let (Some(inventory), Some(flow)) = (&evidence.inventory, &plan.flow) {
        match esp_path::esp_route(&plan.netns, inventory, flow) {
            Some(Ok(r)) => evidence.esp_route = Some(r),
            Some(Err(e)) => evidence
                .holes
                .push(format!("route of the ESP packets: {e}")),
            None => {}
        }
    }
    let events = match xfrmdiag_inventory::Monitor::start(&plan.netns) {
        Ok(m) => Some(m.spawn_collector()),
        Err(e) => {
            evidence.holes.push(format!("XFRM events: {e}"));
            None
        }
    };
    match xfrmdiag_inventory::tunnel_links(&plan.netns) {
        Ok(links) => evidence.tunnel_links = Some(links.iter().map(convert::tunnel_link).collect()),
        Err(e) => evidence.holes.push(format!("tunnel interfaces: {e}")),
    }
    let nft_before = readers::nft_rules(&plan.netns, false, &mut evidence.holes);
    let counters_before = match readers::counters(&plan.netns) {
        Ok(c) => Some(c),
        Err(e) => {
            evidence.holes.push(format!("counters: {e}"));
            None
        }
    };
    Ok(Running {
        plan: plan.clone(),
        evidence,
        counters_before,
        events,
        nft_before,
        listener: None,
        tcp_listener: None,
        observer: None,
    })
}

fn finish_side(mut r: Running) -> Result<SideEvidence, Error> {
    if let Some(before) = &r.counters_before {
        match readers::counters(&r.plan.netns) {
            Ok(after) => r.evidence.counters = Some(readers::counter_delta(before, &after)),
            Err(e) => r.evidence.holes.push(format!("counters after: {e}")),
        }
    }
    let mut nft_after = None;
    if let Some(before) = &r.nft_before {
        nft_after = readers::nft_rules(&r.plan.netns, true, &mut r.evidence.holes);
        if let Some(after) = &nft_after {
            r.evidence.firewall = Some(readers::firewall_hits(&before.rules, &after.rules));
            r.evidence.nat = Some(readers::nat_rules(&before.rules, &after.rules));
        }
    }
    r.evidence.netfilter_tables =
        readers::netfilter_tables(&r.plan.netns, nft_after.as_ref(), &mut r.evidence.holes);
    if let Some(collector) = r.events.take() {
        match readers::events(collector) {
            Ok(events) => r.evidence.events = Some(events),
            Err(e) => r.evidence.holes.push(format!("XFRM events: {e}")),
        }
    }
    if let Some(observer) = r.observer.take() {
        r.evidence.traffic = Some(Traffic::Observe(convert::observe(
            observer.finish(&r.plan.netns)?,
        )));
    }
    r.evidence.collected_at = now_rfc3339();
    Ok(r.evidence)
}

/// UTC now as RFC 3339 (seconds).
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
