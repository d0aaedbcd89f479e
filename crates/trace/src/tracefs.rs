//! Finding tracefs, mounting a private one when absent, and its private instances.
//!
//! All access goes through an open handle on the tracefs root (`/proc/self/fd/N/...`), so another
//! process unmounting `/sys/kernel/tracing` while we trace cannot strand our instance.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{cleanup, Error};

/// Where tracefs is mounted on current systems (and where we mount it when nobody has).
pub const DEFAULT_MOUNT: &str = "/sys/kernel/tracing";

/// An open tracefs (a private mount, invisible to other processes, when none was mounted).
#[derive(Debug)]
pub struct Tracefs {
    mount_point: PathBuf,
    /// Path used for every access (through the open directory handle when /proc allows).
    root: PathBuf,
    _dir: Option<File>,
    mounted_by_us: bool,
}

impl Tracefs {
    /// Opens tracefs at `explicit`, or finds it in /proc/self/mountinfo, or mounts a private one
    /// (see [`mount_private`]; gone when this value is dropped).
    pub fn open(explicit: Option<&Path>) -> Result<Tracefs, Error> {
        if let Some(path) = explicit {
            if !path.join("trace").exists() && !path.join("instances").exists() {
                return Err(Error::Unavailable {
                    detail: format!(
                        "{} does not look like tracefs (no trace file): pass the tracefs mount point, usually {DEFAULT_MOUNT}",
                        path.display()
                    ),
                });
            }
            return Ok(Tracefs::with_handle(path.to_path_buf(), false));
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if let Some(found) = find_in_mountinfo(&mountinfo) {
            return Ok(Tracefs::with_handle(found, false));
        }
        let dir = mount_private().map_err(|e| Error::Unavailable {
            detail: format!(
                "not mounted, and mounting a private tracefs failed: {e}: run as root, or mount it with `mount -t tracefs nodev {DEFAULT_MOUNT}` (needs CONFIG_TRACING)"
            ),
        })?;
        let via_fd = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        if !via_fd.join("trace").exists() {
            return Err(Error::Unavailable {
                detail: format!(
                    "not mounted, and the private tracefs mount is not reachable through /proc/self/fd: mount it with `mount -t tracefs nodev {DEFAULT_MOUNT}`"
                ),
            });
        }
        Ok(Tracefs {
            mount_point: PathBuf::from(DEFAULT_MOUNT),
            root: via_fd,
            _dir: Some(dir),
            mounted_by_us: true,
        })
    }

    fn with_handle(mount_point: PathBuf, mounted_by_us: bool) -> Tracefs {
        let dir = File::open(&mount_point).ok();
        let root = match &dir {
            Some(d) => {
                let via_fd = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
                if via_fd.join("trace").exists() {
                    via_fd
                } else {
                    mount_point.clone()
                }
            }
            None => mount_point.clone(),
        };
        Tracefs {
            mount_point,
            root,
            _dir: dir,
            mounted_by_us,
        }
    }

    /// Where tracefs is mounted (for messages).
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// True when this process mounted it (privately; nobody else sees the mount).
    pub fn mounted_by_us(&self) -> bool {
        self.mounted_by_us
    }

    /// A path inside tracefs.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn read(&self, relative: &str) -> Result<String, Error> {
        let path = self.path(relative);
        std::fs::read_to_string(&path).map_err(|e| Error::io("read", self.display(relative), e))
    }

    /// `tracefs/relative` as a user would type it.
    pub fn display(&self, relative: &str) -> PathBuf {
        self.mount_point.join(relative)
    }
}

