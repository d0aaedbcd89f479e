//! `xfrmdiag sa`: every SA, keys shown only as fingerprints.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Global, Status};

/// Show every SA (like `ip -s xfrm state`); keys appear only as fingerprints.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also show lifetime use (bytes, packets, add/use time, limits) and per-SA error counters.
    #[arg(long)]
    pub show_stats: bool,
    /// Decode SAs from a file of captured netlink messages (XFRM_MSG_NEWSA, as the kernel sends
    /// them for `ip xfrm state list`) instead of asking the kernel.
    #[arg(long, value_name = "FILE", hide = true)]
    pub from_capture: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let sas = match &args.from_capture {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            xfrmdiag_inventory::sas_from_netlink_bytes(&bytes)
                .with_context(|| format!("cannot decode {}", path.display()))?
        }
        None => xfrmdiag_inventory::dump_sas(&global.netns())?,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    if global.json {
        // Same array shape as `policy --json`; --show-stats only changes the table.
        out.write_all(b"[")?;
        for (i, sa) in sas.iter().enumerate() {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut out, sa).map_err(std::io::Error::from)?;
        }
        out.write_all(if sas.is_empty() { b"]\n" } else { b"\n]\n" })?;
    } else {
        out.write_all(xfrmdiag_report::inventory::sa_table(&sas, args.show_stats).as_bytes())?;
    }
    out.flush()?;
    Ok(Status::Ok)
}
