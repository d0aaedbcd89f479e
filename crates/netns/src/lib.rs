//! Running a closure inside a named network namespace.
//!
//! Owns: resolving `/run/netns/NAME` (as `ip netns` does) and running work inside that namespace
//! on a dedicated thread, so the caller's thread never moves. Must not: know anything about XFRM,
//! counters or tracing.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

pub mod scratch;

/// Where `ip netns add NAME` bind-mounts a namespace.
pub const NETNS_RUN_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network namespace '{name}' not found ({path}): create it with `ip netns add {name}` or see `ip netns list`")]
    NotFound { name: String, path: PathBuf },
    #[error("cannot open network namespace '{name}' ({path}): {source}")]
    Open {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace '{name}': {source} (entering a namespace needs root or CAP_SYS_ADMIN)")]
    Enter { name: String, source: nix::Error },
    #[error("the thread working in network namespace '{name}' panicked")]
    Panicked { name: String },
    #[error("cannot start a thread for network namespace '{name}': {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
}

/// A network namespace to work in: the caller's own, or one named like `ip netns` names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Netns {
    #[default]
    Current,
    Named(String),
}

impl Netns {
    /// `None` means the caller's namespace, as when `ip` is run without `-n`.
    pub fn from_option(name: Option<&str>) -> Self {
        match name {
            Some(n) => Netns::Named(n.to_string()),
            None => Netns::Current,
        }
    }

    /// A name for reports: the namespace name, or `(current)` for the caller's.
    pub fn display_name(&self) -> &str {
        match self {
            Netns::Current => "(current)",
            Netns::Named(n) => n,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Netns::Current => None,
            Netns::Named(n) => Some(n),
        }
    }

    /// The `/proc/.../net` directory that shows *this thread's* namespace.
    ///
    /// `/proc/net` follows `/proc/self`, which is the process's main thread: a thread that entered
    /// another namespace must read `/proc/thread-self/net` instead.
    pub fn proc_net_dir() -> &'static Path {
        Path::new("/proc/thread-self/net")
    }

    /// Checks the namespace exists without entering it.
    pub fn check(&self) -> Result<(), Error> {
        match self {
            Netns::Current => Ok(()),
            Netns::Named(name) => open(name).map(drop),
        }
    }

    /// Runs `work` inside this namespace on a dedicated thread and returns its result.
    ///
    /// The calling thread never changes namespace. Sockets created by `work` stay in the
    /// namespace they were created in, so `work` may return them to be used from any thread.
    pub fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Netns::Named(name) = self else {
            return Ok(work());
        };
        let file = open(name)?;
        let thread_name = format!("netns-{name}");
        let owned = name.clone();
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || -> Result<T, Error> {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| Error::Enter {
                    name: owned,
                    source,
                })?;
                Ok(work())
            })
            .map_err(|source| Error::Spawn {
                name: name.clone(),
                source,
            })?;
        handle
            .join()
            .map_err(|_| Error::Panicked { name: name.clone() })?
    }
}

impl std::fmt::Display for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

fn open(name: &str) -> Result<File, Error> {
    let path = Path::new(NETNS_RUN_DIR).join(name);
    File::open(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                name: name.to_string(),
                path,
            }
        } else {
            Error::Open {
                name: name.to_string(),
                path,
                source,
            }
        }
    })
}

/// Runs `work` on a dedicated thread in the namespace given by its `ip netns` name (`None`: here).
pub fn run_in<T, F>(name: Option<&str>, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    Netns::from_option(name).run(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_namespace_is_a_clear_error() {
        let err = Netns::Named("xfrmdiag-does-not-exist".into())
            .run(|| ())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not found"), "{msg}");
        assert!(msg.contains("ip netns add"), "{msg}");
    }

    #[test]
    fn current_runs_inline() {
        let tid = std::thread::current().id();
        assert!(Netns::Current
            .run(move || std::thread::current().id() == tid)
            .unwrap());
    }
}
