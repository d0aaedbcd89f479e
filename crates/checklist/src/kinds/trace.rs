//! `kind = "trace-capability"`: what the trace reader can use here, from its probe (tracefs
//! mount, a private instance, the function tracer really tried, events). The probe leaves the
//! system as found: a private instance it makes is removed, a mount it makes is undone.

use std::sync::Mutex;

use xfrmdiag_trace::{probe, Probe};

use super::{Context, Outcome};
use crate::model::{TraceCheck, TraceNeed};

/// One probe per process: tracefs is global, and several checks ask about it.
fn cached_probe() -> Result<Probe, String> {
    static CACHE: Mutex<Option<Result<Probe, String>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .get_or_insert_with(|| probe(None).map_err(|e| e.to_string()))
        .clone()
}

pub fn run(check: &TraceCheck, _ctx: &Context) -> Outcome {
    let probe = match cached_probe() {
        Ok(p) => p,
        Err(e) => return Outcome::fail(format!("tracefs is not usable: {e}"), None),
    };
    evaluate(check, &probe)
}

pub fn evaluate(check: &TraceCheck, probe: &Probe) -> Outcome {
    let at = probe.tracefs.display().to_string();
    match check.need {
        TraceNeed::Tracefs => {
            let mount = if probe.mounted_for_probe {
                format!("tracefs not mounted at {at}; probed through a private mount only this process saw")
            } else {
                format!("tracefs at {at}")
            };
            if probe.instances {
                Outcome::pass(
                    "tracefs works and a private instance can be made",
                    Some(mount),
                )
            } else {
                Outcome::fail(
                    format!(
                        "tracefs is there but no private instance can be made: {}",
                        probe.instance_error.as_deref().unwrap_or("unknown reason")
                    ),
                    Some(mount),
                )
            }
        }
        TraceNeed::FunctionTracer => {
            let f = &probe.function;
            let observed = Some(format!(
                "listed: {}, usable: {}{}",
                f.listed,
                f.usable,
                probe
                    .lockdown
                    .as_deref()
                    .map(|l| format!(", lockdown: {l}"))
                    .unwrap_or_default()
            ));
            if f.usable {
                Outcome::pass(
                    "the function tracer works in a private instance (xfrm call paths)",
                    observed,
                )
            } else {
                Outcome::fail(
                    format!(
                        "the function tracer is not usable: {}; diagnosis still works from counters and drop reasons",
                        f.reason.as_deref().unwrap_or("not listed in available_tracers")
                    ),
                    observed,
                )
            }
        }
        TraceNeed::Tracepoint => {
            let event = check.event.as_deref().unwrap_or("skb:kfree_skb");
            if let Some(e) = probe.events.iter().find(|e| e.name == event) {
                let observed = Some(if e.fields.is_empty() {
                    format!("{event} present: {}", e.present)
                } else {
                    format!("{event} fields: {}", e.fields.join(", "))
                });
                return Outcome::check(
                    e.present,
                    if e.present {
                        format!("tracepoint {event} is available")
                    } else {
                        format!("tracepoint {event} is not in this kernel")
                    },
                    observed,
                );
            }
            let Some((system, name)) = event.split_once(':') else {
                return Outcome::fail(
                    format!(
                        "`{event}` is not an event name: write SYSTEM:EVENT, e.g. skb:kfree_skb"
                    ),
                    None,
                );
            };
            if probe.mounted_for_probe {
                return Outcome::skip(format!(
                    "tracefs is not mounted, so only the default events were probed, not {event}"
                ));
            }
            let format_file = probe
                .tracefs
                .join("events")
                .join(system)
                .join(name)
                .join("format");
            Outcome::check(
                format_file.exists(),
                if format_file.exists() {
                    format!("tracepoint {event} is available")
                } else {
                    format!("tracepoint {event} is not in this kernel")
                },
                Some(format_file.display().to_string()),
            )
        }
    }
}
