//! `xfrmdiag diagnose`: inventory, counters before, trace on, test traffic, counters after,
//! trace off — then the pure decision names the cause.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use xfrmdiag_collect::{
    read_ike, run_test, Action, IkeMode, IkeRequest, Progress, SidePlan, TestPlan,
};
use xfrmdiag_diagnose::evidence::{EvidenceFile, Flow, Role, EVIDENCE_VERSION};
use xfrmdiag_diagnose::{diagnose, Report, SideEvidence};
use xfrmdiag_netns::Netns;
use xfrmdiag_traffic::{IcmpOptions, ListenTarget, SendOptions, SendTarget, TcpOptions, UdpPort};

use crate::cli::{Global, Status};
use crate::output;

mod peer_ssh;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("test").required(true).args(["send", "listen", "observe", "exec"])))]
#[command(after_help = "Examples:
  xfrmdiag diagnose -n blue --send udp:10.0.0.2:5000 --peer-netns red
  xfrmdiag diagnose --listen udp:5000 --window 10s      (on the receiver)
  xfrmdiag diagnose --send udp:[fd00::2]:5000 --count 20 --save-evidence ev.json

Exit status: 0 delivered (or no drop seen), 1 a cause was found, 2 usage or environment error.")]
pub struct Args {
    /// Send the test flow from this side: UDP datagrams, a TCP connection (handshake, --bytes,
    /// acknowledgements and TCP_INFO) or ICMP echo requests.
    #[arg(
        long,
        value_name = "udp:DST:PORT|tcp:DST:PORT|icmp:DST",
        help_heading = "Test traffic"
    )]
    pub send: Option<SendTarget>,
    /// Bind PORT and count what reaches it until --count datagrams (udp) or --bytes (tcp) arrive
    /// or the window ends.
    #[arg(long, value_name = "udp:PORT|tcp:PORT", help_heading = "Test traffic")]
    pub listen: Option<ListenTarget>,
    /// Watch PORT held by the real application, without binding it.
    #[arg(long, value_name = "udp:PORT", help_heading = "Test traffic")]
    pub observe: Option<UdpPort>,
    /// Run CMD (with sh -c) as the test send, e.g. your own client or ping.
    #[arg(long, value_name = "CMD", help_heading = "Test traffic")]
    pub exec: Option<String>,
    /// Datagrams to send (or to expect with --listen).
    #[arg(long, value_name = "N", help_heading = "Test traffic")]
    pub count: Option<u32>,
    /// Bytes a TCP test connection sends (default 65536); with --listen tcp:PORT, the bytes to
    /// wait for (without it any bytes prove the path and the whole window is watched).
    #[arg(long, value_name = "BYTES", help_heading = "Test traffic")]
    pub bytes: Option<usize>,
    /// UDP payload size in bytes (ICMP echo payload).
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
    /// Pause between datagrams (ICMP echo requests): `20ms`, `1s` (a bare number is seconds);
    /// `0` sends them back to back.
    #[arg(
        long,
        value_name = "DUR",
        default_value = "20ms",
        value_parser = xfrmdiag_duration::parse_pause_arg,
        help_heading = "Test traffic"
    )]
    pub interval: Duration,
    /// How long to wait for the datagrams (e.g. 2s, 500ms).
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = xfrmdiag_duration::parse_arg)]
    pub window: Duration,
    /// Wait the whole window even when every datagram sent is already accounted for (received,
    /// or counted by a drop counter on the side that dropped it); by default the wait ends then.
    #[arg(long)]
    pub full_window: bool,
    /// The other end runs in namespace NS on this machine: its evidence (and a listener for
    /// --send) are taken in the same run, and the report covers both sides.
    #[arg(long, value_name = "NS")]
    pub peer_netns: Option<String>,
    /// A gateway (router) on the path runs in namespace NS on this machine: its evidence
    /// (counters, SAs, policies, tunnel interfaces, nftables rules) is taken in the same run, as
    /// a side that forwards the flow (repeatable, e.g. both gateways of a site-to-site tunnel).
    #[arg(long = "forward", value_name = "NS")]
    pub forward: Vec<String>,
    /// The other end is HOST, reached with the system's OpenSSH client: xfrmdiag runs there,
    /// listens before the send, and the report covers both hosts (needs --send udp:… or tcp:…).
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
    /// The address the sender sends to (used by --peer on the other host): a listener knows
    /// only its port, and its policies and IKE selectors are judged on the whole flow.
    #[arg(long, hide = true, value_name = "ADDR", requires = "listen")]
    pub flow_dst: Option<std::net::IpAddr>,
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
    /// Read this side's IKE daemon into the evidence: `auto` tries strongSwan's vici socket,
    /// then Libreswan's (a missing daemon is no hole; with a socket path, whichever daemon
    /// answers there); `none` turns it off.
    #[arg(long, value_enum, default_value_t = IkeArg::Auto, help_heading = "IKE daemon")]
    pub ike: IkeArg,
    /// This side's daemon socket (vici or pluto.ctl) instead of the default.
    #[arg(long, value_name = "PATH", help_heading = "IKE daemon")]
    pub ike_socket: Option<PathBuf>,
    /// The --peer-netns side's daemon socket. Sockets are files, not per namespace: the default
    /// socket is read for this side only, so the peer's daemon is read only when given here.
    #[arg(
        long,
        value_name = "PATH",
        requires = "peer_netns",
        help_heading = "IKE daemon"
    )]
    pub peer_ike_socket: Option<PathBuf>,
    /// This side's daemon log, read for why negotiations failed: a file (charon's filelog,
    /// syslog, pluto's logfile), `journal` or `journal:UNIT[,UNIT]`. Without it, the log is
    /// looked for (its own file, the journal, /var/log/syslog) when the daemon is the one at the
    /// default socket.
    #[arg(long, value_name = "PATH", help_heading = "IKE daemon")]
    pub ike_log: Option<PathBuf>,
    /// The --peer-netns side's daemon log (as --ike-log).
    #[arg(
        long,
        value_name = "PATH",
        requires = "peer_ike_socket",
        help_heading = "IKE daemon"
    )]
    pub peer_ike_log: Option<PathBuf>,
}

