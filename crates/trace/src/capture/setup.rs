//! Setting up the private instance: ring buffer size, function filter and tracer, xfrm events.

use crate::probe::refusal;
use crate::tracefs::{Instance, Tracefs};

use super::{FunctionTracer, FILTER_FUNCTIONS, NOTRACE_FUNCTIONS};

/// 32 MiB shared by the CPUs the instance records on, 512 KiB to 4 MiB each.
pub(super) fn default_buffer_kb(instance: &Instance) -> u32 {
    let cpus = std::fs::read_dir(instance.path("per_cpu"))
        .map(|d| d.count())
        .unwrap_or(0)
        .max(1) as u32;
    (32 * 1024 / cpus).clamp(512, 4096)
}

/// Applies the function filter and sets the tracer; any refusal becomes `Refused`.
pub(super) fn set_up_functions(
    tracefs: &Tracefs,
    instance: &Instance,
    graph: bool,
    notes: &mut Vec<String>,
) -> FunctionTracer {
    let instance_tracers = instance.read("available_tracers").unwrap_or_default();
    let offered = |t: &str| instance_tracers.split_whitespace().any(|x| x == t);
    let tracer = if graph && offered("function_graph") {
        "function_graph"
    } else {
        if graph {
            notes.push(
                "function_graph is not offered in tracefs instances on this kernel: used function"
                    .into(),
            );
        }
        "function"
    };
    if !offered(tracer) {
        return FunctionTracer::Refused {
            reason: format!("the {tracer} tracer is not available in instances on this kernel"),
        };
    }
    // Plain names only when the kernel has them (a name that matches nothing is an error).
    let available = tracefs.read("available_filter_functions").ok();
    let mut accepted = Vec::new();
    let mut first_error = None;
    for pattern in FILTER_FUNCTIONS {
        let is_glob = pattern.contains('*');
        if !is_glob {
            if let Some(list) = &available {
                if !list
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(pattern))
                {
                    continue;
                }
            }
        }
        match instance.append("set_ftrace_filter", pattern) {
            Ok(()) => accepted.push(pattern.to_string()),
            Err(e) => {
                if e.raw_os_error() == Some(nix::libc::EPERM) {
                    return FunctionTracer::Refused {
                        reason: refusal("set_ftrace_filter", &e),
                    };
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if accepted.is_empty() {
        // An empty filter would trace every function in the kernel: never do that.
        let _ = instance.write("set_ftrace_filter", "");
        return FunctionTracer::Refused {
            reason: match first_error {
                Some(e) => format!("no function matched the filter ({e})"),
                None => "no function matched the filter".into(),
            },
        };
    }
    for pattern in NOTRACE_FUNCTIONS {
        // Best effort: a pattern that matches nothing is refused, and that is fine.
        let _ = instance.append("set_ftrace_notrace", pattern);
    }
    if tracer == "function_graph" {
        // Timestamps and task names on every line, as the function tracer has them.
        let _ = instance.write("options/funcgraph-abstime", "1");
        let _ = instance.write("options/funcgraph-proc", "1");
    }
    match instance.write("current_tracer", tracer) {
        Ok(()) => {
            if tracer == "function_graph" {
                // Some kernels only create the tracer's option files once it is current.
                let _ = instance.write("options/funcgraph-abstime", "1");
                let _ = instance.write("options/funcgraph-proc", "1");
            }
            FunctionTracer::Used {
                tracer: tracer.to_string(),
                filters: accepted,
            }
        }
        Err(e) => {
            let _ = instance.write("set_ftrace_filter", "");
            FunctionTracer::Refused {
                reason: refusal("current_tracer", &e),
            }
        }
    }
}

/// Every event of an `xfrm*` system in the instance, as `system:name`.
pub(super) fn xfrm_event_names(instance: &Instance) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(systems) = std::fs::read_dir(instance.path("events")) {
        for system in systems.flatten() {
            let sys = system.file_name().to_string_lossy().into_owned();
            if !sys.contains("xfrm") {
                continue;
            }
            for event in std::fs::read_dir(system.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if event.path().join("enable").exists() && event.path().join("format").exists() {
                    names.push(format!("{sys}:{}", event.file_name().to_string_lossy()));
                }
            }
        }
    }
    names.sort();
    names
}
