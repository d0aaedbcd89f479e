//! SA decoding on netlink bytes: a fixture built with netlink-packet-xfrm's emitter (keys,
//! ESN, encap, attributes 33–41, unknown ones) and one captured from the 6.18 host kernel.
//!
//! The host kernel has no ESP, so SAs with keys cannot be captured here: the emitted fixture
//! reproduces the layout the kernel sends (see tests/fixtures/emitted-netlink-sa-keys/README.md).
//! `XFRMDIAG_WRITE_FIXTURES=1 cargo test -p xfrmdiag-inventory` rewrites it.

use std::path::PathBuf;

use netlink_packet_core::{DefaultNla, Emitable};
use netlink_packet_xfrm as x;

use crate::decode::{decode_policy, decode_sa};
use crate::model::*;
use crate::nl;

/// Keys in the fixture. Tests assert they (and their hex) never appear in any output.
pub(crate) const AUTH_KEY: &[u8; 32] = b"authkey-0123456789abcdef-ABCDEF!";
pub(crate) const ENC_KEY: &[u8; 16] = b"enckey-012345678";
pub(crate) const AEAD_KEY: &[u8; 20] = b"aeadkey-0123456789ab";

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn name64(name: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..name.len()].copy_from_slice(name.as_bytes());
    out
}

fn addr(ip: &str) -> x::Address {
    x::Address::from_ip(&ip.parse().unwrap())
}

fn raw(kind: u16, value: &[u8]) -> x::XfrmAttrs {
    x::XfrmAttrs::Other(DefaultNla::new(kind, value.to_vec()))
}

/// One netlink message: header + emitted body.
fn message(msg_type: u16, flags: u16, body: &impl Emitable) -> Vec<u8> {
    let len = 16 + body.buffer_len();
    let mut buf = vec![0u8; nl::align4(len)];
    buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
    buf[12..16].copy_from_slice(&4242u32.to_ne_bytes());
    body.emit(&mut buf[16..len]);
    buf
}

fn sa_info(src: &str, dst: &str, spi: u32, proto: u8, mode: u8, reqid: u32) -> x::UserSaInfo {
    let mut info = x::UserSaInfo::default();
    info.source(&src.parse().unwrap());
    info.destination(&dst.parse().unwrap());
    info.id.spi = spi;
    info.id.proto = proto;
    info.mode = mode;
    info.reqid = reqid;
    info.selector.family = info.family;
    info.lifetime_cfg = x::LifetimeConfig::default();
    info
}

