//! `xfrmdiag diagnose`: inventory, counters before, trace on, test traffic, counters after,
//! trace off — then the pure decision names the cause.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use xfrmdiag_diagnose::evidence::{
    EvidenceFile, Flow, Role, TraceSummary, Traffic, EVIDENCE_VERSION,
};
use xfrmdiag_diagnose::{diagnose, Report, SideEvidence};
use xfrmdiag_netns::Netns;
use xfrmdiag_traffic::{Listener, Observer, SendOptions, UdpPort, UdpTarget};

use crate::cli::{Global, Status};
use crate::output;

mod collect;
mod peer_ssh;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("test").required(true).args(["send", "listen", "observe", "exec"])))]
#[command(after_help = "Examples:
  xfrmdiag diagnose -n blue --send udp:10.0.0.2:5000 --peer-netns red
  xfrmdiag diagnose --listen udp:5000 --window 10s      (on the receiver)
  xfrmdiag diagnose --send udp:[fd00::2]:5000 --count 20 --save-evidence ev.json

Exit status: 0 delivered (or no drop seen), 1 a cause was found, 2 usage or environment error.")]
pub struct Args {
    /// Send test datagrams to DST:PORT from this side.
    #[arg(long, value_name = "udp:DST:PORT", help_heading = "Test traffic")]
    pub send: Option<UdpTarget>,
    /// Bind PORT and count what reaches it until --count arrive or the window ends.
    #[arg(long, value_name = "udp:PORT", help_heading = "Test traffic")]
    pub listen: Option<UdpPort>,
    /// Watch PORT held by the real application, without binding it.
    #[arg(long, value_name = "udp:PORT", help_heading = "Test traffic")]
    pub observe: Option<UdpPort>,
    /// Run CMD (with sh -c) as the test send, e.g. your own client or ping.
    #[arg(long, value_name = "CMD", help_heading = "Test traffic")]
    pub exec: Option<String>,
    /// Datagrams to send (or to expect with --listen).
    #[arg(long, value_name = "N", help_heading = "Test traffic")]
    pub count: Option<u32>,
    /// UDP payload size in bytes.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64,
        help_heading = "Test traffic"
    )]
    pub size: usize,
    /// Source port of the test datagrams.
    #[arg(long, value_name = "PORT", help_heading = "Test traffic")]
    pub sport: Option<u16>,
    /// Path MTU discovery of the test socket: do (always DF), probe (DF, ignore the known path
    /// MTU), want (kernel default) or dont.
    #[arg(long, value_name = "MODE", help_heading = "Test traffic")]
    pub pmtu: Option<xfrmdiag_traffic::Pmtu>,
    /// Pause between datagrams, in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 20,
        help_heading = "Test traffic"
    )]
    pub interval: u64,
    /// How long to wait for the datagrams (e.g. 2s, 500ms).
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub window: Duration,
    /// The other end runs in namespace NS on this machine: its evidence (and a listener for
    /// --send) are taken in the same run, and the report covers both sides.
    #[arg(long, value_name = "NS")]
    pub peer_netns: Option<String>,
    /// The other end is HOST, reached with the system's OpenSSH client: xfrmdiag runs there,
    /// listens before the send, and the report covers both hosts (needs --send).
    #[arg(
        long,
        value_name = "ssh://[USER@]HOST[:PORT]",
        conflicts_with = "peer_netns",
        requires = "send"
    )]
    pub peer: Option<peer_ssh::SshTarget>,
    /// The xfrmdiag command on the --peer host.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "xfrmdiag",
        requires = "peer"
    )]
    pub peer_xfrmdiag: String,
    /// An OpenSSH option for --peer, passed as `-o OPTION` (repeatable), e.g. IdentityFile=~/.ssh/lab.
    #[arg(long = "ssh-opt", value_name = "OPTION", requires = "peer")]
    pub ssh_opts: Vec<String>,
    /// Say `xfrmdiag-ready` on stderr once listening (used by --peer on the other host).
    #[arg(long, hide = true)]
    pub announce_ready: bool,
    /// With --peer-netns: do not bind the port on the peer, only watch it (it is held by the
    /// real application, or it is meant to show what happens to a closed port).
    #[arg(long, requires = "peer_netns")]
    pub peer_observe: bool,
    /// Do not capture a drop trace (tracefs) during the window.
    #[arg(long)]
    pub no_trace: bool,
    /// Keep what was collected, for `xfrmdiag analyze FILE`.
    #[arg(long, value_name = "FILE")]
    pub save_evidence: Option<PathBuf>,
}

