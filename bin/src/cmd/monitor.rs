//! `xfrmdiag monitor`: XFRM events as they happen, until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use crate::cli::{Global, Status};

/// Print XFRM events (like `ip xfrm monitor`): SAs and policies added, updated, deleted,
/// ACQUIRE, EXPIRE, REPORT, MAPPING. One line (or one JSON object) per event.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop after this long, e.g. 30s or 5m (a bare number is seconds; default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = xfrmdiag_duration::parse_arg)]
    pub duration: Option<Duration>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let ns = global.netns();
    let mut monitor = xfrmdiag_inventory::Monitor::start(&ns)?;
    let deadline = args.duration.map(|d| std::time::Instant::now() + d);
    if crate::output::status_line_allowed() {
        // Nothing prints until something happens: say that we are listening (stderr only).
        crate::output::stderr_line(format_args!(
            "xfrmdiag: watching XFRM events in {} (Ctrl-C to stop)",
            ns.display_name()
        ));
    }
    let mut seen = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                Some(left)
            }
            None => None,
        };
        let Some(event) = monitor.next_event(timeout)? else {
            continue;
        };
        seen += 1;
        if global.json {
            serde_json::to_writer(&mut out, &event).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", xfrmdiag_report::inventory::event_line(&event))?;
        }
        // Flush per event: someone is watching (or a script is reading line by line).
        out.flush()?;
    }
    Ok(Status::Ok)
}