/// The bytes of a GETSA dump answer with three SAs, in the attribute order the kernel uses
/// (`copy_to_user_state_extra`: auth, auth-trunc, crypt, encap, …).
pub(crate) fn emitted_sa_dump() -> Vec<u8> {
    let flags_multi = 2;
    // 1: ESP tunnel, cbc(aes) + hmac(sha256) (both auth and auth-trunc, as the kernel sends),
    //    ESN with a 128-packet window, NAT-T, marks, if_id, direction and newer attributes.
    let mut info = sa_info("10.99.1.1", "10.99.1.2", 0xc0ffee01, 50, 1, 42);
    info.flags = x::XFRM_STATE_ESN;
    info.replay_window = 0; // ESN SAs carry the window in the ESN attribute only
    info.selector
        .source_prefix(&"10.1.0.0".parse().unwrap(), 16);
    info.selector
        .destination_prefix(&"10.2.0.0".parse().unwrap(), 16);
    info.lifetime_cfg.soft_byte_limit = 1_000_000;
    info.lifetime_cfg.hard_byte_limit = 2_000_000;
    info.lifetime_cur.bytes = 12_345;
    info.lifetime_cur.packets = 67;
    info.lifetime_cur.add_time = 1_795_600_000;
    info.stats = x::Stats {
        replay_window: 3,
        replay: 4,
        integrity_failed: 5,
    };
    let sa1 = x::state::ModifyMessage {
        user_sa_info: info,
        nlas: vec![
            x::XfrmAttrs::AuthenticationAlg(x::Alg {
                alg_name: name64("hmac(sha256)"),
                alg_key_len: 256,
                alg_key: AUTH_KEY.to_vec(),
            }),
            x::XfrmAttrs::AuthenticationAlgTrunc(x::AlgAuth {
                alg_name: name64("hmac(sha256)"),
                alg_key_len: 256,
                alg_trunc_len: 128,
                alg_key: AUTH_KEY.to_vec(),
            }),
            x::XfrmAttrs::EncryptionAlg(x::Alg {
                alg_name: name64("cbc(aes)"),
                alg_key_len: 128,
                alg_key: ENC_KEY.to_vec(),
            }),
            x::XfrmAttrs::EncapsulationTemplate(x::EncapTmpl {
                encap_type: x::UDP_ENCAP_ESPINUDP,
                encap_sport: 4500,
                encap_dport: 4501,
                encap_oa: addr("192.168.1.10"),
            }),
            x::XfrmAttrs::ReplayStateEsn(x::ReplayEsn {
                bmp_len: 4,
                oseq: 5,
                seq: 100,
                oseq_hi: 0,
                seq_hi: 1,
                replay_window: 128,
                bmp: vec![0xffff_ffff, 0xf, 0, 0],
            }),
            x::XfrmAttrs::ExtraFlags(x::XFRM_SA_XFLAG_OSEQ_MAY_WRAP),
            x::XfrmAttrs::Mark(x::Mark {
                value: 0x20,
                mask: 0xff,
            }),
            x::XfrmAttrs::MarkVal(0x5),
            x::XfrmAttrs::MarkMask(0xf),
            x::XfrmAttrs::IfId(9),
            x::XfrmAttrs::LastUsed(1_795_600_100),
            raw(33, &[1]),                          // XFRMA_SA_DIR = in
            raw(34, &20u32.to_ne_bytes()),          // XFRMA_NAT_KEEPALIVE_INTERVAL
            raw(35, &1u32.to_ne_bytes()),           // XFRMA_SA_PCPU
            raw(60, &0xdead_beefu32.to_ne_bytes()), // an attribute from the future
        ],
    };
    // 2: ESP transport over IPv6 with AEAD and the legacy replay state.
    let mut info = sa_info("fd99:1::1", "fd99:1::2", 0xabcd, 50, 0, 7);
    info.replay_window = 32;
    let sa2 = x::state::ModifyMessage {
        user_sa_info: info,
        nlas: vec![
            x::XfrmAttrs::EncryptionAlgAead(x::AlgAead {
                alg_name: name64("rfc4106(gcm(aes))"),
                alg_key_len: 160,
                alg_icv_len: 128,
                alg_key: AEAD_KEY.to_vec(),
            }),
            x::XfrmAttrs::ReplayState(x::Replay {
                oseq: 8,
                seq: 7,
                bitmap: 0x7f,
            }),
            raw(33, &[2]), // XFRMA_SA_DIR = out
        ],
    };
    // 3: IP-TFS tunnel with offload, security context and TFC padding.
    let info = sa_info("10.99.2.1", "10.99.2.2", 0x1234, 50, 5, 8);
    let mut ctx = x::SecurityCtx::default();
    ctx.context(b"system_u:object_r:ipsec_spd_t:s0");
    let sa3 = x::state::ModifyMessage {
        user_sa_info: info,
        nlas: vec![
            x::XfrmAttrs::AuthenticationAlgTrunc(x::AlgAuth {
                alg_name: name64("hmac(sha256)"),
                alg_key_len: 256,
                alg_trunc_len: 128,
                alg_key: AUTH_KEY.to_vec(),
            }),
            x::XfrmAttrs::EncryptionAlg(x::Alg {
                alg_name: name64("cbc(aes)"),
                alg_key_len: 128,
                alg_key: ENC_KEY.to_vec(),
            }),
            x::XfrmAttrs::OffloadDevice(x::UserOffloadDev {
                ifindex: 1,
                flags: 2 | 4,
            }),
            x::XfrmAttrs::SecurityContext(ctx),
            x::XfrmAttrs::TfcPadding(100),
            raw(36, &2000u32.to_ne_bytes()),  // IPTFS_DROP_TIME
            raw(37, &3u16.to_ne_bytes()),     // IPTFS_REORDER_WINDOW
            raw(38, &[]),                     // IPTFS_DONT_FRAG (flag)
            raw(39, &50u32.to_ne_bytes()),    // IPTFS_INIT_DELAY
            raw(40, &65536u32.to_ne_bytes()), // IPTFS_MAX_QSIZE
            raw(41, &1400u32.to_ne_bytes()),  // IPTFS_PKT_SIZE
        ],
    };
    let mut bytes = Vec::new();
    for sa in [&sa1, &sa2, &sa3] {
        bytes.extend(message(x::XFRM_MSG_NEWSA, flags_multi, sa));
    }
    bytes.extend(message(nl::NLMSG_DONE, flags_multi, &DoneBody));
    bytes
}

