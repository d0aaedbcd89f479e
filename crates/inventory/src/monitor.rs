//! XFRM events as they happen (`ip xfrm monitor`), for `xfrmdiag monitor` and as a background
//! collector while `diagnose` sends its test traffic.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netlink_packet_xfrm as x;
use xfrmdiag_netns::Netns;

use crate::decode::{self, attrs, attrs_after, need, Attr};
use crate::dump::DevNames;
use crate::error::{libc_errno, Error};
use crate::model::*;
use crate::nl::{self, XfrmSocket};

const OP: &str = "monitoring XFRM events";

/// The multicast groups `ip xfrm monitor` listens to (minus aevents and migrate).
const GROUPS: [u32; 6] = [
    x::XFRMNLGRP_ACQUIRE,
    x::XFRMNLGRP_EXPIRE,
    x::XFRMNLGRP_SA,
    x::XFRMNLGRP_POLICY,
    x::XFRMNLGRP_REPORT,
    x::XFRMNLGRP_MAPPING,
];

/// A subscription to the XFRM events of one namespace.
pub struct Monitor {
    socket: XfrmSocket,
    pending: VecDeque<XfrmEvent>,
    devs: DevNames,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Monitor {
    /// Subscribes to ACQUIRE, EXPIRE, SA, POLICY, REPORT and MAPPING events in `ns`.
    /// Events that happen after this returns are seen.
    pub fn start(ns: &Netns) -> Result<Monitor, Error> {
        Ok(Monitor {
            socket: XfrmSocket::open(ns, OP, &GROUPS)?,
            pending: VecDeque::new(),
            devs: DevNames::new(ns),
        })
    }

    /// The next event, waiting at most `timeout` (`None`: until one arrives).
    /// `Ok(None)` means the timeout passed without an event.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<XfrmEvent>, Error> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        match self.socket.recv(OP, timeout) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            // The socket buffer overflowed: events were lost. Say so and carry on.
            Err(e) if e.errno() == Some(libc_errno::ENOBUFS) => {
                return Ok(Some(XfrmEvent {
                    time_ns: now_ns(),
                    kind: EventKind::Overrun,
                }))
            }
            Err(e) => return Err(e),
        }
        let time_ns = now_ns();
        for msg in nl::messages(self.socket.datagram()) {
            let msg = msg.map_err(|reason| Error::Malformed { op: OP, reason })?;
            if msg.msg_type < x::XFRM_MSG_BASE {
                continue; // NOOP/DONE/ERROR: nothing to report
            }
            let kind = decode_event(msg.msg_type, msg.payload)
                .map_err(|reason| Error::Malformed { op: OP, reason })?;
            self.pending.push_back(XfrmEvent { time_ns, kind });
        }
        for event in self.pending.iter_mut() {
            fill_devs(&mut self.devs, &mut event.kind);
        }
        Ok(self.pending.pop_front())
    }

    /// Collects events on a background thread until [`Collector::stop`].
    pub fn spawn_collector(mut self) -> Collector {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut events = Vec::new();
            // Poll in short slices so `stop` is noticed quickly.
            while !flag.load(Ordering::Relaxed) {
                if let Some(event) = self.next_event(Some(Duration::from_millis(50)))? {
                    events.push(event);
                }
            }
            // Take what is already queued, without waiting.
            while let Some(event) = self.next_event(Some(Duration::from_micros(1)))? {
                events.push(event);
            }
            Ok(events)
        });
        Collector { stop, thread }
    }
}

/// Events gathered in the background (see [`Monitor::spawn_collector`]).
pub struct Collector {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<XfrmEvent>, Error>>,
}

impl Collector {
    /// Stops collecting and returns every event seen, oldest first.
    pub fn stop(self) -> Result<Vec<XfrmEvent>, Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| {
            Err(Error::Malformed {
                op: OP,
                reason: "the event collector thread panicked".into(),
            })
        })
    }
}

