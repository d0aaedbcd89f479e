//! Property tests for deltas: no wrap-around increases, exact increases, JSON round trips.

use proptest::prelude::*;
use xfrmdiag_counters::{delta, Change, Snapshot};

fn snapshot(at: u64, counters: &std::collections::BTreeMap<String, u64>) -> Snapshot {
    let mut s = Snapshot::empty("prop");
    s.taken_at_unix_ns = at;
    for (n, v) in counters {
        s.add_counter(n.clone(), *v);
    }
    s
}

proptest! {
    #[test]
    fn a_counter_going_back_is_a_reset_never_a_huge_increase(before in any::<u64>(), after in any::<u64>()) {
        let change = Change::between("XfrmInNoPols", before, after);
        match change {
            Change::Unchanged => prop_assert_eq!(before, after),
            Change::Increased(n) => prop_assert_eq!(before + n, after),
            Change::Reset { before: b, after: a } => {
                prop_assert!(after < before);
                prop_assert_eq!((b, a), (before, after));
            }
            Change::Decreased(_) => prop_assert!(false, "only gauges decrease"),
        }
        prop_assert!(change.events() <= after);
    }

    #[test]
    fn delta_holds_exactly_the_changed_counters(
        before in proptest::collection::btree_map("[A-Za-z.]{1,12}", any::<u64>(), 0..30),
        after in proptest::collection::btree_map("[A-Za-z.]{1,12}", any::<u64>(), 0..30),
        t0 in 0u64..1 << 62,
        dt in 0u64..1 << 40,
    ) {
        let (a, b) = (snapshot(t0, &before), snapshot(t0 + dt, &after));
        let d = delta(&a, &b);
        for (name, now) in &after {
            let then = before.get(name).copied().unwrap_or(0);
            prop_assert_eq!(d.delta.contains_key(name), then != *now, "{}", name);
        }
        for name in d.delta.keys() {
            prop_assert!(after.contains_key(name));
        }
        for name in &d.gone {
            prop_assert!(before.contains_key(name) && !after.contains_key(name));
        }
        prop_assert!((d.elapsed_secs - dt as f64 / 1e9).abs() < 1e-6);
        let json = serde_json::to_string(&d).unwrap();
        let back: xfrmdiag_counters::Delta = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.delta, d.delta);
    }
}