/// NLMSG_DONE carries one int (0).
struct DoneBody;

impl Emitable for DoneBody {
    fn buffer_len(&self) -> usize {
        4
    }
    fn emit(&self, buffer: &mut [u8]) {
        buffer[..4].copy_from_slice(&0i32.to_ne_bytes());
    }
}

fn emitted_fixture() -> Vec<u8> {
    let path = fixture_dir("emitted-netlink-sa-keys").join("getsa-dump.bin");
    let fresh = emitted_sa_dump();
    if std::env::var_os("XFRMDIAG_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        stored, fresh,
        "fixture differs from the generator: rerun with XFRMDIAG_WRITE_FIXTURES=1"
    );
    stored
}

fn sa_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    nl::messages(bytes)
        .map(|m| m.unwrap())
        .filter(|m| m.msg_type == x::XFRM_MSG_NEWSA)
        .map(|m| m.payload.to_vec())
        .collect()
}

#[test]
fn emitted_sas_decode_every_field() {
    let sas = crate::sas_from_netlink_bytes(&emitted_fixture()).unwrap();
    assert_eq!(sas.len(), 3);

    let sa = &sas[0];
    assert_eq!(sa.src.to_string(), "10.99.1.1");
    assert_eq!(sa.dst.to_string(), "10.99.1.2");
    assert_eq!(sa.proto, XfrmProto::Esp);
    assert_eq!(sa.spi, Spi(0xc0ffee01));
    assert_eq!(sa.reqid, 42);
    assert_eq!(sa.mode, Mode::Tunnel);
    assert_eq!(sa.flags, vec!["esn", "oseq-may-wrap"]);
    // The window comes from the ESN attribute, not the one-byte header field.
    assert_eq!(sa.replay.window, 128);
    assert_eq!(sa.replay.seq, 100);
    assert_eq!(sa.replay.oseq, 5);
    assert_eq!(sa.replay.seq_hi, Some(1));
    assert_eq!(sa.replay.bitmap, vec![0xffff_ffff, 0xf, 0, 0]);
    // auth-trunc wins over auth.
    let auth = sa.algorithms.auth.as_ref().unwrap();
    assert_eq!(auth.name, "hmac(sha256)");
    assert_eq!(auth.key_bits, 256);
    assert_eq!(auth.trunc_bits, Some(128));
    assert_eq!(
        auth.key_fingerprint,
        crate::key_fingerprint("hmac(sha256)", AUTH_KEY)
    );
    let enc = sa.algorithms.enc.as_ref().unwrap();
    assert_eq!(enc.name, "cbc(aes)");
    assert_eq!(enc.key_bits, 128);
    assert_eq!(
        enc.key_fingerprint,
        crate::key_fingerprint("cbc(aes)", ENC_KEY)
    );
    let encap = sa.encap.as_ref().unwrap();
    assert_eq!(encap.encap_type, "espinudp");
    assert_eq!((encap.sport, encap.dport), (4500, 4501));
    assert_eq!(encap.oa.unwrap().to_string(), "192.168.1.10");
    assert_eq!(
        sa.mark,
        Some(Mark {
            value: 0x20,
            mask: 0xff
        })
    );
    assert_eq!(
        sa.output_mark,
        Some(Mark {
            value: 0x5,
            mask: 0xf
        })
    );
    assert_eq!(sa.if_id, Some(9));
    assert_eq!(sa.direction, Some(Direction::In));
    assert_eq!(sa.nat_keepalive_interval, Some(20));
    assert_eq!(sa.pcpu, Some(1));
    assert_eq!(sa.last_used, Some(1_795_600_100));
    assert_eq!(sa.selector.src.to_string(), "10.1.0.0/16");
    assert_eq!(sa.lifetime.config.soft_byte_limit, Some(1_000_000));
    assert_eq!(sa.lifetime.config.hard_packet_limit, None); // infinite
    assert_eq!(sa.lifetime.current.bytes, 12_345);
    assert_eq!(sa.lifetime.current.packets, 67);
    assert_eq!(
        sa.stats,
        SaStats {
            replay_window: 3,
            replay: 4,
            integrity_failed: 5
        }
    );
    assert_eq!(
        sa.unknown_attributes,
        vec![UnknownAttribute {
            kind: 60,
            len: 4,
            reason: "unknown".into()
        }]
    );
    assert_eq!(
        sa.unknown_attributes[0].to_string(),
        "unknown attribute 60 (4 bytes)"
    );

    let sa = &sas[1];
    assert_eq!(sa.dst.to_string(), "fd99:1::2");
    assert_eq!(sa.mode, Mode::Transport);
    assert_eq!(sa.spi.to_string(), "0x0000abcd");
    let aead = sa.algorithms.aead.as_ref().unwrap();
    assert_eq!(aead.name, "rfc4106(gcm(aes))");
    assert_eq!(aead.key_bits, 160);
    assert_eq!(aead.icv_bits, Some(128));
    assert_eq!(sa.replay.window, 32);
    assert_eq!((sa.replay.seq, sa.replay.oseq), (7, 8));
    assert_eq!(sa.replay.bitmap, vec![0x7f]);
    assert_eq!(sa.direction, Some(Direction::Out));

    let sa = &sas[2];
    assert_eq!(sa.mode, Mode::Iptfs);
    let tfs = sa.iptfs.as_ref().unwrap();
    assert_eq!(tfs.drop_time_us, Some(2000));
    assert_eq!(tfs.reorder_window, Some(3));
    assert!(tfs.dont_frag);
    assert_eq!(tfs.init_delay_us, Some(50));
    assert_eq!(tfs.max_queue_size, Some(65536));
    assert_eq!(tfs.pkt_size, Some(1400));
    let off = sa.offload.as_ref().unwrap();
    assert_eq!(off.ifindex, 1);
    assert_eq!(off.flags, vec!["inbound", "packet"]);
    assert_eq!(
        sa.sec_ctx.as_ref().unwrap().context,
        "system_u:object_r:ipsec_spd_t:s0"
    );
    assert_eq!(sa.tfcpad, Some(100));
    assert!(sa.unknown_attributes.is_empty());
}

