//! TCP test flows: connect with a timeout, send bytes, watch them being acknowledged; a listener
//! that accepts and counts.
//!
//! A TCP flow fails in two places an admin tells apart: the handshake (the connect errno names
//! it: ECONNREFUSED is a reset — no socket on the port —, ETIMEDOUT an unanswered SYN,
//! EHOSTUNREACH/ENETUNREACH an ICMP error or a missing route, EPERM a block policy) and after it
//! (bytes written but never acknowledged: the socket's TCP_INFO shows retransmissions, the MSS
//! and the path MTU it believes in — a PMTU black hole looks like this).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, SockAddr, Socket, Type};
use xfrmdiag_netns::Netns;

use crate::{Error, SendError};

/// What to send over TCP.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    pub dst: SocketAddr,
    /// Payload bytes to send after the handshake.
    pub bytes: usize,
    /// Source port; `None` lets the kernel pick.
    pub sport: Option<u16>,
    /// How long the handshake may take (SYN retransmissions are 1 s, 3 s, 7 s … apart).
    pub connect_timeout: Duration,
    /// How long to wait, after the last write, for every byte to be acknowledged.
    pub ack_wait: Duration,
}

impl TcpOptions {
    /// `bytes` to `dst`, with the handshake and the acknowledgements each given `window`.
    pub fn test_flow(dst: SocketAddr, bytes: usize, window: Duration) -> Self {
        TcpOptions {
            dst,
            bytes,
            sport: None,
            connect_timeout: window,
            ack_wait: window,
        }
    }
}

/// What happened to one TCP test connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpSendResult {
    pub dst: String,
    /// Payload bytes the test meant to send.
    pub bytes: u64,
    pub connected: bool,
    /// How long the handshake took.
    #[serde(default)]
    pub connect_ms: Option<u64>,
    /// Why the handshake failed (`ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`, …).
    #[serde(default)]
    pub connect_error: Option<SendError>,
    /// Bytes the kernel took from the program.
    pub written: u64,
    /// Bytes the peer acknowledged (written minus what was still queued at the end).
    pub acked: u64,
    /// Why a write failed, if one did.
    #[serde(default)]
    pub write_error: Option<SendError>,
    /// The socket's TCP_INFO at the end of the wait.
    #[serde(default)]
    pub info: Option<TcpInfo>,
}

impl TcpSendResult {
    /// Connected, but not everything written was acknowledged: the flow stalled.
    pub fn stalled(&self) -> bool {
        self.connected && self.acked < self.written.max(self.bytes)
    }

    /// The handshake failure in words an admin recognises.
    pub fn handshake_failure(&self) -> Option<&'static str> {
        let e = self.connect_error.as_ref()?;
        Some(match e.errno.as_str() {
            "ECONNREFUSED" => "reset: no socket listens on the port (no-socket)",
            "ETIMEDOUT" => "no answer to the SYN (dropped on the way or at the peer)",
            "EHOSTUNREACH" => "host unreachable (ICMP error or failed neighbour resolution)",
            "ENETUNREACH" => "network unreachable (no route)",
            "EPERM" | "EACCES" => "refused locally (a block policy or a firewall rule)",
            _ => "the handshake failed",
        })
    }
}

/// The part of `struct tcp_info` that tells a stall apart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpInfo {
    /// `established`, `syn-sent`, `close-wait`, …
    pub state: String,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Retransmissions over the connection's life (`tcpi_total_retrans`).
    pub retransmits: u32,
    /// Consecutive timeouts of the current segment (`tcpi_backoff`).
    pub backoff: u32,
    /// Sender MSS.
    pub snd_mss: u32,
    /// The path MTU the socket believes in.
    pub pmtu: u32,
    /// Smoothed round trip in microseconds.
    pub rtt_us: u32,
}

/// Connects from inside `netns`, sends, waits for the acknowledgements and reads TCP_INFO.
/// Only a socket that cannot be created is an error: every network failure is in the result.
pub fn send_tcp(netns: &Netns, opts: &TcpOptions) -> Result<TcpSendResult, Error> {
    let opts = opts.clone();
    netns.run(move || send_here(&opts))?
}

