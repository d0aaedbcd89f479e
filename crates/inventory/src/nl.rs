//! A blocking NETLINK_XFRM socket: requests, dumps read one datagram at a time, and multicast.
//!
//! Dumps stream: one 32 KiB buffer is reused for every datagram (the kernel never sends more than
//! 32 KiB per dump datagram), and each message is handed out as a borrowed slice, so memory does
//! not grow with the number of policies or SAs.

use std::time::Duration;

use netlink_sys::{protocols::NETLINK_XFRM, Socket, SocketAddr};
use xfrmdiag_netns::Netns;

use crate::error::{libc_errno, Error};

/// Receive buffer: the kernel caps a dump datagram at 32 KiB (`netlink_recvmsg`), so this holds
/// any datagram whole.
pub(crate) const RECV_BUFFER: usize = 32 * 1024;

const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const MSG_TRUNC: i32 = 0x20;

/// Rounds a length up to netlink's 4-byte alignment.
pub(crate) const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// One netlink message borrowed from a receive buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMessage<'a> {
    pub msg_type: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Where one message sits in a datagram (no borrow, so a dump can keep it across calls).
#[derive(Debug, Clone)]
pub(crate) struct MessageSpan {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: std::ops::Range<usize>,
    /// Position of the following message.
    pub next: usize,
}

/// Locates the message at `pos`, checking every length before slicing.
///
/// A header that does not fit or claims more bytes than the datagram holds is an error, never a
/// panic.
pub(crate) fn span_at(datagram: &[u8], pos: usize) -> Result<MessageSpan, String> {
    let rest = datagram.get(pos..).unwrap_or_default();
    if rest.len() < NLMSG_HDRLEN {
        return Err(format!(
            "{} trailing bytes are too short for a netlink header",
            rest.len()
        ));
    }
    let u32_at = |i: usize| u32::from_ne_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
    let len = u32_at(0) as usize;
    if len < NLMSG_HDRLEN || len > rest.len() {
        return Err(format!(
            "netlink header says {len} bytes but {} are left",
            rest.len()
        ));
    }
    Ok(MessageSpan {
        msg_type: u16::from_ne_bytes([rest[4], rest[5]]),
        flags: u16::from_ne_bytes([rest[6], rest[7]]),
        seq: u32_at(8),
        payload: pos + NLMSG_HDRLEN..pos + len,
        next: (pos + align4(len)).min(datagram.len()),
    })
}

/// Splits a whole datagram (or a captured file of them) into messages.
pub(crate) fn messages(datagram: &[u8]) -> impl Iterator<Item = Result<RawMessage<'_>, String>> {
    let mut pos = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= datagram.len() {
            return None;
        }
        match span_at(datagram, pos) {
            Ok(span) => {
                pos = span.next;
                Some(Ok(RawMessage {
                    msg_type: span.msg_type,
                    seq: span.seq,
                    payload: &datagram[span.payload],
                }))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

/// The errno in an NLMSG_ERROR payload (0 is an acknowledgement).
pub(crate) fn error_code(payload: &[u8]) -> Result<i32, String> {
    let bytes: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "NLMSG_ERROR shorter than 4 bytes".to_string())?;
    Ok(-i32::from_ne_bytes(bytes))
}

/// Builds one request datagram: header and payload.
fn request_bytes(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut buf = Vec::with_capacity(align4(len));
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&msg_type.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(len), 0);
    buf
}

