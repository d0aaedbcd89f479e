//! What this kernel allows: tracers that really work (not just listed), instances, events.
//!
//! Listed is not usable: lockdown and LSMs refuse the function tracer with EPERM even when
//! `available_tracers` names it. So the probe tries, in a private instance, with a one-function
//! filter and recording off, and reports what the kernel said.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capture::{DEFAULT_EVENTS, FILTER_PROBE_FUNCTIONS};
use crate::tracefs::{Instance, Tracefs};
use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracerSupport {
    /// Named in the instance's `available_tracers`.
    pub listed: bool,
    /// Setting it as `current_tracer` in a private instance worked.
    pub usable: bool,
    /// Why not, in the kernel's words plus what usually causes it.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSupport {
    /// `system:event`, e.g. `skb:kfree_skb`.
    pub name: String,
    pub present: bool,
    /// Field names from the event's `format` (for kfree_skb: has it `reason` and `location`?).
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Where tracefs is mounted.
    pub tracefs: PathBuf,
    /// True when tracefs was not mounted: the probe used a private mount (invisible to others).
    pub mounted_for_probe: bool,
    /// Global `available_tracers`.
    pub available_tracers: Vec<String>,
    /// Kernel lockdown mode (`none`, `integrity`, `confidentiality`) when the LSM is present.
    pub lockdown: Option<String>,
    /// `kernel.ftrace_enabled`: when false the function tracer can be set but records nothing.
    pub ftrace_enabled: Option<bool>,
    /// Whether a private instance could be created (and removed).
    pub instances: bool,
    pub instance_error: Option<String>,
    /// Tracers an instance may use (function_graph needs a recent kernel).
    pub instance_tracers: Vec<String>,
    pub function: TracerSupport,
    pub function_graph: TracerSupport,
    /// `available_filter_functions` readable (lockdown hides it).
    pub filter_functions_readable: bool,
    /// A `stacktrace` trigger on kfree_skb works (gives drop call paths without the function tracer).
    pub stacktrace_trigger: bool,
    pub events: Vec<EventSupport>,
    /// Events under an `xfrm` system, if the kernel has any.
    pub xfrm_events: Vec<String>,
    /// `/proc/kallsyms` shows real addresses (needed to symbolize 6.1-style drop locations).
    pub kallsyms_addresses: bool,
    /// Instances named `xfrmdiag-<pid>` whose process is gone (left by a killed run).
    pub stale_instances: Vec<String>,
}

/// Probes tracefs at `tracefs` (or the usual place, mounting it for the probe if needed).
///
/// Installs the process-wide signal/panic cleanup ([`crate::cleanup::install_handlers`]): the
/// probe creates an instance too, and a SIGTERM in the middle must not leave it behind.
pub fn probe(tracefs: Option<&Path>) -> Result<Probe, Error> {
    crate::cleanup::install_handlers();
    let fs = Tracefs::open(tracefs)?;
    // Unreadable control files mean no permission: say so rather than report "absent" for all.
    let available_tracers =
        words(
            &fs.read("available_tracers")
                .map_err(|e| Error::Unavailable {
                    detail: format!("{e}: run as root"),
                })?,
        );
    let filter_functions_readable = std::fs::File::open(fs.path("available_filter_functions"))
        .and_then(|mut f| {
            use std::io::Read;
            let mut buf = [0u8; 64];
            f.read(&mut buf)
        })
        .is_ok();
    let stale_instances = crate::stale::stale_instance_names(&fs);

    let mut events: Vec<EventSupport> = DEFAULT_EVENTS
        .iter()
        .map(|name| event_support(&fs, name))
        .collect();
    events.sort_by(|a, b| a.name.cmp(&b.name));
    let xfrm_events = xfrm_events(&fs);

    let mut probe = Probe {
        tracefs: fs.mount_point().to_path_buf(),
        mounted_for_probe: fs.mounted_by_us(),
        available_tracers,
        lockdown: lockdown(),
        ftrace_enabled: std::fs::read_to_string("/proc/sys/kernel/ftrace_enabled")
            .ok()
            .map(|v| v.trim() != "0"),
        instances: false,
        instance_error: None,
        instance_tracers: Vec::new(),
        function: unusable("no private instance"),
        function_graph: unusable("no private instance"),
        filter_functions_readable,
        stacktrace_trigger: false,
        events,
        xfrm_events,
        kallsyms_addresses: kallsyms_has_addresses(Path::new("/proc")),
        stale_instances,
    };

    match Instance::create(&fs) {
        Err(e) => probe.instance_error = Some(e.to_string()),
        Ok(mut instance) => {
            probe.instances = true;
            let _ = instance.write("tracing_on", "0");
            probe.instance_tracers = words(&instance.read("available_tracers").unwrap_or_default());
            probe.function = try_tracer(&instance, &probe.instance_tracers, "function");
            probe.function_graph = try_tracer(&instance, &probe.instance_tracers, "function_graph");
            probe.stacktrace_trigger = instance
                .write("events/skb/kfree_skb/trigger", "stacktrace")
                .is_ok();
            if let Err(e) = instance.remove() {
                probe.instance_error = Some(e.to_string());
            }
        }
    }
    Ok(probe)
}