fn fill_devs(devs: &mut DevNames, kind: &mut EventKind) {
    match kind {
        EventKind::NewSa { sa } | EventKind::UpdSa { sa } | EventKind::Expire { sa, .. } => {
            devs.fill_sa(sa)
        }
        EventKind::NewPolicy { policy }
        | EventKind::UpdPolicy { policy }
        | EventKind::PolicyExpire { policy, .. } => devs.fill_policy(policy),
        EventKind::Acquire {
            selector, policy, ..
        } => {
            selector.dev = devs.name(selector.ifindex);
            devs.fill_policy(policy);
        }
        _ => {}
    }
}

/// A policy from its header plus the attributes in `attr_buf`.
fn policy_with_attrs(info: &x::UserPolicyInfo, attr_buf: &[u8]) -> Policy {
    let mut policy = decode::policy_base(info);
    for attr in attrs(attr_buf) {
        decode::apply_policy_attr(&mut policy, attr);
    }
    policy
}

fn parse_header<T>(
    payload: &[u8],
    len: usize,
    what: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, netlink_packet_core::DecodeError>,
) -> Result<T, String> {
    need(payload, len, what)?;
    parse(&payload[..len]).map_err(|e| format!("{what}: {e}"))
}

/// Decodes one XFRM multicast message into an event.
pub(crate) fn decode_event(msg_type: u16, payload: &[u8]) -> Result<EventKind, String> {
    Ok(match msg_type {
        x::XFRM_MSG_NEWSA => EventKind::NewSa {
            sa: Box::new(decode::decode_sa(payload)?),
        },
        x::XFRM_MSG_UPDSA => EventKind::UpdSa {
            sa: Box::new(decode::decode_sa(payload)?),
        },
        x::XFRM_MSG_DELSA => {
            let id = parse_header(
                payload,
                x::XFRM_USER_SA_ID_LEN,
                "xfrm_usersa_id",
                x::UserSaId::parse,
            )?;
            let rest = attrs_after(payload, x::XFRM_USER_SA_ID_LEN);
            // The full SA travels in an XFRMA_SA attribute, its extras as siblings.
            let info = attrs(rest).find_map(|a| match a {
                Attr::Known(x::XfrmAttrs::SaInfo(info)) => Some(info),
                _ => None,
            });
            EventKind::DelSa {
                id: decode::sa_id(&id),
                sa: info.map(|info| Box::new(decode::sa_with_attrs(&info, rest))),
            }
        }
        x::XFRM_MSG_NEWPOLICY => EventKind::NewPolicy {
            policy: Box::new(decode::decode_policy(payload)?),
        },
        x::XFRM_MSG_UPDPOLICY => EventKind::UpdPolicy {
            policy: Box::new(decode::decode_policy(payload)?),
        },
        x::XFRM_MSG_DELPOLICY => {
            let id = parse_header(
                payload,
                x::XFRM_USER_POLICY_ID_LEN,
                "xfrm_userpolicy_id",
                x::UserPolicyId::parse,
            )?;
            let rest = attrs_after(payload, x::XFRM_USER_POLICY_ID_LEN);
            let info = attrs(rest).find_map(|a| match a {
                Attr::Known(x::XfrmAttrs::PolicyInfo(info)) => Some(info),
                _ => None,
            });
            let policy = info.map(|info| Box::new(policy_with_attrs(&info, rest)));
            let dir = policy
                .as_ref()
                .map(|p| p.dir)
                .unwrap_or(match id.direction % 3 {
                    0 => Direction::In,
                    1 => Direction::Out,
                    _ => Direction::Fwd,
                });
            // The header names the policy one way only: by index (selector left zero) or by
            // selector (index 0). The XFRMA_POLICY attribute has both: fill in the other.
            let index = match (id.index, &policy) {
                (0, Some(p)) => p.index,
                (index, _) => index,
            };
            let selector = match &policy {
                Some(p) if id.selector.family == 0 => p.selector.clone(),
                _ => decode::selector(&id.selector, id.selector.family),
            };
            EventKind::DelPolicy {
                dir,
                index,
                selector,
                policy,
            }
        }
        x::XFRM_MSG_ACQUIRE => {
            let acq = parse_header(
                payload,
                x::XFRM_USER_ACQUIRE_LEN,
                "xfrm_user_acquire",
                x::UserAcquire::parse,
            )?;
            let policy =
                policy_with_attrs(&acq.policy, attrs_after(payload, x::XFRM_USER_ACQUIRE_LEN));
            let family = acq.selector.family;
            EventKind::Acquire {
                src: decode::ip(&acq.saddr, family),
                dst: decode::ip(&acq.id.daddr, family),
                proto: XfrmProto::from_number(acq.id.proto),
                selector: decode::selector(&acq.selector, acq.policy.selector.family),
                templates: policy.templates.clone(),
                policy: Box::new(policy),
                seq: acq.seq,
            }
        }
        x::XFRM_MSG_EXPIRE => {
            let exp = parse_header(
                payload,
                x::XFRM_USER_EXPIRE_LEN,
                "xfrm_user_expire",
                x::UserExpire::parse,
            )?;
            let sa =
                decode::sa_with_attrs(&exp.state, attrs_after(payload, x::XFRM_USER_EXPIRE_LEN));
            EventKind::Expire {
                hard: exp.hard != 0,
                id: SaId {
                    dst: sa.dst,
                    spi: sa.spi,
                    proto: sa.proto,
                },
                sa: Box::new(sa),
            }
        }
        x::XFRM_MSG_POLEXPIRE => {
            let exp = parse_header(
                payload,
                x::XFRM_USER_POLICY_EXPIRE_LEN,
                "xfrm_user_polexpire",
                x::UserPolicyExpire::parse,
            )?;
            EventKind::PolicyExpire {
                hard: exp.hard != 0,
                policy: Box::new(policy_with_attrs(
                    &exp.pol,
                    attrs_after(payload, x::XFRM_USER_POLICY_EXPIRE_LEN),
                )),
            }
        }
        x::XFRM_MSG_REPORT => {
            let rep = parse_header(
                payload,
                x::XFRM_USER_REPORT_LEN,
                "xfrm_user_report",
                x::UserReport::parse,
            )?;
            let coaddr =
                attrs(attrs_after(payload, x::XFRM_USER_REPORT_LEN)).find_map(|a| match a {
                    Attr::Known(x::XfrmAttrs::CareOfAddr(addr)) => {
                        Some(decode::ip(&addr, rep.selector.family))
                    }
                    _ => None,
                });
            EventKind::Report {
                proto: XfrmProto::from_number(rep.proto),
                selector: decode::selector(&rep.selector, rep.selector.family),
                coaddr,
            }
        }
        x::XFRM_MSG_MAPPING => {
            let map = parse_header(
                payload,
                x::XFRM_USER_MAPPING_LEN,
                "xfrm_user_mapping",
                x::UserMapping::parse,
            )?;
            let family = map.id.family;
            EventKind::Mapping {
                id: decode::sa_id(&map.id),
                reqid: map.reqid,
                old_src: decode::ip(&map.old_saddr, family),
                old_sport: map.old_sport,
                new_src: decode::ip(&map.new_saddr, family),
                new_sport: map.new_sport,
            }
        }
        x::XFRM_MSG_FLUSHSA => {
            need(payload, 1, "xfrm_usersa_flush")?;
            EventKind::FlushSa {
                proto: XfrmProto::from_number(payload[0]),
            }
        }
        x::XFRM_MSG_FLUSHPOLICY => EventKind::FlushPolicy,
        x::XFRM_MSG_NEWAE => {
            let ae = parse_header(
                payload,
                x::XFRM_ASYNC_EVENT_ID_LEN,
                "xfrm_aevent_id",
                x::AsyncEventId::parse,
            )?;
            EventKind::AsyncEvent {
                id: decode::sa_id(&ae.sa_id),
                flags: ae.flags,
            }
        }
        // `ip xfrm policy setdefault`: the kernel announces the new defaults as a GETDEFAULT.
        x::XFRM_MSG_GETDEFAULT | x::XFRM_MSG_SETDEFAULT => {
            let d = crate::info::parse_default(payload)?;
            EventKind::SetDefault {
                input: d.input,
                output: d.output,
                forward: d.forward,
            }
        }
        other => EventKind::Other { msg_type: other },
    })
}