/// A NETLINK_XFRM socket created inside a namespace (it stays there whichever thread uses it).
pub(crate) struct XfrmSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl XfrmSocket {
    /// Opens the socket inside `ns`, subscribed to `groups` (XFRMNLGRP_* numbers) if any.
    pub(crate) fn open(ns: &Netns, op: &'static str, groups: &[u32]) -> Result<Self, Error> {
        let groups = groups.to_vec();
        let socket = ns
            .run(move || -> std::io::Result<Socket> {
                let mut socket = Socket::new(NETLINK_XFRM)?;
                socket.bind_auto()?;
                for group in groups {
                    socket.add_membership(group)?;
                }
                Ok(socket)
            })?
            .map_err(|e| Error::from_io(op, e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::from_io(op, e))?;
        Ok(XfrmSocket {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Sends one request and returns its sequence number.
    pub(crate) fn send(
        &mut self,
        op: &'static str,
        msg_type: u16,
        flags: u16,
        payload: &[u8],
    ) -> Result<u32, Error> {
        self.seq = self.seq.wrapping_add(1);
        let bytes = request_bytes(msg_type, flags | NLM_F_REQUEST, self.seq, payload);
        self.socket
            .send(&bytes, 0)
            .map_err(|e| Error::from_io(op, e))?;
        Ok(self.seq)
    }

    /// Waits at most `timeout` (forever with `None`) for the next datagram; `Ok(false)` on timeout.
    pub(crate) fn recv(
        &mut self,
        op: &'static str,
        timeout: Option<Duration>,
    ) -> Result<bool, Error> {
        if let Some(t) = timeout {
            self.set_timeout(op, t)?;
        }
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, MSG_TRUNC) {
                Ok(n) if n > RECV_BUFFER => {
                    return Err(Error::Malformed {
                        op,
                        reason: format!(
                            "datagram of {n} bytes exceeds the {RECV_BUFFER}-byte buffer"
                        ),
                    })
                }
                Ok(_) => return Ok(true),
                Err(e) => match e.raw_os_error() {
                    Some(libc_errno::EINTR) => continue,
                    Some(libc_errno::EAGAIN) if timeout.is_some() => return Ok(false),
                    _ => return Err(Error::from_io(op, e)),
                },
            }
        }
    }

    fn set_timeout(&self, op: &'static str, timeout: Duration) -> Result<(), Error> {
        use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
        use nix::sys::time::TimeVal;
        // A zero timeval means "block forever" to the kernel: wait at least 1 µs instead.
        let timeout = timeout.max(Duration::from_micros(1));
        let tv = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
        setsockopt(&self.socket, ReceiveTimeout, &tv)
            .map_err(|e| Error::from_io(op, std::io::Error::from(e)))
    }

    /// The datagram received last.
    pub(crate) fn datagram(&self) -> &[u8] {
        &self.buf
    }

    /// Sends a single request and returns the payload of the kernel's answer of `reply_type`.
    pub(crate) fn request_one(
        &mut self,
        op: &'static str,
        msg_type: u16,
        payload: &[u8],
        reply_type: u16,
    ) -> Result<Vec<u8>, Error> {
        let seq = self.send(op, msg_type, 0, payload)?;
        loop {
            self.recv(op, None)?;
            for msg in messages(&self.buf) {
                let msg = msg.map_err(|reason| Error::Malformed { op, reason })?;
                if msg.seq != seq {
                    continue;
                }
                match msg.msg_type {
                    NLMSG_ERROR => {
                        let errno = error_code(msg.payload)
                            .map_err(|reason| Error::Malformed { op, reason })?;
                        if errno != 0 {
                            return Err(Error::from_errno(op, errno));
                        }
                    }
                    t if t == reply_type => return Ok(msg.payload.to_vec()),
                    _ => {}
                }
            }
        }
    }

    /// Starts a dump (`NLM_F_DUMP`) of `msg_type`.
    pub(crate) fn dump(
        mut self,
        op: &'static str,
        msg_type: u16,
        payload: &[u8],
    ) -> Result<Dump, Error> {
        self.send(op, msg_type, NLM_F_DUMP, payload)?;
        Ok(Dump {
            socket: self,
            op,
            pos: 0,
            done: false,
            interrupted: false,
        })
    }
}

/// A dump in progress: hands out the kernel's messages one by one until NLMSG_DONE.
pub(crate) struct Dump {
    socket: XfrmSocket,
    op: &'static str,
    pos: usize,
    done: bool,
    interrupted: bool,
}

impl Dump {
    /// The next object message of the dump, or `None` at its end.
    ///
    /// Control messages (DONE, ERROR, NOOP) are handled here; NLM_F_DUMP_INTR is tolerated
    /// (the kernel does not set it for XFRM, and a dump is not a snapshot anyway).
    pub(crate) fn next_message(&mut self) -> Result<Option<RawMessage<'_>>, Error> {
        let op = self.op;
        let span = loop {
            if self.done {
                return Ok(None);
            }
            if self.pos >= self.socket.buf.len() {
                self.socket.recv(op, None)?;
                self.pos = 0;
                if self.socket.buf.is_empty() {
                    return Err(Error::Malformed {
                        op,
                        reason: "empty datagram before the end of the dump".into(),
                    });
                }
            }
            let span = span_at(&self.socket.buf, self.pos)
                .map_err(|reason| Error::Malformed { op, reason })?;
            self.pos = span.next;
            if span.flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            match span.msg_type {
                NLMSG_DONE => {
                    self.done = true;
                    return Ok(None);
                }
                NLMSG_ERROR => {
                    let errno = error_code(&self.socket.buf[span.payload.clone()])
                        .map_err(|reason| Error::Malformed { op, reason })?;
                    if errno != 0 {
                        self.done = true;
                        return Err(Error::from_errno(op, errno));
                    }
                }
                NLMSG_NOOP | NLMSG_OVERRUN => {}
                _ => break span,
            }
        };
        Ok(Some(RawMessage {
            msg_type: span.msg_type,
            seq: span.seq,
            payload: &self.socket.buf[span.payload],
        }))
    }

    /// True when the kernel flagged the dump as interrupted by concurrent changes.
    #[allow(dead_code)]
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted
    }
}
