//! `xfrmdiag counters`: kernel counters with their meaning; save a snapshot, or show what moved
//! since one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use xfrmdiag_counters::{delta, Filter, Snapshot};
use xfrmdiag_netns::Netns;
use xfrmdiag_report::counters as render;

use crate::cli::{Global, Status};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  xfrmdiag counters -n blue                     non-zero counters of namespace blue
  xfrmdiag counters --save before.json          snapshot now …
  xfrmdiag counters --since before.json         … and later: what moved (exit 1 if an error counter moved)
  xfrmdiag counters xfrm Udp.InErrors --all     only these, zeros included

Exit status: 0 ok (with --since: no error counter moved), 1 an error counter moved, 2 usage or environment error.")]
pub struct Args {
    /// Only these counters: names, patterns with `*`, or families (xfrm, udp, ip, tcp, dev, sa, errors).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Show zero counters too.
    #[arg(long)]
    pub all: bool,
    /// Write the full snapshot as JSON to FILE (for a later --since).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Show what changed since the snapshot in FILE (written by --save).
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
}

/// Reads every counter source of `ns`: the /proc files and the per-SA stats.
pub fn take(ns: &Netns) -> anyhow::Result<Snapshot> {
    Snapshot::take(ns).with_context(|| format!("cannot read counters of namespace {ns}"))
}

/// Parses the NAME arguments (or a `--filter` value) into one filter; `None` when empty.
pub fn filter_from(names: &[String]) -> anyhow::Result<Option<Filter>> {
    if names.is_empty() {
        return Ok(None);
    }
    Ok(Some(Filter::parse(&names.join(","))?))
}

fn read_snapshot(path: &Path) -> anyhow::Result<Snapshot> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read snapshot {}: {e}: take one first with `xfrmdiag counters --save {}`",
            path.display(),
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a counters snapshot ({e}): give a file written by `xfrmdiag counters --save`",
            path.display()
        )
    })
}

/// Writes next to the target and renames, so a reader never sees half a file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let filter = filter_from(&args.names)?;
    // Read the old snapshot before touching the system: a bad file is a usage error.
    let before = args.since.as_deref().map(read_snapshot).transpose()?;
    let ns = global.netns();
    let now = take(&ns)?;
    if let Some(filter) = &filter {
        filter.check(now.counters.keys().map(String::as_str))?;
    }
    if let Some(path) = &args.save {
        let json = serde_json::to_vec_pretty(&now).expect("a snapshot serializes");
        write_atomically(path, &json)?;
        crate::output::stderr_line(format_args!(
            "saved {} counters of namespace {} to {}",
            now.counters.len(),
            now.namespace,
            path.display()
        ));
    }
    let mut out = std::io::stdout().lock();
    let mut problems = now.problems.clone();
    let status = match &before {
        Some(before) => {
            let moved = delta(before, &now);
            problems = moved.problems.clone();
            if global.json {
                serde_json::to_writer_pretty(
                    &mut out,
                    &render::delta_json(&moved, filter.as_ref()),
                )?;
                writeln!(out)?;
            } else {
                out.write_all(render::delta_table(&moved, filter.as_ref()).as_bytes())?;
            }
            let errors_moved = moved
                .errors()
                .any(|(name, _)| filter.as_ref().is_none_or(|f| f.matches(name)));
            if errors_moved {
                Status::Problem
            } else {
                Status::Ok
            }
        }
        // `--save` alone only snapshots: the confirmation above is the output.
        None if args.save.is_some() && !global.json => Status::Ok,
        None => {
            if global.json {
                serde_json::to_writer_pretty(
                    &mut out,
                    &render::snapshot_json(&now, filter.as_ref()),
                )?;
                writeln!(out)?;
            } else {
                out.write_all(render::snapshot_table(&now, args.all, filter.as_ref()).as_bytes())?;
            }
            Status::Ok
        }
    };
    out.flush()?;
    for problem in &problems {
        crate::output::note(problem);
    }
    Ok(status)
}
