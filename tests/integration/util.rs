//! A small harness: run the binary, skip honestly when a capability is absent.
#![allow(dead_code)]

use std::cell::Cell;
use std::fs::File;
use std::process::{Command, Output};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use nix::fcntl::{Flock, FlockArg};

#[allow(unused_imports)]
pub use xfrmdiag_netns::scratch::{ScratchNetns, VethPair};

/// The `xfrmdiag` binary built for this test run.
pub fn xfrmdiag() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xfrmdiag"));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `xfrmdiag ARGS…` and returns its output. Commands that may capture a trace (diagnose,
/// demo, trace, check) hold [`tracefs_shared`] while they run.
pub fn run(args: &[&str]) -> Output {
    let _tracefs = args
        .iter()
        .any(|a| matches!(*a, "diagnose" | "demo" | "trace" | "check"))
        .then(tracefs_shared);
    xfrmdiag().args(args).output().expect("run xfrmdiag")
}

// ---------------------------------------------------------------------------------------------
// tracefs is one global state shared by every test (and every process) on the machine.

/// In this process: readers = tests that capture, the writer = a test comparing tracefs state.
static TRACEFS: RwLock<()> = RwLock::new(());
/// The same across processes (suites of other developers running at the same time).
const TRACEFS_LOCK_FILE: &str = "/run/lock/xfrmdiag-tests-tracefs.lock";

thread_local! {
    /// What this thread already holds, so nested calls (a test holding the lock calls [`run`])
    /// do not deadlock on themselves.
    static HELD: Cell<Held> = const { Cell::new(Held::Nothing) };
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Held {
    Nothing,
    Shared,
    Exclusive,
}

/// Held tracefs access; released on drop.
#[must_use = "the lock is released when this is dropped"]
pub struct TracefsGuard {
    /// False when the thread already held a lock at least as strong (nothing to release).
    owner: bool,
    _flock: Option<Flock<File>>,
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _exclusive: Option<RwLockWriteGuard<'static, ()>>,
}

impl Drop for TracefsGuard {
    fn drop(&mut self) {
        if self.owner {
            HELD.with(|h| h.set(Held::Nothing));
        }
    }
}

/// For tests that compare the global tracefs state (instances, current_tracer, set_event, the
/// mount table) before and after: nothing else captures meanwhile. Poison-tolerant.
pub fn tracefs_exclusive() -> TracefsGuard {
    match HELD.with(Cell::get) {
        Held::Exclusive => return nested(),
        Held::Shared => panic!("tracefs_exclusive() while this thread holds tracefs_shared()"),
        Held::Nothing => {}
    }
    let guard = TRACEFS.write().unwrap_or_else(|p| p.into_inner());
    let flock = lock_file(FlockArg::LockExclusive);
    HELD.with(|h| h.set(Held::Exclusive));
    TracefsGuard {
        owner: true,
        _flock: flock,
        _shared: None,
        _exclusive: Some(guard),
    }
}

/// For tests that capture (diagnose, demo, trace capture, checks that probe or trace): any number
/// at once, but never while a test compares tracefs state. Poison-tolerant.
pub fn tracefs_shared() -> TracefsGuard {
    if HELD.with(Cell::get) != Held::Nothing {
        return nested();
    }
    let guard = TRACEFS.read().unwrap_or_else(|p| p.into_inner());
    let flock = lock_file(FlockArg::LockShared);
    HELD.with(|h| h.set(Held::Shared));
    TracefsGuard {
        owner: true,
        _flock: flock,
        _shared: Some(guard),
        _exclusive: None,
    }
}

fn nested() -> TracefsGuard {
    TracefsGuard {
        owner: false,
        _flock: None,
        _shared: None,
        _exclusive: None,
    }
}

/// flock on a file under /run/lock; None (this process only) when it cannot be opened.
fn lock_file(how: FlockArg) -> Option<Flock<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(TRACEFS_LOCK_FILE)
        .ok()?;
    Flock::lock(file, how).ok()
}

/// Stdout of a run as UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses a run's stdout as JSON, with the whole output in the panic message.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Skipping: the only way a test may say it cannot run here. Each helper below reports through
// [`skip`], which fails the test under `XFRMDIAG_REQUIRE=all` (CI) and otherwise prints the reason
// and appends it to `$XFRMDIAG_SKIP_LOG` (counted by scripts/test-all.sh).

/// Records that `test` cannot run here because of `reason`; the caller returns next. Panics under
/// `XFRMDIAG_REQUIRE=all`.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    xfrmdiag_testkit::skip(test, reason);
}

/// True when this process can create namespaces; otherwise skips `test` (see [`skip`]).
#[track_caller]
pub fn can_use_netns(test: &str) -> bool {
    if !nix_is_root() {
        skip(
            test,
            "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create namespaces",
        );
        return false;
    }
    true
}

