//! SPD/SAD counts and default policies (`ip xfrm state count`, `ip xfrm policy count`,
//! `ip xfrm policy getdefault`).

use netlink_packet_core::{NlasIterator, Parseable};
use netlink_packet_xfrm as x;
use x::policy::SpdInfoAttrs;
use x::state::SadInfoAttrs;
use xfrmdiag_netns::Netns;

use crate::decode::{attrs_after, need};
use crate::error::Error;
use crate::model::{Action, DefaultPolicies, HashThreshold, SadInfo, SpdInfo, XfrmInfo};
use crate::nl::XfrmSocket;

const OP: &str = "reading XFRM info";
const EINVAL: i32 = 22;

/// SAD/SPD counts, hash sizes and the default policies of `ns`.
pub fn xfrm_info(ns: &Netns) -> Result<XfrmInfo, Error> {
    let mut socket = XfrmSocket::open(ns, OP, &[])?;
    let flags = 0u32.to_ne_bytes();
    let sad = socket.request_one(OP, x::XFRM_MSG_GETSADINFO, &flags, x::XFRM_MSG_NEWSADINFO)?;
    let spd = socket.request_one(OP, x::XFRM_MSG_GETSPDINFO, &flags, x::XFRM_MSG_NEWSPDINFO)?;
    let malformed = |reason: String| Error::Malformed { op: OP, reason };
    // struct xfrm_userpolicy_default { in, fwd, out }, padded to 4 bytes.
    let default_policy =
        match socket.request_one(OP, x::XFRM_MSG_GETDEFAULT, &[0; 4], x::XFRM_MSG_GETDEFAULT) {
            Ok(default) => parse_default(&default).map_err(malformed)?,
            // Kernels before 5.16 do not know GETDEFAULT (EINVAL): they have no default policy
            // setting, so unmatched traffic is always allowed — a fact, not a guess.
            Err(Error::Kernel { errno, .. }) if errno == EINVAL => DefaultPolicies {
                input: Action::Allow,
                output: Action::Allow,
                forward: Action::Allow,
            },
            Err(e) => return Err(e),
        };
    Ok(XfrmInfo {
        namespace: ns.display_name().to_string(),
        sad: parse_sad_info(&sad).map_err(malformed)?,
        spd: parse_spd_info(&spd).map_err(malformed)?,
        default_policy,
    })
}

/// Parses an XFRM_MSG_NEWSADINFO body: `u32 flags` + attributes.
pub(crate) fn parse_sad_info(payload: &[u8]) -> Result<SadInfo, String> {
    need(payload, 4, "SAD info flags")?;
    let mut info = SadInfo::default();
    for nla in NlasIterator::new(attrs_after(payload, 4)) {
        let nla = nla.map_err(|e| e.to_string())?;
        // An attribute the crate cannot parse is skipped: info stays partial, never fails.
        match SadInfoAttrs::parse(&nla) {
            Ok(SadInfoAttrs::SadCount(n)) => info.count = n,
            Ok(SadInfoAttrs::SadHInfo(h)) => {
                info.hash_buckets = h.sadhcnt;
                info.hash_max = h.sadhmcnt;
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Parses an XFRM_MSG_NEWSPDINFO body: `u32 flags` + attributes.
pub(crate) fn parse_spd_info(payload: &[u8]) -> Result<SpdInfo, String> {
    need(payload, 4, "SPD info flags")?;
    let mut info = SpdInfo::default();
    for nla in NlasIterator::new(attrs_after(payload, 4)) {
        let nla = nla.map_err(|e| e.to_string())?;
        match SpdInfoAttrs::parse(&nla) {
            Ok(SpdInfoAttrs::SpdInfo(s)) => {
                info.input = s.incnt;
                info.output = s.outcnt;
                info.forward = s.fwdcnt;
                info.in_socket = s.inscnt;
                info.out_socket = s.outscnt;
                info.fwd_socket = s.fwdscnt;
            }
            Ok(SpdInfoAttrs::SpdHInfo(h)) => {
                info.hash_buckets = h.spdhcnt;
                info.hash_max = h.spdhmcnt;
            }
            Ok(SpdInfoAttrs::SpdIpv4HThresh(t)) => {
                info.ipv4_hthresh = Some(HashThreshold {
                    lbits: t.lbits,
                    rbits: t.rbits,
                })
            }
            Ok(SpdInfoAttrs::SpdIpv6HThresh(t)) => {
                info.ipv6_hthresh = Some(HashThreshold {
                    lbits: t.lbits,
                    rbits: t.rbits,
                })
            }
            _ => {}
        }
    }
    Ok(info)
}

fn default_action(value: u8) -> Action {
    // XFRM_USERPOLICY_UNSPEC (0) is the kernel's historical default: accept.
    if value == x::XFRM_USERPOLICY_BLOCK {
        Action::Block
    } else {
        Action::Allow
    }
}

/// Parses an XFRM_MSG_GETDEFAULT answer (`struct xfrm_userpolicy_default`).
pub(crate) fn parse_default(payload: &[u8]) -> Result<DefaultPolicies, String> {
    need(
        payload,
        x::XFRM_USER_POLICY_DEFAULT_LEN,
        "xfrm_userpolicy_default",
    )?;
    let d = x::UserPolicyDefault::parse(&payload[..x::XFRM_USER_POLICY_DEFAULT_LEN])
        .map_err(|e| e.to_string())?;
    Ok(DefaultPolicies {
        input: default_action(d.input),
        output: default_action(d.output),
        forward: default_action(d.forward),
    })
}
