//! `xfrmdiag compare`: two hosts' diagnose reports cross-checked (SAs by SPI and destination,
//! keys by fingerprint, policies), with one merged verdict.

use std::path::PathBuf;

use xfrmdiag_diagnose::compare;

use crate::cli::{Global, Status};
use crate::cmd::analyze::read_sides;
use crate::cmd::diagnose::status_of;
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hostA# xfrmdiag diagnose --send udp:10.0.0.2:5000 --json > a.json
  hostB# xfrmdiag diagnose --listen udp:5000 --json > b.json
  xfrmdiag compare a.json b.json")]
pub struct Args {
    /// Host A's `diagnose --json` report or `--save-evidence` file.
    #[arg(value_name = "A.json")]
    pub a: PathBuf,
    /// Host B's.
    #[arg(value_name = "B.json")]
    pub b: PathBuf,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let a = read_sides(&args.a)?;
    let b = read_sides(&args.b)?;
    let comparison = compare(&a, &b);
    let paint = xfrmdiag_report::diagnose::Paint {
        color: output::use_color(global),
    };
    output::print_result(
        global,
        || xfrmdiag_report::diagnose::compare_json(&comparison),
        || xfrmdiag_report::diagnose::compare_human(&comparison, paint),
    )?;
    Ok(status_of(&comparison.report))
}
