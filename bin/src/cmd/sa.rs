//! `xfrmdiag sa`: every SA, keys shown only as fingerprints.

use std::io::Write;
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

/// Output is gathered into chunks of about this size, then written with one syscall.
const CHUNK: usize = 64 * 1024;

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
    let mut out = std::io::stdout().lock();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let mut count = 0usize;
    // Every mode streams: each SA is written as it is decoded, so memory stays flat at any
    // count (a table sized to every row would have to hold them all first).
    for sa in sas {
        let sa = sa?;
        if global.json {
            // --show-stats only changes the human output (JSON has it all).
            buf.extend_from_slice(if count == 0 { b"[\n" } else { b",\n" });
            serde_json::to_writer(&mut buf, &sa).map_err(std::io::Error::from)?;
        } else {
            if count == 0 {
                buf.extend_from_slice(xfrmdiag_report::inventory::SA_HEADER.as_bytes());
                buf.push(b'\n');
            }
            xfrmdiag_report::inventory::push_sa(&mut buf, &sa, args.show_stats);
        }
        count += 1;
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    match (count, global.json) {
        (0, true) => buf.extend_from_slice(b"[]\n"),
        (_, true) => buf.extend_from_slice(b"\n]\n"),
        (_, false) => xfrmdiag_report::inventory::push_sa_footer(&mut buf, count),
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(Status::Ok)
}
