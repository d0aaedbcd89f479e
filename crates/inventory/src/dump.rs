//! Policy and SA dumps (`ip xfrm policy list`, `ip -s xfrm state list`).
//!
//! A dump is not a snapshot: the kernel walks its lists while they may change. Objects that do not
//! change during the dump come back exactly once; objects added or deleted meanwhile may or may
//! not appear. The kernel does not set NLM_F_DUMP_INTR for XFRM dumps, so it is tolerated but not
//! relied on.

use std::collections::HashMap;

use netlink_packet_xfrm as x;
use xfrmdiag_netns::Netns;

use crate::decode;
use crate::error::Error;
use crate::model::{Policy, Sa};
use crate::nl::{self, Dump, XfrmSocket};
use crate::route;

/// Interface names for selector/offload `ifindex`, looked up once, only when one is needed.
pub(crate) struct DevNames {
    ns: Netns,
    names: Option<HashMap<u32, String>>,
}

impl DevNames {
    pub(crate) fn new(ns: &Netns) -> Self {
        DevNames {
            ns: ns.clone(),
            names: None,
        }
    }

    pub(crate) fn name(&mut self, ifindex: i32) -> Option<String> {
        if ifindex <= 0 {
            return None;
        }
        let ns = &self.ns;
        let names = self.names.get_or_insert_with(|| {
            // A failed lookup leaves names out; it never fails the dump.
            route::links(ns)
                .map(|links| links.into_iter().map(|(i, l)| (i, l.name)).collect())
                .unwrap_or_default()
        });
        names.get(&(ifindex as u32)).cloned()
    }

    pub(crate) fn fill_policy(&mut self, policy: &mut Policy) {
        policy.selector.dev = self.name(policy.selector.ifindex);
    }

    pub(crate) fn fill_sa(&mut self, sa: &mut Sa) {
        sa.selector.dev = self.name(sa.selector.ifindex);
        if let Some(offload) = sa.offload.as_mut() {
            offload.dev = self.name(offload.ifindex);
        }
    }
}

/// A policy dump in progress: an iterator that decodes each policy as its datagram arrives, so
/// 100k policies are never held in memory together.
pub struct PolicyStream {
    dump: Dump,
    devs: DevNames,
    finished: bool,
}

const POLICY_OP: &str = "dumping XFRM policies";
const SA_OP: &str = "dumping XFRM SAs";

impl Iterator for PolicyStream {
    type Item = Result<Policy, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            let msg = match self.dump.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    self.finished = true;
                    return None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            if msg.msg_type != x::XFRM_MSG_NEWPOLICY {
                continue;
            }
            return Some(match decode::decode_policy(msg.payload) {
                Ok(mut policy) => {
                    self.devs.fill_policy(&mut policy);
                    Ok(policy)
                }
                Err(reason) => {
                    self.finished = true;
                    Err(Error::Malformed {
                        op: POLICY_OP,
                        reason,
                    })
                }
            });
        }
    }
}

impl PolicyStream {
    /// Calls `each` with every policy as it is decoded, reusing one `Policy` value (and its
    /// allocations) for all of them: the cheapest way through a huge SPD.
    pub fn for_each_policy<E>(
        mut self,
        mut each: impl FnMut(&Policy) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Error>,
    {
        let mut policy: Option<Policy> = None;
        while let Some(msg) = self.dump.next_message()? {
            if msg.msg_type != x::XFRM_MSG_NEWPOLICY {
                continue;
            }
            let malformed = |reason| Error::Malformed {
                op: POLICY_OP,
                reason,
            };
            match policy.as_mut() {
                Some(p) => decode::decode_policy_into(p, msg.payload).map_err(malformed)?,
                None => policy = Some(decode::decode_policy(msg.payload).map_err(malformed)?),
            }
            let p = policy.as_mut().expect("set just above");
            self.devs.fill_policy(p);
            each(p)?;
        }
        Ok(())
    }
}

/// Streams every policy of `ns` (like `ip xfrm policy list`), socket policies included.
pub fn policies(ns: &Netns) -> Result<PolicyStream, Error> {
    let socket = XfrmSocket::open(ns, POLICY_OP, &[])?;
    Ok(PolicyStream {
        dump: socket.dump(POLICY_OP, x::XFRM_MSG_GETPOLICY, &[])?,
        devs: DevNames::new(ns),
        finished: false,
    })
}

/// Every policy of `ns`, collected. Prefer [`policies`] for output that can be streamed.
pub fn dump_policies(ns: &Netns) -> Result<Vec<Policy>, Error> {
    policies(ns)?.collect()
}

/// An SA dump in progress: an iterator that decodes each SA as its datagram arrives.
pub struct SaStream {
    dump: Dump,
    devs: DevNames,
    finished: bool,
}

impl Iterator for SaStream {
    type Item = Result<Sa, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            let msg = match self.dump.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    self.finished = true;
                    return None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            if msg.msg_type != x::XFRM_MSG_NEWSA {
                continue;
            }
            return Some(match decode::decode_sa(msg.payload) {
                Ok(mut sa) => {
                    self.devs.fill_sa(&mut sa);
                    Ok(sa)
                }
                Err(reason) => {
                    self.finished = true;
                    Err(Error::Malformed { op: SA_OP, reason })
                }
            });
        }
    }
}

/// Streams every SA of `ns` (like `ip -s xfrm state list`), keys replaced by fingerprints.
pub fn sas(ns: &Netns) -> Result<SaStream, Error> {
    let socket = XfrmSocket::open(ns, SA_OP, &[])?;
    Ok(SaStream {
        dump: socket.dump(SA_OP, x::XFRM_MSG_GETSA, &[])?,
        devs: DevNames::new(ns),
        finished: false,
    })
}

/// Every SA of `ns` (like `ip -s xfrm state list`), keys replaced by fingerprints.
pub fn dump_sas(ns: &Netns) -> Result<Vec<Sa>, Error> {
    sas(ns)?.collect()
}

/// Decodes SAs from captured netlink bytes: a sequence of netlink messages as the kernel sends
/// them for a `GETSA` dump (XFRM_MSG_NEWSA; NLMSG_DONE and others are skipped).
///
/// Used for fixtures and for reading a capture made elsewhere.
pub fn sas_from_netlink_bytes(bytes: &[u8]) -> Result<Vec<Sa>, Error> {
    const OP: &str = "decoding captured SA messages";
    let mut sas = Vec::new();
    for msg in nl::messages(bytes) {
        let msg = msg.map_err(|reason| Error::Malformed { op: OP, reason })?;
        if msg.msg_type == x::XFRM_MSG_NEWSA {
            sas.push(
                decode::decode_sa(msg.payload)
                    .map_err(|reason| Error::Malformed { op: OP, reason })?,
            );
        }
    }
    Ok(sas)
}

/// Decodes policies from captured netlink bytes (XFRM_MSG_NEWPOLICY messages).
pub fn policies_from_netlink_bytes(bytes: &[u8]) -> Result<Vec<Policy>, Error> {
    const OP: &str = "decoding captured policy messages";
    let mut policies = Vec::new();
    for msg in nl::messages(bytes) {
        let msg = msg.map_err(|reason| Error::Malformed { op: OP, reason })?;
        if msg.msg_type == x::XFRM_MSG_NEWPOLICY {
            policies.push(
                decode::decode_policy(msg.payload)
                    .map_err(|reason| Error::Malformed { op: OP, reason })?,
            );
        }
    }
    Ok(policies)
}
