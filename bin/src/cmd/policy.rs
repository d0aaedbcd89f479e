//! `xfrmdiag policy`: every policy, streamed as it is decoded.

use std::io::Write;

use crate::cli::{Global, Status};

/// Show every policy (like `ip xfrm policy list`), including per-socket policies.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Human output is one fixed-width line per policy, written as the kernel \
sends them, so even 100k policies never sit in memory. --json prints one JSON array."
)]
pub struct Args {}

/// Output is gathered into chunks of about this size, then written with one syscall
/// (iproute2 spends most of its time in one write per policy).
const CHUNK: usize = 64 * 1024;

pub fn run(global: &Global, _args: Args) -> anyhow::Result<Status> {
    let ns = global.netns();
    let policies = xfrmdiag_inventory::policies(&ns)?;
    let mut out = std::io::stdout().lock();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let mut count = 0usize;
    let result = policies.for_each_policy(|policy| -> anyhow::Result<()> {
        if count == 0 {
            // Only now: a refused dump (not root) fails before anything is printed.
            push_start(&mut buf, global.json);
        }
        if global.json {
            buf.extend_from_slice(if count == 0 { b"\n" } else { b",\n" });
            xfrmdiag_report::inventory::push_policy_json(&mut buf, policy);
        } else {
            xfrmdiag_report::inventory::push_policy_line(&mut buf, policy);
        }
        count += 1;
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    });
    result?;
    match (count, global.json) {
        (0, true) => buf.extend_from_slice(b"[]\n"),
        // Said in words, as `sa` says "no SAs": a lone header looks like a failed dump.
        (0, false) => buf.extend_from_slice(b"no policies\n"),
        (_, true) => buf.extend_from_slice(b"\n]\n"),
        (_, false) => {}
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(Status::Ok)
}

/// `[` for JSON, the column header line for humans.
fn push_start(buf: &mut Vec<u8>, json: bool) {
    if json {
        buf.push(b'[');
    } else {
        buf.extend_from_slice(xfrmdiag_report::inventory::POLICY_HEADER.as_bytes());
        buf.push(b'\n');
    }
}
