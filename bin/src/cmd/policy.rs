//! `xfrmdiag policy`: every policy, streamed as it is decoded.

use std::io::{BufWriter, Write};

use crate::cli::{Global, Status};

/// Show every policy (like `ip xfrm policy list`), including per-socket policies.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Human output is one fixed-width line per policy, written as the kernel \
sends them, so even 100k policies never sit in memory. --json prints one JSON array."
)]
pub struct Args {}

pub fn run(global: &Global, _args: Args) -> anyhow::Result<Status> {
    let ns = global.netns();
    let mut policies = xfrmdiag_inventory::policies(&ns)?.peekable();
    // A refused dump (not root) fails on its first answer: fail before printing anything.
    if let Some(Err(_)) = policies.peek() {
        if let Some(Err(e)) = policies.next() {
            return Err(e.into());
        }
    }
    // 64 KiB: large writes, few syscalls (iproute2 spends most of its time in one write per policy).
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    if global.json {
        out.write_all(b"[")?;
        let mut first = true;
        for policy in policies {
            let policy = policy?;
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut out, &policy).map_err(std::io::Error::from)?;
        }
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
    } else {
        xfrmdiag_report::inventory::write_policy_header(&mut out)?;
        for policy in policies {
            let policy = policy?;
            xfrmdiag_report::inventory::write_policy_line(&mut out, &policy)?;
        }
    }
    out.flush()?;
    Ok(Status::Ok)
}