#[cfg(test)]
mod tests {
    //! Events the host kernel cannot produce (no ESP: no SA expiry, NAT mapping, …), built with
    //! netlink-packet-xfrm's emitters in the layout the kernel's `build_expire`,
    //! `xfrm_notify_sa` and `build_mapping` use.

    use netlink_packet_core::Emitable;

    use super::*;

    fn body(header: &impl Emitable, attrs: &[x::XfrmAttrs]) -> Vec<u8> {
        let head = crate::nl::align4(header.buffer_len());
        let mut buf = vec![0u8; head + attrs.buffer_len()];
        header.emit(&mut buf[..header.buffer_len()]);
        attrs.emit(&mut buf[head..]);
        buf
    }

    fn sa_info() -> x::UserSaInfo {
        let mut info = x::UserSaInfo::default();
        info.source(&"10.9.0.1".parse().unwrap());
        info.destination(&"10.9.0.2".parse().unwrap());
        info.id.spi = 0x1001;
        info.id.proto = 50;
        info.reqid = 3;
        info
    }

    const KEY: &[u8; 16] = b"monitor-key-0123";

    fn auth() -> x::XfrmAttrs {
        let mut name = [0u8; 64];
        name[..12].copy_from_slice(b"hmac(sha256)");
        x::XfrmAttrs::AuthenticationAlgTrunc(x::AlgAuth {
            alg_name: name,
            alg_key_len: 128,
            alg_trunc_len: 96,
            alg_key: KEY.to_vec(),
        })
    }

