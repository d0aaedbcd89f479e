//! `xfrmdiag demo`: two namespaces joined by veth, a known fault, diagnose across both sides, and
//! everything removed again (also on Ctrl-C or an error).

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use xfrmdiag_diagnose::diagnose;
use xfrmdiag_netns::scratch::VethPair;
use xfrmdiag_traffic::SendOptions;

use crate::cli::{Global, Status};
use crate::cmd::diagnose::{print_report, run_test_showing_progress, StatusLine};
use crate::output;
use xfrmdiag_collect::TestPlan;
use xfrmdiag_report::diagnose::plain_table;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  xfrmdiag demo                 the classic: plain UDP into an inbound ESP policy
  xfrmdiag demo --list          every scenario
  xfrmdiag demo all             run them all and show verdict vs expectation

Exit status: 0 when the diagnosis named the scenario's cause, 1 when it did not, 2 on an
environment error (demos need root to create namespaces).")]
pub struct Args {
    /// Scenario to run (see --list), or `all`.
    #[arg(value_name = "SCENARIO", default_value = "plain-into-esp")]
    pub scenario: String,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

/// Which end a setup step runs on.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The sender, `a`.
    A,
    /// The receiver, `b`.
    B,
}

/// One setup command: `ip -n NS ARGS…`, or a command run inside the namespace.
#[derive(Debug, Clone)]
enum Step {
    Ip(End, Vec<String>),
    Exec(End, Vec<String>),
}

struct Addrs<'a> {
    a: &'a str,
    b: &'a str,
}

struct Scenario {
    name: &'static str,
    /// Expected verdict.
    expect: &'static str,
    what: &'static str,
    /// Leave the receiver's port closed (watch it instead of listening).
    closed_port: bool,
    steps: fn(&Addrs) -> Vec<Step>,
}

fn ip(end: End, args: &str) -> Step {
    Step::Ip(end, args.split_whitespace().map(String::from).collect())
}

fn sysctl(end: End, setting: &str) -> Step {
    Step::Exec(end, ["sysctl", "-qw", setting].map(String::from).to_vec())
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy",
        expect: "delivered",
        what: "no fault: the test flow reaches the listener",
        closed_port: false,
        steps: |_| vec![],
    },
    Scenario {
        name: "plain-into-esp",
        expect: "policy-template-mismatch",
        what: "the classic: the receiver requires ESP, the sender sends plain UDP (tcpdump sees it, the app does not)",
        closed_port: false,
        steps: |x| {
            vec![ip(
                End::B,
                &format!(
                    "xfrm policy add src {} dst {} proto udp dir in tmpl proto esp mode transport",
                    x.a, x.b
                ),
            )]
        },
    },
    Scenario {
        name: "no-sa",
        expect: "no-outbound-sa",
        what: "the sender's outbound policy wants ESP but no SA exists (tunnel down)",
        closed_port: false,
        steps: |x| {
            vec![ip(
                End::A,
                &format!(
                    "xfrm policy add src {} dst {} proto udp dir out tmpl proto esp mode transport",
                    x.a, x.b
                ),
            )]
        },
    },
    Scenario {
        name: "out-block",
        expect: "policy-block-out",
        what: "an outbound policy with action block on the sender",
        closed_port: false,
        steps: |x| {
            vec![ip(
                End::A,
                &format!(
                    "xfrm policy add src {} dst {} proto udp dir out action block",
                    x.a, x.b
                ),
            )]
        },
    },
    Scenario {
        name: "default-block",
        expect: "default-policy-block",
        what: "the receiver's default inbound policy is block and no policy matches",
        closed_port: false,
        steps: |_| vec![ip(End::B, "xfrm policy setdefault in block")],
    },
    Scenario {
        name: "in-block",
        expect: "policy-block-in",
        what: "an inbound policy with action block on the receiver",
        closed_port: false,
        steps: |x| {
            vec![ip(
                End::B,
                &format!(
                    "xfrm policy add src {} dst {} proto udp dir in action block",
                    x.a, x.b
                ),
            )]
        },
    },
    Scenario {
        name: "closed-port",
        expect: "no-socket",
        what: "nothing listens on the destination port",
        closed_port: true,
        steps: |_| vec![],
    },
    Scenario {
        name: "rp-filter",
        expect: "rp-filter",
        what: "strict rp_filter on the receiver, whose route back to the sender's source uses another device",
        closed_port: false,
        steps: |x| {
            vec![
                ip(End::A, "addr add 10.88.0.1/32 dev lo"),
                ip(
                    End::A,
                    &format!("route replace {}/32 dev veth-a src 10.88.0.1", x.b),
                ),
                ip(End::B, "link add other0 type veth peer name other1"),
                ip(End::B, "link set other0 up"),
                ip(End::B, "link set other1 up"),
                ip(End::B, "route add 10.88.0.0/24 dev other0"),
                sysctl(End::B, "net.ipv4.conf.all.rp_filter=1"),
                sysctl(End::B, "net.ipv4.conf.veth-b.rp_filter=1"),
            ]
        },
    },
];

