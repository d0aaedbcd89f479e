//! Netlink SA, policy and event messages: real dumps mutated, and messages built from their
//! parts (netlink header, the type's fixed struct, attributes) with wrong lengths, unknown
//! attribute types, truncations and garbage payloads.

use netlink_packet_core::Emitable;
use netlink_packet_xfrm as x;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::engine::{fixture, fuzz};
use crate::mutate;

pub fn check_sas(bytes: &[u8]) {
    if let Ok(sas) = xfrmdiag_inventory::sas_from_netlink_bytes(bytes) {
        for sa in &sas {
            let _ = serde_json::to_string(sa).expect("an SA serializes");
        }
    }
}

pub fn check_policies(bytes: &[u8]) {
    if let Ok(policies) = xfrmdiag_inventory::policies_from_netlink_bytes(bytes) {
        for p in &policies {
            let _ = serde_json::to_string(p).expect("a policy serializes");
        }
    }
}

pub fn check_events(bytes: &[u8]) {
    if let Ok(events) = xfrmdiag_inventory::events_from_netlink_bytes(bytes) {
        for e in &events {
            let _ = serde_json::to_string(e).expect("an event serializes");
        }
    }
}

const NLMSG_HDRLEN: usize = 16;

fn message(msg_type: u16, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + body.len();
    let mut m = Vec::with_capacity(len + 3);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&msg_type.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m.resize(m.len().next_multiple_of(4), 0);
    m
}

fn emitted(header: &impl Emitable) -> Vec<u8> {
    let mut buf = vec![0u8; header.buffer_len()];
    header.emit(&mut buf);
    buf.resize(buf.len().next_multiple_of(4), 0);
    buf
}

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    a.resize(a.len().next_multiple_of(4), 0);
    a
}

fn template(proto: u8, family: u16) -> Vec<u8> {
    let mut t = x::UserTemplate::default();
    t.id.proto = proto;
    t.family = family;
    t.mode = 1;
    t.aalgos = u32::MAX;
    t.ealgos = u32::MAX;
    t.calgos = u32::MAX;
    emitted(&t)
}

fn policy_info(family: u16, dir: u8) -> x::UserPolicyInfo {
    let mut info = x::UserPolicyInfo::default();
    info.selector.family = family;
    info.selector.prefixlen_d = 32;
    info.selector.prefixlen_s = 32;
    info.selector.proto = 17;
    info.direction = dir;
    info.priority = 1000;
    info.index = 0x3c8;
    info
}

/// Policies as `ip xfrm policy add … tmpl …` makes the kernel send them, with the optional
/// attributes a policy can carry (mark, if_id, policy type, security context).
fn policy_seeds() -> Vec<Vec<u8>> {
    let mut with_attrs = emitted(&policy_info(10, 1));
    let mut tmpls = template(50, 10);
    tmpls.extend(template(51, 10));
    with_attrs.extend(attr(5, &tmpls)); // XFRMA_TMPL
    with_attrs.extend(attr(21, &[7, 0, 0, 0, 255, 255, 255, 255])); // XFRMA_MARK
    with_attrs.extend(attr(31, &42u32.to_ne_bytes())); // XFRMA_IF_ID
    with_attrs.extend(attr(16, &[0, 0, 0, 0, 0, 0])); // XFRMA_POLICY_TYPE
    with_attrs.extend(attr(
        8,
        &[
            1, 1, 0, 0, 13, 0, 0, 0, b's', b'y', b's', b't', b'e', b'm', b'_', b'u', b':', b'r',
            b':', b't', b'x',
        ],
    )); // XFRMA_SEC_CTX
    let mut simple = emitted(&policy_info(2, 0));
    simple.extend(attr(5, &template(50, 2)));
    let mut dump = message(x::XFRM_MSG_NEWPOLICY, &with_attrs);
    dump.extend(message(x::XFRM_MSG_NEWPOLICY, &simple));
    dump.extend(message(x::XFRM_MSG_NEWPOLICY, &emitted(&policy_info(2, 2))));
    dump.extend(message(3, &[0; 4])); // NLMSG_DONE
    vec![dump, message(x::XFRM_MSG_NEWPOLICY, &with_attrs)]
}

/// SA dumps captured from a 6.18 kernel and emitted in its layout (keys, encap, lifetimes).
fn sa_seeds() -> Vec<Vec<u8>> {
    vec![
        fixture("emitted-netlink-sa-keys/getsa-dump.bin"),
        fixture("linux-6.18-netlink-sa-larval/getsa-dump.bin"),
    ]
}

