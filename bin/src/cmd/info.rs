//! `xfrmdiag info`: SAD/SPD counts, hash sizes and default policies.

use std::io::Write;

use crate::cli::{Global, Status};

/// SPD/SAD counts, hash info and default policies (like `ip xfrm state count`,
/// `ip xfrm policy count`, `ip xfrm policy getdefault`).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(global: &Global, _args: Args) -> anyhow::Result<Status> {
    let info = xfrmdiag_inventory::xfrm_info(&global.netns())?;
    let mut out = std::io::stdout().lock();
    if global.json {
        serde_json::to_writer_pretty(&mut out, &info).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(xfrmdiag_report::inventory::info_table(&info).as_bytes())?;
    }
    out.flush()?;
    Ok(Status::Ok)
}