/// `2s`, `500ms`, `1m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("'{text}' is not a duration: use e.g. 2s, 500ms or 1m");
    let (num, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
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
}

#[derive(Debug, Clone)]
pub struct SidePlan {
    pub netns: Netns,
    pub role: Role,
    pub action: Action,
    pub flow: Option<Flow>,
}

/// Everything a test run needs: the sides, the window, and where progress goes.
#[derive(Debug, Clone)]
pub struct TestPlan {
    pub sides: Vec<SidePlan>,
    pub window: Duration,
    pub progress: bool,
    /// Capture `skb:kfree_skb` (and functions where allowed) during the window.
    pub trace: bool,
    /// Print the ready line on stderr once listeners are up (the --peer protocol).
    pub announce_ready: bool,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let plan = plan(global, &args)?;
    let sides = match &args.peer {
        Some(target) => run_with_ssh_peer(&plan, &args, target)?,
        None => run_test(&plan)?,
    };
    if let Some(path) = &args.save_evidence {
        save_evidence(path, &sides)?;
    }
    let report = diagnose(&sides);
    print_report(global, &report, &sides)?;
    Ok(status_of(&report))
}

/// The local side runs here; the other end runs on the --peer host and listens first.
fn run_with_ssh_peer(
    plan: &TestPlan,
    args: &Args,
    target: &peer_ssh::SshTarget,
) -> anyhow::Result<Vec<SideEvidence>> {
    let Some(Action::Send(send)) = plan.sides.first().map(|s| &s.action) else {
        anyhow::bail!("--peer needs --send: the peer listens for what this side sends");
    };
    let sending = Duration::from_millis(args.interval) * send.count;
    let req = peer_ssh::PeerRequest {
        target,
        xfrmdiag: &args.peer_xfrmdiag,
        ssh_options: &args.ssh_opts,
        port: send.dst.port(),
        count: send.count,
        // Long enough for our setup, our send and our window.
        window: plan.window + sending + Duration::from_secs(5),
    };
    let mut status = StatusLine::new(plan.progress);
    status.show(&format!("starting xfrmdiag on {} …", target.host));
    let peer = peer_ssh::start(&plan.sides[0].netns, &req);
    status.clear();
    let peer = peer?;
    let mut sides = run_test(plan)?;
    sides.extend(peer.finish()?);
    Ok(sides)
}

pub fn status_of(report: &Report) -> Status {
    if report.healthy {
        Status::Ok
    } else {
        Status::Problem
    }
}

pub fn print_report(
    global: &Global,
    report: &Report,
    sides: &[SideEvidence],
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if global.json {
        let v = xfrmdiag_report::diagnose::json(report, sides);
        serde_json::to_writer_pretty(&mut stdout, &v)?;
        writeln!(stdout)?;
    } else {
        let paint = xfrmdiag_report::diagnose::Paint {
            color: output::use_color(global),
        };
        write!(
            stdout,
            "{}",
            xfrmdiag_report::diagnose::human(report, sides, paint)
        )?;
    }
    stdout.flush()?;
    Ok(())
}

pub fn save_evidence(path: &std::path::Path, sides: &[SideEvidence]) -> anyhow::Result<()> {
    let file = EvidenceFile {
        xfrmdiag_evidence: EVIDENCE_VERSION,
        sides: sides.to_vec(),
    };
    let text = serde_json::to_string_pretty(&file)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write evidence to {}", path.display()))
}

