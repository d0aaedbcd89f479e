//! `kind = "module-or-feature"`: is a kernel feature IPsec needs present (loaded or built in)?
//!
//! Read-only: nothing is loaded. The evidence is tried from the most to the least direct:
//! the feature itself (a NETLINK_XFRM socket, /proc/net/xfrm_stat), /proc/modules, /sys/module,
//! modules.builtin, a symbol of the feature in /proc/kallsyms, and finally a module file the kernel
//! could load on demand.

use std::path::Path;

use super::{in_netns, Context, Outcome};
use crate::model::{Feature, FeatureCheck};

/// Module name, a function only that code has (for kernels without /proc/modules), and the
/// kernel option, for the message.
fn facts(feature: Feature) -> (&'static str, &'static str, &'static str) {
    match feature {
        Feature::XfrmUser => ("xfrm_user", "xfrm_user_rcv_msg", "CONFIG_XFRM_USER"),
        Feature::XfrmStatistics => ("", "xfrm_statistics_seq_show", "CONFIG_XFRM_STATISTICS"),
        Feature::Esp4 => ("esp4", "esp_input", "CONFIG_INET_ESP"),
        Feature::Esp6 => ("esp6", "esp6_input", "CONFIG_INET6_ESP"),
        Feature::Ah4 => ("ah4", "ah_input", "CONFIG_INET_AH"),
        Feature::Ah6 => ("ah6", "ah6_input", "CONFIG_INET6_AH"),
        Feature::Ipcomp4 => ("ipcomp", "ipcomp4_init_state", "CONFIG_INET_IPCOMP"),
        Feature::Ipcomp6 => ("ipcomp6", "ipcomp6_init_state", "CONFIG_INET6_IPCOMP"),
        Feature::XfrmInterface => ("xfrm_interface", "xfrmi_rcv_cb", "CONFIG_XFRM_INTERFACE"),
    }
}

pub fn run(check: &FeatureCheck, ctx: &Context) -> Outcome {
    let feature = check.feature;
    let (module, symbol, option) = facts(feature);
    match feature {
        // The feature itself answers best: can this namespace talk XFRM over netlink?
        Feature::XfrmUser => {
            let opened = in_netns(ctx, || {
                netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_XFRM).map(drop)
            });
            return match opened {
                Ok(Ok(())) => Outcome::pass(
                    "a NETLINK_XFRM socket opens: `ip xfrm` and IKE daemons can configure IPsec",
                    Some("NETLINK_XFRM socket opened".into()),
                ),
                Ok(Err(e)) => Outcome::fail(
                    format!("cannot open a NETLINK_XFRM socket ({e}): the kernel needs {option} (module xfrm_user)"),
                    Some(format!("socket(AF_NETLINK, NETLINK_XFRM): {e}")),
                ),
                Err(outcome) => outcome,
            };
        }
        Feature::XfrmStatistics => {
            let path = ctx.proc_root.join("thread-self/net/xfrm_stat");
            let probe = path.clone();
            return match in_netns(ctx, move || probe.exists()) {
                Ok(true) => Outcome::pass(
                    "/proc/net/xfrm_stat exists: XFRM drop counters are available",
                    Some(path.display().to_string()),
                ),
                Ok(false) => Outcome::fail(
                    format!("/proc/net/xfrm_stat is missing: the kernel needs {option} for XFRM drop counters"),
                    None,
                ),
                Err(outcome) => outcome,
            };
        }
        _ => {}
    }
    match find(&ctx.proc_root, &ctx.sys_root, &ctx.modules_root, module, symbol) {
        Found::Loaded(how) => Outcome::pass(format!("{} is available ({how})", feature.as_str()), Some(how)),
        Found::Loadable(file) => Outcome::pass(
            format!(
                "{} is a loadable module, not loaded yet: the kernel loads it when the first SA needs it",
                feature.as_str()
            ),
            Some(format!("module file {file}")),
        ),
        Found::Absent(looked) => Outcome::fail(
            format!(
                "{} is not available: not loaded, not built in, no module file; the kernel needs {option}",
                feature.as_str()
            ),
            Some(format!("looked at {looked}")),
        ),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// In the running kernel, with how we know.
    Loaded(String),
    /// A module file exists the kernel can load on demand.
    Loadable(String),
    /// Not found; what was looked at.
    Absent(String),
}