/// The SA and policy messages above as events, and every other event's fixed struct.
fn event_seeds() -> Vec<Vec<u8>> {
    let sa_payloads: Vec<Vec<u8>> = sa_seeds().iter().flat_map(|dump| payloads(dump)).collect();
    let policy_payloads: Vec<Vec<u8>> = policy_seeds().iter().flat_map(|d| payloads(d)).collect();
    let mut seeds = Vec::new();
    for p in sa_payloads.iter().take(3) {
        for t in [x::XFRM_MSG_NEWSA, x::XFRM_MSG_UPDSA, x::XFRM_MSG_DELSA] {
            seeds.push(message(t, p));
        }
        // DELSA by id carries the whole SA as XFRMA_SA after a usersa_id.
        let mut del = emitted(&x::UserSaId::default());
        del.extend(attr(6, p));
        seeds.push(message(x::XFRM_MSG_DELSA, &del));
    }
    for p in policy_payloads.iter().take(2) {
        for t in [x::XFRM_MSG_NEWPOLICY, x::XFRM_MSG_UPDPOLICY] {
            seeds.push(message(t, p));
        }
        let mut del = emitted(&x::UserPolicyId::default());
        del.extend(attr(7, p));
        seeds.push(message(x::XFRM_MSG_DELPOLICY, &del));
    }
    let mut acquire = emitted(&x::UserAcquire::default());
    acquire.extend(attr(5, &template(50, 2)));
    seeds.push(message(x::XFRM_MSG_ACQUIRE, &acquire));
    let expire = x::UserExpire {
        hard: 1,
        ..Default::default()
    };
    seeds.push(message(x::XFRM_MSG_EXPIRE, &emitted(&expire)));
    seeds.push(message(
        x::XFRM_MSG_POLEXPIRE,
        &emitted(&x::UserPolicyExpire::default()),
    ));
    let mut report = emitted(&x::UserReport::default());
    report.extend(attr(14, &[0; 16]));
    seeds.push(message(x::XFRM_MSG_REPORT, &report));
    seeds.push(message(
        x::XFRM_MSG_MAPPING,
        &emitted(&x::UserMapping::default()),
    ));
    seeds.push(message(x::XFRM_MSG_FLUSHSA, &[50, 0, 0, 0]));
    seeds.push(message(x::XFRM_MSG_FLUSHPOLICY, &[]));
    seeds.push(message(
        x::XFRM_MSG_NEWAE,
        &emitted(&x::AsyncEventId::default()),
    ));
    seeds.push(message(
        x::XFRM_MSG_SETDEFAULT,
        &emitted(&x::UserPolicyDefault::default()),
    ));
    seeds
}

