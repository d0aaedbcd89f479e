//! `kind = "sysctl"`: read /proc/sys inside the check's namespace.
//!
//! /proc/sys/net is resolved per reading *task*: a thread that entered a namespace with setns(2)
//! sees that namespace's values (unlike /proc/net, which follows the main thread). The
//! integration tests prove it by setting a value in a scratch namespace only.

use std::path::{Path, PathBuf};

use super::{in_netns, Context, Outcome};
use crate::model::SysctlCheck;

pub fn run(check: &SysctlCheck, ctx: &Context) -> Outcome {
    let path = sysctl_path(&ctx.proc_root, &check.key);
    let read_path = path.clone();
    let value = match in_netns(ctx, move || std::fs::read_to_string(read_path)) {
        Ok(Ok(text)) => normalize(&text),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::fail(
                format!("no such sysctl ({} does not exist)", path.display()),
                None,
            )
        }
        Ok(Err(e)) => return Outcome::fail(format!("cannot read {}: {e}", path.display()), None),
        Err(outcome) => return outcome,
    };
    evaluate(check, &value)
}

/// Compares a read value with the check's conditions.
pub fn evaluate(check: &SysctlCheck, value: &str) -> Outcome {
    let observed = Some(value.to_string());
    let mut wanted = Vec::new();
    let mut ok = true;
    if let Some(equals) = &check.equals {
        wanted.push(format!("= {}", normalize(&equals.0)));
        ok &= normalize(&equals.0) == value;
    }
    if let Some(one_of) = &check.one_of {
        let set: Vec<String> = one_of.iter().map(|s| normalize(&s.0)).collect();
        wanted.push(format!("one of {}", set.join(", ")));
        ok &= set.iter().any(|s| s == value);
    }
    if check.min.is_some() || check.max.is_some() {
        let Some(number) = crate::model::parse_int(value) else {
            return Outcome::fail(
                format!("value `{value}` is not a number, cannot compare with min/max"),
                observed,
            );
        };
        if let Some(min) = check.min {
            wanted.push(format!(">= {}", min.0));
            ok &= number >= min.0;
        }
        if let Some(max) = check.max {
            wanted.push(format!("<= {}", max.0));
            ok &= number <= max.0;
        }
    }
    let wanted = wanted.join(" and ");
    if ok {
        Outcome::pass(
            format!("{} is {value} (expected {wanted})", check.key),
            observed,
        )
    } else {
        Outcome::fail(
            format!("{} is {value}, expected {wanted}", check.key),
            observed,
        )
    }
}

/// `net.ipv4.ip_forward` → `ROOT/sys/net/ipv4/ip_forward`; a key with `/` is taken as a path.
pub fn sysctl_path(proc_root: &Path, key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.trim_start_matches('/').to_string()
    } else {
        key.replace('.', "/")
    };
    proc_root.join("sys").join(rel)
}

/// Multi-field values (`tcp_rmem`) are tab separated in /proc; compare them space separated.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Int, Scalar};

    fn check() -> SysctlCheck {
        SysctlCheck {
            key: "net.ipv4.ip_forward".into(),
            equals: None,
            one_of: None,
            min: None,
            max: None,
        }
    }

    #[test]
    fn dotted_and_slashed_keys() {
        let root = Path::new("/proc");
        assert_eq!(
            sysctl_path(root, "net.ipv4.conf.all.rp_filter"),
            Path::new("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
        assert_eq!(
            sysctl_path(root, "net/ipv4/conf/eth0.100/rp_filter"),
            Path::new("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
    }

    #[test]
    fn equals_range_and_multi_field_values() {
        let mut c = check();
        c.equals = Some(Scalar("4096 131072 6291456".into()));
        assert_eq!(
            evaluate(&c, &normalize("4096\t131072\t6291456\n")).verdict,
            super::super::Verdict::Pass
        );
        let mut c = check();
        c.min = Some(Int(1));
        c.max = Some(Int(2));
        assert_eq!(evaluate(&c, "0").verdict, super::super::Verdict::Fail);
        assert_eq!(evaluate(&c, "2").verdict, super::super::Verdict::Pass);
        assert_eq!(evaluate(&c, "abc").verdict, super::super::Verdict::Fail);
    }
}