/// Looks for `module` in the running kernel, then among module files of the running release.
pub fn find(
    proc_root: &Path,
    sys_root: &Path,
    modules_root: &Path,
    module: &str,
    symbol: &str,
) -> Found {
    let mut looked = Vec::new();
    if let Ok(text) = std::fs::read_to_string(proc_root.join("modules")) {
        looked.push("/proc/modules");
        if text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(module))
        {
            return Found::Loaded("loaded module (/proc/modules)".into());
        }
    }
    if sys_root.join("module").join(module).exists() {
        return Found::Loaded(format!("/sys/module/{module} exists"));
    }
    looked.push("/sys/module");
    let release = std::fs::read_to_string(proc_root.join("sys/kernel/osrelease"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let dir = modules_root.join(&release);
    if let Ok(text) = std::fs::read_to_string(dir.join("modules.builtin")) {
        looked.push("modules.builtin");
        if text.lines().any(|l| module_name(l) == Some(module)) {
            return Found::Loaded("built into the kernel (modules.builtin)".into());
        }
    }
    if let Some(text) = kallsyms(proc_root) {
        looked.push("/proc/kallsyms");
        if has_symbol(&text, symbol) {
            return Found::Loaded(format!("kernel symbol {symbol} present (/proc/kallsyms)"));
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("modules.dep")) {
        looked.push("modules.dep");
        if let Some(file) = text
            .lines()
            .filter_map(|l| l.split(':').next())
            .find(|f| module_name(f) == Some(module))
        {
            return Found::Loadable(file.to_string());
        }
    } else {
        looked.push("no modules.dep");
    }
    Found::Absent(looked.join(", "))
}

/// /proc/kallsyms, read once per run: the kernel takes a while to generate its 100k+ lines.
fn kallsyms(proc_root: &Path) -> Option<std::sync::Arc<String>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let path = proc_root.join("kallsyms");
    if let Some(text) = cache.lock().ok()?.get(&path) {
        return Some(text.clone());
    }
    let text = Arc::new(std::fs::read_to_string(&path).ok()?);
    cache.lock().ok()?.insert(path, text.clone());
    Some(text)
}

/// `kernel/net/ipv4/esp4.ko.xz` → `esp4`.
fn module_name(path: &str) -> Option<&str> {
    let file = path.trim().rsplit('/').next()?;
    file.split(".ko")
        .next()
        .filter(|n| !n.is_empty() && file.contains(".ko"))
}

/// True when `/proc/kallsyms` text has a symbol named exactly `symbol` (any module).
///
/// Lines are `ADDR TYPE NAME` or `ADDR TYPE NAME\t[module]`; searching for ` NAME` followed by
/// an end of name uses std's fast substring search instead of splitting 100k+ lines.
pub fn has_symbol(kallsyms: &str, symbol: &str) -> bool {
    let needle = format!(" {symbol}");
    let mut rest = kallsyms;
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        if after.is_empty() || after.starts_with('\n') || after.starts_with('\t') {
            return true;
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_from_paths() {
        assert_eq!(module_name("kernel/net/ipv4/esp4.ko.xz"), Some("esp4"));
        assert_eq!(module_name("kernel/net/ipv4/esp4.ko"), Some("esp4"));
        assert_eq!(module_name("kernel/net/ipv4/"), None);
    }

    #[test]
    fn kallsyms_exact_symbol() {
        let text = "ffffffff820bfc80 t xfrm_user_rcv_msg\nffffffff820bfc90 t esp_input_done\n\
                    ffffffffc0001000 t ah6_input\t[ah6]";
        assert!(has_symbol(text, "xfrm_user_rcv_msg"));
        assert!(has_symbol(text, "ah6_input"));
        assert!(!has_symbol(text, "esp_input"));
    }
}
