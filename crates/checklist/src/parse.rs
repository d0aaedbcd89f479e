//! Loading a checklist: TOML with positions, `${name}` substitution, typed checks, validation.
//!
//! Everything that can be wrong with a file is found here, before any check runs, and reported
//! as `FILE:LINE:COLUMN: what was wrong, what was expected`.
//!
//! The document is first parsed into toml's spanned tree (`DeTable`), so that variables can be
//! substituted inside string values while every value keeps its position. Each `[[check]]` is then
//! deserialized into the struct for its `kind` (serde, `deny_unknown_fields`), which gives
//! precise positions for unknown keys and wrong types.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::model::*;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{source_name}:{line}:{column}: {message}")]
    Invalid {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot read checklist {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--var {spec}: {message}")]
    Var { spec: String, message: String },
}

/// Variable values given on the command line (`--var NAME=VALUE`), which win over the file's.
#[derive(Debug, Clone, Default)]
pub struct Vars(pub Vec<(String, String)>);

impl Vars {
    /// Parses `NAME=VALUE` arguments.
    pub fn parse(specs: &[String]) -> Result<Vars, Error> {
        let mut vars = Vec::new();
        for spec in specs {
            let Some((name, value)) = spec.split_once('=') else {
                return Err(Error::Var {
                    spec: spec.clone(),
                    message: "expected NAME=VALUE".into(),
                });
            };
            if !is_var_name(name) {
                return Err(Error::Var {
                    spec: spec.clone(),
                    message: "a variable name is letters, digits, `_` and `-`".into(),
                });
            }
            vars.push((name.to_string(), value.to_string()));
        }
        Ok(Vars(vars))
    }
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads and validates a checklist file.
pub fn load_file(path: &Path, vars: &Vars) -> Result<Checklist, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    load(&text, &path.display().to_string(), vars)
}

/// Validates checklist `text`; `source_name` is the file name used in messages.
pub fn load(text: &str, source_name: &str, vars: &Vars) -> Result<Checklist, Error> {
    let at = |span: Option<Range<usize>>, message: String| {
        let (line, column) = line_column(text, span.map(|s| s.start).unwrap_or(0));
        Error::Invalid {
            source_name: source_name.to_string(),
            line,
            column,
            message,
        }
    };

    let root = DeTable::parse(text).map_err(|e| at(e.span(), e.message().to_string()))?;
    let root_span = root.span();
    let mut root = root.into_inner();

    // Top level: exactly these keys. Unknown keys are the commonest typo (`[[checks]]`).
    const TOP: &str = "`name`, `description`, `variables` or `check`";
    for (key, _) in root.iter() {
        if !matches!(
            key.get_ref().as_ref(),
            "name" | "description" | "variables" | "check"
        ) {
            return Err(at(
                Some(key.span()),
                format!("unknown key `{}`, expected {TOP}", key.get_ref()),
            ));
        }
    }
    let name = match root.remove("name") {
        Some(v) => expect_string(&v, "`name`").map_err(|m| at(Some(v.span()), m))?,
        None => return Err(at(Some(root_span), "missing `name = \"…\"`".into())),
    };
    let description = match root.remove("description") {
        Some(v) => Some(expect_string(&v, "`description`").map_err(|m| at(Some(v.span()), m))?),
        None => None,
    };

    // Variables: the file's defaults, overridden by --var.
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    if let Some(v) = root.remove("variables") {
        let DeValue::Table(table) = v.get_ref() else {
            return Err(at(
                Some(v.span()),
                format!(
                    "`variables` must be a table, found {}",
                    v.get_ref().type_str()
                ),
            ));
        };
        for (key, value) in table.iter() {
            if !is_var_name(key.get_ref()) {
                return Err(at(
                    Some(key.span()),
                    "a variable name is letters, digits, `_` and `-`".into(),
                ));
            }
            let text = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.to_string(),
                DeValue::Boolean(b) => b.to_string(),
                other => {
                    return Err(at(
                        Some(value.span()),
                        format!(
                            "variable `{}` must be a string, integer or boolean, found {}",
                            key.get_ref(),
                            other.type_str()
                        ),
                    ))
                }
            };
            values.insert(key.get_ref().to_string(), text);
        }
    }
    for (name, value) in &vars.0 {
        if !values.contains_key(name) {
            let declared: Vec<&str> = values.keys().map(String::as_str).collect();
            return Err(Error::Var {
                spec: format!("{name}={value}"),
                message: if declared.is_empty() {
                    format!("{source_name} declares no variables")
                } else {
                    format!(
                        "{source_name} declares no variable `{name}` (declared: {})",
                        declared.join(", ")
                    )
                },
            });
        }
        values.insert(name.clone(), value.clone());
    }

    let Some(checks_value) = root.remove("check") else {
        return Err(at(
            Some(root_span),
            "no checks: add at least one `[[check]]` table".into(),
        ));
    };
    let checks_span = checks_value.span();
    let DeValue::Array(items) = checks_value.into_inner() else {
        return Err(at(
            Some(checks_span),
            "`check` must be an array of tables: write each check as `[[check]]`".into(),
        ));
    };

    let mut checks = Vec::new();
    for mut item in items.into_iter() {
        let span = item.span();
        substitute(item.get_mut(), span.clone(), &values).map_err(|(s, m)| at(Some(s), m))?;
        let check = typed_check(item).map_err(|(s, m)| at(s, m))?;
        let (line, _) = line_column(text, span.start);
        checks.push((span, Check { line, ..check }));
    }

    validate(&checks).map_err(|(s, m)| at(Some(s), m))?;

    Ok(Checklist {
        name,
        description,
        source: source_name.to_string(),
        checks: checks.into_iter().map(|(_, c)| c).collect(),
    })
}