/// `--ike`: which daemon to read on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IkeArg {
    Auto,
    Strongswan,
    Libreswan,
    None,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let mut plan = plan(global, &args)?;
    add_forwarders(&mut plan, &args)?;
    let show_status = output::status_line_allowed();
    let sides = match &args.peer {
        Some(target) => run_with_ssh_peer(&plan, &args, target, show_status)?,
        None => run_test_showing_progress(&plan, show_status, args.announce_ready)?,
    };
    let mut sides = sides;
    read_ike_daemons(&plan, &args, &mut sides);
    if let Some(path) = &args.save_evidence {
        save_evidence(path, &sides)?;
    }
    let report = diagnose(&sides);
    print_report(global, &report, &sides)?;
    Ok(status_of(&report))
}

/// The IKE daemons' views, read after the window into the local sides' evidence: this side's
/// per `--ike`/`--ike-socket`, the --peer-netns side's only with `--peer-ike-socket`.
fn read_ike_daemons(plan: &TestPlan, args: &Args, sides: &mut [SideEvidence]) {
    let mode = match args.ike {
        IkeArg::Auto => IkeMode::Auto,
        IkeArg::Strongswan => IkeMode::Strongswan,
        IkeArg::Libreswan => IkeMode::Libreswan,
        IkeArg::None => IkeMode::None,
    };
    let explicit = args.ike != IkeArg::Auto || args.ike_socket.is_some();
    // The default sockets belong to whatever namespace the daemon runs in, usually the host's:
    // with `-n NS` they are read only when asked for, so a host daemon is not joined with the
    // namespace's SAs.
    let guess_elsewhere = !explicit
        && plan
            .sides
            .first()
            .is_some_and(|s| s.netns != Netns::Current);
    // A receiver knows only its port: the sender's destination tells it what arrived where.
    let flow_dst = sides
        .iter()
        .filter_map(|s| s.flow.as_ref()?.dst.as_deref()?.parse().ok())
        .next();
    let primary = IkeRequest {
        mode: if guess_elsewhere { IkeMode::None } else { mode },
        socket: args.ike_socket.clone(),
        explicit,
        log: args.ike_log.clone(),
        // the daemon at the default socket logs where this host's daemon logs
        discover_log: args.ike_socket.is_none(),
        flow_dst,
    };
    let peer = IkeRequest {
        mode: if args.peer_ike_socket.is_some() && mode != IkeMode::None {
            mode
        } else {
            IkeMode::None
        },
        socket: args.peer_ike_socket.clone(),
        explicit: true,
        log: args.peer_ike_log.clone(),
        discover_log: false,
        flow_dst,
    };
    for (i, side_plan) in plan.sides.iter().enumerate() {
        let name = side_plan.netns.display_name();
        let Some(side) = sides.iter_mut().find(|s| s.namespace == name) else {
            continue;
        };
        read_ike(
            &side_plan.netns,
            if i == 0 { &primary } else { &peer },
            side,
        );
    }
}

