//! `xfrmdiag sa`: every SA, keys shown only as fingerprints.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use xfrmdiag_inventory::Sa;

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
    let sas: Box<dyn Iterator<Item = Result<Sa, xfrmdiag_inventory::Error>>> =
        match &args.from_capture {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let sas = xfrmdiag_inventory::sas_from_netlink_bytes(&bytes)
                    .with_context(|| format!("cannot decode {}", path.display()))?;
                Box::new(sas.into_iter().map(Ok))
            }
            None => Box::new(xfrmdiag_inventory::sas(&global.netns())?),
        };
    let mut sas = sas.peekable();
    // A refused dump (not root) fails on its first answer: fail before printing anything.
    if let Some(Err(_)) = sas.peek() {
        if let Some(Err(e)) = sas.next() {
            return Err(e.into());
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    if global.json {
        // Streamed like `policy --json`; --show-stats only changes the table (JSON has it all).
        out.write_all(b"[")?;
        let mut count = 0usize;
        for sa in sas {
            let sa = sa?;
            out.write_all(if count == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut out, &sa).map_err(std::io::Error::from)?;
            count += 1;
        }
        out.write_all(if count == 0 { b"]\n" } else { b"\n]\n" })?;
    } else {
        // A table needs every row for its widths; SAs are few (two per tunnel).
        let sas = sas.collect::<Result<Vec<Sa>, _>>()?;
        out.write_all(xfrmdiag_report::inventory::sa_table(&sas, args.show_stats).as_bytes())?;
    }
    out.flush()?;
    Ok(Status::Ok)
}