/// Mounts tracefs where only this process can see it and returns a handle on its root.
///
/// Why private: a mount at /sys/kernel/tracing would be visible to every other process while we
/// trace (other tools and concurrent runs see the mount table change, and a SIGKILL would leave it
/// behind). Instead a short-lived thread unshares its mount namespace, makes it private (so nothing
/// propagates back to the host's shared mounts), mounts tracefs there and opens it. When the thread
/// exits its namespace goes away and the mount lives on, detached, only as long as our handle: the
/// global mount table never changes and there is nothing to unmount. (tracefs is one filesystem:
/// the instance we create in it is still the kernel's one global tracing state.)
fn mount_private() -> Result<File, String> {
    let worker = std::thread::spawn(|| -> Result<File, String> {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("making the private mount namespace private: {e}"))?;
        mount(
            Some("nodev"),
            DEFAULT_MOUNT,
            Some("tracefs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| format!("mount -t tracefs at {DEFAULT_MOUNT}: {e}"))?;
        File::open(DEFAULT_MOUNT).map_err(|e| format!("open {DEFAULT_MOUNT}: {e}"))
    });
    worker
        .join()
        .map_err(|_| "the mounting thread panicked".to_string())?
}

/// The tracefs mount point in mountinfo text, preferring /sys/kernel/tracing; falls back to the
/// `tracing` folder of a mounted debugfs.
pub fn find_in_mountinfo(mountinfo: &str) -> Option<PathBuf> {
    let mut tracefs = Vec::new();
    let mut debugfs = Vec::new();
    for line in mountinfo.lines() {
        // "36 25 0:12 / /sys/kernel/tracing rw,nosuid - tracefs nodev rw"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split_whitespace().nth(4).map(unescape);
        let fstype = right.split_whitespace().next();
        match (fstype, mount_point) {
            (Some("tracefs"), Some(p)) => tracefs.push(PathBuf::from(p)),
            (Some("debugfs"), Some(p)) => debugfs.push(PathBuf::from(p).join("tracing")),
            _ => {}
        }
    }
    tracefs
        .iter()
        .find(|p| p.as_path() == Path::new(DEFAULT_MOUNT))
        .or_else(|| tracefs.first())
        .cloned()
        .or_else(|| debugfs.into_iter().find(|p| p.join("trace").exists()))
}

/// mountinfo escapes spaces and friends as octal (`\040`).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A private tracefs instance, removed on drop (and by the signal/panic cleanup).
#[derive(Debug)]
pub struct Instance {
    name: String,
    /// Access path (through the tracefs handle).
    dir: PathBuf,
    removed: bool,
}

impl Instance {
    /// Creates `instances/xfrmdiag-<pid>` (`xfrmdiag-<pid>-<n>` for later ones in one process),
    /// first removing the instances of killed xfrmdiag runs (said on stderr, see [`crate::stale`]).
    pub fn create(tracefs: &Tracefs) -> Result<Instance, Error> {
        crate::stale::sweep_before_capture(tracefs);
        let n = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = if n == 0 {
            format!("xfrmdiag-{pid}")
        } else {
            format!("xfrmdiag-{pid}-{n}")
        };
        let dir = tracefs.path(&format!("instances/{name}"));
        let mut created = std::fs::create_dir(&dir);
        if matches!(&created, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists) {
            // Our name, not created by this process: left by a killed run whose pid we reuse.
            let _ = cleanup::remove_instance_dir(&dir);
            created = std::fs::create_dir(&dir);
        }
        created.map_err(|source| Error::Instance {
            path: tracefs.display(&format!("instances/{name}")),
            source,
        })?;
        cleanup::register_instance(&dir);
        Ok(Instance {
            name,
            dir,
            removed: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path(relative).exists()
    }

    pub fn read(&self, relative: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.path(relative))
    }

    /// Writes (truncating) one value to a control file, as `echo VALUE > file`.
    pub fn write(&self, relative: &str, value: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(relative))?;
        f.write_all(value.as_bytes())
    }

    /// Appends one value, as `echo VALUE >> file` (set_ftrace_filter, set_event).
    pub fn append(&self, relative: &str, value: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path(relative))?;
        f.write_all(value.as_bytes())
    }

    /// Removes the instance (tracer reset first; the kernel refuses while trace_pipe is open).
    pub fn remove(&mut self) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        if !cleanup::is_registered_instance(&self.dir) && cleanup::interrupted() {
            // The signal thread is removing it and will exit the process.
            cleanup::wait_for_exit();
        }
        let result = cleanup::remove_instance_dir(&self.dir);
        cleanup::unregister_instance(&self.dir);
        result.map_err(|e| Error::io("remove trace instance", self.dir.clone(), e))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_prefers_sys_kernel_tracing() {
        let text = "\
22 1 0:21 / /tmp/my\\040tfs rw - tracefs nodev rw
36 25 0:12 / /sys/kernel/tracing rw,nosuid - tracefs nodev rw
";
        assert_eq!(
            find_in_mountinfo(text),
            Some(PathBuf::from("/sys/kernel/tracing"))
        );
        let only_other = "22 1 0:21 / /tmp/my\\040tfs rw - tracefs nodev rw\n";
        assert_eq!(
            find_in_mountinfo(only_other),
            Some(PathBuf::from("/tmp/my tfs"))
        );
        assert_eq!(
            find_in_mountinfo("36 25 0:3 / /proc rw - proc proc rw\n"),
            None
        );
    }
}