/// The local side runs here; the other end runs on the --peer host and listens first.
fn run_with_ssh_peer(
    plan: &TestPlan,
    args: &Args,
    target: &peer_ssh::SshTarget,
    show_status: bool,
) -> anyhow::Result<Vec<SideEvidence>> {
    // The peer listens for what this side sends; the time our send may take, on top of our
    // window, keeps it listening long enough.
    let (listen, sending) = match plan.sides.first().map(|s| &s.action) {
        Some(Action::Send(send)) => (
            peer_ssh::Listen::Udp {
                dst: send.dst,
                count: send.count,
            },
            args.interval * send.count,
        ),
        Some(Action::SendTcp(send)) => (
            peer_ssh::Listen::Tcp {
                dst: send.dst,
                bytes: send.bytes,
            },
            send.connect_timeout + send.ack_wait,
        ),
        _ => anyhow::bail!(
            "--peer needs --send udp:DST:PORT or tcp:DST:PORT: the peer listens for what this side sends (icmp flows work with --peer-netns, not with --peer)"
        ),
    };
    let req = peer_ssh::PeerRequest {
        target,
        xfrmdiag: &args.peer_xfrmdiag,
        ssh_options: &args.ssh_opts,
        listen,
        // Long enough for our setup, our send and our window.
        window: plan.window + sending + Duration::from_secs(5),
    };
    let mut status = StatusLine::new(show_status);
    status.show(&format!("starting xfrmdiag on {} …", target.host));
    let peer = peer_ssh::start(&plan.sides[0].netns, &req);
    status.clear();
    let peer = peer?;
    let mut sides = run_test_showing_progress(plan, show_status, args.announce_ready)?;
    sides.extend(peer.finish()?);
    Ok(sides)
}

