//! Instances left behind by xfrmdiag runs that were killed (SIGKILL, OOM): no cleanup of theirs
//! could run, so the next capture removes them before it creates its own.
//!
//! An instance `xfrmdiag-PID` (or `xfrmdiag-PID-N`) is stale when PID no longer runs, or when the
//! process now holding PID started after the instance was created (the PID was reused). A
//! process that started before its instance is its creator or an older process that cannot be
//! told apart from it: never removed. The comparison needs no process name, so a program using
//! this library (not named `xfrmdiag`) keeps its instances too.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::tracefs::Tracefs;
use crate::Error;

/// Clock slack between a process's start (boot time has one-second precision) and an instance's
/// creation time: a process started less than this after the instance counts as its creator.
const START_SLACK: Duration = Duration::from_secs(2);

/// A stale instance and why it is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleInstance {
    /// Directory name under `instances/`.
    pub name: String,
    pub pid: u32,
    /// `no longer running` or `PID now belongs to COMM, started after the instance`.
    pub why: String,
}

/// The PID an instance name of ours carries: `xfrmdiag-PID` or `xfrmdiag-PID-N`, digits only.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("xfrmdiag-")?;
    let mut parts = rest.split('-');
    let pid = parts.next()?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let seq_ok = match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(n), None) => all_digits(n),
        _ => false,
    };
    (all_digits(pid) && seq_ok)
        .then(|| pid.parse().ok())
        .flatten()
}

/// Why the instance `name`, created at `created`, is stale; None while its owner may be alive.
fn stale_reason(proc_root: &Path, pid: u32, created: Option<SystemTime>) -> Option<String> {
    let stat = match std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some("no longer running".into())
        }
        Err(_) => return None, // cannot tell: keep it
    };
    let started = process_start(proc_root, &stat)?;
    let created = created?;
    if started > created + START_SLACK {
        let comm = std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm"))
            .map(|c| printable(c.trim()))
            .unwrap_or_else(|_| "another process".into());
        return Some(format!(
            "pid {pid} now belongs to {comm}, started after the instance"
        ));
    }
    None
}

/// Wall-clock start of the process whose `/proc/PID/stat` is `stat`.
fn process_start(proc_root: &Path, stat: &str) -> Option<SystemTime> {
    // Fields after the `(comm)`, which may itself hold spaces and parentheses: state is field 3,
    // starttime (clock ticks after boot) field 22.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    let boot = std::fs::read_to_string(proc_root.join("stat"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<u64>()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    Some(UNIX_EPOCH + Duration::from_secs(boot) + Duration::from_millis(ticks * 1000 / hz))
}

fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// The stale instances of ours in `fs`, sorted by name.
pub(crate) fn find(fs: &Tracefs) -> Vec<StaleInstance> {
    let Ok(entries) = std::fs::read_dir(fs.path("instances")) else {
        return Vec::new();
    };
    let mut stale: Vec<StaleInstance> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let pid = owner_pid(&name)?;
            let created = entry.metadata().ok().and_then(|m| m.modified().ok());
            let why = stale_reason(Path::new("/proc"), pid, created)?;
            Some(StaleInstance { name, pid, why })
        })
        .collect();
    stale.sort_by(|a, b| a.name.cmp(&b.name));
    stale
}

/// Removes every stale instance in `fs`; returns the ones removed (another process removing one
/// at the same time is not an error).
pub(crate) fn remove_all(fs: &Tracefs) -> Result<Vec<StaleInstance>, Error> {
    let mut removed = Vec::new();
    for stale in find(fs) {
        let relative = format!("instances/{}", stale.name);
        crate::cleanup::remove_instance_dir(&fs.path(&relative))
            .map_err(|e| Error::io("remove stale trace instance", fs.display(&relative), e))?;
        removed.push(stale);
    }
    Ok(removed)
}

/// Before a capture creates its instance: removes the stale ones and says so on stderr, one line
/// each. Failing to remove one does not stop the capture (it is said too).
pub(crate) fn sweep_before_capture(fs: &Tracefs) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    for stale in find(fs) {
        let relative = format!("instances/{}", stale.name);
        // Not eprintln!: a closed stderr must not panic a capture.
        let _ = match crate::cleanup::remove_instance_dir(&fs.path(&relative)) {
            Ok(()) => writeln!(
                stderr,
                "xfrmdiag: removed stale trace instance {} (left by xfrmdiag pid {}: {})",
                fs.display(&relative).display(),
                stale.pid,
                stale.why
            ),
            Err(e) => writeln!(
                stderr,
                "xfrmdiag: cannot remove stale trace instance {}: {e} (try `xfrmdiag trace --remove-stale`)",
                fs.display(&relative).display()
            ),
        };
    }
}

/// Removes `xfrmdiag-PID` instances whose process is gone (see the module doc). Returns the
/// names removed.
pub fn remove_stale_instances(tracefs: Option<&Path>) -> Result<Vec<String>, Error> {
    crate::cleanup::install_handlers();
    let fs = Tracefs::open(tracefs)?;
    Ok(remove_all(&fs)?.into_iter().map(|s| s.name).collect())
}

/// The names of the stale instances (for the probe's report).
pub(crate) fn stale_instance_names(fs: &Tracefs) -> Vec<String> {
    find(fs).into_iter().map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_exact_naming_is_ours() {
        assert_eq!(owner_pid("xfrmdiag-1234"), Some(1234));
        assert_eq!(owner_pid("xfrmdiag-1234-2"), Some(1234));
        for other in [
            "xfrmdiag-",
            "xfrmdiag-abc",
            "xfrmdiag-12x",
            "xfrmdiag-1234-",
            "xfrmdiag-1234-2-3",
            "xfrmdiag-1234-foo",
            "xfrmdiag--1",
            "other-1234",
            "xfrmdiag",
        ] {
            assert_eq!(owner_pid(other), None, "{other}");
        }
    }

    #[test]
    fn our_own_process_is_alive_and_not_stale() {
        let me = std::process::id();
        assert_eq!(
            stale_reason(Path::new("/proc"), me, Some(SystemTime::now())),
            None
        );
    }

    #[test]
    fn a_process_started_after_the_instance_holds_a_reused_pid() {
        let me = std::process::id();
        let long_ago = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let why = stale_reason(Path::new("/proc"), me, Some(long_ago)).expect("stale");
        assert!(why.contains("started after the instance"), "{why}");
    }

    #[test]
    fn a_pid_that_does_not_run_is_stale() {
        // pid_max is at most 2^22: this one never runs.
        let why = stale_reason(Path::new("/proc"), 4_194_305, Some(SystemTime::now()));
        assert_eq!(why.as_deref(), Some("no longer running"));
    }

    #[test]
    fn start_time_parses_a_comm_with_spaces_and_parentheses() {
        let me = std::fs::read_to_string("/proc/self/stat").unwrap();
        let start = process_start(Path::new("/proc"), &me).expect("start time");
        assert!(start <= SystemTime::now());
        let tricky = me.replacen('(', "(a) b (", 1);
        assert_eq!(process_start(Path::new("/proc"), &tricky), Some(start));
    }
}
