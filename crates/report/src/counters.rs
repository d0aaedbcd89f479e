//! Rendering of counter snapshots and deltas: tables with each counter's meaning, the JSON that
//! adds meanings to a delta, and the per-interval lines and records of `xfrmdiag watch`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};
use tabled::builder::Builder;
use tabled::settings::Style;
use xfrmdiag_counters::{lookup, Change, Delta, Filter, Kind, Snapshot};

/// Where a counter sorts: the IPsec counters first, then what sits next to them on the path.
fn family_rank(name: &str) -> u8 {
    const ORDER: [&str; 10] = [
        "Xfrm", "sa:", "Udp", "Ip.", "IpExt.", "Ip6", "Icmp", "Tcp", "", "dev:",
    ];
    ORDER
        .iter()
        .position(|p| !p.is_empty() && name.starts_with(p))
        .or_else(|| ORDER.iter().position(|p| p.is_empty()))
        .unwrap_or(ORDER.len()) as u8
}

/// Orders counter names: family first (see `family_rank`), then catalog order for known
/// counters (kernel file order), then by name.
pub fn compare_names(a: &str, b: &str) -> Ordering {
    let catalog_pos = |n: &str| {
        let info = lookup(n);
        info.and_then(|i| {
            xfrmdiag_counters::catalog()
                .iter()
                .position(|c| c.name == i.name)
        })
        .unwrap_or(usize::MAX)
    };
    family_rank(a)
        .cmp(&family_rank(b))
        .then_with(|| {
            // Interfaces and SAs: group by the interface/SA, then by field.
            if a.starts_with("dev:") || a.starts_with("sa:") {
                let owner = |n: &str| n.rsplit_once(':').map(|(o, _)| o.to_string());
                owner(a).cmp(&owner(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| catalog_pos(a).cmp(&catalog_pos(b)))
        .then_with(|| a.cmp(b))
}

/// `error`, `info`, `gauge`, or `unknown` for counters the catalog does not know.
pub fn kind_label(name: &str) -> &'static str {
    match lookup(name).map(|i| i.kind) {
        Some(Kind::Error) => "error",
        Some(Kind::Info) => "info",
        Some(Kind::Gauge) => "gauge",
        None => "unknown",
    }
}

fn meaning(name: &str) -> &'static str {
    lookup(name).map_or("(not in the catalog)", |i| i.meaning)
}

/// `+3`, `-2`, `reset 9→2`.
pub fn change_text(change: &Change) -> String {
    match change {
        Change::Unchanged => "0".to_string(),
        Change::Increased(n) => format!("+{n}"),
        Change::Decreased(n) => format!("-{n}"),
        Change::Reset { before, after } => format!("reset {before}→{after}"),
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| h.to_string()));
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(Style::blank());
    // The last column is padded to its widest cell: trim that, it only makes lines wrap.
    let mut text: String = table
        .to_string()
        .lines()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect();
    text.pop();
    text
}

/// The `xfrmdiag counters` table: non-zero counters (every one with `all`), each with its kind
/// and meaning. `filter` narrows it to some names.
pub fn snapshot_table(snapshot: &Snapshot, all: bool, filter: Option<&Filter>) -> String {
    let mut names: Vec<&str> = snapshot
        .counters
        .iter()
        .filter(|(name, value)| (all || **value != 0) && filter.is_none_or(|f| f.matches(name)))
        .map(|(name, _)| name.as_str())
        .collect();
    names.sort_by(|a, b| compare_names(a, b));
    if names.is_empty() {
        return format!(
            "namespace {}: no {}counter{} (use --all to list zeros)\n",
            snapshot.namespace,
            if all { "" } else { "non-zero " },
            if filter.is_some() { " matches" } else { "" }
        );
    }
    let rows = names
        .iter()
        .map(|name| {
            vec![
                name.to_string(),
                snapshot.counters[*name].to_string(),
                kind_label(name).to_string(),
                meaning(name).to_string(),
            ]
        })
        .collect();
    format!(
        "namespace {} at {}\n{}\n",
        snapshot.namespace,
        snapshot.taken_at,
        table(&["COUNTER", "VALUE", "KIND", "MEANING"], rows)
    )
}

/// The counters that moved and pass `filter`, error counters first (the order both the
/// `--since` table and `watch` show them in).
fn moved_names<'a>(delta: &'a Delta, filter: Option<&Filter>) -> Vec<&'a str> {
    let mut names: Vec<&str> = delta
        .delta
        .keys()
        .map(String::as_str)
        .filter(|n| filter.is_none_or(|f| f.matches(n)))
        .collect();
    let is_error = |n: &str| lookup(n).is_some_and(|i| i.kind == Kind::Error);
    names.sort_by(|a, b| {
        is_error(b)
            .cmp(&is_error(a))
            .then_with(|| compare_names(a, b))
    });
    names
}

