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
use sha2::{Digest, Sha256};

use crate::model::*;
use crate::nl::align4;

const AF_INET6: u16 = 10;

// Attributes newer than netlink-packet-xfrm 0.5 (include/uapi/linux/xfrm.h).
const XFRMA_SA_DIR: u16 = 33;
const XFRMA_NAT_KEEPALIVE_INTERVAL: u16 = 34;
const XFRMA_SA_PCPU: u16 = 35;
const XFRMA_IPTFS_DROP_TIME: u16 = 36;
const XFRMA_IPTFS_REORDER_WINDOW: u16 = 37;
const XFRMA_IPTFS_DONT_FRAG: u16 = 38;
const XFRMA_IPTFS_INIT_DELAY: u16 = 39;
const XFRMA_IPTFS_MAX_QSIZE: u16 = 40;
const XFRMA_IPTFS_PKT_SIZE: u16 = 41;
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

// ---------------------------------------------------------------------------------------------
// Policies

/// A policy from its `xfrm_userpolicy_info` (attributes applied separately).
pub(crate) fn policy_base(info: &x::UserPolicyInfo) -> Policy {
    let mut policy = Policy {
        dir: Direction::In,
        socket: false,
        action: Action::Allow,
        priority: 0,
        index: 0,
        ptype: PolicyType::Main,
        flags: Vec::new(),
        share: 0,
        selector: selector(&info.selector, info.selector.family),
        mark: None,
        if_id: None,
        lifetime: Lifetime::default(),
        templates: Vec::new(),
        sec_ctx: None,
        unknown_attributes: Vec::new(),
    };
    set_policy_base(&mut policy, info);
    policy
}

/// Overwrites every field of `policy` from `info`, keeping its vectors' allocations, so a
/// stream can decode 100k policies into one reused value.
pub(crate) fn set_policy_base(policy: &mut Policy, info: &x::UserPolicyInfo) {
    // Socket policies come back as XFRM_POLICY_MAX + dir.
    let (dir, socket) = match info.direction {
        0 => (Direction::In, false),
        1 => (Direction::Out, false),
        2 => (Direction::Fwd, false),
        3 => (Direction::In, true),
        4 => (Direction::Out, true),
        _ => (Direction::Fwd, true),
    };
    policy.dir = dir;
    policy.socket = socket;
    policy.action = if info.action == x::XFRM_POLICY_BLOCK {
        Action::Block
    } else {
        Action::Allow
    };
    policy.priority = info.priority;
    policy.index = info.index;
    policy.ptype = PolicyType::Main;
    policy.flags.clear();
    if info.flags & x::XFRM_POLICY_LOCALOK != 0 {
        policy.flags.push("localok".to_string());
    }
    if info.flags & x::XFRM_POLICY_ICMP != 0 {
        policy.flags.push("icmp".to_string());
    }
    policy.share = info.share;
    policy.selector = selector(&info.selector, info.selector.family);
    policy.mark = None;
    policy.if_id = None;
    policy.lifetime = lifetime(&info.lifetime_cfg, &info.lifetime_cur);
    policy.templates.clear();
    policy.sec_ctx = None;
    policy.unknown_attributes.clear();
}