/// True when `program` runs (`program ARG` can be spawned); otherwise skips `test` saying why.
#[track_caller]
pub fn have_tool(test: &str, program: &str, why: &str) -> bool {
    let found = if program.starts_with('/') {
        std::path::Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if !found {
        skip(test, &format!("needs {program} {why}"));
    }
    found
}

fn nix_is_root() -> bool {
    // SAFETY-free: geteuid has no preconditions; read via /proc to avoid a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Asserts a successful run, showing stderr when it was not.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "xfrmdiag failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Makes `ns` require ESP (transport mode) for `proto` traffic from `src` to `dst` in direction
/// `dir` (`in` or `out`): `ip xfrm policy add src SRC dst DST proto PROTO dir DIR tmpl proto esp
/// mode transport`. Clear traffic of that flow then dies at the policy check (inbound:
/// XfrmInTmplMismatch) or for want of an SA (outbound: XfrmOutNoStates).
pub fn require_esp(ns: &ScratchNetns, dir: &str, src: &str, dst: &str, proto: &str) {
    let policy = format!(
        "xfrm policy add src {src} dst {dst} proto {proto} dir {dir} tmpl proto esp mode transport"
    );
    ip_words(ns, &policy).unwrap_or_else(|e| panic!("require-ESP policy ({policy}): {e}"));
}

/// `ip -n NS` with the words of `line` (split on white space, no quoting: for fixed commands).
pub fn ip_words(ns: &ScratchNetns, line: &str) -> std::io::Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    ns.ip(&words)
}

/// a --- gw --- b: each end joined to a forwarding namespace `gw` by its own veth, IPv4 and IPv6,
/// and routed through it. `a` is 10.96.N.1 / fd96:N::1, `b` 10.95.N.1 / fd95:N::1, and `gw` is
/// .254 / ::254 on each link (N per process).
pub struct Routed {
    pub a: ScratchNetns,
    pub gw: ScratchNetns,
    pub b: ScratchNetns,
    pub a_v4: String,
    pub b_v4: String,
    pub b_v6: String,
    /// The gateway's IPv4 address on a's link and on b's link.
    pub gw_a_v4: String,
    pub gw_b_v4: String,
}

/// Builds [`Routed`] in namespaces named `PREFIX-a`, `PREFIX-g`, `PREFIX-b` (made unique).
pub fn routed(prefix: &str) -> Routed {
    let a = ScratchNetns::new(&format!("{prefix}-a")).unwrap();
    let gw = ScratchNetns::new(&format!("{prefix}-g")).unwrap();
    let b = ScratchNetns::new(&format!("{prefix}-b")).unwrap();
    let n = std::process::id() % 200 + 20;
    let v4 = |net: u8, host: u8| format!("10.{net}.{n}.{host}");
    let v6 = |net: u8, host: u8| format!("fd{net}:{n}::{host}");
    for (end, peer, net) in [(&a, "to-a", 96), (&b, "to-b", 95)] {
        end.ip(&[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            gw.name(),
        ])
        .unwrap();
        for (ns, dev, host) in [(end, "eth0", 1), (&gw, peer, 254)] {
            ns.ip(&["addr", "add", &format!("{}/24", v4(net, host)), "dev", dev])
                .unwrap();
            let v6_addr = format!("{}/64", v6(net, host));
            ns.ip(&["addr", "add", &v6_addr, "dev", dev, "nodad"])
                .unwrap();
            ns.ip(&["link", "set", dev, "up"]).unwrap();
        }
        end.ip(&["route", "add", "default", "via", &v4(net, 254)])
            .unwrap();
        end.ip(&["-6", "route", "add", "default", "via", &v6(net, 254)])
            .unwrap();
    }
    for sysctl in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
        assert!(gw
            .exec(&["sysctl", "-qw", sysctl])
            .unwrap()
            .status
            .success());
    }
    Routed {
        a,
        gw,
        b,
        a_v4: v4(96, 1),
        b_v4: v4(95, 1),
        b_v6: v6(95, 1),
        gw_a_v4: v4(96, 254),
        gw_b_v4: v4(95, 254),
    }
}

/// Runs `nft -f -` with `ruleset` inside `ns` (scripts/test-all.sh installs nftables).
pub fn nft(ns: &ScratchNetns, ruleset: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nft (scripts/test-all.sh installs the nftables package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ruleset.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `xfrmdiag diagnose -n FROM --send TARGET --peer-netns TO --window 1s --json EXTRA…`, the test
/// flow most integration tests run; returns (exit code, JSON report).
pub fn diagnose_to_peer(
    from: &ScratchNetns,
    target: &str,
    to: &ScratchNetns,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec![
        "diagnose",
        "-n",
        from.name(),
        "--send",
        target,
        "--peer-netns",
        to.name(),
        "--window",
        "1s",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    (out.status.code().unwrap_or(-1), json(&out))
}
