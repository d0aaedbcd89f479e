//! One reading of every counter source of a network namespace.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use xfrmdiag_netns::Netns;

use crate::parse::{self, Parsed};
use crate::time;
use crate::Error;

/// A parser: file text in, counters and problems out.
pub type Parser = fn(&str) -> Parsed;

/// The per-namespace files read, relative to a `/proc/<pid>/net` directory, with their parser.
pub const SOURCES: [(&str, Parser); 5] = [
    ("xfrm_stat", parse::parse_xfrm_stat),
    ("snmp", parse::parse_snmp),
    ("netstat", parse::parse_netstat),
    ("snmp6", parse::parse_snmp6),
    ("dev", parse::parse_net_dev),
];

/// What happened to one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Read (parse problems, if any, are in `problems`).
    Read,
    /// Not there: an older kernel, IPv6 disabled, or a kernel without CONFIG_XFRM_STATISTICS.
    Missing,
    /// There but could not be read.
    Unreadable,
}

/// Counters of one namespace at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `ip netns` name, or `(current)`.
    pub namespace: String,
    /// RFC 3339, UTC.
    pub taken_at: String,
    /// The same instant as Unix nanoseconds (deltas compute the elapsed time from it).
    pub taken_at_unix_ns: u64,
    /// Every counter read, by its flat name.
    pub counters: BTreeMap<String, u64>,
    /// Per source file (`xfrm_stat`, `snmp`, `netstat`, `snmp6`, `dev`, and `sa` when per-SA
    /// stats were added): read, missing (a hole, not an abort) or unreadable.
    pub sources: BTreeMap<String, SourceState>,
    /// Malformed lines and unreadable sources, each reported once; the rest was still read.
    pub problems: Vec<String>,
}

/// The per-SA numbers `ip -s xfrm state` shows, as the inventory dump provides them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaStats {
    /// Host-order SPI.
    pub spi: u32,
    pub replay_window: u64,
    pub replay: u64,
    pub integrity_failed: u64,
    /// Lifetime current bytes / packets.
    pub bytes: u64,
    pub packets: u64,
}

impl From<&xfrmdiag_inventory::Sa> for SaStats {
    fn from(sa: &xfrmdiag_inventory::Sa) -> Self {
        SaStats {
            spi: sa.spi.0,
            replay_window: u64::from(sa.stats.replay_window),
            replay: u64::from(sa.stats.replay),
            integrity_failed: u64::from(sa.stats.integrity_failed),
            bytes: sa.lifetime.current.bytes,
            packets: sa.lifetime.current.packets,
        }
    }
}

impl Snapshot {
    /// An empty snapshot stamped now (counters are added with [`Snapshot::add_counter`]).
    pub fn empty(namespace: &str) -> Self {
        let now = time::now_unix_ns();
        Snapshot {
            namespace: namespace.to_string(),
            taken_at: time::rfc3339(now),
            taken_at_unix_ns: now,
            counters: BTreeMap::new(),
            sources: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// Reads every source inside `ns`, on a thread that entered it; the caller never moves:
    /// the /proc files and the per-SA stats of the SA dump (`ip -s xfrm state`).
    ///
    /// Inside such a thread `/proc/net` still shows the process's main thread's namespace, so the
    /// files are read from `/proc/thread-self/net`. The SA dump's netlink socket is opened on the
    /// same thread, so it belongs to `ns` too. A failed SA dump (no CAP_NET_ADMIN, no XFRM) is a
    /// problem and an `sa` hole, not an error.
    pub fn take(ns: &Netns) -> Result<Snapshot, Error> {
        let name = ns.display_name().to_string();
        ns.run(move || {
            let mut snapshot = Snapshot::take_from(Netns::proc_net_dir(), &name)?;
            snapshot.add_sas_of_this_thread();
            Ok(snapshot)
        })?
    }

    /// Adds per-SA counters from an SA dump of the namespace this thread is in.
    fn add_sas_of_this_thread(&mut self) {
        match xfrmdiag_inventory::dump_sas(&Netns::Current) {
            Ok(sas) => {
                let stats: Vec<SaStats> = sas.iter().map(SaStats::from).collect();
                self.add_sa_stats(&stats);
            }
            Err(e) => {
                self.sources
                    .insert("sa".to_string(), SourceState::Unreadable);
                self.problems.push(format!("sa: cannot dump SAs: {e}"));
            }
        }
    }

    /// Reads every source from `proc_net_dir` (`/proc/thread-self/net`, or a fixture folder).
    /// Fails only when no source at all could be read.
    pub fn take_from(proc_net_dir: &Path, namespace: &str) -> Result<Snapshot, Error> {
        let mut snapshot = Snapshot::empty(namespace);
        let mut last_failure = None;
        for (file, parser) in SOURCES {
            let path = proc_net_dir.join(file);
            let state = match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let parsed = parser(&text);
                    snapshot.counters.extend(parsed.counters);
                    snapshot.problems.extend(parsed.problems);
                    SourceState::Read
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    last_failure = Some(format!("{}: not found", path.display()));
                    SourceState::Missing
                }
                Err(e) => {
                    snapshot
                        .problems
                        .push(format!("{file}: cannot read {}: {e}", path.display()));
                    last_failure = Some(format!("{}: {e}", path.display()));
                    SourceState::Unreadable
                }
            };
            snapshot.sources.insert(file.to_string(), state);
        }
        if !snapshot.sources.values().any(|s| *s == SourceState::Read) {
            return Err(Error::NothingReadable {
                dir: proc_net_dir.to_path_buf(),
                reason: last_failure.unwrap_or_default(),
            });
        }
        Ok(snapshot)
    }