pub(crate) fn apply_policy_attr(policy: &mut Policy, attr: Attr<'_>) {
    use x::XfrmAttrs as A;
    match attr {
        Attr::Raw {
            kind: x::XFRMA_TMPL,
            value,
        } => {
            let (chunks, rest) = value.as_chunks::<{ x::XFRM_USER_TEMPLATE_LEN }>();
            policy.templates.reserve_exact(chunks.len());
            for chunk in chunks {
                match x::UserTemplate::parse(chunk) {
                    Ok(t) => policy.templates.push(template(&t)),
                    Err(_) => policy.unknown_attributes.push(UnknownAttribute {
                        kind: x::XFRMA_TMPL,
                        len: value.len(),
                        reason: "malformed".into(),
                    }),
                }
            }
            if !rest.is_empty() {
                policy.unknown_attributes.push(UnknownAttribute {
                    kind: x::XFRMA_TMPL,
                    len: value.len(),
                    reason: "malformed".into(),
                });
            }
        }
        Attr::Known(A::Template(tmpls)) => policy.templates.extend(tmpls.iter().map(template)),
        Attr::Known(A::Mark(m)) => {
            policy.mark = Some(Mark {
                value: m.value,
                mask: m.mask,
            })
        }
        Attr::Known(A::IfId(id)) => policy.if_id = Some(id),
        Attr::Known(A::PolicyType(t)) => policy.ptype = PolicyType::from_number(t.ptype),
        Attr::Known(A::SecurityContext(ctx)) => policy.sec_ctx = Some(security_context(&ctx)),
        Attr::Known(A::Pad()) | Attr::Known(A::PolicyInfo(_)) => {}
        Attr::Known(other) => policy.unknown_attributes.push(UnknownAttribute {
            kind: netlink_packet_core::Nla::kind(&other),
            len: netlink_packet_core::Nla::value_len(&other),
            reason: "unexpected".into(),
        }),
        Attr::Raw { kind, value } => policy.unknown_attributes.push(unknown(kind, value)),
        Attr::Unknown(u) => policy.unknown_attributes.push(u),
    }
}

/// Decodes an XFRM_MSG_NEWPOLICY / UPDPOLICY body (`xfrm_userpolicy_info` + attributes).
pub(crate) fn decode_policy(payload: &[u8]) -> Result<Policy, String> {
    need(
        payload,
        x::XFRM_USER_POLICY_INFO_LEN,
        "xfrm_userpolicy_info",
    )?;
    let info = x::UserPolicyInfo::parse(&payload[..x::XFRM_USER_POLICY_INFO_LEN])
        .map_err(|e| e.to_string())?;
    let mut policy = policy_base(&info);
    for attr in attrs(attrs_after(payload, x::XFRM_USER_POLICY_INFO_LEN)) {
        apply_policy_attr(&mut policy, attr);
    }
    Ok(policy)
}

