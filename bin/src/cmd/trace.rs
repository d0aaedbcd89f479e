//! `xfrmdiag trace`: probe what the kernel allows, or capture xfrm functions and drops for a
//! window (or while a command runs) in a private tracefs instance, or read a saved trace.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use xfrmdiag_trace::{Capture, CaptureOptions, DropFilter, FunctionTracer, TraceResult};

use crate::cli::{Global, Status};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  xfrmdiag trace --probe                     what this kernel allows
  xfrmdiag trace --window 5s --reason XFRM_POLICY
  xfrmdiag trace --graph --exec ping -c1 10.0.0.2
  xfrmdiag trace --from saved.txt            summarize a saved trace (from --raw)

The capture runs in tracefs instance xfrmdiag-<pid>, removed on exit, error, Ctrl-C and panic;
the global tracer, filters and buffer are never touched. With -n NAME, --exec runs in NAME
(drop events are global: filter them with --dev/--reason/--location/--protocol).")]
pub struct Args {
    /// Show what this kernel allows (tracers, instances, events) and exit.
    #[arg(long, help_heading = "Mode")]
    pub probe: bool,
    /// How long to capture (e.g. 3s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = xfrmdiag_duration::parse_arg, conflicts_with = "exec", help_heading = "Mode")]
    pub window: Duration,
    /// Capture while CMD runs instead of for a window (everything after --exec is the command;
    /// a single argument with spaces runs through /bin/sh -c).
    #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true, help_heading = "Mode")]
    pub exec: Vec<String>,
    /// Remove instances left by xfrmdiag runs that were killed (SIGKILL) and exit.
    #[arg(long, conflicts_with_all = ["probe", "exec", "from"], help_heading = "Mode")]
    pub remove_stale: bool,
    /// Summarize a saved trace text instead of capturing.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["probe", "exec"], help_heading = "Mode")]
    pub from: Option<PathBuf>,

    /// Leave the individual events out of --json (keep the summary).
    #[arg(long, help_heading = "Mode")]
    pub summary_only: bool,

    #[command(flatten)]
    pub capture: Box<CaptureArgs>,
    #[command(flatten)]
    pub filter: Box<FilterArgs>,
}

/// How to capture (boxed: keeps the command enum small).
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Use function_graph (call nesting) instead of the function tracer.
    #[arg(long, help_heading = "Capture")]
    pub graph: bool,
    /// Events only: do not try the function tracer.
    #[arg(long, conflicts_with = "graph", help_heading = "Capture")]
    pub no_functions: bool,
    /// Do not record kernel stacks for drops.
    #[arg(long, help_heading = "Capture")]
    pub no_stack: bool,
    /// Events to record, comma separated (default: the drop and packet events).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SYS:EVENT",
        help_heading = "Capture"
    )]
    pub events: Vec<String>,
    /// Write the raw trace text to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Capture")]
    pub raw: Option<PathBuf>,
    /// tracefs mount point (default: found in mountinfo, or mounted at /sys/kernel/tracing).
    #[arg(long, value_name = "DIR", help_heading = "Capture")]
    pub tracefs: Option<PathBuf>,
    /// Where kallsyms is read to symbolize raw drop addresses.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/proc",
        help_heading = "Capture"
    )]
    pub kallsyms_root: PathBuf,
}

/// Which drops to count: kfree_skb reports every drop on the machine, in every namespace.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Count only drops with this reason (repeatable), e.g. NO_SOCKET, XFRM_POLICY.
    #[arg(long, value_name = "REASON", help_heading = "Drop filter")]
    pub reason: Vec<String>,
    /// Leave out drops with this reason (repeatable).
    #[arg(long, value_name = "REASON", help_heading = "Drop filter")]
    pub exclude_reason: Vec<String>,
    /// Count only drops in this function (`xfrm*` for a prefix; repeatable).
    #[arg(long, value_name = "FUNCTION", help_heading = "Drop filter")]
    pub location: Vec<String>,
    /// Count only ipv4 or ipv6 drops (or a decimal ethertype).
    #[arg(long, value_name = "PROTO", help_heading = "Drop filter")]
    pub protocol: Vec<String>,
    /// Count only skbs last seen on this device (by name, in any namespace; repeatable).
    #[arg(long, value_name = "DEV", help_heading = "Drop filter")]
    pub dev: Vec<String>,
}