#[test]
fn json_round_trips_and_never_holds_a_key() {
    let sas = crate::sas_from_netlink_bytes(&emitted_fixture()).unwrap();
    let text = serde_json::to_string(&sas).unwrap();
    let back: Vec<Sa> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, sas);
    let debug = format!("{sas:?}");
    for key in [&AUTH_KEY[..], &ENC_KEY[..], &AEAD_KEY[..]] {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let ascii = std::str::from_utf8(key).unwrap();
        for shown in [&text, &debug] {
            assert!(!shown.contains(&hex), "key hex leaked");
            assert!(!shown.contains(ascii), "key bytes leaked");
        }
    }
}

#[test]
fn every_truncation_of_an_sa_is_an_error_or_a_partial_sa_never_a_panic() {
    for payload in sa_messages(&emitted_fixture()) {
        for len in 0..payload.len() {
            let result = std::panic::catch_unwind(|| decode_sa(&payload[..len]));
            assert!(result.is_ok(), "decode_sa panicked at length {len}");
            if len < x::XFRM_USER_SA_INFO_LEN {
                assert!(result.unwrap().is_err(), "length {len} must be refused");
            }
        }
    }
}

#[test]
fn corrupted_attribute_lengths_never_panic() {
    for payload in sa_messages(&emitted_fixture()) {
        // Walk the attributes and rewrite each length field with hostile values.
        let mut pos = nl::align4(x::XFRM_USER_SA_INFO_LEN);
        while pos + 4 <= payload.len() {
            let len = u16::from_ne_bytes([payload[pos], payload[pos + 1]]) as usize;
            for bad in [0u16, 1, 3, 4, 5, 7, 0xffff, (len as u16).saturating_sub(1)] {
                let mut copy = payload.clone();
                copy[pos..pos + 2].copy_from_slice(&bad.to_ne_bytes());
                let result = std::panic::catch_unwind(|| decode_sa(&copy));
                assert!(result.is_ok(), "panic with attr length {bad} at {pos}");
            }
            if len < 4 {
                break;
            }
            pos += nl::align4(len);
        }
    }
}