fn send_here(opts: &TcpOptions) -> Result<TcpSendResult, Error> {
    let socket_error = |what: String| {
        move |source| Error::Socket {
            what: what.clone(),
            source,
        }
    };
    let domain = Domain::for_address(opts.dst);
    let socket = Socket::new(domain, Type::STREAM, None)
        .map_err(socket_error(format!("a TCP connection to {}", opts.dst)))?;
    if let Some(port) = opts.sport {
        let local = SocketAddr::new(unspecified(opts.dst.ip()), port);
        socket
            .bind(&SockAddr::from(local))
            .map_err(socket_error(format!("binding source port {port}")))?;
    }
    let mut result = TcpSendResult {
        dst: opts.dst.to_string(),
        bytes: opts.bytes as u64,
        ..Default::default()
    };
    let start = Instant::now();
    if let Err(err) = socket.connect_timeout(&SockAddr::from(opts.dst), opts.connect_timeout) {
        result.connect_error = Some(connect_error(&err, opts.connect_timeout));
        // Whatever the kernel knew about the attempt (SYN retransmissions).
        result.info = tcp_info(&socket).ok();
        return Ok(result);
    }
    result.connected = true;
    result.connect_ms = Some(start.elapsed().as_millis() as u64);
    let mut stream = TcpStream::from(socket);
    let _ = stream.set_write_timeout(Some(opts.ack_wait.max(Duration::from_millis(100))));
    let chunk = vec![b'x'; 16 * 1024];
    let mut left = opts.bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        match stream.write(&chunk[..n]) {
            Ok(0) => break,
            Ok(w) => {
                result.written += w as u64;
                left -= w;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                result.write_error = Some(as_send_error(&err));
                break;
            }
        }
    }
    // Wait until the send queue is empty (all acknowledged) or the wait ends.
    let deadline = Instant::now() + opts.ack_wait;
    let mut queued = unacked_bytes(&stream).unwrap_or(0);
    while queued > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        queued = unacked_bytes(&stream).unwrap_or(0);
    }
    result.acked = result.written.saturating_sub(queued);
    result.info = tcp_info(&stream).ok();
    if queued > 0 {
        // A stalled connection would go on retransmitting after the test: reset it instead.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    } else {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    Ok(result)
}

fn connect_error(err: &std::io::Error, timeout: Duration) -> SendError {
    match err.raw_os_error() {
        Some(_) => as_send_error(err),
        // socket2 reports its own poll timeout without an errno: it is the SYN left unanswered.
        None if err.kind() == std::io::ErrorKind::TimedOut => SendError {
            errno: "ETIMEDOUT".into(),
            code: nix::libc::ETIMEDOUT,
            message: format!("no answer within {:.1}s", timeout.as_secs_f64()),
            count: 1,
            first: 0,
        },
        None => SendError {
            errno: "EIO".into(),
            code: nix::libc::EIO,
            message: err.to_string(),
            count: 1,
            first: 0,
        },
    }
}

