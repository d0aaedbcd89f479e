//! `kind = "policy"`: a policy for this selector and direction exists (as `ip xfrm policy`), with
//! the expected action and a template. Per-socket policies (set by IKE daemons on their own
//! sockets) are not selector policies and are left out.

use std::net::IpAddr;

use xfrmdiag_inventory::{Policy, Prefix, Template};

use super::{Context, Outcome};
use crate::model::{PolicyCheck, TemplateSpec};

pub fn run(check: &PolicyCheck, ctx: &Context) -> Outcome {
    match xfrmdiag_inventory::dump_policies(&ctx.netns) {
        Ok(policies) => evaluate(check, &policies),
        Err(e) => Outcome::fail(format!("cannot read the policies: {e}"), None),
    }
}

/// `10.0.0.0/8`, or an address alone as a host prefix. `None` when it is neither.
pub fn parse_prefix(text: &str) -> Option<Prefix> {
    if text.contains('/') {
        let p: Prefix = text.parse().ok()?;
        let max = if p.addr.is_ipv4() { 32 } else { 128 };
        (p.len <= max).then_some(p)
    } else {
        let addr: IpAddr = text.parse().ok()?;
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Some(Prefix { addr, len })
    }
}

/// `udp`, `tcp`, `icmp`, `ipv6-icmp`, `any` or a protocol number.
pub fn parse_l4proto(text: &str) -> Option<u8> {
    match text.to_ascii_lowercase().as_str() {
        "any" => Some(0),
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "gre" => Some(47),
        "esp" => Some(50),
        "ah" => Some(51),
        "ipv6-icmp" | "icmpv6" => Some(58),
        "sctp" => Some(132),
        n => n.parse().ok(),
    }
}

fn same_prefix(want: &Prefix, have: &Prefix) -> bool {
    want.len == have.len && have.contains(want.addr) && want.addr.is_ipv4() == have.addr.is_ipv4()
}

fn selector_matches(check: &PolicyCheck, p: &Policy) -> bool {
    let prefix = |want: &Option<String>, have: &Prefix| {
        want.as_deref()
            .is_none_or(|w| parse_prefix(w).is_some_and(|w| same_prefix(&w, have)))
    };
    !p.socket
        && p.dir.as_str() == check.dir.as_str()
        && prefix(&check.src, &p.selector.src)
        && prefix(&check.dst, &p.selector.dst)
        && check
            .l4proto
            .as_deref()
            .is_none_or(|l| parse_l4proto(l) == Some(p.selector.proto))
}

fn template_matches(want: &TemplateSpec, t: &Template) -> bool {
    let addr = |w: &Option<String>, h: Option<IpAddr>| {
        w.as_deref()
            .is_none_or(|w| w.parse::<IpAddr>().ok().is_some_and(|w| Some(w) == h))
    };
    want.proto.is_none_or(|p| p.as_str() == t.proto.to_string())
        && want.mode.is_none_or(|m| m.as_str() == t.mode.to_string())
        && addr(&want.src, t.src)
        && addr(&want.dst, t.dst)
        && want.reqid.is_none_or(|r| i64::from(t.reqid) == r.0)
}

fn describe(p: &Policy) -> String {
    let tmpls: Vec<String> = p
        .templates
        .iter()
        .map(|t| {
            let ends = match (t.src, t.dst) {
                (Some(s), Some(d)) => format!(" {s}->{d}"),
                _ => String::new(),
            };
            format!("tmpl {} {}{ends} reqid {}", t.proto, t.mode, t.reqid)
        })
        .collect();
    let proto = if p.selector.proto == 0 {
        String::new()
    } else {
        format!(" proto {}", p.selector.proto)
    };
    format!(
        "{} {} -> {}{proto} {} priority {}{}",
        p.dir.as_str(),
        p.selector.src,
        p.selector.dst,
        p.action.as_str(),
        p.priority,
        if tmpls.is_empty() {
            String::new()
        } else {
            format!(" {}", tmpls.join(" "))
        }
    )
}

pub fn evaluate(check: &PolicyCheck, policies: &[Policy]) -> Outcome {
    let selected: Vec<&Policy> = policies
        .iter()
        .filter(|p| selector_matches(check, p))
        .collect();
    let full: Vec<&Policy> = selected
        .iter()
        .copied()
        .filter(|p| check.action.is_none_or(|a| a.as_str() == p.action.as_str()))
        .filter(|p| {
            check
                .template
                .as_ref()
                .is_none_or(|want| p.templates.iter().any(|t| template_matches(want, t)))
        })
        .collect();
    let dir = check.dir.as_str();
    let what = format!(
        "{dir} policy {} -> {}",
        check.src.as_deref().unwrap_or("any"),
        check.dst.as_deref().unwrap_or("any")
    );
    let observed = Some(if selected.is_empty() {
        let in_dir = policies
            .iter()
            .filter(|p| !p.socket && p.dir.as_str() == dir)
            .count();
        format!("no policy with this selector ({in_dir} {dir} policies in total)")
    } else {
        selected
            .iter()
            .map(|p| describe(p))
            .collect::<Vec<_>>()
            .join("; ")
    });
    match (check.present, full.is_empty(), selected.is_empty()) {
        (true, false, _) => Outcome::pass(format!("{what} found"), observed),
        (true, true, true) => Outcome::fail(format!("no {what}"), observed),
        (true, true, false) => Outcome::fail(
            format!("{what} exists but its action or template differs from the expected one"),
            observed,
        ),
        (false, true, _) => Outcome::pass(format!("no {what}, as expected"), observed),
        (false, false, _) => Outcome::fail(format!("{what} exists, expected none"), observed),
    }
}