/// The `xfrmdiag counters --since` table: what moved, error counters first, with rate, meaning
/// and the cause id each points to.
pub fn delta_table(delta: &Delta, filter: Option<&Filter>) -> String {
    let names = moved_names(delta, filter);
    let header = format!(
        "namespace {}: {:.1} s since {}",
        delta.namespace, delta.elapsed_secs, delta.since
    );
    if names.is_empty() {
        return format!("{header}\nnothing moved\n");
    }
    let rows = names
        .iter()
        .map(|name| {
            let change = &delta.delta[*name];
            vec![
                name.to_string(),
                change_text(change),
                delta
                    .rate(name)
                    .map_or_else(String::new, |r| format!("{r:.2}/s")),
                kind_label(name).to_string(),
                cause_of(name).map_or_else(String::new, |c| c.to_string()),
                meaning(name).to_string(),
            ]
        })
        .collect();
    format!(
        "{header}\n{}\n",
        table(
            &["COUNTER", "CHANGE", "RATE", "KIND", "CAUSE", "MEANING"],
            rows
        )
    )
}

/// The cause a counter names: the diagnose rules' answer, the same in every command. Catalog
/// patterns (`sa:*:replay`) are looked up as written.
fn cause_of(name: &str) -> Option<xfrmdiag_diagnose::CauseId> {
    xfrmdiag_diagnose::rules::cause_of_counter(name)
}

/// What `--json` shows for a counter's meaning.
fn meaning_json(name: &str) -> Value {
    match lookup(name) {
        Some(info) => json!({
            "kind": kind_label(name),
            "meaning": info.meaning,
            "cause_id": cause_of(name),
        }),
        None => json!({ "kind": "unknown", "meaning": null, "cause_id": null }),
    }
}

/// A delta as JSON, with `meanings` for every counter that moved and `errors` listing the error
/// counters that moved (schema: docs/json/counters.md).
pub fn delta_json(delta: &Delta, filter: Option<&Filter>) -> Value {
    let mut value = serde_json::to_value(delta).expect("a delta serializes");
    let keep = |n: &str| filter.is_none_or(|f| f.matches(n));
    if let Some(changes) = value.get_mut("delta").and_then(Value::as_object_mut) {
        changes.retain(|name, _| keep(name));
    }
    let mut meanings = Map::new();
    let mut rates = Map::new();
    for name in delta.delta.keys().filter(|n| keep(n)) {
        meanings.insert(name.clone(), meaning_json(name));
        if let Some(rate) = delta.rate(name) {
            rates.insert(name.clone(), json!(rate));
        }
    }
    let errors: Vec<&str> = delta.errors().map(|(n, _)| n).filter(|n| keep(n)).collect();
    let object = value.as_object_mut().expect("a delta is an object");
    object.insert("rates".into(), Value::Object(rates));
    object.insert("errors".into(), json!(errors));
    object.insert("meanings".into(), Value::Object(meanings));
    value
}

/// A snapshot as JSON, narrowed to `filter` (the saved file always holds everything).
pub fn snapshot_json(snapshot: &Snapshot, filter: Option<&Filter>) -> Value {
    let mut value = serde_json::to_value(snapshot).expect("a snapshot serializes");
    if let (Some(filter), Some(counters)) = (
        filter,
        value.get_mut("counters").and_then(Value::as_object_mut),
    ) {
        counters.retain(|name, _| filter.matches(name));
    }
    value
}