    /// Adds (or replaces) one counter, e.g. from a source this crate does not read itself.
    pub fn add_counter(&mut self, name: impl Into<String>, value: u64) {
        self.counters.insert(name.into(), value);
    }

    /// Sets `sa:<spi>:<field>` counters from one SA dump (SPI as `0x%08x`) and marks the `sa`
    /// source read. SAs sharing an SPI (other destination or protocol) are summed within the
    /// dump; adding the same dump again replaces, never doubles, the values.
    pub fn add_sa_stats(&mut self, sas: &[SaStats]) {
        let mut from_this_dump: BTreeMap<String, u64> = BTreeMap::new();
        for sa in sas {
            for (field, value) in [
                ("replay_window", sa.replay_window),
                ("replay", sa.replay),
                ("integrity_failed", sa.integrity_failed),
                ("bytes", sa.bytes),
                ("packets", sa.packets),
            ] {
                *from_this_dump
                    .entry(format!("sa:0x{:08x}:{field}", sa.spi))
                    .or_insert(0) += value;
            }
        }
        self.counters.extend(from_this_dump);
        self.sources.insert("sa".to_string(), SourceState::Read);
    }

    /// The value of one counter, if it was read.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_leave_holes_not_aborts() {
        let dir = std::env::temp_dir().join(format!("xfrmdiag-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xfrm_stat"), "XfrmInNoPols\t4\n").unwrap();
        let snap = Snapshot::take_from(&dir, "fixture").unwrap();
        assert_eq!(snap.get("XfrmInNoPols"), Some(4));
        assert_eq!(snap.sources["xfrm_stat"], SourceState::Read);
        assert_eq!(snap.sources["snmp6"], SourceState::Missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_readable_is_an_error() {
        let err = Snapshot::take_from(Path::new("/nonexistent/xfrmdiag"), "x").unwrap_err();
        assert!(
            err.to_string().contains("cannot read any counter file"),
            "{err}"
        );
    }

    #[test]
    fn sa_stats_become_flat_counters() {
        let mut snap = Snapshot::empty("t");
        snap.add_sa_stats(&[SaStats {
            spi: 0x1000,
            integrity_failed: 3,
            ..SaStats::default()
        }]);
        assert_eq!(snap.get("sa:0x00001000:integrity_failed"), Some(3));
        assert_eq!(snap.get("sa:0x00001000:replay"), Some(0));
        // The same dump added again (a caller that also dumps SAs) does not double anything.
        let twin = SaStats {
            spi: 0x1000,
            integrity_failed: 3,
            ..SaStats::default()
        };
        snap.add_sa_stats(&[twin]);
        assert_eq!(snap.get("sa:0x00001000:integrity_failed"), Some(3));
        // Two SAs with one SPI (other destination) in one dump are summed.
        snap.add_sa_stats(&[twin, twin]);
        assert_eq!(snap.get("sa:0x00001000:integrity_failed"), Some(6));
    }

    #[test]
    fn current_namespace_has_the_live_files() {
        let snap = Snapshot::take(&Netns::Current).unwrap();
        assert_eq!(snap.sources["snmp"], SourceState::Read);
        assert!(snap.get("Udp.InErrors").is_some());
        assert!(snap.get("dev:lo:rx_packets").is_some());
    }
}
