//! nftables rules and their counters, read with the `nft` tool inside a namespace.
//!
//! Owns: running `nft -j list ruleset` (structure, counters, verdicts) and `nft -a list ruleset`
//! (each rule's text as the admin wrote it, matched by handle), and the difference of two
//! readings: which rules' counters moved during a test window. Must not decide anything.
//!
//! Only rules with a `counter` statement can show that they matched; NAT rules are listed with
//! their hook whether or not they count, because a masquerade in `postrouting` runs after the
//! policy lookup and can make a flow leave in clear.

use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xfrmdiag_netns::Netns;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Netns(#[from] xfrmdiag_netns::Error),
    #[error("cannot run nft: {0}")]
    Spawn(std::io::Error),
    #[error("`nft {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("cannot parse `nft -j list ruleset`: {0}")]
    Json(String),
}

/// One nftables rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `ip`, `ip6`, `inet`, `bridge`, …
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    /// The hook of its (base) chain: `input`, `forward`, `output`, `prerouting`, `postrouting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The chain type: `filter`, `nat`, `route`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_type: Option<String>,
    /// The rule as `nft list ruleset` prints it, without its counter values.
    pub text: String,
    /// The terminal statement: `drop`, `reject`, `accept`, `masquerade`, `snat`, `dnat`,
    /// `jump`, `goto`, `queue`, `return`; empty when there is none.
    pub verdict: String,
    /// Counter values (rules without a `counter` statement have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Rule {
    /// `inet filter input #3: meta l4proto esp counter drop`
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} #{}: {}",
            self.family, self.table, self.chain, self.handle, self.text
        )
    }

    /// A source or destination NAT statement.
    pub fn is_nat(&self) -> bool {
        matches!(
            self.verdict.as_str(),
            "masquerade" | "snat" | "dnat" | "redirect"
        )
    }

    fn key(&self) -> (&str, &str, &str, u64) {
        (&self.family, &self.table, &self.chain, self.handle)
    }
}

/// A namespace's nftables ruleset: its tables (`inet filter`), even those without rules (a
/// base chain's `policy drop` drops with no rule at all), and its rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub tables: Vec<String>,
    pub rules: Vec<Rule>,
}

/// A rule whose counter moved during the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub rule: Rule,
    pub packets: u64,
    pub bytes: u64,
}

/// Reads the ruleset inside `ns`, each rule with its text. `Ok(None)` when `nft` is not
/// installed (no nftables here).
pub fn read(ns: &Netns) -> Result<Option<Ruleset>, Error> {
    let Some(mut ruleset) = read_counters(ns)? else {
        return Ok(None);
    };
    let text = nft(ns, &["-a", "list", "ruleset"])?.unwrap_or_default();
    attach_text(&mut ruleset.rules, &text);
    Ok(Some(ruleset))
}

/// [`read`] without the rules' texts (one `nft` run instead of two): enough for the reading
/// before a window, since [`hits`] takes each rule from the reading after it.
pub fn read_counters(ns: &Netns) -> Result<Option<Ruleset>, Error> {
    match nft(ns, &["-j", "list", "ruleset"])? {
        Some(json) => parse_ruleset(&json).map(Some),
        None => Ok(None),
    }
}

/// The legacy (x_tables) tables instantiated in `ns`, as `iptables filter`, `ip6tables
/// mangle`, `arptables filter`: rules there are invisible to `nft`, yet they drop as
/// `NETFILTER_DROP` too. Read from /proc/thread-self/net, the namespace of the reading thread.
pub fn legacy_tables(ns: &Netns) -> Result<Vec<String>, Error> {
    Ok(ns.run(|| {
        let mut tables = Vec::new();
        for (file, tool) in [
            ("ip_tables_names", "iptables"),
            ("ip6_tables_names", "ip6tables"),
            ("arp_tables_names", "arptables"),
        ] {
            let path = std::path::Path::new("/proc/thread-self/net").join(file);
            // Missing when the x_tables module is not loaded: no legacy table at all.
            let names = std::fs::read_to_string(path).unwrap_or_default();
            tables.extend(names.split_whitespace().map(|t| format!("{tool} {t}")));
        }
        tables
    })?)
}

