//! Policies: `xfrm_userpolicy_info` and the attributes that follow it.

use netlink_packet_xfrm as x;

use super::*;

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
    let info = policy_info(payload)?;
    let mut policy = policy_base(&info);
    apply_policy_attrs(&mut policy, payload);
    Ok(policy)
}

/// Like [`decode_policy`], into an existing value (see [`set_policy_base`]).
pub(crate) fn decode_policy_into(policy: &mut Policy, payload: &[u8]) -> Result<(), String> {
    let info = policy_info(payload)?;
    set_policy_base(policy, &info);
    apply_policy_attrs(policy, payload);
    Ok(())
}

/// The fixed `xfrm_userpolicy_info` at the start of a policy message.
fn policy_info(payload: &[u8]) -> Result<x::UserPolicyInfo, String> {
    need(
        payload,
        x::XFRM_USER_POLICY_INFO_LEN,
        "xfrm_userpolicy_info",
    )?;
    x::UserPolicyInfo::parse(&payload[..x::XFRM_USER_POLICY_INFO_LEN]).map_err(|e| e.to_string())
}

/// The attributes after `xfrm_userpolicy_info`.
fn apply_policy_attrs(policy: &mut Policy, payload: &[u8]) {
    for attr in attrs(attrs_after(payload, x::XFRM_USER_POLICY_INFO_LEN)) {
        apply_policy_attr(policy, attr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_policy_body_is_an_error_not_a_panic() {
        for len in [0, 1, 55, 167] {
            let body = vec![0u8; len];
            let err = decode_policy(&body).unwrap_err();
            assert!(err.contains("xfrm_userpolicy_info"), "{err}");
        }
    }
}