fn expect_string(v: &Spanned<DeValue<'_>>, what: &str) -> Result<String, String> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(format!(
            "{what} must be a string, found {}",
            other.type_str()
        )),
    }
}

type Located = (Option<Range<usize>>, String);

/// Turns one `[[check]]` table into a typed [`Check`].
fn typed_check(item: Spanned<DeValue<'_>>) -> Result<Check, Located> {
    let span = item.span();
    let DeValue::Table(mut table) = item.into_inner() else {
        return Err((
            Some(span),
            "each check must be a table: write it as `[[check]]`".into(),
        ));
    };
    let kinds = KINDS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(kind) = table.remove("kind") else {
        return Err((
            Some(span),
            format!("check has no `kind`, expected one of {kinds}"),
        ));
    };
    let kind_name = match kind.get_ref() {
        DeValue::String(s) if KINDS.contains(&s.as_ref()) => s.to_string(),
        DeValue::String(s) => {
            return Err((
                Some(kind.span()),
                format!("unknown check kind `{s}`, expected one of {kinds}"),
            ))
        }
        other => {
            return Err((
                Some(kind.span()),
                format!("`kind` must be a string, found {}", other.type_str()),
            ))
        }
    };
    // Unknown counters are found here, where the value's position is still known.
    if kind_name == "counter" {
        if let Some(v) = table.get("counter") {
            if let DeValue::String(counter) = v.get_ref() {
                if !crate::kinds::counter::is_known(counter) {
                    return Err((
                        Some(v.span()),
                        format!(
                            "unknown counter `{counter}`: see `xfrmdiag counters --all` for the names (xfrm_stat as written, `Udp.InErrors`, `Udp6InErrors`)"
                        ),
                    ));
                }
            }
        }
    }
    let name = match table.remove("name") {
        Some(v) => Some(expect_string(&v, "`name`").map_err(|m| (Some(v.span()), m))?),
        None => None,
    };
    let netns = match table.remove("netns") {
        Some(v) => Some(expect_string(&v, "`netns`").map_err(|m| (Some(v.span()), m))?),
        None => None,
    };
    let severity = match table.remove("severity") {
        Some(v) => match v.get_ref() {
            DeValue::String(s) if s == "error" => Severity::Error,
            DeValue::String(s) if s == "warning" => Severity::Warning,
            _ => {
                return Err((
                    Some(v.span()),
                    "`severity` must be \"error\" or \"warning\"".into(),
                ))
            }
        },
        None => Severity::Error,
    };

    let rest = Spanned::new(span.clone(), DeValue::Table(table));
    let spec = deserialize_spec(&kind_name, rest).map_err(|e| {
        let mut message = e.message().to_string();
        if message.starts_with("unknown field") {
            message.push_str(
                ", or one of the keys every check has: `kind`, `name`, `netns`, `severity`",
            );
        }
        // serde names the struct in "missing field" messages; say which kind instead.
        (
            e.span().or(Some(span.clone())),
            format!("{message} (in a `{kind_name}` check)"),
        )
    })?;
    Ok(Check {
        name: name.unwrap_or_else(|| spec.default_name()),
        netns,
        severity,
        line: 0,
        spec,
    })
}