/// Held while namespaces are being created or deleted, so a Ctrl-C never cleans up half-way
/// through (an `ip netns add` still running would leave a namespace behind).
static SETUP: Mutex<()> = Mutex::new(());

/// The prefix of every namespace this process's demos create (`VethPair` names them
/// `PREFIX-{a,b}-PID-N`).
const DEMO_PREFIX: &str = "xfrmdiag-demo";

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    if args.list {
        return list(global);
    }
    let chosen: Vec<&Scenario> = if args.scenario == "all" {
        SCENARIOS.iter().collect()
    } else {
        vec![SCENARIOS
            .iter()
            .find(|s| s.name == args.scenario)
            .with_context(|| {
                format!(
                    "unknown scenario '{}': see `xfrmdiag demo --list`",
                    args.scenario
                )
            })?]
    };
    // The trace crate's signal thread removes its instance, then our namespaces, then exits.
    xfrmdiag_trace::cleanup::install_handlers();
    xfrmdiag_trace::cleanup::on_cleanup(remove_own_namespaces);
    let mut results = Vec::new();
    let mut status = StatusLine::new(chosen.len() > 1 && output::status_line_allowed());
    for s in &chosen {
        status.show(&format!("demo: running scenario {} …", s.name));
        let verdict = run_one(global, s, chosen.len() == 1)?;
        results.push((s, verdict));
    }
    status.clear();
    if chosen.len() > 1 {
        summary(global, &results)?;
    }
    let all_named = results.iter().all(|(s, v)| v == s.expect);
    Ok(if all_named {
        Status::Ok
    } else {
        Status::Problem
    })
}

fn list(global: &Global) -> anyhow::Result<Status> {
    let mut out = std::io::stdout().lock();
    if global.json {
        let v: Vec<serde_json::Value> = SCENARIOS
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "expect": s.expect, "fault": s.what}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let rows: Vec<Vec<String>> = SCENARIOS
            .iter()
            .map(|s| vec![s.name.into(), s.expect.into(), s.what.into()])
            .collect();
        let table = plain_table(&["SCENARIO", "EXPECTED VERDICT", "FAULT"], &rows);
        writeln!(out, "{table}")?;
    }
    Ok(Status::Ok)
}

/// Builds the pair, applies the fault, diagnoses, prints; the pair is deleted on return.
fn run_one(global: &Global, s: &Scenario, print: bool) -> anyhow::Result<String> {
    let guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let pair = VethPair::new(DEMO_PREFIX).context(
        "cannot build the demo namespaces (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN, and `ip` from iproute2)",
    )?;
    drop(guard);
    let result = diagnose_pair(global, s, &pair, print);
    let guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    drop(pair);
    drop(guard);
    result
}

