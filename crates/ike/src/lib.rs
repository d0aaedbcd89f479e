//! The IKE daemon's view of the tunnels, joined with the kernel's.
//!
//! Owns: a vici codec and client for strongSwan, a parser of Libreswan's `whack --status`, the
//! failure reasons read from a daemon's log, and the join of CHILD_SAs with kernel SAs and
//! policies that yields the four IKE findings. Key material never gets past the decoders.
//! Must not: print, decide a verdict, or touch the kernel's state.

pub mod join;
pub mod libreswan;
pub mod log;
pub mod model;
pub mod render;
pub mod strongswan;
pub mod vici;

use std::path::{Path, PathBuf};

pub use join::{join, ChildJoin, Flow, IkeFinding, IkeReport, KernelPolicyRef, KernelSaRef};
pub use model::*;
use xfrmdiag_netns::Netns;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no {} daemon reachable at {source_path}: {why}", daemon.as_str())]
    Unreachable {
        daemon: DaemonKind,
        source_path: String,
        why: String,
    },
    #[error("no IKE daemon reachable (tried strongSwan's vici socket {vici} and Libreswan's control socket {pluto}); start one or point --socket at it")]
    NoDaemon { vici: String, pluto: String },
    #[error("the IKE daemon answered something unexpected: {0}")]
    Protocol(String),
    #[error("talking to the IKE daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read the daemon's log {path}: {why}")]
    Log { path: String, why: String },
    #[error(transparent)]
    Kernel(#[from] xfrmdiag_inventory::Error),
}

/// Which daemon to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Strongswan,
    Libreswan,
}

/// Where and how to read the daemon.
#[derive(Debug, Clone)]
pub struct Source {
    pub choice: Choice,
    /// The vici socket or pluto's control socket; None: the daemon's default.
    pub socket: Option<PathBuf>,
    /// The daemon's log, read for failure reasons.
    pub log: Option<PathBuf>,
}

impl Source {
    pub fn auto() -> Source {
        Source {
            choice: Choice::Auto,
            socket: None,
            log: None,
        }
    }
}

fn read_kind(kind: DaemonKind, socket: &Path) -> Result<DaemonView, Error> {
    match kind {
        DaemonKind::Strongswan => strongswan::Client::connect(socket)?.read_view(),
        DaemonKind::Libreswan => libreswan::read_view(socket),
    }
}

/// Which daemon and socket `source` designates: with `auto`, the first default socket that
/// accepts a connection (strongSwan's, then Libreswan's).
pub fn resolve(source: &Source) -> Result<(DaemonKind, PathBuf), Error> {
    let default = |k: DaemonKind| {
        PathBuf::from(match k {
            DaemonKind::Strongswan => strongswan::DEFAULT_SOCKET,
            DaemonKind::Libreswan => libreswan::DEFAULT_SOCKET,
        })
    };
    let pick = |k: DaemonKind| (k, source.socket.clone().unwrap_or_else(|| default(k)));
    match source.choice {
        Choice::Strongswan => Ok(pick(DaemonKind::Strongswan)),
        Choice::Libreswan => Ok(pick(DaemonKind::Libreswan)),
        Choice::Auto if source.socket.is_some() => {
            let path = source.socket.clone().unwrap_or_default();
            Ok((probe(&path)?, path))
        }
        Choice::Auto => {
            for kind in [DaemonKind::Strongswan, DaemonKind::Libreswan] {
                let (kind, path) = pick(kind);
                // A socket left by a killed daemon exists but refuses: try to connect.
                if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                    return Ok((kind, path));
                }
            }
            Err(Error::NoDaemon {
                vici: source
                    .socket
                    .as_ref()
                    .map_or(strongswan::DEFAULT_SOCKET.into(), |p| {
                        p.display().to_string()
                    }),
                pluto: source
                    .socket
                    .as_ref()
                    .map_or(libreswan::DEFAULT_SOCKET.into(), |p| {
                        p.display().to_string()
                    }),
            })
        }
    }
}

