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
/// (Public only in name: this module is private, and `Dumped` needs to mention it.)
pub struct DevNames {
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

/// What differs between the SA dump and the policy dump: the request, the message that carries
/// one object, its decoder, and which interface names to fill in.
pub trait Dumped: Sized {
    /// What the dump is, for error messages.
    const OP: &'static str;
    const REQUEST: u16;
    const MESSAGE: u16;
    fn decode(payload: &[u8]) -> Result<Self, String>;
    fn fill_devs(&mut self, devs: &mut DevNames);
}

impl Dumped for Policy {
    const OP: &'static str = "dumping XFRM policies";
    const REQUEST: u16 = x::XFRM_MSG_GETPOLICY;
    const MESSAGE: u16 = x::XFRM_MSG_NEWPOLICY;
    fn decode(payload: &[u8]) -> Result<Self, String> {
        decode::decode_policy(payload)
    }
    fn fill_devs(&mut self, devs: &mut DevNames) {
        devs.fill_policy(self);
    }
}

impl Dumped for Sa {
    const OP: &'static str = "dumping XFRM SAs";
    const REQUEST: u16 = x::XFRM_MSG_GETSA;
    const MESSAGE: u16 = x::XFRM_MSG_NEWSA;
    fn decode(payload: &[u8]) -> Result<Self, String> {
        decode::decode_sa(payload)
    }
    fn fill_devs(&mut self, devs: &mut DevNames) {
        devs.fill_sa(self);
    }
}

/// A dump in progress: an iterator that decodes each object as its datagram arrives, so 100k
/// policies are never held in memory together. The first error ends it.
pub struct Stream<T> {
    dump: Dump,
    devs: DevNames,
    finished: bool,
    _object: std::marker::PhantomData<T>,
}

/// A policy dump in progress (see [`policies`]).
pub type PolicyStream = Stream<Policy>;
/// An SA dump in progress (see [`sas`]).
pub type SaStream = Stream<Sa>;

impl<T: Dumped> Stream<T> {
    fn open(ns: &Netns) -> Result<Self, Error> {
        let socket = XfrmSocket::open(ns, T::OP, &[])?;
        Ok(Stream {
            dump: socket.dump(T::OP, T::REQUEST, &[])?,
            devs: DevNames::new(ns),
            finished: false,
            _object: std::marker::PhantomData,
        })
    }
}

impl<T: Dumped> Iterator for Stream<T> {
    type Item = Result<T, Error>;

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
            if msg.msg_type != T::MESSAGE {
                continue;
            }
            return Some(match T::decode(msg.payload) {
                Ok(mut object) => {
                    object.fill_devs(&mut self.devs);
                    Ok(object)
                }
                Err(reason) => {
                    self.finished = true;
                    Err(Error::Malformed { op: T::OP, reason })
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
            if msg.msg_type != Policy::MESSAGE {
                continue;
            }
            let malformed = |reason| Error::Malformed {
                op: Policy::OP,
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
    Stream::open(ns)
}

/// Every policy of `ns`, collected. Prefer [`policies`] for output that can be streamed.
pub fn dump_policies(ns: &Netns) -> Result<Vec<Policy>, Error> {
    policies(ns)?.collect()
}

/// Streams every SA of `ns` (like `ip -s xfrm state list`), keys replaced by fingerprints.
pub fn sas(ns: &Netns) -> Result<SaStream, Error> {
    Stream::open(ns)
}

/// Every SA of `ns` (like `ip -s xfrm state list`), keys replaced by fingerprints.
pub fn dump_sas(ns: &Netns) -> Result<Vec<Sa>, Error> {
    sas(ns)?.collect()
}

/// Decodes objects from captured netlink bytes: a sequence of netlink messages as the kernel
/// sends them for a dump (other message types, NLMSG_DONE included, are skipped).
fn from_netlink_bytes<T: Dumped>(bytes: &[u8], op: &'static str) -> Result<Vec<T>, Error> {
    let mut objects = Vec::new();
    for msg in nl::messages(bytes) {
        let msg = msg.map_err(|reason| Error::Malformed { op, reason })?;
        if msg.msg_type == T::MESSAGE {
            objects.push(T::decode(msg.payload).map_err(|reason| Error::Malformed { op, reason })?);
        }
    }
    Ok(objects)
}

/// Decodes SAs from captured netlink bytes (XFRM_MSG_NEWSA messages of a `GETSA` dump).
///
/// Used for fixtures and for reading a capture made elsewhere.
pub fn sas_from_netlink_bytes(bytes: &[u8]) -> Result<Vec<Sa>, Error> {
    from_netlink_bytes(bytes, "decoding captured SA messages")
}

/// Decodes policies from captured netlink bytes (XFRM_MSG_NEWPOLICY messages).
pub fn policies_from_netlink_bytes(bytes: &[u8]) -> Result<Vec<Policy>, Error> {
    from_netlink_bytes(bytes, "decoding captured policy messages")
}
