//! The command line: global options, subcommands, and the exit statuses scripts rely on.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cmd;

/// Find where the kernel dropped your IPsec packets, and why.
#[derive(Debug, Parser)]
#[command(name = "xfrmdiag", version = env!("XFRMDIAG_VERSION"), about, propagate_version = true)]
#[command(after_help = "Exit status: 0 healthy, 1 problem found, 2 usage or environment error.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Work in network namespace NAME (as `ip -n NAME`, from /run/netns/NAME).
    #[arg(
        short = 'n',
        long = "netns",
        value_name = "NAME",
        global = true,
        help_heading = "Global"
    )]
    pub netns: Option<String>,
    /// Print JSON (documented in docs/json-schema.md) instead of tables.
    #[arg(long, global = true, help_heading = "Global")]
    pub json: bool,
    /// When to use colour; `auto` means only on a terminal and only without NO_COLOR.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, help_heading = "Global")]
    pub color: ColorChoice,
}

#[allow(dead_code)] // used by commands as they land
impl Global {
    pub fn netns(&self) -> xfrmdiag_netns::Netns {
        xfrmdiag_netns::Netns::from_option(self.netns.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every SA (like `ip -s xfrm state`), keys as fingerprints only.
    Sa(cmd::sa::Args),
    /// Show every policy (like `ip xfrm policy`).
    Policy(cmd::policy::Args),
    /// SPD/SAD counts and default policies (like `ip xfrm state count` + `policy getdefault`).
    Info(cmd::info::Args),
    /// Print XFRM events as they happen (like `ip xfrm monitor`), until Ctrl-C.
    Monitor(cmd::monitor::Args),
    /// Show kernel counters with their meaning; save a snapshot or show what moved since one.
    Counters(cmd::counters::Args),
    /// Live per-interval counter deltas, with Prometheus and textfile export.
    Watch(cmd::watch::Args),
    /// Capture a short trace of xfrm functions and drop points (`--probe` shows what is allowed).
    Trace(cmd::trace::Args),
    /// Send or receive a test flow and name where and why the kernel dropped it.
    Diagnose(Box<cmd::diagnose::Args>),
    /// Rerun the diagnosis offline on evidence saved with `diagnose --save-evidence`.
    Analyze(cmd::analyze::Args),
    /// Cross-check two hosts' diagnose reports (SAs, keys, policies) and merge their verdicts.
    Compare(cmd::compare::Args),
    /// Build two namespaces with a known fault, diagnose it, and clean up.
    Demo(cmd::demo::Args),
    /// Run a TOML checklist of checks (or a built-in one).
    Check(cmd::check::Args),
    /// The IKE daemon's SAs (strongSwan, Libreswan) next to the kernel's, and what does not add up.
    Ike(cmd::ike::Args),
    /// Print a shell completion script.
    Completions(cmd::completions::Args),
    /// Print the man page (roff).
    Man(cmd::completions::ManArgs),
}

/// Exit statuses, documented in the README and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Healthy / delivered / all checks passed.
    Ok,
    /// A problem was found.
    Problem,
    /// Usage or environment error.
    Error,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        match s {
            Status::Ok => ExitCode::SUCCESS,
            Status::Problem => ExitCode::from(1),
            Status::Error => ExitCode::from(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