#[test]
fn truncated_policy_messages_never_panic() {
    // A policy with a template, as `ip xfrm policy add … tmpl …` makes the kernel send it.
    let mut info = x::UserPolicyInfo::default();
    info.selector.family = 2;
    let mut tmpl = x::UserTemplate::default();
    tmpl.id.proto = 50;
    tmpl.family = 2;
    let msg = x::policy::ModifyMessage {
        user_policy_info: info,
        nlas: vec![x::XfrmAttrs::Template(vec![tmpl, tmpl])],
    };
    let mut payload = vec![0u8; msg.buffer_len()];
    msg.emit(&mut payload);
    assert_eq!(decode_policy(&payload).unwrap().templates.len(), 2);
    for len in 0..payload.len() {
        let result = std::panic::catch_unwind(|| decode_policy(&payload[..len]));
        assert!(result.is_ok(), "decode_policy panicked at length {len}");
    }
}

#[test]
fn real_larval_sas_from_the_6_18_kernel() {
    let path = fixture_dir("linux-6.18-netlink-sa-larval").join("getsa-dump.bin");
    let bytes = std::fs::read(&path).unwrap();
    let sas = crate::sas_from_netlink_bytes(&bytes).unwrap();
    assert_eq!(sas.len(), 2, "{sas:#?}");
    // The ACQUIRE state the kernel made for an outbound UDP packet.
    let acquire = &sas[0];
    assert_eq!(acquire.src.to_string(), "10.98.0.1");
    assert_eq!(acquire.spi, Spi(0));
    assert_eq!(acquire.reqid, 9);
    assert_eq!(acquire.mode, Mode::Tunnel);
    assert_eq!(acquire.direction, Some(Direction::Out)); // attribute 33, sent by 6.18
    assert_eq!(acquire.selector.proto, 17);
    assert_eq!(acquire.selector.dport, 9999);
    assert_eq!(acquire.lifetime.config.hard_add_expires_seconds, Some(30));
    // The state `ip xfrm state allocspi` made.
    let allocated = &sas[1];
    assert_eq!(allocated.spi.to_string(), "0x00001f3c");
    assert_eq!(allocated.reqid, 4);
    assert!(allocated.unknown_attributes.is_empty());
}