fn diagnose_pair(
    global: &Global,
    s: &Scenario,
    pair: &VethPair,
    print: bool,
) -> anyhow::Result<String> {
    let addrs = Addrs {
        a: &pair.a_v4,
        b: &pair.b_v4,
    };
    let steps = (s.steps)(&addrs);
    let mut shown = Vec::new();
    for step in &steps {
        let (end, argv, is_ip) = match step {
            Step::Ip(end, argv) => (*end, argv, true),
            Step::Exec(end, argv) => (*end, argv, false),
        };
        let ns = match end {
            End::A => &pair.a,
            End::B => &pair.b,
        };
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        if is_ip {
            ns.ip(&args)
                .with_context(|| format!("applying the fault ({})", argv.join(" ")))?;
            shown.push(format!("ip -n {} {}", ns.name(), argv.join(" ")));
        } else {
            let out = ns.exec(&args)?;
            if !out.status.success() {
                anyhow::bail!(
                    "applying the fault ({}): {}",
                    argv.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            shown.push(format!("ip netns exec {} {}", ns.name(), argv.join(" ")));
        }
    }
    let (port, count) = (5000, 5);
    let dst = format!("{}:{port}", pair.b_v4).parse()?;
    let plan = TestPlan::udp_flow(
        pair.a.netns(),
        SendOptions::test_flow(dst, count),
        Some(pair.b.netns()),
        s.closed_port,
        Duration::from_secs(1),
        true,
    );
    let sides = run_test_showing_progress(&plan, output::status_line_allowed(), false)?;
    let report = diagnose(&sides);
    if print {
        if global.json {
            let mut v = xfrmdiag_report::diagnose::json(&report, &sides);
            v["scenario"] = serde_json::json!(s.name);
            v["expect"] = serde_json::json!(s.expect);
            v["fault"] = serde_json::json!(shown);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(out, "Demo '{}': {}", s.name, s.what)?;
            writeln!(
                out,
                "  sender {} ({}) -> receiver {} ({}) udp:{port}, {count} datagrams",
                pair.a.name(),
                pair.a_v4,
                pair.b.name(),
                pair.b_v4
            )?;
            for cmd in &shown {
                writeln!(out, "  fault: {cmd}")?;
            }
            writeln!(out)?;
            drop(out);
            print_report(global, &report, &sides)?;
            let mut out = std::io::stdout().lock();
            let named = if report.verdict == s.expect {
                "the diagnosis names the injected fault"
            } else {
                "the diagnosis does NOT name the injected fault"
            };
            writeln!(
                out,
                "\n(expected {}: {named}; namespaces removed)",
                s.expect
            )?;
        }
    }
    Ok(report.verdict.to_string())
}

fn summary(global: &Global, results: &[(&&Scenario, String)]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if global.json {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|(s, v)| {
                serde_json::json!({"scenario": s.name, "expect": s.expect, "verdict": v, "named": *v == s.expect})
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(s, v)| {
            let ok = if *v == s.expect { "ok" } else { "MISMATCH" };
            vec![s.name.into(), s.expect.into(), v.clone(), ok.into()]
        })
        .collect();
    let table = plain_table(&["SCENARIO", "EXPECTED", "VERDICT", ""], &rows);
    writeln!(out, "{table}")?;
    Ok(())
}

/// Deletes this process's demo namespaces (run by the signal cleanup: Drop does not run when a
/// signal ends the process). Waits for a namespace being created to exist first, but not for
/// ever: on a panic the lock may be held by the panicking thread itself.
fn remove_own_namespaces() {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let _guard = loop {
        match SETUP.try_lock() {
            Ok(g) => break Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => break Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(std::sync::TryLockError::WouldBlock) => break None,
        }
    };
    let pid = std::process::id();
    let mine = |name: &str| {
        ["a", "b"]
            .iter()
            .any(|end| name.starts_with(&format!("{DEMO_PREFIX}-{end}-{pid}-")))
    };
    let Ok(list) = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        // `ip netns list` prints `NAME` or `NAME (id: N)`.
        let name = line.split_whitespace().next().unwrap_or_default();
        if mine(name) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .status();
        }
    }
}