    fn never_panics(msg_type: u16, payload: &[u8]) {
        for len in 0..payload.len() {
            let r = std::panic::catch_unwind(|| decode_event(msg_type, &payload[..len]));
            assert!(r.is_ok(), "type {msg_type} panicked at length {len}");
        }
    }

    #[test]
    fn hard_expire_names_the_sa_and_hides_its_key() {
        let expire = x::UserExpire {
            state: sa_info(),
            hard: 1,
        };
        let payload = body(&expire, &[auth(), x::XfrmAttrs::IfId(4)]);
        let kind = decode_event(x::XFRM_MSG_EXPIRE, &payload).unwrap();
        let EventKind::Expire { hard, id, sa } = &kind else {
            panic!("{kind:?}")
        };
        assert!(hard);
        assert_eq!(id.spi, Spi(0x1001));
        assert_eq!(id.dst.to_string(), "10.9.0.2");
        assert_eq!(sa.if_id, Some(4));
        assert_eq!(sa.algorithms.auth.as_ref().unwrap().trunc_bits, Some(96));
        let shown = format!("{kind:?} {}", serde_json::to_string(&kind).unwrap());
        assert!(!shown.contains("monitor-key"), "key leaked: {shown}");
        never_panics(x::XFRM_MSG_EXPIRE, &payload);
    }

    #[test]
    fn deleted_sa_carries_the_whole_sa() {
        let id = x::UserSaId {
            daddr: x::Address::from_ip(&"10.9.0.2".parse().unwrap()),
            spi: 0x1001,
            family: 2,
            proto: 50,
        };
        let payload = body(&id, &[x::XfrmAttrs::SaInfo(sa_info()), auth()]);
        let kind = decode_event(x::XFRM_MSG_DELSA, &payload).unwrap();
        let EventKind::DelSa { id, sa } = kind else {
            panic!()
        };
        assert_eq!(id.spi, Spi(0x1001));
        let sa = sa.expect("XFRMA_SA decoded");
        assert_eq!(sa.reqid, 3);
        assert!(sa.algorithms.auth.is_some());
        never_panics(x::XFRM_MSG_DELSA, &payload);
    }