/// The payloads of the messages of a dump (well-formed input only).
fn payloads(dump: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + NLMSG_HDRLEN <= dump.len() {
        let len = u32::from_ne_bytes(dump[pos..pos + 4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || pos + len > dump.len() {
            break;
        }
        out.push(dump[pos + NLMSG_HDRLEN..pos + len].to_vec());
        pos += len.next_multiple_of(4);
    }
    out
}

/// The fixed struct's size for the types the decoders know, as the kernel lays them out.
fn header_len(msg_type: u16) -> usize {
    match msg_type {
        x::XFRM_MSG_NEWSA | x::XFRM_MSG_UPDSA => x::UserSaInfo::default().buffer_len(),
        x::XFRM_MSG_DELSA => x::UserSaId::default().buffer_len(),
        x::XFRM_MSG_NEWPOLICY | x::XFRM_MSG_UPDPOLICY => x::UserPolicyInfo::default().buffer_len(),
        x::XFRM_MSG_DELPOLICY => x::UserPolicyId::default().buffer_len(),
        x::XFRM_MSG_ACQUIRE => x::UserAcquire::default().buffer_len(),
        x::XFRM_MSG_EXPIRE => x::UserExpire::default().buffer_len(),
        x::XFRM_MSG_POLEXPIRE => x::UserPolicyExpire::default().buffer_len(),
        x::XFRM_MSG_REPORT => x::UserReport::default().buffer_len(),
        x::XFRM_MSG_MAPPING => x::UserMapping::default().buffer_len(),
        x::XFRM_MSG_NEWAE => x::AsyncEventId::default().buffer_len(),
        x::XFRM_MSG_SETDEFAULT => x::UserPolicyDefault::default().buffer_len(),
        _ => 4,
    }
}

/// Payload sizes each attribute type has in the kernel's layout (a few per type).
fn attr_sizes(kind: u16) -> &'static [usize] {
    match kind {
        1..=3 => &[68, 84, 100],   // xfrm_algo: name[64], key_len, key
        18 | 20 => &[72, 88, 104], // aead / auth_trunc: one more u32
        4 => &[24],                // xfrm_encap_tmpl
        5 => &[64, 128, 192],      // templates
        6 => &[224],               // xfrm_usersa_info
        7 => &[168],               // xfrm_userpolicy_info
        8 => &[8, 21, 40],         // sec ctx header + string
        9 => &[32],                // lifetime_cur
        10 => &[12],               // replay state
        13 | 14 => &[16],          // addresses
        16 => &[6],                // policy type
        21 => &[8],                // mark
        23 => &[24, 28, 152],      // replay_esn + bitmap
        28 => &[8],                // offload
        _ => &[1, 2, 4, 8],
    }
}

prop_compose! {
    fn attribute()(kind in prop_oneof![8 => 0u16..45, 1 => any::<u16>()])
        (sized in prop::sample::select(attr_sizes(kind)), kind in Just(kind),
         len_error in prop_oneof![6 => Just(0i32), 1 => -8i32..8, 1 => Just(-4000)],
         exact in any::<bool>(), garbage in vec(any::<u8>(), 0..300))
        -> Vec<u8>
    {
        let size = if exact { sized } else { garbage.len() };
        let mut value = garbage.clone();
        value.resize(size, 0xa5);
        let mut a = attr(kind, &value);
        let stated = ((4 + size) as i32 + len_error).clamp(0, u16::MAX as i32) as u16;
        a[..2].copy_from_slice(&stated.to_ne_bytes());
        a
    }
}

const TYPES: &[u16] = &[
    1,
    2,
    3,
    x::XFRM_MSG_NEWSA,
    x::XFRM_MSG_DELSA,
    x::XFRM_MSG_NEWPOLICY,
    x::XFRM_MSG_DELPOLICY,
    x::XFRM_MSG_ACQUIRE,
    x::XFRM_MSG_EXPIRE,
    x::XFRM_MSG_UPDPOLICY,
    x::XFRM_MSG_UPDSA,
    x::XFRM_MSG_POLEXPIRE,
    x::XFRM_MSG_FLUSHSA,
    x::XFRM_MSG_FLUSHPOLICY,
    x::XFRM_MSG_NEWAE,
    x::XFRM_MSG_REPORT,
    x::XFRM_MSG_MAPPING,
    x::XFRM_MSG_SETDEFAULT,
    x::XFRM_MSG_GETDEFAULT,
    0x42,
];

prop_compose! {
    /// One message: a known type, its fixed struct (right size, family 2 or 10, the rest random)
    /// or a wrong-sized one, attributes, and a header length that may lie.
    fn built_message()(msg_type in prop::sample::select(TYPES),
        family in prop::sample::select(&[0u16, 2, 10, 0xffff][..]),
        right_size in prop::bool::weighted(0.8), random_size in 0usize..300,
        fill in vec(any::<u8>(), 300), attrs in vec(attribute(), 0..6),
        len_error in prop_oneof![8 => Just(0i64), 1 => -20i64..20, 1 => Just(1i64 << 31)])
        -> Vec<u8>
    {
        let size = if right_size { header_len(msg_type) } else { random_size };
        let mut body = fill[..size.min(fill.len())].to_vec();
        body.resize(size, 0);
        // Most fixed structs start with a selector whose family sits at offset 40, or carry
        // their family at the end of the SA/policy info: set both where they fit.
        if body.len() >= 42 {
            body[40..42].copy_from_slice(&family.to_ne_bytes());
        }
        body.resize(body.len().next_multiple_of(4), 0);
        for a in &attrs {
            body.extend_from_slice(a);
        }
        let mut m = message(msg_type, &body);
        let stated = (m.len() as i64 + len_error).clamp(0, u32::MAX as i64) as u32;
        m[..4].copy_from_slice(&stated.to_ne_bytes());
        m
    }
}

fn built() -> impl Strategy<Value = Vec<u8>> {
    vec(built_message(), 1..4).prop_map(|ms| ms.concat())
}

#[test]
fn sa_messages_never_panic() {
    fuzz(
        "netlink-sa",
        "mutated",
        mutate::bytes(sa_seeds()),
        check_sas,
    );
    fuzz("netlink-sa", "built", built(), check_sas);
}

#[test]
fn policy_messages_never_panic() {
    fuzz(
        "netlink-policy",
        "mutated",
        mutate::bytes(policy_seeds()),
        check_policies,
    );
    fuzz("netlink-policy", "built", built(), check_policies);
}

#[test]
fn event_messages_never_panic() {
    fuzz(
        "netlink-event",
        "mutated",
        mutate::bytes(event_seeds()),
        check_events,
    );
    fuzz("netlink-event", "built", built(), check_events);
}

#[test]
fn the_seeds_decode() {
    assert!(!xfrmdiag_inventory::sas_from_netlink_bytes(&sa_seeds()[0])
        .unwrap()
        .is_empty());
    let policies = xfrmdiag_inventory::policies_from_netlink_bytes(&policy_seeds()[0]).unwrap();
    assert_eq!(policies.len(), 3);
    assert_eq!(policies[0].templates.len(), 2);
    for seed in event_seeds() {
        xfrmdiag_inventory::events_from_netlink_bytes(&seed).unwrap();
    }
}