fn plan(global: &Global, args: &Args) -> anyhow::Result<TestPlan> {
    let here = global.netns();
    here.check()?;
    let peer = args.peer_netns.as_deref().map(|n| Netns::Named(n.into()));
    if let Some(p) = &peer {
        p.check()?;
        if *p == here {
            anyhow::bail!(
                "--peer-netns names the same namespace as -n: give the other end's namespace"
            );
        }
    }
    let count = args.count.unwrap_or(5);
    let (primary, peer_plan) = if let Some(target) = args.send {
        let flow = Flow {
            proto: "udp".into(),
            dst: Some(target.0.ip().to_string()),
            port: target.0.port(),
            sport: args.sport,
        };
        let send = SidePlan {
            netns: here,
            role: Role::Sender,
            action: Action::Send(SendOptions {
                dst: target.0,
                count,
                size: args.size,
                sport: args.sport,
                interval: Duration::from_millis(args.interval),
                pmtu: args.pmtu,
            }),
            flow: Some(flow.clone()),
        };
        let listen = peer.map(|netns| SidePlan {
            netns,
            role: Role::Receiver,
            action: if args.peer_observe {
                Action::Observe(target.0.port())
            } else {
                Action::Listen {
                    port: target.0.port(),
                    expected: Some(count),
                }
            },
            flow: Some(Flow { dst: None, ..flow }),
        });
        (send, listen)
    } else {
        let (role, action, port) = if let Some(p) = args.listen {
            (
                Role::Receiver,
                Action::Listen {
                    port: p.0,
                    expected: args.count,
                },
                Some(p.0),
            )
        } else if let Some(p) = args.observe {
            (Role::Receiver, Action::Observe(p.0), Some(p.0))
        } else {
            let cmd = args.exec.clone().unwrap_or_default();
            (Role::Sender, Action::Exec(cmd), None)
        };
        let flow = port.map(|port| Flow {
            proto: "udp".into(),
            dst: None,
            port,
            sport: None,
        });
        let other = match role {
            Role::Sender => Role::Receiver,
            Role::Receiver => Role::Sender,
        };
        let peer_plan = peer.map(|netns| SidePlan {
            netns,
            role: other,
            action: Action::Watch,
            flow: flow.clone(),
        });
        (
            SidePlan {
                netns: here,
                role,
                action,
                flow,
            },
            peer_plan,
        )
    };
    Ok(TestPlan {
        sides: std::iter::once(primary).chain(peer_plan).collect(),
        window: args.window,
        progress: output::status_line_allowed(),
        trace: !args.no_trace,
        announce_ready: args.announce_ready,
    })
}

/// One side while the test runs.
struct Running {
    plan: SidePlan,
    evidence: SideEvidence,
    counters_before: Option<xfrmdiag_counters::Snapshot>,
    events: Option<xfrmdiag_inventory::Collector>,
    listener: Option<Listener>,
    observer: Option<Observer>,
}

