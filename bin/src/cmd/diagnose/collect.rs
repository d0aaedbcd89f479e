//! Reading one side's evidence: glue between the reader crates and the evidence types.
//!
//! Every reader that fails leaves a hole with its reason; the test still runs.

use std::collections::BTreeMap;
use std::path::Path;

use xfrmdiag_diagnose::evidence::{CounterChange, Counters, Sysctls, WATCHED_UNCHANGED};
use xfrmdiag_netns::Netns;

/// Counter values of one namespace at one instant.
///
/// Interim reader until the counters crate lands on main: reads the same files with the same
/// names (xfrm_stat as written, `Group.Name` for snmp/netstat, snmp6 as written).
#[derive(Debug, Clone, Default)]
pub struct CounterSnapshot {
    pub values: BTreeMap<String, u64>,
}

pub fn counters(ns: &Netns) -> Result<CounterSnapshot, String> {
    ns.run(|| read_counters(Netns::proc_net_dir()))
        .map_err(|e| e.to_string())?
}

fn read_counters(dir: &Path) -> Result<CounterSnapshot, String> {
    let mut values = BTreeMap::new();
    let mut read_any = false;
    for file in ["xfrm_stat", "snmp", "netstat", "snmp6"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        read_any = true;
        if file == "snmp" || file == "netstat" {
            // Pairs of lines: `Group: names…` then `Group: values…`.
            let lines: Vec<&str> = text.lines().collect();
            for pair in lines.chunks(2) {
                let [names, nums] = pair else { continue };
                let Some((group, names)) = names.split_once(':') else {
                    continue;
                };
                let nums = nums.split_once(':').map(|(_, n)| n).unwrap_or_default();
                for (name, num) in names.split_whitespace().zip(nums.split_whitespace()) {
                    if let Ok(v) = num.parse::<u64>() {
                        values.insert(format!("{group}.{name}"), v);
                    }
                }
            }
        } else {
            for line in text.lines() {
                let mut it = line.split_whitespace();
                if let (Some(name), Some(Ok(v))) = (it.next(), it.next().map(str::parse::<u64>)) {
                    values.insert(name.to_string(), v);
                }
            }
        }
    }
    if !read_any {
        return Err(format!("no counter file readable in {}", dir.display()));
    }
    Ok(CounterSnapshot { values })
}

/// The change of every counter between two snapshots, with the names read on both ends.
pub fn counter_delta(before: &CounterSnapshot, after: &CounterSnapshot) -> Counters {
    let mut delta = BTreeMap::new();
    let mut read = Vec::new();
    for (name, &now) in &after.values {
        let Some(&then) = before.values.get(name) else {
            continue;
        };
        if WATCHED_UNCHANGED.contains(&name.as_str()) {
            read.push(name.clone());
        }
        let change = match now.cmp(&then) {
            std::cmp::Ordering::Equal => continue,
            std::cmp::Ordering::Greater => CounterChange::Increased(now - then),
            std::cmp::Ordering::Less => CounterChange::Reset {
                before: then,
                after: now,
            },
        };
        delta.insert(name.clone(), change);
    }
    Counters { delta, read }
}

/// rp_filter, disable_policy, disable_xfrm per device and ip_forward, read inside `ns`.
/// (/proc/sys/net follows the reading thread's namespace.)
pub fn sysctls(ns: &Netns) -> Result<Sysctls, String> {
    ns.run(|| read_sysctls(Path::new("/proc/sys/net")))
        .map_err(|e| e.to_string())
}

fn read_sysctls(root: &Path) -> Sysctls {
    let read = |p: &Path| -> Option<u32> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let mut s = Sysctls {
        ip_forward: read(&root.join("ipv4/ip_forward")),
        ..Default::default()
    };
    let conf = root.join("ipv4/conf");
    let Ok(devs) = std::fs::read_dir(&conf) else {
        return s;
    };
    for dev in devs.flatten() {
        let name = dev.file_name().to_string_lossy().into_owned();
        if name == "default" {
            continue;
        }
        let dir = dev.path();
        if let Some(v) = read(&dir.join("rp_filter")) {
            s.rp_filter.insert(name.clone(), v);
        }
        if let Some(v) = read(&dir.join("disable_policy")).filter(|v| *v != 0) {
            s.disable_policy.insert(name.clone(), v);
        }
        if let Some(v) = read(&dir.join("disable_xfrm")).filter(|v| *v != 0) {
            s.disable_xfrm.insert(name, v);
        }
    }
    s
}
