//! Times `Snapshot::take` in a namespace: `snapshot_bench [NETNS] [ITERATIONS]`.
//!
//! Used by scripts/bench-counters.sh, which prints the result next to `nstat` for the same files.
//! Prints one line per measured operation: mean, median and 99th percentile in microseconds.

use std::time::Instant;

use xfrmdiag_counters::Snapshot;
use xfrmdiag_netns::Netns;

fn report(what: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    let pct = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what:<48} mean {mean:8.1} µs   p50 {:8.1} µs   p99 {:8.1} µs   (n={})",
        pct(0.5),
        pct(0.99),
        micros.len()
    );
}

fn time<T>(iterations: usize, mut work: impl FnMut() -> T) -> Vec<f64> {
    // Warm up caches and the first-use allocations.
    for _ in 0..10 {
        std::hint::black_box(work());
    }
    (0..iterations)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let ns = Netns::from_option(args.next().as_deref().filter(|n| *n != "-"));
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);

    let first = Snapshot::take(&ns).expect("snapshot");
    println!(
        "namespace {}: {} counters from {:?}",
        first.namespace,
        first.counters.len(),
        first.sources
    );
    report(
        "Snapshot::take (netns thread, 5 files, SA dump)",
        time(iterations, || Snapshot::take(&ns).expect("snapshot")),
    );
    report(
        "  of which: netns thread + 5 files, no SA dump",
        time(iterations, || {
            ns.run(|| Snapshot::take_from(Netns::proc_net_dir(), "x").expect("snapshot"))
                .expect("enter namespace")
        }),
    );
    report(
        "  of which: netns thread + SA dump only",
        time(iterations, || {
            ns.run(|| xfrmdiag_inventory::dump_sas(&Netns::Current).map(|s| s.len()))
                .expect("enter namespace")
        }),
    );
    let dir = std::path::PathBuf::from(format!("/proc/{}/net", std::process::id()));
    if ns == Netns::Current {
        report(
            "Snapshot::take_from (5 files + parse, no thread)",
            time(iterations, || {
                Snapshot::take_from(&dir, "x").expect("snapshot")
            }),
        );
    }
    let texts: Vec<(xfrmdiag_counters::Parser, String)> = xfrmdiag_counters::SOURCES
        .iter()
        .filter_map(|(file, parser)| {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .map(|t| (*parser, t))
        })
        .collect();
    report(
        "parse only (texts already in memory)",
        time(iterations, || {
            texts
                .iter()
                .map(|(parse, text)| parse(text).counters.len())
                .sum::<usize>()
        }),
    );
}