/// Runs the test: evidence before on every side, listeners up, traffic, wait, evidence after.
pub fn run_test(plan: &TestPlan) -> anyhow::Result<Vec<SideEvidence>> {
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
            _ => {}
        }
    }
    if plan.announce_ready {
        // Counters, trace and listeners are up: the other host may send now.
        eprintln!("{}", peer_ssh::READY);
    }
    let mut sent_by_test = false;
    for r in &mut running {
        match &r.plan.action {
            Action::Send(opts) => {
                let result = xfrmdiag_traffic::send_udp(&r.plan.netns, opts)?;
                r.evidence.traffic = Some(Traffic::Send(result));
                sent_by_test = true;
            }
            Action::Exec(cmd) => {
                let result = xfrmdiag_traffic::exec(&r.plan.netns, cmd)?;
                r.evidence.traffic = Some(Traffic::Exec(result));
                sent_by_test = true;
            }
            _ => {}
        }
    }
    let mut waited = false;
    for r in &mut running {
        if let Some(listener) = r.listener.take() {
            let Action::Listen { expected, .. } = r.plan.action else {
                continue;
            };
            let mut status = StatusLine::new(plan.progress);
            let port = listener.port();
            let result = listener.wait(expected, plan.window, |got, left| {
                status.show(&format!(
                    "listening on udp:{port} in {}: {got} received, {:.1}s left",
                    r.plan.netns,
                    left.as_secs_f64()
                ))
            });
            status.clear();
            r.evidence.traffic = Some(Traffic::Listen(result));
            waited = true;
        }
    }
    if !waited {
        let mut status = StatusLine::new(plan.progress);
        // Nothing to count with: give the kernel the window to drop or deliver (an observed
        // port needs the whole window; a lone sender only a moment for asynchronous drops).
        let settle = if sent_by_test && running.iter().all(|r| r.observer.is_none()) {
            plan.window.min(Duration::from_millis(300))
        } else {
            plan.window
        };
        status.show(&format!("watching for {:.1}s", settle.as_secs_f64()));
        std::thread::sleep(settle);
        status.clear();
    }
    if let Some(capture) = capture {
        match capture.stop() {
            Ok(result) => {
                let summary = TraceSummary::from_capture(&result);
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
                Ok(Ok(drops)) => found.push(xfrmdiag_diagnose::evidence::EncapSocket {
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

fn start_side(plan: &SidePlan) -> anyhow::Result<Running> {
    let mut evidence = SideEvidence {
        namespace: plan.netns.display_name().to_string(),
        role: plan.role,
        flow: plan.flow.clone(),
        ..Default::default()
    };
    match collect::sysctls(&plan.netns) {
        Ok(s) => evidence.sysctls = Some(s),
        Err(e) => evidence.holes.push(format!("sysctls: {e}")),
    }
    evidence.inventory = Some(collect::inventory(&plan.netns, &mut evidence.holes));
    if plan.role == Role::Sender {
        let dst = plan.flow.as_ref().and_then(|f| f.dst.as_deref());
        if let Some(dst) = dst.and_then(|d| d.parse().ok()) {
            match collect::route(&plan.netns, dst) {
                Ok(r) => evidence.route = Some(r),
                Err(e) => evidence.holes.push(format!("route: {e}")),
            }
        }
    }
    let events = match xfrmdiag_inventory::Monitor::start(&plan.netns) {
        Ok(m) => Some(m.spawn_collector()),
        Err(e) => {
            evidence.holes.push(format!("XFRM events: {e}"));
            None
        }
    };
    let counters_before = match collect::counters(&plan.netns) {
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
        listener: None,
        observer: None,
    })
}

fn finish_side(mut r: Running) -> anyhow::Result<SideEvidence> {
    if let Some(before) = &r.counters_before {
        match collect::counters(&r.plan.netns) {
            Ok(after) => r.evidence.counters = Some(collect::counter_delta(before, &after)),
            Err(e) => r.evidence.holes.push(format!("counters after: {e}")),
        }
    }
    if let Some(collector) = r.events.take() {
        match collect::events(collector) {
            Ok(events) => r.evidence.events = Some(events),
            Err(e) => r.evidence.holes.push(format!("XFRM events: {e}")),
        }
    }
    if let Some(observer) = r.observer.take() {
        r.evidence.traffic = Some(Traffic::Observe(observer.finish(&r.plan.netns)?));
    }
    r.evidence.collected_at = now_rfc3339();
    Ok(r.evidence)
}

/// A one-line progress display on stderr, redrawn in place and erased when done.
pub struct StatusLine {
    enabled: bool,
    drawn: bool,
}

impl StatusLine {
    pub fn new(enabled: bool) -> Self {
        StatusLine {
            enabled,
            drawn: false,
        }
    }

    pub fn show(&mut self, text: &str) {
        if self.enabled {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
            self.drawn = true;
        }
    }

    pub fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }
}

/// UTC now as RFC 3339 (seconds), without a date crate.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
