//! Leaving the system as found, whatever happens.
//!
//! Every instance we create and every tracefs mount we make is registered here. Normal paths
//! remove them through `Drop`; [`install_handlers`] covers the rest: SIGINT, SIGTERM and SIGHUP
//! (a thread removes everything, then the process exits with 128+signal) and panics (a hook
//! removes everything before the previous hook runs). Readers of `trace_pipe` poll
//! [`stop_requested`] and close their files, because the kernel refuses to remove an instance
//! whose `trace_pipe` is open.
//!
//! Because a signal ends the process here, other owners of resources register their cleanup with
//! [`on_interrupt`] rather than installing a second handler.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Registry {
    instances: Vec<PathBuf>,
    mounts: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    instances: Vec::new(),
    mounts: Vec::new(),
});
static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALLED: AtomicBool = AtomicBool::new(false);
static OPEN_READERS: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
/// Other cleanup a signal must not skip (e.g. scratch namespaces of `demo`, the command of
/// `trace --exec`), run by [`cleanup_all`] after the trace instances are removed.
type Hook = Box<dyn Fn() + Send + Sync>;
static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Adds work to [`cleanup_all`], which runs when SIGINT/SIGTERM/SIGHUP interrupts the process
/// (before it exits with 128+signal) and on a panic while a capture runs. The signal handling
/// here ends the process: code that owns other resources (namespaces, sockets, child processes)
/// registers their removal with this instead of installing its own handler, so one signal
/// thread does all the cleanup and no second handler races it to exit.
pub fn on_interrupt(hook: impl Fn() + Send + Sync + 'static) {
    HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Box::new(hook));
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A panic while holding the lock must not stop the cleanup.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn register_instance(dir: &Path) {
    registry().instances.push(dir.to_path_buf());
}

pub(crate) fn unregister_instance(dir: &Path) {
    registry().instances.retain(|d| d != dir);
}

/// True while `dir` is registered (not yet taken by the signal cleanup).
pub(crate) fn is_registered_instance(dir: &Path) -> bool {
    registry().instances.iter().any(|d| d == dir)
}

pub(crate) fn register_mount(mount_point: &Path) {
    registry().mounts.push(mount_point.to_path_buf());
}

/// Unmounts a tracefs we mounted (lazily: a handle still open elsewhere keeps working).
pub(crate) fn unmount(mount_point: &Path) {
    let mut reg = registry();
    if let Some(i) = reg.mounts.iter().position(|m| m == mount_point) {
        reg.mounts.remove(i);
        let _ = nix::mount::umount2(mount_point, nix::mount::MntFlags::MNT_DETACH);
    } else if interrupted() {
        // The signal thread took it and is unmounting it: returning now could let the process
        // exit first and leave the mount behind.
        drop(reg);
        wait_for_exit();
    }
}

/// True once a signal or panic asked every capture to stop.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// True once SIGINT/SIGTERM/SIGHUP arrived: the cleanup thread is removing everything and will
/// exit the process.
pub fn interrupted() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// Called by a capture finishing while a signal is being handled: the process is about to exit
/// with 128+signal, and finishing normally (status 0, a result) would hide the interruption.
pub(crate) fn wait_for_exit() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Held by a thread while it has `trace_pipe` open.
pub(crate) struct ReaderGuard(());

impl ReaderGuard {
    pub(crate) fn new() -> ReaderGuard {
        OPEN_READERS.fetch_add(1, Ordering::SeqCst);
        ReaderGuard(())
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        OPEN_READERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resets the tracer and removes an instance directory, retrying while a reader closes.
pub(crate) fn remove_instance_dir(dir: &Path) -> std::io::Result<()> {
    // Best effort: stop recording and detach the tracer and the drop trigger first.
    let _ = std::fs::write(dir.join("tracing_on"), "0");
    let _ = std::fs::write(dir.join("current_tracer"), "nop");
    let _ = std::fs::write(dir.join("events/skb/kfree_skb/trigger"), "!stacktrace");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Stops readers, removes every registered instance and unmounts what we mounted.
pub fn cleanup_all() {
    STOP.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(2);
    while OPEN_READERS.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (instances, mounts) = {
        let mut reg = registry();
        (
            std::mem::take(&mut reg.instances),
            std::mem::take(&mut reg.mounts),
        )
    };
    for dir in instances {
        let _ = remove_instance_dir(&dir);
    }
    for mount in mounts {
        let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
    }
    for hook in HOOKS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        hook();
    }
}

/// [`on_interrupt`] for a plain function (kept for callers that use this name).
pub fn on_cleanup(work: fn()) {
    on_interrupt(work);
}

/// Installs the SIGINT/SIGTERM/SIGHUP cleanup thread and the panic hook (once per process).
///
/// After a signal the process exits with status 128+signal once everything is removed.
pub fn install_handlers() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            let _ = std::thread::Builder::new()
                .name("xfrmdiag-trace-cleanup".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        SIGNALLED.store(true, Ordering::SeqCst);
                        cleanup_all();
                        std::process::exit(128 + signal);
                    }
                });
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let busy = {
                let reg = registry();
                !reg.instances.is_empty() || !reg.mounts.is_empty()
            };
            if busy {
                cleanup_all();
            }
            previous(info);
        }));
    });
}
