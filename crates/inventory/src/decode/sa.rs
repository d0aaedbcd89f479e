//! SAs: `xfrm_usersa_info`, its attributes, and the key fingerprint.

use netlink_packet_xfrm as x;
use sha2::{Digest, Sha256};

use super::*;

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
    fn truncated_sa_body_is_an_error_not_a_panic() {
        for len in [0, 1, 100, 223] {
            let err = decode_sa(&vec![0u8; len]).unwrap_err();
            assert!(err.contains("xfrm_usersa_info"), "{err}");
        }
    }
}
