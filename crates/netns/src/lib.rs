//! Running a closure inside a named network namespace.
//!
//! Owns: resolving `/run/netns/NAME` (as `ip -n NAME` does: a name, never a path, and the file
//! must be a network namespace) and running work inside that namespace
//! on a dedicated thread, so the caller's thread never moves. Must not: know anything about XFRM,
//! counters or tracing.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

pub mod scratch;

/// Where `ip netns add NAME` bind-mounts a namespace.
pub const NETNS_RUN_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network namespace '{name}' not found ({path}): no such namespace; see `ip netns list`, or create it with `ip netns add {name}`")]
    NotFound { name: String, path: PathBuf },
    #[error("invalid network namespace name '{name}': {why}; give a name from `ip netns list` (a file under /run/netns), as `ip -n NAME` takes")]
    InvalidName { name: String, why: &'static str },
    #[error("'{name}' is not a network namespace: {path} is {what}; see `ip netns list`")]
    NotNetns {
        name: String,
        path: PathBuf,
        what: String,
    },
    #[error("cannot open network namespace '{name}' ({path}): {source}")]
    Open {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace '{name}': {source}{}", enter_hint(.source))]
    Enter { name: String, source: nix::Error },
    #[error("the thread working in network namespace '{name}' panicked")]
    Panicked { name: String },
    #[error("cannot start a thread for network namespace '{name}': {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
}

/// What to do when setns failed: only a permission error is about root.
fn enter_hint(source: &nix::Error) -> &'static str {
    if *source == nix::Error::EPERM {
        " (entering a namespace needs root or CAP_SYS_ADMIN)"
    } else {
        ""
    }
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

/// Checks `name` is a namespace name as `ip netns add` accepts it: one path component, so it can
/// only ever name a file in /run/netns (`/proc/1/ns/net` or `../x` would reach another namespace).
pub fn validate_name(name: &str) -> Result<(), Error> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') {
        "a name cannot contain '/' (it is not a path)"
    } else if name == "." || name == ".." {
        "'.' and '..' are not names"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.len() > 255 {
        "it is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_string(),
        why,
    })
}

/// Opens `/run/netns/NAME` and checks it is a network namespace (a file of the `nsfs` filesystem,
/// bind-mounted there by `ip netns add`, of type CLONE_NEWNET), so a stray file gets its own
/// error rather than a failed setns.
fn open(name: &str) -> Result<File, Error> {
    validate_name(name)?;
    let path = Path::new(NETNS_RUN_DIR).join(name);
    let file = open_path(name, &path)?;
    if let Some(what) = not_a_netns(&file) {
        return Err(Error::NotNetns {
            name: name.to_string(),
            path,
            what,
        });
    }
    Ok(file)
}

/// What `file` is when it is not a network namespace; None when it is one (or cannot be told).
fn not_a_netns(file: &File) -> Option<String> {
    use nix::sys::statfs::{fstatfs, NSFS_MAGIC};
    let fs = fstatfs(file).ok()?;
    if fs.filesystem_type() != NSFS_MAGIC {
        let kind = match file.metadata() {
            Ok(m) if m.is_dir() => "a directory",
            Ok(m) if m.is_file() => "a plain file",
            _ => "not a namespace file",
        };
        return Some(kind.to_string());
    }
    // NS_GET_NSTYPE = _IO(0xb7, 0x3), linux/nsfs.h (4.11+).
    const NS_GET_NSTYPE: u32 = 0xb703;
    // SAFETY: the ioctl takes no argument and only reads the open namespace file.
    let kind = unsafe { nix::libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    (kind >= 0 && kind != nix::libc::CLONE_NEWNET)
        .then(|| format!("another kind of namespace (type {kind:#x})"))
}

fn open_path(name: &str, path: &Path) -> Result<File, Error> {
    let path = path.to_path_buf();
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
    fn names_are_names_never_paths() {
        for bad in [
            "/proc/1/ns/net",
            "../../proc/1/ns/net",
            "a/b",
            "",
            ".",
            "..",
        ] {
            let err = Netns::Named(bad.into()).check().unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains("ip netns list"), "{err}");
        }
        assert!(validate_name("blue").is_ok());
        assert!(validate_name("xd-a.1_2").is_ok());
    }

    #[test]
    fn current_runs_inline() {
        let tid = std::thread::current().id();
        assert!(Netns::Current
            .run(move || std::thread::current().id() == tid)
            .unwrap());
    }
}
