//! What moved between two snapshots, with counter resets told apart from increases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{kind_of, Kind};
use crate::Snapshot;

/// How one counter changed between two snapshots.
///
/// JSON: `"unchanged"`, `{"increased": 3}`, `{"decreased": 2}` (gauges only) or
/// `{"reset": {"before": 10, "after": 1}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Unchanged,
    /// Went up by this much.
    Increased(u64),
    /// A gauge (e.g. `Tcp.CurrEstab`) went down by this much; counters never do.
    Decreased(u64),
    /// A counter went backwards: the namespace or SA was recreated, or the counter wrapped.
    /// Reported as such, never as a huge wrapped-around increase.
    Reset {
        before: u64,
        after: u64,
    },
}

impl Change {
    /// The change between two readings of counter `name`.
    pub fn between(name: &str, before: u64, after: u64) -> Change {
        use std::cmp::Ordering::*;
        match after.cmp(&before) {
            Equal => Change::Unchanged,
            Greater => Change::Increased(after - before),
            Less if kind_of(name) == Kind::Gauge => Change::Decreased(before - after),
            Less => Change::Reset { before, after },
        }
    }

    /// Events counted since the earlier reading, as far as they can be known: the increase, or
    /// after a reset at least the value counted since the reset.
    pub fn events(&self) -> u64 {
        match *self {
            Change::Increased(n) => n,
            Change::Reset { after, .. } => after,
            Change::Unchanged | Change::Decreased(_) => 0,
        }
    }
}

/// Everything that changed in one namespace between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub namespace: String,
    /// When the earlier snapshot was taken (RFC 3339).
    pub since: String,
    /// When the later snapshot was taken (RFC 3339).
    pub taken_at: String,
    /// Seconds between the two (0 if the wall clock stepped backwards).
    pub elapsed_secs: f64,
    /// Only counters that changed. A counter absent before counts from zero (a new SA).
    pub delta: BTreeMap<String, Change>,
    /// Counters present before and gone after (an SA or interface deleted).
    pub gone: Vec<String>,
    /// Problems of the later snapshot, and a note when the two are from different namespaces.
    pub problems: Vec<String>,
}

/// Compares two snapshots of the same namespace.
pub fn delta(before: &Snapshot, after: &Snapshot) -> Delta {
    let mut changes = BTreeMap::new();
    for (name, &now) in &after.counters {
        let then = before.counters.get(name).copied().unwrap_or(0);
        let change = Change::between(name, then, now);
        if change != Change::Unchanged {
            changes.insert(name.clone(), change);
        }
    }
    let gone = before
        .counters
        .keys()
        .filter(|name| !after.counters.contains_key(*name))
        .cloned()
        .collect();
    let mut problems = after.problems.clone();
    if before.namespace != after.namespace {
        problems.push(format!(
            "comparing namespace '{}' with a snapshot of '{}'",
            after.namespace, before.namespace
        ));
    }
    let elapsed_ns = after
        .taken_at_unix_ns
        .saturating_sub(before.taken_at_unix_ns);
    Delta {
        namespace: after.namespace.clone(),
        since: before.taken_at.clone(),
        taken_at: after.taken_at.clone(),
        elapsed_secs: elapsed_ns as f64 / 1e9,
        delta: changes,
        gone,
        problems,
    }
}

impl Delta {
    /// Events counted on `name` (0 when it did not move).
    pub fn events(&self, name: &str) -> u64 {
        self.delta.get(name).map_or(0, Change::events)
    }

    /// Events per second on `name`, when some time elapsed.
    pub fn rate(&self, name: &str) -> Option<f64> {
        (self.elapsed_secs > 0.0).then(|| self.events(name) as f64 / self.elapsed_secs)
    }

    /// Error counters that moved, by name.
    pub fn errors(&self) -> impl Iterator<Item = (&str, &Change)> {
        self.delta
            .iter()
            .filter(|(name, change)| kind_of(name) == Kind::Error && change.events() > 0)
            .map(|(name, change)| (name.as_str(), change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(ns: &str, at: u64, counters: &[(&str, u64)]) -> Snapshot {
        let mut s = Snapshot::empty(ns);
        s.taken_at_unix_ns = at;
        for (n, v) in counters {
            s.add_counter(*n, *v);
        }
        s
    }

    #[test]
    fn increases_resets_and_unchanged() {
        let a = snap(
            "x",
            1_000_000_000,
            &[
                ("XfrmInNoPols", 5),
                ("Udp.InErrors", 9),
                ("Ip.InReceives", 3),
            ],
        );
        let b = snap(
            "x",
            3_000_000_000,
            &[
                ("XfrmInNoPols", 6),
                ("Udp.InErrors", 2),
                ("Ip.InReceives", 3),
            ],
        );
        let d = delta(&a, &b);
        assert_eq!(d.delta["XfrmInNoPols"], Change::Increased(1));
        assert_eq!(
            d.delta["Udp.InErrors"],
            Change::Reset {
                before: 9,
                after: 2
            }
        );
        assert!(!d.delta.contains_key("Ip.InReceives"));
        assert_eq!(d.elapsed_secs, 2.0);
        assert_eq!(d.rate("XfrmInNoPols"), Some(0.5));
        let errors: Vec<&str> = d.errors().map(|(n, _)| n).collect();
        assert_eq!(errors, ["Udp.InErrors", "XfrmInNoPols"]);
    }

    #[test]
    fn gauges_go_down_without_reset() {
        let a = snap("x", 0, &[("Tcp.CurrEstab", 5)]);
        let b = snap("x", 0, &[("Tcp.CurrEstab", 2)]);
        assert_eq!(delta(&a, &b).delta["Tcp.CurrEstab"], Change::Decreased(3));
    }

    #[test]
    fn new_and_gone_counters() {
        let a = snap("x", 0, &[("sa:0x00000001:packets", 4)]);
        let b = snap("y", 0, &[("sa:0x00000002:packets", 7)]);
        let d = delta(&a, &b);
        assert_eq!(d.delta["sa:0x00000002:packets"], Change::Increased(7));
        assert_eq!(d.gone, ["sa:0x00000001:packets"]);
        assert!(d.problems[0].contains("namespace"));
    }

    #[test]
    fn json_shape() {
        let a = snap("x", 0, &[("A", 1), ("B", 5)]);
        let b = snap("x", 0, &[("A", 2), ("B", 1)]);
        let json = serde_json::to_value(delta(&a, &b)).unwrap();
        assert_eq!(json["delta"]["A"], serde_json::json!({"increased": 1}));
        assert_eq!(
            json["delta"]["B"],
            serde_json::json!({"reset": {"before": 5, "after": 1}})
        );
        let back: Delta = serde_json::from_value(json).unwrap();
        assert_eq!(back.delta["A"], Change::Increased(1));
    }
}