/// Rules whose counters grew from `before` to `after` (a rule added in between counts from 0).
pub fn hits(before: &[Rule], after: &[Rule]) -> Vec<Hit> {
    after
        .iter()
        .filter_map(|a| {
            let (pa, ba) = (a.packets?, a.bytes.unwrap_or(0));
            let b = before.iter().find(|b| b.key() == a.key());
            let (pb, bb) = b
                .map(|b| (b.packets.unwrap_or(0), b.bytes.unwrap_or(0)))
                .unwrap_or((0, 0));
            (pa > pb).then(|| Hit {
                rule: a.clone(),
                packets: pa - pb,
                bytes: ba.saturating_sub(bb),
            })
        })
        .collect()
}

/// Runs `nft ARGS` in `ns`; `None` when the tool is missing.
fn nft(ns: &Netns, args: &[&str]) -> Result<Option<String>, Error> {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // A child forked from the namespace thread starts in that namespace.
    let out = ns.run(move || Command::new("nft").args(&argv).output())?;
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Spawn(e)),
    };
    if !out.status.success() {
        return Err(Error::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Rules (with their chain's hook and type) from `nft -j list ruleset`.
pub fn parse_json(json: &str) -> Result<Vec<Rule>, Error> {
    parse_ruleset(json).map(|r| r.rules)
}

/// Tables and rules from one parse of `nft -j list ruleset`.
pub fn parse_ruleset(json: &str) -> Result<Ruleset, Error> {
    let v: Value = serde_json::from_str(json).map_err(|e| Error::Json(e.to_string()))?;
    let items = v["nftables"]
        .as_array()
        .ok_or_else(|| Error::Json("no \"nftables\" array".into()))?;
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut tables = Vec::new();
    let mut chains = Vec::new();
    let mut rules = Vec::new();
    for item in items {
        if let Some(t) = item.get("table") {
            tables.push(format!("{} {}", str_of(t, "family"), str_of(t, "name")));
        } else if let Some(c) = item.get("chain") {
            chains.push((
                (str_of(c, "family"), str_of(c, "table"), str_of(c, "name")),
                c["hook"].as_str().map(String::from),
                c["type"].as_str().map(String::from),
            ));
        } else if let Some(r) = item.get("rule") {
            let mut rule = Rule {
                family: str_of(r, "family"),
                table: str_of(r, "table"),
                chain: str_of(r, "chain"),
                handle: r["handle"].as_u64().unwrap_or(0),
                ..Default::default()
            };
            for expr in r["expr"].as_array().into_iter().flatten() {
                let Some((key, value)) = expr.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                match key.as_str() {
                    "counter" => {
                        rule.packets = value["packets"].as_u64();
                        rule.bytes = value["bytes"].as_u64();
                    }
                    "drop" | "reject" | "accept" | "masquerade" | "snat" | "dnat" | "redirect"
                    | "jump" | "goto" | "queue" | "return" => rule.verdict = key.clone(),
                    _ => {}
                }
            }
            rules.push(rule);
        }
    }
    for rule in &mut rules {
        if let Some((_, hook, kind)) = chains
            .iter()
            .find(|(k, _, _)| (&k.0, &k.1, &k.2) == (&rule.family, &rule.table, &rule.chain))
        {
            rule.hook = hook.clone();
            rule.chain_type = kind.clone();
        }
    }
    Ok(Ruleset { tables, rules })
}

/// Fills each rule's text from `nft -a list ruleset` (matched by family, table, chain and
/// handle), with the counter values taken out so the text stays the same between readings.
pub fn attach_text(rules: &mut [Rule], listing: &str) {
    let (mut family, mut table, mut chain) = (String::new(), String::new(), String::new());
    for line in listing.lines() {
        let line = line.trim();
        let (body, handle) = match line.rsplit_once("# handle ") {
            Some((b, h)) => (b.trim(), h.trim().parse::<u64>().ok()),
            None => (line, None),
        };
        let words: Vec<&str> = body.split_whitespace().collect();
        match words.as_slice() {
            ["table", f, t, ..] => {
                family = f.to_string();
                table = t.to_string();
            }
            ["chain", c, ..] => chain = c.to_string(),
            _ => {
                let Some(h) = handle else { continue };
                if let Some(rule) = rules.iter_mut().find(|r| {
                    (
                        r.family.as_str(),
                        r.table.as_str(),
                        r.chain.as_str(),
                        r.handle,
                    ) == (&family, &table, &chain, h)
                }) {
                    rule.text = strip_counter_values(body);
                }
            }
        }
    }
}

/// `counter packets 3 bytes 252 drop` → `counter drop`.
fn strip_counter_values(text: &str) -> String {
    let mut out = Vec::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(w) = words.next() {
        out.push(w);
        if w == "counter" {
            while words
                .peek()
                .is_some_and(|n| matches!(*n, "packets" | "bytes"))
            {
                words.next();
                words.next();
            }
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "t", "handle": 1}},
      {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "esp"}}, {"counter": {"packets": 4, "bytes": 400}}, {"drop": null}]}},
      {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 3, "comment": "nat-t", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 4500}}, {"drop": null}]}},
      {"table": {"family": "ip", "name": "nat", "handle": 2}},
      {"chain": {"family": "ip", "table": "nat", "name": "post", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
      {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "lo"}}, {"counter": {"packets": 0, "bytes": 0}}, {"masquerade": null}]}}]}"#;

    const TEXT: &str = "table inet t { # handle 1
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy accept;
\t\tmeta l4proto esp counter packets 4 bytes 400 drop # handle 2
\t\tudp dport 4500 drop comment \"nat-t\" # handle 3
\t}
}
table ip nat { # handle 2
\tchain post { # handle 1
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"lo\" counter packets 0 bytes 0 masquerade # handle 2
\t}
}
";

    fn rules() -> Vec<Rule> {
        let mut r = parse_json(JSON).unwrap();
        attach_text(&mut r, TEXT);
        r
    }

    #[test]
    fn rules_carry_hook_verdict_counter_and_text() {
        let r = rules();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0].describe(),
            "inet t input #2: meta l4proto esp counter drop"
        );
        assert_eq!((r[0].packets, r[0].verdict.as_str()), (Some(4), "drop"));
        assert_eq!(r[0].hook.as_deref(), Some("input"));
        assert_eq!(r[1].packets, None, "no counter statement");
        assert_eq!(r[1].text, "udp dport 4500 drop comment \"nat-t\"");
        assert!(r[2].is_nat());
        assert_eq!(r[2].hook.as_deref(), Some("postrouting"));
        assert_eq!(r[2].chain_type.as_deref(), Some("nat"));
        assert_eq!(r[2].text, "oifname \"lo\" counter masquerade");
    }

    #[test]
    fn tables_are_listed_even_without_rules() {
        assert_eq!(parse_ruleset(JSON).unwrap().tables, ["inet t", "ip nat"]);
        let empty = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}]}"#;
        assert!(parse_ruleset(empty).unwrap().tables.is_empty());
    }

    #[test]
    fn hits_are_the_rules_whose_counters_grew() {
        let before = rules();
        let mut after = before.clone();
        after[0].packets = Some(7);
        after[0].bytes = Some(700);
        let h = hits(&before, &after);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].packets, h[0].bytes), (3, 300));
        assert_eq!(h[0].rule.handle, 2);
        assert!(hits(&before, &before).is_empty());
    }

    #[test]
    fn bad_json_is_a_clear_error() {
        let e = parse_json("{}").unwrap_err();
        assert!(e.to_string().contains("nftables"), "{e}");
    }
}
