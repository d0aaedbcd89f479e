//! `xfrmdiag completions SHELL` and `xfrmdiag man`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn run(args: Args) -> anyhow::Result<Status> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "xfrmdiag", &mut out);
    out.flush()?;
    Ok(Status::Ok)
}

pub fn run_man(_args: ManArgs) -> anyhow::Result<Status> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(Status::Ok)
}
