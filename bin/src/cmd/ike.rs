//! `xfrmdiag ike`: the IKE daemon's view (strongSwan over vici, Libreswan over whack) joined
//! with the kernel's SAs and policies, and the IKE findings.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use xfrmdiag_ike::{Choice, Flow, Source};
use xfrmdiag_traffic::UdpTarget;

use crate::cli::{Global, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IkeDaemon {
    Auto,
    Strongswan,
    Libreswan,
}

/// Show the IKE daemon's SAs next to the kernel's, and what does not add up.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  xfrmdiag ike                                  (charon at /var/run/charon.vici)
  xfrmdiag ike --ike libreswan --log /var/log/pluto.log
  xfrmdiag -n west ike --socket /run/west/pluto.ctl    (pluto started with --rundir /run/west)
  xfrmdiag -n blue ike --socket /run/blue/charon.vici --flow udp:10.0.0.2:5000

Exit status: 0 no IKE problem, 1 a finding, 2 no daemon reachable or usage error.")]
pub struct Args {
    /// Which daemon to ask; `auto` tries strongSwan's vici socket, then Libreswan's (with
    /// --socket: whichever daemon answers there).
    #[arg(long = "ike", value_enum, default_value_t = IkeDaemon::Auto)]
    pub daemon: IkeDaemon,
    /// The daemon's socket (vici for strongSwan, pluto.ctl for Libreswan) instead of its default.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The daemon's log, read for why negotiations failed: a file (charon's filelog, syslog,
    /// pluto's logfile), `journal` or `journal:UNIT[,UNIT]`. Without it and without --socket,
    /// the log is looked for: the daemon's own file, the journal, /var/log/syslog.
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// The flow that must be protected: findings are then about it (is a CHILD_SA up, do its
    /// selectors cover it).
    #[arg(long, value_name = "udp:DST:PORT")]
    pub flow: Option<UdpTarget>,
    /// Source address of --flow (default: the route's preferred source in the namespace).
    #[arg(long, value_name = "ADDR", requires = "flow")]
    pub flow_src: Option<IpAddr>,
    /// Write the vici packets received (secrets already dropped) to FILE, for test fixtures.
    #[arg(long, value_name = "FILE", hide = true)]
    pub capture_vici: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let source = Source {
        choice: match args.daemon {
            IkeDaemon::Auto => Choice::Auto,
            IkeDaemon::Strongswan => Choice::Strongswan,
            IkeDaemon::Libreswan => Choice::Libreswan,
        },
        socket: args.socket.clone(),
        log: args.log.clone(),
    };
    let ns = global.netns();
    let flow = match args.flow {
        Some(UdpTarget(dst)) => {
            let src = match args.flow_src {
                Some(s) => Some(s),
                None => xfrmdiag_inventory::route_get(&ns, dst.ip())
                    .ok()
                    .and_then(|r| r.src),
            };
            Some(Flow {
                src,
                dst: dst.ip(),
                proto: 17,
                sport: None,
                dport: dst.port(),
            })
        }
        None => None,
    };
    if let Some(path) = &args.capture_vici {
        let (_, socket) = xfrmdiag_ike::resolve(&Source {
            choice: Choice::Strongswan,
            ..source.clone()
        })?;
        let mut client = xfrmdiag_ike::strongswan::Client::connect(&socket)?;
        client.record();
        client.read_view()?;
        std::fs::write(path, client.recorded())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // the daemon at its default socket logs where this host's daemon logs: look there
    let discover_log = args.socket.is_none();
    let report = xfrmdiag_ike::inspect_with(&ns, &source, flow, discover_log)?;
    crate::output::print_result(
        global,
        || &report,
        || xfrmdiag_ike::render::report_text(&report),
    )?;
    Ok(if report.findings.is_empty() {
        Status::Ok
    } else {
        Status::Problem
    })
}