fn unusable(reason: &str) -> TracerSupport {
    TracerSupport {
        listed: false,
        usable: false,
        reason: Some(reason.to_string()),
    }
}

/// Sets a one-function filter (so nothing else is hooked), then the tracer, then back to nop.
fn try_tracer(instance: &Instance, instance_tracers: &[String], tracer: &str) -> TracerSupport {
    let listed = instance_tracers.iter().any(|t| t == tracer);
    if !listed {
        return TracerSupport {
            listed,
            usable: false,
            reason: Some(format!(
                "not offered in instances on this kernel (instance available_tracers: {})",
                instance_tracers.join(" ")
            )),
        };
    }
    let filter_result = FILTER_PROBE_FUNCTIONS
        .iter()
        .map(|f| instance.write("set_ftrace_filter", f))
        .find(|r| r.is_ok())
        .unwrap_or_else(|| instance.write("set_ftrace_filter", FILTER_PROBE_FUNCTIONS[0]));
    if let Err(e) = filter_result {
        return TracerSupport {
            listed,
            usable: false,
            reason: Some(refusal("set_ftrace_filter", &e)),
        };
    }
    let result = instance.write("current_tracer", tracer);
    let _ = instance.write("current_tracer", "nop");
    let _ = instance.write("set_ftrace_filter", "");
    match result {
        Ok(()) => TracerSupport {
            listed,
            usable: true,
            reason: None,
        },
        Err(e) => TracerSupport {
            listed,
            usable: false,
            reason: Some(refusal("current_tracer", &e)),
        },
    }
}

/// The kernel's answer, with the usual cause of EPERM spelled out.
pub(crate) fn refusal(file: &str, e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(nix::libc::EPERM) {
        format!("writing {file}: {e} (kernel lockdown or an LSM refuses the function tracer)")
    } else {
        format!("writing {file}: {e}")
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn event_support(fs: &Tracefs, name: &str) -> EventSupport {
    let dir = name.replacen(':', "/", 1);
    let format = fs.read(&format!("events/{dir}/format")).ok();
    EventSupport {
        name: name.to_string(),
        present: format.is_some(),
        fields: format.as_deref().map(format_fields).unwrap_or_default(),
    }
}

/// Field names of an event `format`, without the `common_` ones.
pub(crate) fn format_fields(format: &str) -> Vec<String> {
    format
        .lines()
        .filter_map(|l| l.trim().strip_prefix("field:"))
        .filter_map(|decl| decl.split(';').next())
        .filter_map(|decl| decl.split_whitespace().last())
        .map(|name| name.split('[').next().unwrap_or(name).to_string())
        .filter(|name| !name.starts_with("common_"))
        .collect()
}

fn xfrm_events(fs: &Tracefs) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(systems) = std::fs::read_dir(fs.path("events")) else {
        return found;
    };
    for system in systems.flatten() {
        let sys = system.file_name().to_string_lossy().into_owned();
        if !sys.contains("xfrm") {
            continue;
        }
        if let Ok(events) = std::fs::read_dir(system.path()) {
            for event in events.flatten() {
                if event.path().join("format").exists() {
                    found.push(format!("{sys}:{}", event.file_name().to_string_lossy()));
                }
            }
        }
    }
    found.sort();
    found
}

fn lockdown() -> Option<String> {
    let text = std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?;
    let start = text.find('[')? + 1;
    let end = text[start..].find(']')? + start;
    Some(text[start..end].to_string())
}

/// True when kallsyms shows at least one non-zero address.
pub(crate) fn kallsyms_has_addresses(proc_root: &Path) -> bool {
    use std::io::{BufRead, BufReader};
    let Ok(f) = std::fs::File::open(proc_root.join("kallsyms")) else {
        return false;
    };
    BufReader::new(f)
        .lines()
        .take(50)
        .map_while(Result::ok)
        .any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|a| a.bytes().any(|b| b != b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfree_skb_format_fields() {
        let format = "name: kfree_skb\nID: 2310\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\tsigned:0;\n\tfield:char name[16];\toffset:40;\tsize:16;\tsigned:0;\n";
        assert_eq!(
            format_fields(format),
            ["skbaddr", "location", "reason", "name"]
        );
    }
}
