//! Choosing counters by family (`xfrm`, `udp`, `ip`, …) or by name pattern.

use crate::catalog::{catalog, kind_of, Kind};
use crate::Error;

/// A set of counter names: a comma-separated list of families and patterns.
///
/// Families: `xfrm` (xfrm_stat and per-SA), `udp`, `ip` (IPv4/IPv6/ICMP), `tcp`, `dev`, `sa`,
/// `errors` (every error counter). Anything else is a case-insensitive pattern where `*` matches
/// any run of characters; without `*` it must match a whole name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Xfrm,
    Udp,
    Ip,
    Tcp,
    Dev,
    Sa,
    Errors,
    Pattern(String),
}

impl Filter {
    /// Parses `xfrm,udp` or `XfrmIn*` or `Udp.InErrors`.
    pub fn parse(spec: &str) -> Result<Filter, Error> {
        let mut terms = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            terms.push(match raw.to_ascii_lowercase().as_str() {
                "xfrm" => Term::Xfrm,
                "udp" => Term::Udp,
                "ip" => Term::Ip,
                "tcp" => Term::Tcp,
                "dev" => Term::Dev,
                "sa" => Term::Sa,
                "errors" | "error" => Term::Errors,
                _ => Term::Pattern(raw.to_string()),
            });
        }
        if terms.is_empty() {
            return Err(Error::UnknownName(spec.to_string()));
        }
        Ok(Filter { terms })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.terms.iter().any(|t| t.matches(name))
    }

    /// Fails on the first pattern that matches neither a catalog entry nor any of `names`
    /// (a typo should be an error, not an empty view).
    pub fn check<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> Result<(), Error> {
        for term in &self.terms {
            let Term::Pattern(pattern) = term else {
                continue;
            };
            let known = catalog().iter().any(|c| term.matches(c.name))
                || names.clone().into_iter().any(|n| term.matches(n));
            if !known {
                return Err(Error::UnknownName(pattern.clone()));
            }
        }
        Ok(())
    }
}

impl Term {
    fn matches(&self, name: &str) -> bool {
        match self {
            Term::Xfrm => name.starts_with("Xfrm") || name.starts_with("sa:"),
            Term::Udp => name.starts_with("Udp"),
            Term::Ip => ["Ip.", "IpExt.", "Ip6", "Icmp"]
                .iter()
                .any(|p| name.starts_with(p)),
            Term::Tcp => name.starts_with("Tcp"),
            Term::Dev => name.starts_with("dev:"),
            Term::Sa => name.starts_with("sa:"),
            Term::Errors => kind_of(name) == Kind::Error,
            Term::Pattern(p) => glob(
                p.to_ascii_lowercase().as_bytes(),
                name.to_ascii_lowercase().as_bytes(),
            ),
        }
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_patterns() {
        let f = Filter::parse("xfrm,Udp.In*").unwrap();
        assert!(f.matches("XfrmInNoPols"));
        assert!(f.matches("sa:0x00000001:replay"));
        assert!(f.matches("Udp.InErrors"));
        assert!(!f.matches("Udp.NoPorts"));
        assert!(Filter::parse("ip").unwrap().matches("Ip6InDiscards"));
        assert!(Filter::parse("dev:*:rx_dropped")
            .unwrap()
            .matches("dev:veth-a:rx_dropped"));
        assert!(Filter::parse("udp.inerrors")
            .unwrap()
            .matches("Udp.InErrors"));
        assert!(Filter::parse("errors").unwrap().matches("XfrmOutPolBlock"));
        assert!(!Filter::parse("errors").unwrap().matches("Udp.InDatagrams"));
    }

    #[test]
    fn typos_are_errors() {
        let f = Filter::parse("XfrmInTmplMismach").unwrap();
        assert!(f.check(["Udp.InErrors"]).is_err());
        assert!(Filter::parse("XfrmIn*").unwrap().check([]).is_ok());
        assert!(Filter::parse("Foo.Bar").unwrap().check(["Foo.Bar"]).is_ok());
        assert!(Filter::parse(" , ").is_err());
    }
}