/// Runs the test, drawing its progress on the status line (when `show_status`) and saying the
/// ready line on stderr for a --peer caller (when `announce_ready`).
pub fn run_test_showing_progress(
    plan: &TestPlan,
    show_status: bool,
    announce_ready: bool,
) -> anyhow::Result<Vec<SideEvidence>> {
    let mut status = StatusLine::new(show_status);
    let sides = run_test(plan, |progress| match progress {
        Progress::Listening {
            port,
            netns,
            received,
            left,
        } => status.show(&format!(
            "listening on udp:{port} in {netns}: {received} received, {:.1}s left",
            left.as_secs_f64()
        )),
        Progress::Watching { settle } => {
            status.show(&format!("watching for {:.1}s", settle.as_secs_f64()))
        }
        Progress::Waited => status.clear(),
        Progress::Accounted(a) => {
            status.clear();
            crate::output::stderr_line(format_args!(
                "window closed early: all {} datagrams accounted for ({} received, {} counted \
                 by drop counters; --full-window waits it out)",
                a.sent, a.received, a.dropped
            ));
        }
        Progress::Ready => {
            if announce_ready {
                crate::output::stderr_line(peer_ssh::READY);
            }
        }
    })?;
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
    let paint = xfrmdiag_report::diagnose::Paint {
        color: output::use_color(global),
    };
    output::print_result(
        global,
        || xfrmdiag_report::diagnose::json(report, sides),
        || xfrmdiag_report::diagnose::human(report, sides, paint),
    )
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

/// What a TCP test connection sends when --bytes does not say.
const DEFAULT_TCP_BYTES: usize = 65536;

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
    match args.send {
        Some(SendTarget::Tcp(dst)) => {
            let bytes = args.bytes.unwrap_or(DEFAULT_TCP_BYTES);
            let mut send = TcpOptions::test_flow(dst, bytes, args.window);
            send.sport = args.sport;
            return Ok(TestPlan::tcp_flow(
                here,
                send,
                peer,
                args.peer_observe,
                args.window,
                !args.no_trace,
            ));
        }
        Some(SendTarget::Icmp(dst)) => {
            let send = IcmpOptions {
                dst,
                count,
                size: args.size,
                interval: args.interval,
                wait: args.window,
            };
            return Ok(TestPlan::icmp_flow(
                here,
                send,
                peer,
                args.window,
                !args.no_trace,
            ));
        }
        Some(SendTarget::Udp(_)) | None => {}
    }
    if let Some(SendTarget::Udp(dst)) = args.send {
        let send = SendOptions {
            dst,
            count,
            size: args.size,
            sport: args.sport,
            interval: args.interval,
            pmtu: args.pmtu,
        };
        let mut plan = TestPlan::udp_flow(
            here,
            send,
            peer,
            args.peer_observe,
            args.window,
            !args.no_trace,
        );
        plan.full_window = args.full_window;
        return Ok(plan);
    }
    let (role, action, port) = if let Some(ListenTarget::Tcp(port)) = args.listen {
        (
            Role::Receiver,
            Action::ListenTcp {
                port,
                // An application's connections send what they send: any bytes prove the path,
                // unless the sender's size is known (a --peer caller passes it).
                expected_bytes: args.bytes.map(|b| b as u64),
            },
            Some(port),
        )
    } else if let Some(ListenTarget::Udp(port)) = args.listen {
        (
            Role::Receiver,
            Action::Listen {
                port,
                expected: args.count,
            },
            Some(port),
        )
    } else if let Some(p) = args.observe {
        (Role::Receiver, Action::Observe(p.0), Some(p.0))
    } else {
        let cmd = args.exec.clone().unwrap_or_default();
        (Role::Sender, Action::Exec(cmd), None)
    };
    let proto = args.listen.map_or("udp", |l| l.proto());
    let flow = port.map(|port| Flow {
        proto: proto.into(),
        dst: args.flow_dst.map(|a| a.to_string()),
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
    let primary = SidePlan {
        netns: here,
        role,
        action,
        flow,
    };
    Ok(TestPlan {
        sides: std::iter::once(primary).chain(peer_plan).collect(),
        window: args.window,
        trace: !args.no_trace,
        full_window: args.full_window,
    })
}

/// `--forward NS`: gateways on the path join the run as sides that only collect evidence. The
/// rules know a forwarding side by its `ip_forward=1`; the role is the receiver's (the flow
/// arrives there), never the sender's.
fn add_forwarders(plan: &mut TestPlan, args: &Args) -> anyhow::Result<()> {
    let flow = plan.sides.first().and_then(|s| s.flow.clone());
    for name in &args.forward {
        let netns = Netns::Named(name.clone());
        netns.check()?;
        if plan.sides.iter().any(|s| s.netns == netns) {
            anyhow::bail!(
                "--forward {name} is already a side of this run: give a gateway's namespace"
            );
        }
        plan.sides.push(SidePlan {
            netns,
            role: Role::Receiver,
            action: Action::Watch,
            flow: flow.clone(),
        });
    }
    Ok(())
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
            crate::output::status(text);
            self.drawn = true;
        }
    }

    pub fn clear(&mut self) {
        if self.drawn {
            crate::output::status("");
            self.drawn = false;
        }
    }
}
