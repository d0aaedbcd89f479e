//! `xfrmdiag info`: SAD/SPD counts, hash sizes and default policies.

use crate::cli::{Global, Status};

/// SPD/SAD counts, hash info and default policies (like `ip xfrm state count`,
/// `ip xfrm policy count`, `ip xfrm policy getdefault`).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(global: &Global, _args: Args) -> anyhow::Result<Status> {
    let info = xfrmdiag_inventory::xfrm_info(&global.netns())?;
    crate::output::print_result(
        global,
        || &info,
        || xfrmdiag_report::inventory::info_table(&info),
    )?;
    Ok(Status::Ok)
}
