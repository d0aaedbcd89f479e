//! Evidence JSON (`xfrmdiag analyze FILE`, `compare A B`): `EvidenceFile` parsed with serde,
//! then every file that parses judged by the engine, compared, and rendered as the reports
//! would be. The engine may see
//! any evidence a file can hold: counts at u64::MAX, sides without a role's traffic, empty and
//! repeated SAs. Inputs: the constructed ESP cases, mutated as text and as JSON trees.
//!
//! The one place that names the evidence types: re-point `Evidence` when they move.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

use crate::engine::{fixture, fuzz};
use crate::mutate;

type Evidence = xfrmdiag_diagnose::evidence::EvidenceFile;

pub fn check(bytes: &[u8]) {
    let Ok(file) = serde_json::from_slice::<Evidence>(bytes) else {
        return;
    };
    let report = xfrmdiag_diagnose::diagnose(&file.sides);
    let _ = xfrmdiag_report::diagnose::json(&report, &file.sides);
    let paint = xfrmdiag_report::diagnose::Paint { color: false };
    let _ = xfrmdiag_report::diagnose::human(&report, &file.sides, paint);
    // `xfrmdiag compare A B`: the sides split into two hosts, and each side against itself.
    let (a, b) = file.sides.split_at(file.sides.len() / 2);
    for (a, b) in [(a, b), (&file.sides[..], &file.sides[..])] {
        let comparison = xfrmdiag_diagnose::compare(a, b);
        let _ = xfrmdiag_report::diagnose::compare_json(&comparison);
        let _ = xfrmdiag_report::diagnose::compare_human(&comparison, paint);
    }
}

const CASES: &[&str] = &[
    "delivered",
    "encap-mismatch",
    "nat-t-socket-missing",
    "no-inbound-sa",
    "outbound-mtu",
    "replay-window",
    "sa-auth-failure",
    "sa-expired",
    "sa-mode-mismatch-tunnel-into-transport",
    "sa-mode-mismatch",
];

fn seeds() -> Vec<Vec<u8>> {
    CASES
        .iter()
        .map(|c| fixture(&format!("constructed-diagnose-esp/{c}.json")))
        .collect()
}

/// Every string and number the seeds hold: swapping them between fields keeps values in
/// the vocabulary the engine matches on (cause ids, roles, counter names, addresses).
fn vocabulary(seeds: &[Value]) -> Vec<Value> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::Object(o) => o.iter().for_each(|(k, v)| {
                out.push(Value::String(k.clone()));
                walk(v, out)
            }),
            leaf => out.push(leaf.clone()),
        }
    }
    let mut out = Vec::new();
    seeds.iter().for_each(|s| walk(s, &mut out));
    out.extend([
        serde_json::json!(u64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1e308),
        serde_json::json!(""),
        serde_json::json!("🦀"),
        Value::Null,
        serde_json::json!([]),
        serde_json::json!({}),
    ]);
    out.sort_by_key(|v| v.to_string());
    out.dedup();
    out
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replaces the n-th node with a vocabulary value.
    Replace(usize, usize),
    /// Replaces the n-th node with a copy of the m-th (a subtree grafted elsewhere).
    Graft(usize, usize),
    /// Removes the n-th node from its array or object.
    Remove(usize),
    /// Repeats the n-th node's first array element.
    Repeat(usize),
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The n-th node in pre-order (n taken modulo the node count).
fn node(v: &mut Value, n: usize) -> &mut Value {
    /// The child indices leading to the n-th node.
    fn path(v: &Value, n: &mut usize, out: &mut Vec<usize>) -> bool {
        if *n == 0 {
            return true;
        }
        *n -= 1;
        let children: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o.values().collect(),
            _ => Vec::new(),
        };
        for (i, c) in children.into_iter().enumerate() {
            out.push(i);
            if path(c, n, out) {
                return true;
            }
            out.pop();
        }
        false
    }
    let mut i = n % count(v);
    let mut steps = Vec::new();
    path(v, &mut i, &mut steps);
    let mut at = v;
    for step in steps {
        at = match at {
            Value::Array(a) => &mut a[step],
            Value::Object(o) => o.values_mut().nth(step).unwrap(),
            _ => unreachable!("a path only goes through arrays and objects"),
        };
    }
    at
}

fn apply(tree: &mut Value, edit: &Edit, vocab: &[Value]) {
    match *edit {
        Edit::Replace(n, w) => *node(tree, n) = vocab[w % vocab.len()].clone(),
        Edit::Graft(n, m) => {
            let copy = node(tree, m).clone();
            *node(tree, n) = copy;
        }
        Edit::Remove(n) => match node(tree, n) {
            Value::Array(a) if !a.is_empty() => {
                a.remove(n % a.len());
            }
            Value::Object(o) if !o.is_empty() => {
                let key = o.keys().nth(n % o.len()).cloned().unwrap();
                o.remove(&key);
            }
            _ => {}
        },
        Edit::Repeat(n) => {
            if let Value::Array(a) = node(tree, n) {
                if let Some(first) = a.first().cloned() {
                    a.push(first);
                }
            }
        }
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<usize>()).prop_map(|(n, w)| Edit::Replace(n, w)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(n, m)| Edit::Graft(n, m)),
        2 => any::<usize>().prop_map(Edit::Remove),
        1 => any::<usize>().prop_map(Edit::Repeat),
    ];
    vec(edit, 1..10)
}

fn tree_mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let trees: Vec<Value> = seeds
        .iter()
        .map(|s| serde_json::from_slice(s).expect("seed is JSON"))
        .collect();
    let vocab = vocabulary(&trees);
    (0..trees.len(), edits()).prop_map(move |(i, edits)| {
        let mut tree = trees[i].clone();
        for e in &edits {
            apply(&mut tree, e, &vocab);
        }
        serde_json::to_vec(&tree).unwrap()
    })
}

#[test]
fn evidence_files_never_panic_the_engine() {
    fuzz("evidence", "json-tree", tree_mutated(seeds()), check);
    fuzz("evidence", "mutated", mutate::text(seeds()), check);
}

#[test]
fn every_seed_parses() {
    for seed in seeds() {
        serde_json::from_slice::<Evidence>(&seed).unwrap();
    }
}
