//! Checklist TOML through `xfrmdiag_checklist::load` (TOML, `${var}` expansion, per-kind
//! validation). The shipped checklists mutated, and checklists built from the real keys and
//! kinds with values of every TOML type, references to defined and undefined variables.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::engine::fuzz;
use crate::mutate;

pub fn check(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let vars = xfrmdiag_checklist::Vars(vec![("remote".into(), "192.0.2.20".into())]);
    let _ = xfrmdiag_checklist::load(&text, "fuzz.toml", &vars);
    let _ = xfrmdiag_checklist::parse::parse_duration(&text);
}

fn shipped() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seeds = Vec::new();
    for dir in ["examples", "crates/checklist/builtin"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(!seeds.is_empty());
    seeds
}

const KINDS: &[&str] = &[
    "counter",
    "default-policy",
    "diagnose",
    "module-or-feature",
    "policy",
    "sa",
    "socket",
    "sysctl",
    "trace-capability",
    "nonsense",
    "",
];

const KEYS: &[&str] = &[
    "action",
    "around",
    "counter",
    "description",
    "dir",
    "dst",
    "equals",
    "event",
    "expect",
    "feature",
    "key",
    "lifetime_margin_percent",
    "local",
    "max",
    "max_count",
    "min_count",
    "mode",
    "name",
    "need",
    "one_of",
    "port",
    "proto",
    "quiet_window",
    "severity",
    "src",
    "template",
    "test_port",
    "window",
    "count",
    "kind",
];

/// A TOML value of any type, often a string that uses `${…}`.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-z0-9./:_ -]{0,16}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(
            &[
                "\"${remote}\"",
                "\"${local}\"",
                "\"${undefined}\"",
                "\"${\"",
                "\"$${remote}\"",
                "\"${remote}${remote}\"",
                "\"esp\"",
                "\"transport\"",
                "\"in\"",
                "\"out\"",
                "\"2s\"",
                "\"500ms\"",
                "\"10.0.0.0/8\"",
                "\"::1\"",
                "\"udp:5000\"",
                "\"critical\"",
                "\"XfrmInNoStates\"",
                "\"\"",
                "\"ms\"",
                "\"1e400s\"",
                "\"-1s\"",
            ][..]
        )
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(&["0", "-1", "65536", "1.5", "nan", "inf", "true", "false"][..])
            .prop_map(str::to_string),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

fn built() -> impl Strategy<Value = Vec<u8>> {
    let var = ("[a-z_]{1,8}", value());
    let check = (
        prop::sample::select(KINDS),
        vec((prop::sample::select(KEYS), value()), 0..8),
    );
    (prop::option::of(value()), vec(var, 0..4), vec(check, 0..6)).prop_map(
        |(name, vars, checks)| {
            let mut s = String::new();
            if let Some(n) = name {
                s.push_str(&format!("name = {n}\n"));
            }
            s.push_str("[variables]\n");
            for (k, v) in vars {
                s.push_str(&format!("{k} = {v}\n"));
            }
            for (kind, keys) in checks {
                s.push_str(&format!("\n[[check]]\nkind = {kind:?}\n"));
                let mut seen = std::collections::HashSet::new();
                for (k, v) in keys {
                    // A repeated key is a TOML error every time: keep the checks reachable.
                    if k != "kind" && seen.insert(k) {
                        s.push_str(&format!("{k} = {v}\n"));
                    }
                }
            }
            s.into_bytes()
        },
    )
}

#[test]
fn checklists_never_panic() {
    fuzz("checklist", "mutated", mutate::text(shipped()), check);
    fuzz("checklist", "built", built(), check);
}
