//! Turning XFRM netlink message bodies into the model types.
//!
//! The fixed headers (`xfrm_userpolicy_info`, `xfrm_usersa_info`, …) and known attributes are
//! decoded with netlink-packet-xfrm's types, but only after this module checked the lengths:
//! the crate slices message bodies before checking them and would panic on a truncated one.
//! Attributes are decoded one by one, so one the crate does not know (33–41 on newer kernels) or
//! cannot parse is kept as an `UnknownAttribute` instead of failing the whole message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NlaBuffer, NlasIterator, Parseable};
use netlink_packet_xfrm as x;

use crate::model::*;
use crate::nl::align4;

mod policy;
mod sa;

pub(crate) use policy::{apply_policy_attr, decode_policy, decode_policy_into, policy_base};
pub use sa::key_fingerprint;
pub(crate) use sa::{decode_sa, sa_id, sa_with_attrs};

const AF_INET6: u16 = 10;
/// Highest attribute number netlink-packet-xfrm 0.5 decodes itself.
const CRATE_KNOWS_UP_TO: u16 = x::XFRMA_MTIMER_THRESH;

/// Checks that `payload` holds at least `len` bytes of a `what`, before any slicing.
pub(crate) fn need(payload: &[u8], len: usize, what: &str) -> Result<(), String> {
    if payload.len() < len {
        Err(format!(
            "{what} needs {len} bytes but the message has {}",
            payload.len()
        ))
    } else {
        Ok(())
    }
}

/// The attributes that follow a fixed header of `header_len` bytes (netlink-aligned).
pub(crate) fn attrs_after(payload: &[u8], header_len: usize) -> &[u8] {
    payload.get(align4(header_len)..).unwrap_or_default()
}

/// One attribute, decoded as far as this version can.
pub(crate) enum Attr<'a> {
    Known(x::XfrmAttrs),
    /// Newer than the crate: kind and raw value, decoded by the caller.
    Raw {
        kind: u16,
        value: &'a [u8],
    },
    /// Could not be decoded; kept as an unknown attribute.
    Unknown(UnknownAttribute),
}

/// Decodes attributes one at a time; a malformed attribute header ends the list (the rest of
/// the buffer cannot be trusted), reported as one malformed entry.
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = Attr<'_>> {
    NlasIterator::new(buf).map(|nla| match nla {
        Err(_) => Attr::Unknown(UnknownAttribute {
            kind: 0,
            len: 0,
            reason: "malformed attribute list".into(),
        }),
        Ok(nla) => decode_attr(&nla),
    })
}

fn decode_attr<'a>(nla: &NlaBuffer<&'a [u8]>) -> Attr<'a> {
    let kind = nla.kind();
    let value: &'a [u8] = {
        // NlaBuffer is Copy: take the slice with its original lifetime (value() borrows `nla`).
        let inner: &'a [u8] = (*nla).into_inner();
        &inner[4..(nla.length() as usize).min(inner.len())]
    };
    // Templates are decoded by the caller chunk by chunk (saves the crate's Vec per policy).
    if kind > CRATE_KNOWS_UP_TO || kind == x::XFRMA_TMPL {
        return Attr::Raw { kind, value };
    }
    match x::XfrmAttrs::parse(nla) {
        Ok(attr) => Attr::Known(attr),
        Err(_) => Attr::Unknown(UnknownAttribute {
            kind,
            len: value.len(),
            reason: "malformed".into(),
        }),
    }
}

fn unknown(kind: u16, value: &[u8]) -> UnknownAttribute {
    UnknownAttribute {
        kind,
        len: value.len(),
        reason: "unknown".into(),
    }
}

fn u32_of(value: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(value.get(..4)?.try_into().ok()?))
}

fn u16_of(value: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(value.get(..2)?.try_into().ok()?))
}

/// An address of the given family; the kernel sends 16 bytes for both.
pub(crate) fn ip(addr: &x::Address, family: u16) -> IpAddr {
    if family == AF_INET6 {
        IpAddr::V6(Ipv6Addr::from(addr.addr))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            addr.addr[0],
            addr.addr[1],
            addr.addr[2],
            addr.addr[3],
        ))
    }
}

fn ip_if_set(addr: &x::Address, family: u16) -> Option<IpAddr> {
    if addr.addr.iter().all(|b| *b == 0) {
        None
    } else {
        Some(ip(addr, family))
    }
}

/// A selector, read in its own family, or in `fallback` when the kernel left the family at 0
/// (SAs from `allocspi`, `flag af-unspec` SAs): iproute2 reads it in the SA's family too.
pub(crate) fn selector(sel: &x::Selector, fallback: u16) -> Selector {
    let family = if sel.family == 0 {
        fallback
    } else {
        sel.family
    };
    Selector {
        src: Prefix {
            addr: ip(&sel.saddr, family),
            len: sel.prefixlen_s,
        },
        dst: Prefix {
            addr: ip(&sel.daddr, family),
            len: sel.prefixlen_d,
        },
        proto: sel.proto,
        sport: sel.sport,
        sport_mask: sel.sport_mask,
        dport: sel.dport,
        dport_mask: sel.dport_mask,
        ifindex: sel.ifindex,
        dev: None,
    }
}

fn limit(value: u64) -> Option<u64> {
    (value != x::XFRM_INF).then_some(value)
}

fn seconds(value: u64) -> Option<u64> {
    (value != 0 && value != x::XFRM_INF).then_some(value)
}

pub(crate) fn lifetime(cfg: &x::LifetimeConfig, cur: &x::Lifetime) -> Lifetime {
    Lifetime {
        config: LifetimeConfig {
            soft_byte_limit: limit(cfg.soft_byte_limit),
            hard_byte_limit: limit(cfg.hard_byte_limit),
            soft_packet_limit: limit(cfg.soft_packet_limit),
            hard_packet_limit: limit(cfg.hard_packet_limit),
            soft_add_expires_seconds: seconds(cfg.soft_add_expires_seconds),
            hard_add_expires_seconds: seconds(cfg.hard_add_expires_seconds),
            soft_use_expires_seconds: seconds(cfg.soft_use_expires_seconds),
            hard_use_expires_seconds: seconds(cfg.hard_use_expires_seconds),
        },
        current: LifetimeCurrent {
            bytes: cur.bytes,
            packets: cur.packets,
            add_time: cur.add_time,
            use_time: cur.use_time,
        },
    }
}

pub(crate) fn template(t: &x::UserTemplate) -> Template {
    Template {
        src: ip_if_set(&t.saddr, t.family),
        dst: ip_if_set(&t.id.daddr, t.family),
        proto: XfrmProto::from_number(t.id.proto),
        spi: Spi(t.id.spi),
        mode: Mode::from_number(t.mode),
        reqid: t.reqid,
        level: if t.optional != 0 {
            Level::Use
        } else {
            Level::Required
        },
        share: t.share,
        aalgos: t.aalgos,
        ealgos: t.ealgos,
        calgos: t.calgos,
    }
}

fn security_context(ctx: &x::SecurityCtx) -> SecurityContext {
    let text = ctx.ctx_str.split(|b| *b == 0).next().unwrap_or_default();
    SecurityContext {
        alg: ctx.ctx_alg,
        doi: ctx.ctx_doi,
        context: String::from_utf8_lossy(text).into_owned(),
    }
}