fn as_send_error(err: &std::io::Error) -> SendError {
    let code = err.raw_os_error().unwrap_or(nix::libc::EIO);
    let errno = nix::errno::Errno::from_raw(code);
    SendError {
        errno: format!("{errno:?}"),
        code,
        message: errno.desc().to_string(),
        count: 1,
        first: 0,
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Bytes written and not yet acknowledged (`SIOCOUTQ`).
fn unacked_bytes(socket: &impl AsRawFd) -> std::io::Result<u64> {
    let mut value: nix::libc::c_int = 0;
    // SAFETY: a valid socket fd and a pointer to an int that outlives the call.
    let rc = unsafe { nix::libc::ioctl(socket.as_raw_fd(), nix::libc::TIOCOUTQ, &mut value) };
    if rc == 0 {
        Ok(value.max(0) as u64)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn tcp_info(socket: &impl AsRawFd) -> std::io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain integers; all-zero is a valid value.
    let mut info: nix::libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<nix::libc::tcp_info>() as nix::libc::socklen_t;
    // SAFETY: a valid fd, a buffer of `len` bytes that outlives the call, and its length.
    let rc = unsafe {
        nix::libc::getsockopt(
            socket.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_INFO,
            (&mut info as *mut nix::libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: state_name(info.tcpi_state).into(),
        unacked: info.tcpi_unacked,
        retransmits: info.tcpi_total_retrans,
        backoff: info.tcpi_backoff.into(),
        snd_mss: info.tcpi_snd_mss,
        pmtu: info.tcpi_pmtu,
        rtt_us: info.tcpi_rtt,
    })
}

/// `TCP_*` states of include/net/tcp_states.h.
fn state_name(state: u8) -> &'static str {
    match state {
        1 => "established",
        2 => "syn-sent",
        3 => "syn-recv",
        4 => "fin-wait-1",
        5 => "fin-wait-2",
        6 => "time-wait",
        7 => "close",
        8 => "close-wait",
        9 => "last-ack",
        10 => "listen",
        11 => "closing",
        _ => "unknown",
    }
}

/// What a TCP listener saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TcpListenResult {
    pub port: u16,
    /// Connections accepted.
    pub connections: u32,
    /// Payload bytes read from them.
    pub bytes: u64,
    /// Bytes expected (the sender's total), when known.
    #[serde(default)]
    pub expected_bytes: Option<u64>,
    pub window_ms: u64,
}

/// A listening TCP port that accepts and reads in the background from the moment it is bound,
/// so a sender in the same process never waits on a full receive window.
#[derive(Debug)]
pub struct TcpListen {
    port: u16,
    connections: Arc<AtomicU32>,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl TcpListen {
    /// Listens on `port` inside `netns` (dual-stack `[::]`, else `0.0.0.0`).
    pub fn bind(netns: &Netns, port: u16) -> Result<TcpListen, Error> {
        let listener = netns.run(move || bind_here(port))??;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let (connections, bytes, stop) = (
            Arc::new(AtomicU32::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let counts = (connections.clone(), bytes.clone(), stop.clone());
        let reader = std::thread::spawn(move || serve(listener, counts.0, counts.1, counts.2));
        Ok(TcpListen {
            port,
            connections,
            bytes,
            stop,
            reader: Some(reader),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Counts until `expected_bytes` arrived or `window` passed; `progress` gets the bytes so
    /// far and the time left about ten times a second.
    pub fn wait(
        mut self,
        expected_bytes: Option<u64>,
        window: Duration,
        mut progress: impl FnMut(u64, Duration),
    ) -> TcpListenResult {
        let start = Instant::now();
        loop {
            let got = self.bytes.load(Ordering::Relaxed);
            if start.elapsed() >= window || expected_bytes.is_some_and(|e| got >= e) {
                break;
            }
            progress(got, window.saturating_sub(start.elapsed()));
            std::thread::sleep(Duration::from_millis(20));
        }
        self.finish(expected_bytes, start)
    }

    fn finish(&mut self, expected_bytes: Option<u64>, start: Instant) -> TcpListenResult {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        TcpListenResult {
            port: self.port,
            connections: self.connections.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            expected_bytes,
            window_ms: start.elapsed().as_millis() as u64,
        }
    }
}

impl Drop for TcpListen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn bind_here(port: u16) -> Result<std::net::TcpListener, Error> {
    let taken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let listener = match std::net::TcpListener::bind(v6) {
        Ok(l) => l,
        Err(e) if taken(&e) => return Err(Error::TcpPortTaken { port }),
        Err(_) => std::net::TcpListener::bind(v4).map_err(|source| {
            if taken(&source) {
                Error::TcpPortTaken { port }
            } else {
                Error::Socket {
                    what: format!("listening on TCP port {port}"),
                    source,
                }
            }
        })?,
    };
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Socket {
            what: format!("listening on TCP port {port}"),
            source,
        })?;
    Ok(listener)
}

fn serve(
    listener: std::net::TcpListener,
    connections: Arc<AtomicU32>,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut open: Vec<TcpStream> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut idle = true;
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                connections.fetch_add(1, Ordering::Relaxed);
                open.push(stream);
                idle = false;
            }
        }
        open.retain_mut(|s| loop {
            match s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                    idle = false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        });
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_connection_is_delivered_and_acknowledged() {
        let listen = TcpListen::bind(&Netns::Current, 0).unwrap();
        let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port());
        let sent = send_tcp(
            &Netns::Current,
            &TcpOptions::test_flow(dst, 200_000, Duration::from_secs(5)),
        )
        .unwrap();
        assert!(sent.connected, "{sent:?}");
        assert_eq!((sent.written, sent.acked), (200_000, 200_000));
        assert!(!sent.stalled());
        let info = sent.info.as_ref().unwrap();
        assert!(info.snd_mss > 0 && info.pmtu > 0, "{info:?}");
        let got = listen.wait(Some(200_000), Duration::from_secs(5), |_, _| {});
        assert_eq!((got.connections, got.bytes), (1, 200_000));
    }

    #[test]
    fn a_closed_port_is_a_reset_named_no_socket() {
        // Bind then drop a listener: the port is (almost certainly) closed now.
        let port = TcpListen::bind(&Netns::Current, 0).unwrap().port();
        let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let sent = send_tcp(
            &Netns::Current,
            &TcpOptions::test_flow(dst, 10, Duration::from_secs(2)),
        )
        .unwrap();
        assert!(!sent.connected);
        assert_eq!(sent.connect_error.as_ref().unwrap().errno, "ECONNREFUSED");
        assert!(sent.handshake_failure().unwrap().contains("no-socket"));
    }
}