/// One `watch` interval for humans: a line per moved counter, `!` marking error counters, `NEW`
/// marking error counters that start moving in this interval.
pub fn watch_lines(
    delta: &Delta,
    filter: Option<&Filter>,
    newly_moving: &[String],
    color: bool,
) -> String {
    let time = delta.taken_at.get(11..19).unwrap_or(&delta.taken_at);
    let names = moved_names(delta, filter);
    let mut out = String::new();
    if names.is_empty() {
        // A quiet interval still gets a line: a log piped from `watch` shows it is alive.
        out.push_str(time);
        out.push_str("  nothing moved\n");
        return out;
    }
    for name in names {
        let change = &delta.delta[name];
        let error = lookup(name).is_some_and(|i| i.kind == Kind::Error) && change.events() > 0;
        let new = newly_moving.iter().any(|n| n == name);
        let mark = match (error, new) {
            (true, true) => "! NEW",
            (true, false) => "!    ",
            _ => "     ",
        };
        let rate = delta
            .rate(name)
            .map_or_else(String::new, |r| format!("{r:.1}/s"));
        let line = format!(
            "{time} {mark} {name:<28} {:>12} {rate:>10}  {}",
            change_text(change),
            meaning(name)
        );
        if color && error {
            out.push_str(&format!("\x1b[1;31m{line}\x1b[0m\n"));
        } else {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// One `watch --json` record (one NDJSON line): the interval number, the delta with meanings,
/// and `new_errors` for error counters that start moving.
pub fn watch_record(
    interval: u64,
    delta: &Delta,
    filter: Option<&Filter>,
    newly_moving: &[String],
) -> Value {
    let mut value = delta_json(delta, filter);
    let object = value.as_object_mut().expect("a delta is an object");
    object.insert("interval".into(), json!(interval));
    object.insert("new_errors".into(), json!(newly_moving));
    value
}

/// The counter catalog as Markdown (docs/counters.md is this text; a test keeps it current).
pub fn catalog_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# Counter catalog\n\n\
         Generated from `crates/counters/src/catalog.rs` (`XFRMDIAG_UPDATE_DOCS=1 cargo test -p xfrmdiag \
         --test integration catalog_doc` rewrites it). What each counter `xfrmdiag counters` and \
         `xfrmdiag watch` show means, where the kernel counts it, and the cause it names in the \
         diagnose rules (docs/causes.md; the same cause `diagnose` gives for it). Counters not listed are still shown, with kind `unknown`.\n\n\
         Names: xfrm_stat as the kernel writes them, snmp/netstat as `Group.Name`, snmp6 as written, \
         `dev:<interface>:<field>` from /proc/net/dev and `sa:<spi>:<field>` from the SA dump. \
         Every file is read inside the target namespace.\n",
    );
    let mut source = "";
    for info in xfrmdiag_counters::catalog() {
        if info.source != source {
            source = info.source;
            let _ = write!(
                out,
                "\n## {source}\n\n| counter | kind | cause | since | meaning | usual causes | counted in |\n|---|---|---|---|---|---|---|\n"
            );
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            info.name,
            kind_label(info.name),
            cause_of(info.name).map_or(String::new(), |c| format!("`{c}`")),
            info.since_kernel.unwrap_or("?"),
            info.meaning.replace('|', "\\|"),
            info.usual_causes.join("; ").replace('|', "\\|"),
            info.counted_in.replace('|', "\\|"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(counters: &[(&str, u64)], at: u64) -> Snapshot {
        let mut s = Snapshot::empty("t");
        s.taken_at_unix_ns = at;
        for (n, v) in counters {
            s.add_counter(*n, *v);
        }
        s
    }

    #[test]
    fn xfrm_first_then_udp_then_dev() {
        let mut names = vec![
            "dev:lo:rx_packets",
            "Udp.InErrors",
            "XfrmInNoPols",
            "Ip.InDiscards",
            "XfrmInError",
        ];
        names.sort_by(|a, b| compare_names(a, b));
        assert_eq!(
            names,
            [
                "XfrmInError",
                "XfrmInNoPols",
                "Udp.InErrors",
                "Ip.InDiscards",
                "dev:lo:rx_packets"
            ]
        );
    }

    #[test]
    fn unknown_counters_are_shown_and_marked() {
        let s = snap(&[("TcpExt.BrandNew", 3)], 0);
        let text = snapshot_table(&s, false, None);
        assert!(text.contains("TcpExt.BrandNew"), "{text}");
        assert!(text.contains("unknown"), "{text}");
    }

    #[test]
    fn watch_lines_say_when_nothing_moved() {
        let a = snap(&[("XfrmInTmplMismatch", 2)], 0);
        let b = snap(&[("XfrmInTmplMismatch", 2)], 1_000_000_000);
        let d = xfrmdiag_counters::delta(&a, &b);
        let text = watch_lines(&d, None, &[], false);
        assert!(text.ends_with("  nothing moved\n"), "{text:?}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn watch_lines_put_errors_first_and_mark_new_ones() {
        let a = snap(&[("XfrmInTmplMismatch", 0), ("Ip.InReceives", 1)], 0);
        let b = snap(
            &[("XfrmInTmplMismatch", 2), ("Ip.InReceives", 3)],
            2_000_000_000,
        );
        let d = xfrmdiag_counters::delta(&a, &b);
        let text = watch_lines(&d, None, &["XfrmInTmplMismatch".to_string()], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("! NEW XfrmInTmplMismatch"), "{text}");
        assert!(
            lines[0].contains("+2") && lines[0].contains("1.0/s"),
            "{text}"
        );
        assert!(
            lines[1].contains("Ip.InReceives") && !lines[1].contains('!'),
            "{text}"
        );
        let colored = watch_lines(&d, None, &[], true);
        assert!(colored.starts_with("\x1b[1;31m"), "{colored:?}");
        assert!(
            !colored.lines().nth(1).unwrap().contains('\x1b'),
            "{colored:?}"
        );
    }

    #[test]
    fn delta_json_has_meanings_and_errors() {
        let a = snap(&[("XfrmInTmplMismatch", 0), ("Udp.InDatagrams", 1)], 0);
        let b = snap(
            &[("XfrmInTmplMismatch", 1), ("Udp.InDatagrams", 2)],
            1_000_000_000,
        );
        let d = xfrmdiag_counters::delta(&a, &b);
        let v = delta_json(&d, None);
        assert_eq!(v["errors"], json!(["XfrmInTmplMismatch"]));
        assert_eq!(
            v["meanings"]["XfrmInTmplMismatch"]["cause_id"],
            "policy-template-mismatch"
        );
        assert_eq!(v["rates"]["Udp.InDatagrams"], 1.0);
        let text = delta_table(&d, None);
        let first_row = text.lines().nth(2).unwrap();
        assert!(first_row.contains("XfrmInTmplMismatch"), "{text}");
    }
}