/// Like [`decode_policy`], into an existing value (see [`set_policy_base`]).
pub(crate) fn decode_policy_into(policy: &mut Policy, payload: &[u8]) -> Result<(), String> {
    need(
        payload,
        x::XFRM_USER_POLICY_INFO_LEN,
        "xfrm_userpolicy_info",
    )?;
    let info = x::UserPolicyInfo::parse(&payload[..x::XFRM_USER_POLICY_INFO_LEN])
        .map_err(|e| e.to_string())?;
    set_policy_base(policy, &info);
    for attr in attrs(attrs_after(payload, x::XFRM_USER_POLICY_INFO_LEN)) {
        apply_policy_attr(policy, attr);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SAs

/// First 12 hex digits of SHA-256(algorithm name ‖ key bytes).
///
/// The same key gives the same fingerprint on every host; the key itself cannot be recovered.
pub fn key_fingerprint(alg_name: &str, key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(alg_name.as_bytes())
        .chain_update(key)
        .finalize();
    let mut hex = String::with_capacity(12);
    for byte in &digest[..6] {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn alg_name(raw: &[u8]) -> String {
    let name = raw.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

/// Builds an `Algorithm` and wipes the key copy the crate made: the key goes no further.
fn algorithm(name: &[u8], key_bits: u32, key: &mut Vec<u8>) -> Algorithm {
    let name = alg_name(name);
    let key_len = (key_bits as usize).div_ceil(8).min(key.len());
    let fingerprint = key_fingerprint(&name, &key[..key_len]);
    key.iter_mut().for_each(|b| *b = 0);
    key.clear();
    Algorithm {
        name,
        key_bits,
        key_fingerprint: fingerprint,
        trunc_bits: None,
        icv_bits: None,
    }
}

fn sa_flags(flags: u8) -> Vec<String> {
    const NAMES: [(u8, &str); 8] = [
        (x::XFRM_STATE_NOECN, "noecn"),
        (x::XFRM_STATE_DECAP_DSCP, "decap-dscp"),
        (x::XFRM_STATE_NOPMTUDISC, "nopmtudisc"),
        (x::XFRM_STATE_WILDRECV, "wildrecv"),
        (x::XFRM_STATE_ICMP, "icmp"),
        (x::XFRM_STATE_AF_UNSPEC, "af-unspec"),
        (x::XFRM_STATE_ALIGN4, "align4"),
        (x::XFRM_STATE_ESN, "esn"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// An SA from its `xfrm_usersa_info` (attributes applied separately).
pub(crate) fn sa_base(info: &x::UserSaInfo) -> Sa {
    Sa {
        src: ip(&info.saddr, info.family),
        dst: ip(&info.id.daddr, info.family),
        proto: XfrmProto::from_number(info.id.proto),
        spi: Spi(info.id.spi),
        reqid: info.reqid,
        mode: Mode::from_number(info.mode),
        flags: sa_flags(info.flags),
        replay: ReplayState {
            window: u32::from(info.replay_window),
            ..ReplayState::default()
        },
        algorithms: Algorithms::default(),
        encap: None,
        mark: None,
        output_mark: None,
        if_id: None,
        direction: None,
        selector: selector(&info.selector, info.family),
        lifetime: lifetime(&info.lifetime_cfg, &info.lifetime_cur),
        stats: SaStats {
            replay_window: info.stats.replay_window,
            replay: info.stats.replay,
            integrity_failed: info.stats.integrity_failed,
        },
        offload: None,
        sec_ctx: None,
        tfcpad: None,
        coaddr: None,
        last_used: None,
        replay_threshold: None,
        event_time_threshold: None,
        mapping_threshold: None,
        nat_keepalive_interval: None,
        pcpu: None,
        iptfs: None,
        unknown_attributes: Vec::new(),
    }
}

fn encap_name(t: u16) -> String {
    match t {
        x::UDP_ENCAP_ESPINUDP_NON_IKE => "espinudp-nonike".into(),
        x::UDP_ENCAP_ESPINUDP => "espinudp".into(),
        x::TCP_ENCAP_ESPINTCP => "espintcp".into(),
        other => format!("type-{other}"),
    }
}

/// Applies one attribute to an SA. `family` is the SA's address family (for encap/coaddr).
pub(crate) fn apply_sa_attr(sa: &mut Sa, family: u16, attr: Attr<'_>) {
    use x::XfrmAttrs as A;
    match attr {
        Attr::Known(A::EncryptionAlgAead(mut a)) => {
            let mut alg = algorithm(&a.alg_name, a.alg_key_len, &mut a.alg_key);
            alg.icv_bits = Some(a.alg_icv_len);
            sa.algorithms.aead = Some(alg);
        }
        // The kernel sends both auth and auth-trunc: auth-trunc carries the truncation, so it
        // wins whichever comes first.
        Attr::Known(A::AuthenticationAlgTrunc(mut a)) => {
            let mut alg = algorithm(&a.alg_name, a.alg_key_len, &mut a.alg_key);
            alg.trunc_bits = Some(a.alg_trunc_len);
            sa.algorithms.auth = Some(alg);
        }
        Attr::Known(A::AuthenticationAlg(mut a)) => {
            let alg = algorithm(&a.alg_name, a.alg_key_len, &mut a.alg_key);
            if sa.algorithms.auth.is_none() {
                sa.algorithms.auth = Some(alg);
            }
        }
        Attr::Known(A::EncryptionAlg(mut a)) => {
            sa.algorithms.enc = Some(algorithm(&a.alg_name, a.alg_key_len, &mut a.alg_key))
        }
        Attr::Known(A::CompressionAlg(mut a)) => {
            sa.algorithms.comp = Some(algorithm(&a.alg_name, a.alg_key_len, &mut a.alg_key))
        }
        Attr::Known(A::EncapsulationTemplate(e)) => {
            sa.encap = Some(Encap {
                encap_type: encap_name(e.encap_type),
                sport: e.encap_sport,
                dport: e.encap_dport,
                oa: ip_if_set(&e.encap_oa, family),
            })
        }
        Attr::Known(A::Mark(m)) => {
            sa.mark = Some(Mark {
                value: m.value,
                mask: m.mask,
            })
        }
        Attr::Known(A::MarkVal(v)) => {
            let mask = sa.output_mark.map_or(u32::MAX, |m| m.mask);
            sa.output_mark = Some(Mark { value: v, mask });
        }
        Attr::Known(A::MarkMask(m)) => {
            let value = sa.output_mark.map_or(0, |m| m.value);
            sa.output_mark = Some(Mark { value, mask: m });
        }
        Attr::Known(A::IfId(id)) => sa.if_id = Some(id),
        Attr::Known(A::ReplayState(r)) => {
            sa.replay.seq = r.seq;
            sa.replay.oseq = r.oseq;
            if sa.replay.bitmap.is_empty() {
                sa.replay.bitmap = vec![r.bitmap];
            }
        }
        // The SA header holds the window in one byte: the ESN attribute has the real one.
        Attr::Known(A::ReplayStateEsn(r)) => {
            sa.replay.window = r.replay_window;
            sa.replay.seq = r.seq;
            sa.replay.oseq = r.oseq;
            sa.replay.seq_hi = Some(r.seq_hi);
            sa.replay.oseq_hi = Some(r.oseq_hi);
            sa.replay.bitmap = r.bmp;
        }
        Attr::Known(A::SecurityContext(ctx)) => sa.sec_ctx = Some(security_context(&ctx)),
        Attr::Known(A::OffloadDevice(o)) => {
            let mut flags = Vec::new();
            for (bit, name) in [(1u8, "ipv6"), (2, "inbound"), (4, "packet")] {
                if o.flags & bit != 0 {
                    flags.push(name.to_string());
                }
            }
            sa.offload = Some(Offload {
                ifindex: o.ifindex,
                dev: None,
                flags,
            });
        }
        Attr::Known(A::TfcPadding(v)) => sa.tfcpad = Some(v),
        Attr::Known(A::CareOfAddr(a)) => sa.coaddr = Some(ip(&a, family)),
        Attr::Known(A::LastUsed(v)) => sa.last_used = Some(v),
        Attr::Known(A::ReplayThreshold(v)) => sa.replay_threshold = Some(v),
        Attr::Known(A::EventTimeThreshold(v)) => sa.event_time_threshold = Some(v),
        Attr::Known(A::MappingTimeThreshold(v)) => sa.mapping_threshold = Some(v),
        Attr::Known(A::ExtraFlags(v)) => {
            if v & x::XFRM_SA_XFLAG_DONT_ENCAP_DSCP != 0 {
                sa.flags.push("dont-encap-dscp".into());
            }
            if v & x::XFRM_SA_XFLAG_OSEQ_MAY_WRAP != 0 {
                sa.flags.push("oseq-may-wrap".into());
            }
        }
        Attr::Known(A::SrcAddr(_)) | Attr::Known(A::Pad()) | Attr::Known(A::SaInfo(_)) => {}
        Attr::Known(A::LifetimeBytes(l)) => {
            sa.lifetime.current = LifetimeCurrent {
                bytes: l.bytes,
                packets: l.packets,
                add_time: l.add_time,
                use_time: l.use_time,
            }
        }
        Attr::Known(other) => sa.unknown_attributes.push(UnknownAttribute {
            kind: netlink_packet_core::Nla::kind(&other),
            len: netlink_packet_core::Nla::value_len(&other),
            reason: "unexpected".into(),
        }),
        Attr::Raw { kind, value } => apply_new_sa_attr(sa, kind, value),
        Attr::Unknown(u) => sa.unknown_attributes.push(u),
    }
}

/// Attributes 33–41, which netlink-packet-xfrm 0.5 leaves undecoded.
fn apply_new_sa_attr(sa: &mut Sa, kind: u16, value: &[u8]) {
    let malformed = || UnknownAttribute {
        kind,
        len: value.len(),
        reason: "malformed".into(),
    };
    let u32_value = || u32_of(value).ok_or_else(malformed);
    let result: Result<(), UnknownAttribute> = (|| {
        match kind {
            XFRMA_SA_DIR => {
                sa.direction = match value.first().copied() {
                    Some(1) => Some(Direction::In),
                    Some(2) => Some(Direction::Out),
                    _ => return Err(malformed()),
                }
            }
            XFRMA_NAT_KEEPALIVE_INTERVAL => sa.nat_keepalive_interval = Some(u32_value()?),
            XFRMA_SA_PCPU => sa.pcpu = Some(u32_value()?),
            XFRMA_IPTFS_DROP_TIME => {
                sa.iptfs.get_or_insert_with(IpTfs::default).drop_time_us = Some(u32_value()?)
            }
            XFRMA_IPTFS_REORDER_WINDOW => {
                let v = u16_of(value).ok_or_else(malformed)?;
                sa.iptfs.get_or_insert_with(IpTfs::default).reorder_window = Some(v)
            }
            XFRMA_IPTFS_DONT_FRAG => sa.iptfs.get_or_insert_with(IpTfs::default).dont_frag = true,
            XFRMA_IPTFS_INIT_DELAY => {
                sa.iptfs.get_or_insert_with(IpTfs::default).init_delay_us = Some(u32_value()?)
            }
            XFRMA_IPTFS_MAX_QSIZE => {
                sa.iptfs.get_or_insert_with(IpTfs::default).max_queue_size = Some(u32_value()?)
            }
            XFRMA_IPTFS_PKT_SIZE => {
                sa.iptfs.get_or_insert_with(IpTfs::default).pkt_size = Some(u32_value()?)
            }
            _ => return Err(unknown(kind, value)),
        }
        Ok(())
    })();
    if let Err(u) = result {
        sa.unknown_attributes.push(u);
    }
}

/// Builds an SA from its header and the attribute list that goes with it.
pub(crate) fn sa_with_attrs(info: &x::UserSaInfo, attr_buf: &[u8]) -> Sa {
    let mut sa = sa_base(info);
    for attr in attrs(attr_buf) {
        apply_sa_attr(&mut sa, info.family, attr);
    }
    sa
}

/// Decodes an XFRM_MSG_NEWSA / UPDSA body (`xfrm_usersa_info` + attributes).
pub(crate) fn decode_sa(payload: &[u8]) -> Result<Sa, String> {
    need(payload, x::XFRM_USER_SA_INFO_LEN, "xfrm_usersa_info")?;
    let info =
        x::UserSaInfo::parse(&payload[..x::XFRM_USER_SA_INFO_LEN]).map_err(|e| e.to_string())?;
    Ok(sa_with_attrs(
        &info,
        attrs_after(payload, x::XFRM_USER_SA_INFO_LEN),
    ))
}

pub(crate) fn sa_id(id: &x::UserSaId) -> SaId {
    SaId {
        dst: ip(&id.daddr, id.family),
        spi: Spi(id.spi),
        proto: XfrmProto::from_number(id.proto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_name_then_key() {
        // echo -n 'cbc(aes)' + 16 bytes 0x00..0x0f | sha256sum, first 12 hex digits.
        let key: Vec<u8> = (0u8..16).collect();
        let mut data = b"cbc(aes)".to_vec();
        data.extend_from_slice(&key);
        let full = Sha256::digest(&data);
        let expected: String = full[..6].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key_fingerprint("cbc(aes)", &key), expected);
        assert_eq!(expected.len(), 12);
        // Name is part of it: same key, other algorithm, other fingerprint.
        assert_ne!(
            key_fingerprint("cbc(aes)", &key),
            key_fingerprint("ctr(aes)", &key)
        );
    }

    #[test]
    fn truncated_policy_body_is_an_error_not_a_panic() {
        for len in [0, 1, 55, 167] {
            let body = vec![0u8; len];
            let err = decode_policy(&body).unwrap_err();
            assert!(err.contains("xfrm_userpolicy_info"), "{err}");
        }
    }

    #[test]
    fn truncated_sa_body_is_an_error_not_a_panic() {
        for len in [0, 1, 100, 223] {
            let err = decode_sa(&vec![0u8; len]).unwrap_err();
            assert!(err.contains("xfrm_usersa_info"), "{err}");
        }
    }
}