    #[test]
    fn sa_selector_without_family_reads_in_the_sas_family() {
        // `flag af-unspec` SAs (and allocspi ones) carry a selector of family 0: iproute2 reads
        // it in the SA's family, and so does every event that carries the SA.
        let mut info = x::UserSaInfo::default();
        info.source(&"dead::1".parse().unwrap());
        info.destination(&"dead::2".parse().unwrap());
        info.id.proto = 50;
        info.flags = x::XFRM_STATE_AF_UNSPEC;
        info.selector.saddr = x::Address::from_ip(&"dead::1".parse().unwrap());
        info.selector.daddr = x::Address::from_ip(&"dead::2".parse().unwrap());
        info.selector.prefixlen_s = 128;
        info.selector.prefixlen_d = 128;
        assert_eq!(info.selector.family, 0);
        let payload = body(&info, &[]);
        for t in [x::XFRM_MSG_NEWSA, x::XFRM_MSG_UPDSA] {
            let (EventKind::NewSa { sa } | EventKind::UpdSa { sa }) =
                decode_event(t, &payload).unwrap()
            else {
                panic!()
            };
            assert_eq!(sa.selector.src.to_string(), "dead::1/128");
            assert_eq!(sa.selector.dst.to_string(), "dead::2/128");
            assert_eq!(sa.flags, ["af-unspec"]);
        }
        let expire = body(
            &x::UserExpire {
                state: info,
                hard: 0,
            },
            &[],
        );
        let EventKind::Expire { sa, .. } = decode_event(x::XFRM_MSG_EXPIRE, &expire).unwrap()
        else {
            panic!()
        };
        assert_eq!(sa.selector.src.to_string(), "dead::1/128");
    }

    #[test]
    fn mapping_reports_old_and_new_peer() {
        let mut map = x::UserMapping::default();
        map.id.daddr = x::Address::from_ip(&"10.9.0.2".parse().unwrap());
        map.id.spi = 0x2002;
        map.id.family = 2;
        map.id.proto = 50;
        map.reqid = 8;
        map.old_saddr = x::Address::from_ip(&"198.51.100.1".parse().unwrap());
        map.new_saddr = x::Address::from_ip(&"198.51.100.7".parse().unwrap());
        map.old_sport = 4500;
        map.new_sport = 61000;
        let payload = body(&map, &[]);
        let kind = decode_event(x::XFRM_MSG_MAPPING, &payload).unwrap();
        assert_eq!(
            kind,
            EventKind::Mapping {
                id: SaId {
                    dst: "10.9.0.2".parse().unwrap(),
                    spi: Spi(0x2002),
                    proto: XfrmProto::Esp
                },
                reqid: 8,
                old_src: "198.51.100.1".parse().unwrap(),
                old_sport: 4500,
                new_src: "198.51.100.7".parse().unwrap(),
                new_sport: 61000,
            }
        );
        never_panics(x::XFRM_MSG_MAPPING, &payload);
    }

    #[test]
    fn report_flush_and_unknown_types() {
        let mut rep = x::UserReport {
            proto: 50,
            ..Default::default()
        };
        rep.selector.family = 2;
        let payload = body(
            &rep,
            &[x::XfrmAttrs::CareOfAddr(x::Address::from_ip(
                &"10.9.9.9".parse().unwrap(),
            ))],
        );
        let kind = decode_event(x::XFRM_MSG_REPORT, &payload).unwrap();
        assert!(
            matches!(kind, EventKind::Report { coaddr: Some(c), .. } if c.to_string() == "10.9.9.9")
        );
        never_panics(x::XFRM_MSG_REPORT, &payload);
        assert_eq!(
            decode_event(x::XFRM_MSG_FLUSHSA, &[50, 0, 0, 0]).unwrap(),
            EventKind::FlushSa {
                proto: XfrmProto::Esp
            }
        );
        assert!(decode_event(x::XFRM_MSG_FLUSHSA, &[]).is_err());
        assert_eq!(
            decode_event(99, &[1, 2, 3]).unwrap(),
            EventKind::Other { msg_type: 99 }
        );
        // struct xfrm_userpolicy_default { in, fwd, out } (padded): 1 block, 2 accept.
        assert_eq!(
            decode_event(x::XFRM_MSG_GETDEFAULT, &[1, 1, 2, 0]).unwrap(),
            EventKind::SetDefault {
                input: Action::Block,
                output: Action::Allow,
                forward: Action::Block,
            }
        );
        assert!(decode_event(x::XFRM_MSG_GETDEFAULT, &[0, 1]).is_err());
        for t in [
            x::XFRM_MSG_ACQUIRE,
            x::XFRM_MSG_POLEXPIRE,
            x::XFRM_MSG_DELPOLICY,
            x::XFRM_MSG_NEWAE,
        ] {
            never_panics(t, &[0u8; 400]);
        }
    }
}
