//! `xfrmdiag info`.

use crate::cli::{Global, Status};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_global: &Global, _args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("`xfrmdiag info` is not implemented yet")
}
