//! `xfrmdiag monitor`: one line per XFRM event, in the words of the other inventory outputs.

use std::fmt::Write as _;

use xfrmdiag_inventory::{EventKind, Policy, Sa, XfrmEvent};

use super::{if_id, selector_text, template_text, time_text};

fn short_policy(p: &Policy) -> String {
    let mut s = format!(
        "dir {}{} {} prio {} index {} {}",
        p.dir,
        if p.socket { "/socket" } else { "" },
        p.action,
        p.priority,
        p.index,
        selector_text(&p.selector)
    );
    if p.if_id.is_some() {
        let _ = write!(s, " if_id {}", if_id(p.if_id));
    }
    for t in &p.templates {
        let _ = write!(s, " tmpl [{}]", template_text(t));
    }
    s
}

fn short_sa(sa: &Sa) -> String {
    let mut s = format!(
        "{} > {} {} spi {} reqid {} {} sel {}",
        sa.src,
        sa.dst,
        sa.proto,
        sa.spi,
        sa.reqid,
        sa.mode,
        selector_text(&sa.selector)
    );
    if sa.if_id.is_some() {
        let _ = write!(s, " if_id {}", if_id(sa.if_id));
    }
    s
}

/// One line per event, timestamped (UTC, milliseconds), like `ip -t xfrm monitor`.
pub fn event_line(e: &XfrmEvent) -> String {
    let secs = e.time_ns / 1_000_000_000;
    let millis = (e.time_ns / 1_000_000) % 1000;
    let time = format!("{}.{millis:03}", time_text(secs));
    let what = match &e.kind {
        EventKind::NewSa { sa } => format!("new-sa {}", short_sa(sa)),
        EventKind::UpdSa { sa } => format!("upd-sa {}", short_sa(sa)),
        EventKind::DelSa { id, .. } => {
            format!("del-sa {} spi {} {}", id.dst, id.spi, id.proto)
        }
        EventKind::NewPolicy { policy } => format!("new-policy {}", short_policy(policy)),
        EventKind::UpdPolicy { policy } => format!("upd-policy {}", short_policy(policy)),
        EventKind::DelPolicy {
            dir,
            index,
            selector,
            ..
        } => {
            // Index 0: deleted by selector on a kernel that did not send the policy.
            let index = match index {
                0 => String::new(),
                n => format!(" index {n}"),
            };
            format!("del-policy dir {dir}{index} {}", selector_text(selector))
        }
        EventKind::Acquire {
            src,
            dst,
            proto,
            selector,
            templates,
            policy,
            seq,
        } => {
            let mut s = format!(
                "acquire {src} > {dst} {proto} seq 0x{seq:x} sel {} policy index {}",
                selector_text(selector),
                policy.index
            );
            for t in templates {
                let _ = write!(s, " tmpl [{}]", template_text(t));
            }
            s
        }
        EventKind::Expire { hard, id, .. } => format!(
            "expire {} {} spi {} {}",
            if *hard { "hard" } else { "soft" },
            id.dst,
            id.spi,
            id.proto
        ),
        EventKind::PolicyExpire { hard, policy } => format!(
            "policy-expire {} {}",
            if *hard { "hard" } else { "soft" },
            short_policy(policy)
        ),
        EventKind::Report {
            proto,
            selector,
            coaddr,
        } => format!(
            "report {proto} {}{}",
            selector_text(selector),
            coaddr.map_or(String::new(), |c| format!(" coaddr {c}"))
        ),
        EventKind::Mapping {
            id,
            reqid,
            old_src,
            old_sport,
            new_src,
            new_sport,
        } => format!(
            "mapping {} spi {} reqid {reqid}: {old_src}:{old_sport} -> {new_src}:{new_sport}",
            id.dst, id.spi
        ),
        EventKind::FlushSa { proto } => format!("flush-sa proto {proto}"),
        EventKind::FlushPolicy => "flush-policy".into(),
        EventKind::AsyncEvent { id, flags } => {
            format!("async-event {} spi {} flags 0x{flags:x}", id.dst, id.spi)
        }
        EventKind::SetDefault {
            input,
            output,
            forward,
        } => format!("set-default in {input} fwd {forward} out {output}"),
        EventKind::Overrun => "overrun: the kernel dropped events (socket buffer full)".into(),
        EventKind::Other { msg_type } => format!("message type {msg_type}"),
    };
    format!("{time} {what}")
}