/// Whose socket `path` is: charon answers a vici `version` request; anything else that accepts
/// the connection is taken for pluto (which drops the message as a whack message with a bad
/// magic number and closes), so one `--ike-socket PATH` finds either daemon.
fn probe(path: &Path) -> Result<DaemonKind, Error> {
    let mut client = strongswan::Client::connect(path).map_err(|_| Error::NoDaemon {
        vici: path.display().to_string(),
        pluto: path.display().to_string(),
    })?;
    match client.request("version", &vici::Message::default()) {
        Ok(_) => Ok(DaemonKind::Strongswan),
        Err(Error::Io(_) | Error::Protocol(_)) => Ok(DaemonKind::Libreswan),
        Err(e) => Err(e),
    }
}

/// Reads the daemon once, with the failures from its log when one is given.
pub fn read_daemon(source: &Source) -> Result<DaemonView, Error> {
    let (kind, path) = resolve(source)?;
    let mut view = read_kind(kind, &path)?;
    if let Some(log) = &source.log {
        let log = log::LogSource::parse(&log.to_string_lossy());
        view.failures
            .extend(log::read_failures(&log, &view.connections)?);
    }
    Ok(view)
}

/// The daemon (read before and after the kernel dump) joined with namespace `ns`'s SAs and
/// policies; failure reasons from the log `source.log` names (a file, `journal` or
/// `journal:UNIT`).
pub fn inspect(ns: &Netns, source: &Source, flow: Option<Flow>) -> Result<IkeReport, Error> {
    inspect_with(ns, source, flow, false)
}

/// As [`inspect`]; with `discover_log` and no `source.log`, the log is looked for where the
/// daemon usually writes it ([`log::discover`]) and read if found (a log found but unreadable
/// is no error then).
pub fn inspect_with(
    ns: &Netns,
    source: &Source,
    flow: Option<Flow>,
    discover_log: bool,
) -> Result<IkeReport, Error> {
    let (kind, path) = resolve(source)?;
    let before = read_kind(kind, &path)?;
    let sas = xfrmdiag_inventory::dump_sas(ns)?;
    let policies = xfrmdiag_inventory::dump_policies(ns)?;
    let mut after = read_kind(kind, &path)?;
    let explicit = source
        .log
        .as_ref()
        .map(|l| log::LogSource::parse(&l.to_string_lossy()));
    let mut log_read = None;
    match (explicit, discover_log) {
        (Some(log), _) => {
            after
                .failures
                .extend(log::read_failures(&log, &after.connections)?);
            log_read = Some(log.describe());
        }
        (None, true) => {
            if let Some(log) = log::discover(kind) {
                if let Ok(found) = log::read_failures(&log, &after.connections) {
                    after.failures.extend(found);
                    log_read = Some(log.describe());
                }
            }
        }
        (None, false) => {}
    }
    let mut report = join(&before, after, &sas, &policies, flow);
    report.log = log_read;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    fn auto(path: &Path) -> Source {
        Source {
            socket: Some(path.to_path_buf()),
            ..Source::auto()
        }
    }

    /// A socket that answers the first request with `reply` (None: closes without a word).
    fn serve_once(reply: Option<Vec<u8>>) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("daemon.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = conn.read(&mut buf);
            if let Some(r) = reply {
                let _ = conn.write_all(&r);
            }
        });
        (dir, path)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "xfrmdiag-ike-probe-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_socket_that_answers_vici_is_strongswans() {
        let reply = vici::encode_packet(
            vici::PacketType::CmdResponse,
            None,
            &vici::Message::default(),
        );
        let (_dir, path) = serve_once(Some(reply));
        let (kind, p) = resolve(&auto(&path)).unwrap();
        assert_eq!((kind, p), (DaemonKind::Strongswan, path));
    }

    #[test]
    fn a_socket_that_drops_a_vici_request_is_plutos() {
        let (_dir, path) = serve_once(None);
        let (kind, _) = resolve(&auto(&path)).unwrap();
        assert_eq!(kind, DaemonKind::Libreswan);
    }

    #[test]
    fn no_socket_is_no_daemon() {
        let dir = tempdir::Dir::new();
        let err = resolve(&auto(&dir.0.join("none.sock"))).unwrap_err();
        assert!(matches!(err, Error::NoDaemon { .. }), "{err}");
    }
}