impl FilterArgs {
    fn drop_filter(&self) -> anyhow::Result<DropFilter> {
        let protocols = self
            .protocol
            .iter()
            .map(|p| DropFilter::parse_protocol(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DropFilter {
            reasons: self.reason.clone(),
            exclude_reasons: self.exclude_reason.clone(),
            locations: self.location.clone(),
            protocols,
            devices: self.dev.clone(),
        })
    }
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    if args.probe {
        return run_probe(global, &args);
    }
    if args.remove_stale {
        let removed = xfrmdiag_trace::remove_stale_instances(args.capture.tracefs.as_deref())
            .context("cannot remove stale trace instances")?;
        let mut stdout = std::io::stdout().lock();
        if global.json {
            serde_json::to_writer_pretty(&mut stdout, &serde_json::json!({ "removed": removed }))?;
            writeln!(stdout)?;
        } else if removed.is_empty() {
            writeln!(stdout, "no stale xfrmdiag instances")?;
        } else {
            writeln!(stdout, "removed {}", removed.join(" "))?;
        }
        return Ok(Status::Ok);
    }
    let filter = args.filter.drop_filter()?;
    let cap = &args.capture;
    if let Some(path) = &args.from {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read saved trace {}", path.display()))?;
        let mut result = TraceResult::from_text(&text, Some(&cap.kallsyms_root), &filter);
        if args.summary_only {
            result.events.clear();
        }
        return print_result(global, &result);
    }
    if global.netns.is_some() && args.exec.is_empty() {
        // Tracepoints are global; only --exec has something to run inside the namespace.
        global.netns().check()?;
    }

    let mut options = CaptureOptions {
        functions: !cap.no_functions,
        graph: cap.graph,
        stack_on_drop: !cap.no_stack,
        drop_filter: filter,
        tracefs: cap.tracefs.clone(),
        proc_root: cap.kallsyms_root.clone(),
        raw_path: cap.raw.clone(),
        ..CaptureOptions::default()
    };
    if !cap.events.is_empty() {
        options.events = cap.events.clone();
    }
    let capture = Capture::start(options).context("cannot start the trace")?;
    // Fault injection for the cleanup test: a panic while the instance exists must remove it.
    if std::env::var_os("XFRMDIAG_TEST_PANIC_MID_CAPTURE").is_some() {
        panic!("XFRMDIAG_TEST_PANIC_MID_CAPTURE is set: panicking with a capture running");
    }

    let status_line = output::status_line_allowed();
    let exec_outcome = if args.exec.is_empty() {
        wait_window(&capture, args.window, status_line);
        None
    } else {
        Some(run_command(global, &args.exec, &capture, status_line))
    };
    if status_line {
        crate::output::status("");
    }
    let mut result = capture.stop().context("cannot finish the trace")?;
    match exec_outcome {
        Some(Ok(code)) if code != 0 => result
            .notes
            .push(format!("command exited with status {code}")),
        Some(Err(e)) => {
            return Err(e.context(format!("cannot run `{}`", args.exec.join(" "))));
        }
        _ => {}
    }
    if args.summary_only {
        result.events.clear();
    }
    print_result(global, &result)
}

fn run_probe(global: &Global, args: &Args) -> anyhow::Result<Status> {
    let probe =
        xfrmdiag_trace::probe(args.capture.tracefs.as_deref()).context("cannot probe tracing")?;
    let mut stdout = std::io::stdout().lock();
    if global.json {
        serde_json::to_writer_pretty(&mut stdout, &probe)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", xfrmdiag_report::trace::render_probe(&probe))?;
    }
    Ok(Status::Ok)
}

fn print_result(global: &Global, result: &TraceResult) -> anyhow::Result<Status> {
    output::print_result(
        global,
        || xfrmdiag_report::trace::result_json(result),
        || xfrmdiag_report::trace::render_result(result),
    )?;
    Ok(Status::Ok)
}

fn draw_status(capture: &Capture, elapsed: Duration, total: Option<Duration>) {
    let p = capture.progress();
    // The refusal itself is said once, in the result.
    let mode = match capture.function_tracer() {
        FunctionTracer::Used { tracer, .. } => tracer.as_str(),
        _ => "events only",
    };
    let time = match total {
        Some(t) => format!("{:.1}s/{:.1}s", elapsed.as_secs_f64(), t.as_secs_f64()),
        None => format!("{:.1}s", elapsed.as_secs_f64()),
    };
    let lost = if p.lost_events > 0 {
        format!(", {} LOST", p.lost_events)
    } else {
        String::new()
    };
    crate::output::status(format_args!(
        "tracing ({mode}) {time}: {} events, {} drops{lost} (Ctrl-C aborts and cleans up)",
        p.events, p.drops
    ));
}

fn wait_window(capture: &Capture, window: Duration, status_line: bool) {
    let start = Instant::now();
    while start.elapsed() < window {
        if status_line {
            draw_status(capture, start.elapsed(), Some(window));
        }
        let left = window.saturating_sub(start.elapsed());
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}

/// Runs the command (inside `-n NAME` when given) and waits for it; returns its exit code.
fn run_command(
    global: &Global,
    argv: &[String],
    capture: &Capture,
    status_line: bool,
) -> anyhow::Result<i32> {
    // One argument with spaces is a shell command line (`--exec "udpflow --to …"`).
    let argv_owned: Vec<String> = match argv {
        [line] if line.contains(char::is_whitespace) => {
            vec!["/bin/sh".into(), "-c".into(), line.clone()]
        }
        _ => argv.to_vec(),
    };
    // With --json, stdout belongs to the JSON document: the command's output goes to stderr.
    let child_stdout = if global.json {
        use std::os::fd::AsFd;
        std::process::Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?)
    } else {
        std::process::Stdio::inherit()
    };
    // A child forked from a thread inside the namespace starts in that namespace.
    let mut child = global.netns().run(move || {
        std::process::Command::new(&argv_owned[0])
            .args(&argv_owned[1..])
            .stdin(std::process::Stdio::null())
            .stdout(child_stdout)
            .spawn()
    })??;
    // Ctrl-C/SIGTERM on xfrmdiag must not leave the command running. The pid is cleared once
    // the command is reaped, so a reused pid is never signalled.
    let running = std::sync::Arc::new(std::sync::Mutex::new(Some(child.id())));
    {
        let running = running.clone();
        xfrmdiag_trace::cleanup::on_interrupt(move || {
            if let Some(pid) = *running.lock().unwrap_or_else(|p| p.into_inner()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        });
    }
    let start = Instant::now();
    loop {
        // Reaped under the lock, so the hook cannot signal a pid the kernel has reused.
        let status = {
            let mut pid = running.lock().unwrap_or_else(|p| p.into_inner());
            let status = child.try_wait()?;
            if status.is_some() {
                *pid = None;
            }
            status
        };
        if let Some(status) = status {
            return Ok(status.code().unwrap_or(128));
        }
        if status_line {
            draw_status(capture, start.elapsed(), None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
