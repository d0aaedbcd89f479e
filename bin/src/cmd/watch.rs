//! `xfrmdiag watch`: live per-interval counter deltas, with Prometheus and textfile export.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use xfrmdiag_counters::{delta, Filter, Snapshot};
use xfrmdiag_report::{counters as render, prometheus};

use crate::cli::{Global, Status};
use crate::cmd::counters::{filter_from, take, write_atomically};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  xfrmdiag watch -n blue --filter xfrm,udp        what moves, every second, until Ctrl-C
  xfrmdiag watch -i 5s --count 12 --json          one JSON object per interval (NDJSON)
  xfrmdiag watch --prometheus 9717                serve http://127.0.0.1:9717/metrics
  xfrmdiag watch --textfile /var/lib/node_exporter/xfrm.prom")]
pub struct Args {
    /// Time between readings: `1s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(short, long, value_name = "DURATION", default_value = "1s", value_parser = xfrmdiag_duration::parse_arg)]
    pub interval: Duration,
    /// Stop after N intervals (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Only these counters: xfrm, udp, ip, tcp, dev, sa, errors, names or patterns with `*`
    /// (comma-separated).
    #[arg(long, value_name = "SPEC")]
    pub filter: Option<String>,
    /// Serve the counters in the Prometheus text format on [ADDR:]PORT (ADDR defaults to
    /// 127.0.0.1; PORT 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub prometheus: Option<SocketAddr>,
    /// Write the counters in the node_exporter textfile format to PATH every interval
    /// (atomically: write, then rename).
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<PathBuf>,
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("'{text}' is not PORT or ADDR:PORT (e.g. 9717, 127.0.0.1:9717, [::1]:9717)")
    })
}

/// Serves the latest rendering to every GET on a thread of its own; the process exit ends it.
fn serve_prometheus(addr: SocketAddr, page: Arc<Mutex<String>>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} for --prometheus: pick another port"))?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("prometheus".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A slow or broken client must not stop the next scrape.
                let _ = answer(stream, &page);
            }
        })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, page: &Mutex<String>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let first_line = String::from_utf8_lossy(&request);
    let path = first_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body, content_type) =
        if first_line.starts_with("GET ") && (path == "/metrics" || path == "/") {
            let body = page.lock().map(|p| p.clone()).unwrap_or_default();
            ("200 OK", body, prometheus::CONTENT_TYPE)
        } else {
            ("404 Not Found", "try /metrics\n".to_string(), "text/plain")
        };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Sleeps until `deadline`, waking early when `stop` is set (Ctrl-C). Returns false if stopped.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        // Short naps keep Ctrl-C prompt; at 4 wake-ups a second the cost is negligible.
        std::thread::sleep((deadline - now).min(Duration::from_millis(250)));
    }
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    let filter: Option<Filter> = filter_from(args.filter.as_slice())?;
    let ns = global.netns();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the Ctrl-C handler")?;
    }

    let mut previous = take(&ns)?;
    if let Some(filter) = &filter {
        filter.check(previous.counters.keys().map(String::as_str))?;
    }
    // The per-SA families need the whole SA (lifetimes, sequence numbers), not only the
    // counters the snapshot keeps: one more dump per interval, only when exporting.
    let exported = |snap: &Snapshot| {
        let mut text = prometheus::render(&[snap], filter.as_ref());
        // A refused dump (no CAP_NET_ADMIN) is already a snapshot problem: the families stay,
        // without samples, so the page names the same metrics either way.
        let sas = xfrmdiag_inventory::dump_sas(&ns).ok();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let namespaces: Vec<(&str, &[xfrmdiag_inventory::Sa])> = sas
            .as_deref()
            .map(|sas| (snap.namespace.as_str(), sas))
            .into_iter()
            .collect();
        text.push_str(&prometheus::render_sas(&namespaces, filter.as_ref(), now));
        text
    };
    let exporting = args.prometheus.is_some() || args.textfile.is_some();
    let first_page = if exporting {
        exported(&previous)
    } else {
        String::new()
    };
    if let Some(path) = &args.textfile {
        write_atomically(path, first_page.as_bytes())?;
    }
    let page = Arc::new(Mutex::new(first_page));
    if let Some(addr) = args.prometheus {
        let bound = serve_prometheus(addr, Arc::clone(&page))?;
        crate::output::stderr_line(format_args!(
            "serving Prometheus metrics on http://{bound}/metrics"
        ));
    }

    let status_line = !global.json && output::status_line_allowed();
    let color = output::use_color(global);
    let mut error_counters_seen: Vec<String> = Vec::new();
    let start = Instant::now();
    let mut out = std::io::stdout().lock();
    if !global.json {
        writeln!(
            out,
            "watching namespace {} every {:?}{} (times UTC; ! = error counter; Ctrl-C to stop)",
            previous.namespace,
            args.interval,
            args.filter
                .as_deref()
                .map_or(String::new(), |f| format!(", filter {f}"))
        )?;
    }
    let mut interval: u64 = 0;
    while args.count.is_none_or(|n| interval < n) {
        let deadline = start + args.interval * u32::try_from(interval + 1).unwrap_or(u32::MAX);
        if !sleep_until(deadline, &stop) {
            break;
        }
        interval += 1;
        let now = take(&ns)?;
        let moved = delta(&previous, &now);
        let newly_moving: Vec<String> = moved
            .errors()
            .map(|(name, _)| name.to_string())
            .filter(|name| filter.as_ref().is_none_or(|f| f.matches(name)))
            .filter(|name| !error_counters_seen.contains(name))
            .collect();
        error_counters_seen.extend(newly_moving.iter().cloned());
        if status_line {
            // Clear the status line before printing over it.
            crate::output::status("");
        }
        if global.json {
            let record = render::watch_record(interval, &moved, filter.as_ref(), &newly_moving);
            serde_json::to_writer(&mut out, &record)?;
            writeln!(out)?;
        } else {
            let lines = render::watch_lines(&moved, filter.as_ref(), &newly_moving, color);
            // A blank line between intervals keeps them apart when many counters move.
            writeln!(out)?;
            out.write_all(lines.as_bytes())?;
        }
        out.flush()?;
        if status_line {
            let errors = moved
                .errors()
                .filter(|(n, _)| filter.as_ref().is_none_or(|f| f.matches(n)))
                .count();
            crate::output::status(format_args!(
                "watching {}: interval {interval}, {} counters moved, {errors} error counters moving",
                now.namespace,
                moved.delta.len()
            ));
        }
        if exporting {
            let text = exported(&now);
            if let Some(path) = &args.textfile {
                write_atomically(path, text.as_bytes())?;
            }
            if let Ok(mut page) = page.lock() {
                *page = text;
            }
        }
        previous = now;
    }
    if status_line {
        crate::output::status("");
        crate::output::stderr_line(format_args!("{interval} intervals watched"));
    }
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_default_to_loopback() {
        assert_eq!(parse_listen("9717").unwrap().to_string(), "127.0.0.1:9717");
        assert_eq!(parse_listen(":9717").unwrap().to_string(), "127.0.0.1:9717");
        assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(parse_listen("localhost").is_err());
    }
}
