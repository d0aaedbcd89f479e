//! Checklists that ship inside the binary (`xfrmdiag check --builtin NAME`).

use crate::model::Checklist;
use crate::parse::{load, Error, Vars};

/// Name, one-line summary, TOML text.
pub const BUILTINS: &[(&str, &str, &str)] = &[(
    "host-ready",
    "can this host do IPsec and be diagnosed: XFRM netlink, ESP/AH, tracing, sysctls, default policies",
    include_str!("../builtin/host-ready.toml"),
)];

/// Loads built-in checklist `name`; `None` when there is no such built-in.
pub fn get(name: &str, vars: &Vars) -> Option<Result<Checklist, Error>> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, _, text)| load(text, &format!("builtin:{n}"), vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for (name, _, _) in BUILTINS {
            get(name, &Vars::default())
                .expect("listed")
                .unwrap_or_else(|e| panic!("builtin {name}: {e}"));
        }
    }
}