fn deserialize_spec(kind: &str, rest: Spanned<DeValue<'_>>) -> Result<Spec, toml::de::Error> {
    fn de<'a, T: Deserialize<'a>>(v: Spanned<DeValue<'a>>) -> Result<T, toml::de::Error> {
        T::deserialize(ValueDeserializer::from(v))
    }
    Ok(match kind {
        "sysctl" => Spec::Sysctl(de(rest)?),
        "socket" => Spec::Socket(de(rest)?),
        "module-or-feature" => Spec::ModuleOrFeature(de(rest)?),
        "default-policy" => Spec::DefaultPolicy(de(rest)?),
        "sa" => Spec::Sa(de(rest)?),
        "sa-seq-headroom" => Spec::SaSeqHeadroom(de(rest)?),
        "sa-lifetime" => Spec::SaLifetime(de(rest)?),
        "policy" => Spec::Policy(de(rest)?),
        "counter" => Spec::Counter(de(rest)?),
        "trace-capability" => Spec::TraceCapability(de(rest)?),
        "diagnose" => Spec::Diagnose(de(rest)?),
        "ike-connection" => Spec::IkeConnection(de(rest)?),
        other => unreachable!("kind `{other}` was checked against KINDS"),
    })
}

/// Replaces `${name}` in every string of `value` (and `$$` by `$`).
fn substitute(
    value: &mut DeValue<'_>,
    span: Range<usize>,
    vars: &BTreeMap<String, String>,
) -> Result<(), (Range<usize>, String)> {
    match value {
        DeValue::String(s) => {
            if s.contains('$') {
                let replaced = expand(s, vars).map_err(|m| (span, m))?;
                *s = Cow::Owned(replaced);
            }
            Ok(())
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                let span = item.span();
                substitute(item.get_mut(), span, vars)?;
            }
            Ok(())
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                let span = item.span();
                substitute(item.get_mut(), span, vars)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Expands `${name}` references in one string.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                return Err(format!(
                    "unterminated `${{` in \"{text}\": write `${{name}}`, or `$$` for a literal `$`"
                ));
            };
            let name = &inner[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    let known: Vec<&str> = vars.keys().map(String::as_str).collect();
                    return Err(format!(
                        "variable `{name}` is not defined: add it under [variables] or pass --var {name}=VALUE{}",
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(" (defined: {})", known.join(", "))
                        }
                    ));
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks that need the whole list or other crates: `around` targets, counter names, bounds.
fn validate(checks: &[(Range<usize>, Check)]) -> Result<(), (Range<usize>, String)> {
    for (i, (span, check)) in checks.iter().enumerate() {
        let err = |m: String| Err((span.clone(), format!("{m} (in check `{}`)", check.name)));
        match &check.spec {
            Spec::Sysctl(c)
                if c.equals.is_none()
                    && c.one_of.is_none()
                    && c.min.is_none()
                    && c.max.is_none() =>
            {
                return err("a sysctl check needs `equals`, `one_of`, `min` or `max`".to_string());
            }
            Spec::Socket(c) if !(1..=65535).contains(&c.port.0) => {
                return err(format!("`port` must be 1-65535, found {}", c.port.0));
            }
            Spec::Sa(c) => {
                if let Some(m) = c.lifetime_margin_percent {
                    if !(0..=100).contains(&m.0) {
                        return err("`lifetime_margin_percent` must be 0-100".to_string());
                    }
                }
                for (key, value) in [("src", &c.src), ("dst", &c.dst)] {
                    if let Some(v) = value {
                        if v.parse::<std::net::IpAddr>().is_err() {
                            return err(format!("`{key} = \"{v}\"` is not an IP address"));
                        }
                    }
                }
                if let Some(spi) = c.spi {
                    if u32::try_from(spi.0).is_err() {
                        return err(format!("`spi = {}` does not fit in 32 bits", spi.0));
                    }
                }
            }
            Spec::SaSeqHeadroom(c) => {
                if let Some(m) = c.min_headroom_percent {
                    if !(0..=100).contains(&m.0) {
                        return err("`min_headroom_percent` must be 0-100".to_string());
                    }
                }
                if let Err(m) = crate::kinds::sa_seq_headroom::validate_select(&c.src, &c.dst, c.spi) {
                    return err(m);
                }
            }
            Spec::SaLifetime(c) => {
                if let Some(m) = c.min_remaining_seconds {
                    if m.0 < 0 {
                        return err("`min_remaining_seconds` must be 0 or more".to_string());
                    }
                }
                if let Err(m) = crate::kinds::sa_seq_headroom::validate_select(&c.src, &c.dst, c.spi) {
                    return err(m);
                }
            }
            Spec::Policy(c) => {
                for (key, value) in [("src", &c.src), ("dst", &c.dst)] {
                    if let Some(v) = value {
                        if crate::kinds::policy::parse_prefix(v).is_none() {
                            return err(format!(
                                "`{key} = \"{v}\"` is not a prefix or address (e.g. 10.1.0.0/16)"
                            ));
                        }
                    }
                }
                if let Some(l) = &c.l4proto {
                    if crate::kinds::policy::parse_l4proto(l).is_none() {
                        return err(format!(
                            "`l4proto = \"{l}\"` is not a protocol: udp, tcp, icmp, ipv6-icmp, any or a number"
                        ));
                    }
                }
                if let Some(t) = &c.template {
                    for (key, value) in [("src", &t.src), ("dst", &t.dst)] {
                        if let Some(v) = value {
                            if v.parse::<std::net::IpAddr>().is_err() {
                                return err(format!(
                                    "template `{key} = \"{v}\"` is not an IP address"
                                ));
                            }
                        }
                    }
                }
            }
            Spec::Diagnose(c) => {
                if c.dst.parse::<std::net::IpAddr>().is_err() {
                    return err(format!("`dst = \"{}\"` is not an IP address", c.dst));
                }
                if !(1..=65535).contains(&c.port.0) {
                    return err(format!("`port` must be 1-65535, found {}", c.port.0));
                }
                if let Some(n) = c.count {
                    if !(1..=10_000).contains(&n.0) {
                        return err(format!("`count` must be 1-10000, found {}", n.0));
                    }
                }
                if let Some(w) = &c.window {
                    if let Err(m) = parse_duration(w) {
                        return err(m);
                    }
                }
                if let Some(cause) = &c.expect {
                    if xfrmdiag_diagnose::causes::lookup(cause).is_none() {
                        return err(format!(
                            "`expect = \"{cause}\"` is not a cause id: see docs/causes.md (e.g. delivered, no-drop-seen)"
                        ));
                    }
                }
            }
            Spec::Socket(c) => {
                if let Some(a) = &c.address {
                    if a.parse::<std::net::IpAddr>().is_err() {
                        return err(format!("`address = \"{a}\"` is not an IP address"));
                    }
                }
            }
            Spec::Counter(c) => {
                match (&c.window, &c.around) {
                    (Some(_), Some(_)) | (None, None) => {
                        return err("a counter check needs exactly one of `window` (e.g. \"5s\") or `around` (the name of an earlier check)".to_string())
                    }
                    (Some(w), None) => {
                        if let Err(m) = parse_duration(w) {
                            return err(m);
                        }
                    }
                    (None, Some(target)) => {
                        let earlier = checks[..i].iter().filter(|(_, c)| &c.name == target).count();
                        if earlier != 1 {
                            let later = checks[i..].iter().any(|(_, c)| &c.name == target);
                            return err(match (earlier, later) {
                                (0, true) => format!("`around = \"{target}\"` names a later check: put the counter check after it"),
                                (0, false) => format!("`around = \"{target}\"` names no check: give that check `name = \"{target}\"`"),
                                _ => format!("`around = \"{target}\"` names {earlier} checks: give them different names"),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A checklist duration field (`window`): the same rules as every xfrmdiag flag
/// (`xfrmdiag_duration`), so a text a flag takes, the checklist takes too.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    xfrmdiag_duration::parse_arg(text)
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        load(text, "t.toml", &Vars::default())
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn loads_and_substitutes_variables() {
        let text = r#"
name = "demo"
[variables]
port = 4500
peer = "10.0.0.2"

[[check]]
kind = "socket"
port = "${port}"

[[check]]
kind = "sysctl"
name = "cost $$5 for ${peer}"
key = "net.ipv4.ip_forward"
equals = 1
"#;
        let vars = Vars::parse(&["peer=192.0.2.9".to_string()]).unwrap();
        let list = load(text, "t.toml", &vars).unwrap();
        assert_eq!(list.checks.len(), 2);
        let Spec::Socket(s) = &list.checks[0].spec else {
            panic!()
        };
        assert_eq!(s.port.0, 4500);
        assert_eq!(list.checks[0].line, 7);
        assert_eq!(list.checks[1].name, "cost $5 for 192.0.2.9");
    }

    #[test]
    fn unknown_key_has_its_position() {
        let e = err(
            "name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"a.b\"\nequals = 1\nequal = 2\n",
        );
        assert!(e.starts_with("t.toml:6:1: unknown field `equal`"), "{e}");
    }

    #[test]
    fn wrong_type_has_its_position() {
        let e = err("name = \"x\"\n[[check]]\nkind = \"socket\"\nport = [1]\n");
        assert!(e.starts_with("t.toml:4:8: "), "{e}");
        assert!(e.contains("integer"), "{e}");
    }

    #[test]
    fn missing_variable_names_it() {
        let e = err("name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"${k}\"\nequals = 1\n");
        assert!(
            e.starts_with("t.toml:4:7: variable `k` is not defined"),
            "{e}"
        );
    }

    #[test]
    fn unknown_kind_and_top_level_key() {
        let e = err("name = \"x\"\n[[check]]\nkind = \"sysctll\"\n");
        assert!(
            e.starts_with("t.toml:3:8: unknown check kind `sysctll`"),
            "{e}"
        );
        let e = err("name = \"x\"\n[[checks]]\nkind = \"sysctl\"\n");
        assert!(e.starts_with("t.toml:2:3: unknown key `checks`"), "{e}");
    }

    #[test]
    fn missing_field_and_syntax_errors() {
        let e = err("name = \"x\"\n[[check]]\nkind = \"default-policy\"\ndir = \"in\"\n");
        assert!(e.contains("missing field `action`"), "{e}");
        assert!(e.starts_with("t.toml:2:"), "{e}");
        let e = err("name = \"x\"\n[[check]\n");
        assert!(e.starts_with("t.toml:2:"), "{e}");
    }

    #[test]
    fn around_must_name_an_earlier_check() {
        let e = err("name = \"x\"\n[[check]]\nkind = \"counter\"\ncounter = \"XfrmInNoStates\"\naround = \"send\"\n");
        assert!(e.contains("names no check"), "{e}");
    }

    #[test]
    fn unknown_var_on_command_line() {
        let vars = Vars::parse(&["nope=1".to_string()]).unwrap();
        let e = load(
            "name = \"x\"\n[[check]]\nkind = \"sysctl\"\nkey = \"a\"\nequals = 1\n",
            "t.toml",
            &vars,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("declares no variables"), "{e}");
        assert!(Vars::parse(&["novalue".to_string()]).is_err());
    }

    #[test]
    fn durations_follow_the_rules_of_every_flag() {
        for (text, want) in xfrmdiag_duration::ACCEPTED {
            assert_eq!(parse_duration(text).as_ref(), Ok(want), "{text:?}");
        }
        for text in xfrmdiag_duration::REFUSED {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }
}
