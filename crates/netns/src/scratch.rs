//! Throwaway namespaces for tests and `xfrmdiag demo`: unique names, always deleted on drop.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Netns;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace created with `ip netns add` and deleted with `ip netns del` when dropped.
#[derive(Debug)]
pub struct ScratchNetns {
    name: String,
}

impl ScratchNetns {
    /// Creates `PREFIX-PID-N`, unique within this process and across concurrent processes.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = ScratchNetns { name };
        // Loopback up, as a real host has it.
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> Netns {
        Netns::Named(self.name.clone())
    }

    /// Runs `ip -n NAME ARGS…`, failing with ip's stderr.
    pub fn ip(&self, args: &[&str]) -> std::io::Result<String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Runs `ip -n NAME -batch -` with `lines` on stdin (for many objects at once).
    pub fn ip_batch(&self, lines: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(lines.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "ip -batch failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, argv: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Two scratch namespaces joined by a veth pair, addressed like a small lab:
/// `a` has `10.99.N.1/24` and `fd99:N::1/64` on `veth-a`, `b` has `.2` / `::2` on `veth-b`.
/// Neighbours are static and addresses `nodad`, so no ARP/ND traffic moves counters mid-test.
#[derive(Debug)]
pub struct VethPair {
    pub a: ScratchNetns,
    pub b: ScratchNetns,
    pub a_v4: String,
    pub b_v4: String,
    pub a_v6: String,
    pub b_v6: String,
}

impl VethPair {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let a = ScratchNetns::new(&format!("{prefix}-a"))?;
        let b = ScratchNetns::new(&format!("{prefix}-b"))?;
        // A per-process subnet keeps concurrent tests apart even though namespaces already do.
        let n = (std::process::id() % 200) + 20;
        let (a_v4, b_v4) = (format!("10.99.{n}.1"), format!("10.99.{n}.2"));
        let (a_v6, b_v6) = (format!("fd99:{n}::1"), format!("fd99:{n}::2"));
        a.ip(&[
            "link",
            "add",
            "veth-a",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            b.name(),
        ])?;
        for (ns, dev, v4, v6) in [(&a, "veth-a", &a_v4, &a_v6), (&b, "veth-b", &b_v4, &b_v6)] {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        let mac = |ns: &ScratchNetns, dev: &str| -> std::io::Result<String> {
            let out = ns.ip(&["-br", "link", "show", "dev", dev])?;
            Ok(out
                .split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .to_string())
        };
        let (mac_a, mac_b) = (mac(&a, "veth-a")?, mac(&b, "veth-b")?);
        for (ns, dev, peer4, peer6, lladdr) in [
            (&a, "veth-a", &b_v4, &b_v6, &mac_b),
            (&b, "veth-b", &a_v4, &a_v6, &mac_a),
        ] {
            for peer in [peer4, peer6] {
                ns.ip(&[
                    "neigh",
                    "replace",
                    peer,
                    "lladdr",
                    lladdr,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ])?;
            }
        }
        Ok(VethPair {
            a,
            b,
            a_v4,
            b_v4,
            a_v6,
            b_v6,
        })
    }
}

fn ip(args: &[&str]) -> std::io::Result<String> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
