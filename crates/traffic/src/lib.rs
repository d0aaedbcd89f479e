//! Test traffic: send, listen, observe and exec, each inside a chosen namespace.
//!
//! Owns: UDP test datagrams (IPv4 and IPv6) with the errno of every failed `sendto` (EPERM is a
//! block policy, EINVAL an expired SA, EMSGSIZE the MTU — evidence, not noise), a listener that
//! counts what reaches its socket, watching a port another program holds, and running a user's
//! command as the test send; TCP connections ([`tcp`]: handshake errno, bytes acknowledged,
//! TCP_INFO) and ICMP echo ([`icmp`]). Must not: read counters or configuration, or decide anything.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xfrmdiag_netns::Netns;

pub mod icmp;
pub mod proc_udp;
pub mod target;
pub mod tcp;

pub use icmp::{send_icmp, IcmpError, IcmpOptions, IcmpResult};
pub use target::{ListenTarget, SendTarget};
pub use tcp::{send_tcp, TcpInfo, TcpListen, TcpListenResult, TcpOptions, TcpSendResult};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Netns(#[from] xfrmdiag_netns::Error),
    #[error("bad target '{text}': {why} (expected {expected})")]
    BadTarget {
        text: String,
        why: String,
        expected: &'static str,
    },
    #[error("cannot open a UDP socket for {what}: {source}")]
    Socket {
        what: String,
        source: std::io::Error,
    },
    #[error("UDP port {port} is already taken (by the application?): use --observe udp:{port} to watch it without binding")]
    PortTaken { port: u16 },
    #[error("TCP port {port} is already taken (by the application?): test another port, or run without --listen")]
    TcpPortTaken { port: u16 },
    #[error("cannot read {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Exec {
        command: String,
        source: std::io::Error,
    },
}

/// `udp:DST:PORT` — where test datagrams go. IPv6 as `udp:[fd99::2]:5000` or `udp:fd99::2:5000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpTarget(pub SocketAddr);

impl FromStr for UdpTarget {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTarget {
            text: text.into(),
            why: why.into(),
            expected: "udp:DST:PORT, e.g. udp:10.0.0.2:5000 or udp:[fd00::2]:5000",
        };
        let rest = text
            .strip_prefix("udp:")
            .ok_or_else(|| bad("only udp is supported"))?;
        if let Ok(addr) = rest.parse::<SocketAddr>() {
            return Ok(UdpTarget(addr));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port given"))?;
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad("not an IP address"))?;
        let port: u16 = port.parse().map_err(|_| bad("not a port number"))?;
        Ok(UdpTarget(SocketAddr::new(ip, port)))
    }
}

/// `udp:PORT` — a port to listen on or observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPort(pub u16);

impl FromStr for UdpPort {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTarget {
            text: text.into(),
            why: why.into(),
            expected: "udp:PORT, e.g. udp:5000",
        };
        let port = text
            .strip_prefix("udp:")
            .ok_or_else(|| bad("only udp is supported"))?;
        port.parse()
            .map(UdpPort)
            .map_err(|_| bad("not a port number"))
    }
}

/// Result of sending test datagrams.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendResult {
    pub dst: String,
    /// Datagrams the program tried to send.
    pub attempted: u32,
    /// `sendto` calls that succeeded (the kernel took the datagram; it may still drop it).
    pub sent: u32,
    pub size: usize,
    /// Failed `sendto` calls grouped by errno; each errno names a kernel decision.
    #[serde(default)]
    pub errors: Vec<SendError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendError {
    /// Symbolic name: `EPERM`, `EINVAL`, `EMSGSIZE`, …
    pub errno: String,
    pub code: i32,
    pub message: String,
    pub count: u32,
    /// Index (0-based) of the first datagram that failed this way.
    pub first: u32,
}

/// Result of listening on a UDP port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListenResult {
    pub port: u16,
    pub received: u32,
    pub bytes: u64,
    /// How many were expected (the sender's count), when known.
    #[serde(default)]
    pub expected: Option<u32>,
    pub window_ms: u64,
}

/// Watching a port held by another program, without binding it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObserveResult {
    pub port: u16,
    /// A socket was bound on the port when the window opened.
    pub socket_found: bool,
    /// Growth of the socket's `drops` column in /proc/net/udp{,6} (buffer full, filter).
    #[serde(default)]
    pub socket_drops: Option<u64>,
    pub window_ms: u64,
}

/// A user command run as the test send.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecResult {
    pub command: String,
    /// `None` when a signal ended it.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Last lines of its stderr (what a failing client says).
    #[serde(default)]
    pub stderr_tail: String,
}

/// Path MTU discovery for the test socket (`IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pmtu {
    /// Never set DF; fragment locally.
    Dont,
    /// The kernel default: DF per route, fragment when needed.
    Want,
    /// Always DF; a datagram over the known path MTU fails with EMSGSIZE.
    Do,
    /// DF, but ignore the path MTU the kernel knows (tests what lower layers do).
    Probe,
}

impl FromStr for Pmtu {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dont" => Ok(Pmtu::Dont),
            "want" => Ok(Pmtu::Want),
            "do" => Ok(Pmtu::Do),
            "probe" => Ok(Pmtu::Probe),
            _ => Err(format!(
                "'{s}' is not a PMTU mode: use do, probe, want or dont"
            )),
        }
    }
}

impl Pmtu {
    /// `IP_PMTUDISC_*` (the IPv6 values are the same).
    fn value(self) -> i32 {
        match self {
            Pmtu::Dont => 0,
            Pmtu::Want => 1,
            Pmtu::Do => 2,
            Pmtu::Probe => 3,
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub dst: SocketAddr,
    pub count: u32,
    /// UDP payload bytes.
    pub size: usize,
    /// Source port; `None` lets the kernel pick.
    pub sport: Option<u16>,
    pub interval: Duration,
    /// Path MTU discovery mode; `None` leaves the kernel default.
    pub pmtu: Option<Pmtu>,
}

impl SendOptions {
    /// `count` small datagrams to `dst`, 20 ms apart, as `xfrmdiag diagnose --send` sends
    /// by default.
    pub fn test_flow(dst: SocketAddr, count: u32) -> Self {
        SendOptions {
            dst,
            count,
            size: 64,
            sport: None,
            interval: Duration::from_millis(20),
            pmtu: None,
        }
    }
}

/// Sends `count` datagrams from inside `netns` and records every `sendto` error by errno.
pub fn send_udp(netns: &Netns, opts: &SendOptions) -> Result<SendResult, Error> {
    let opts = opts.clone();
    netns.run(move || send_here(&opts))?
}

fn send_here(opts: &SendOptions) -> Result<SendResult, Error> {
    let local = SocketAddr::new(unspecified(opts.dst.ip()), opts.sport.unwrap_or(0));
    let socket = UdpSocket::bind(local).map_err(|source| Error::Socket {
        what: format!("sending from {local}"),
        source,
    })?;
    if let Some(mode) = opts.pmtu {
        set_pmtu(&socket, opts.dst.ip(), mode).map_err(|source| Error::Socket {
            what: format!("setting path MTU discovery to {mode:?}"),
            source,
        })?;
    }
    let mut payload = vec![0u8; opts.size];
    let mut result = SendResult {
        dst: opts.dst.to_string(),
        size: opts.size,
        ..Default::default()
    };
    for i in 0..opts.count {
        // A recognisable payload: "xfrmdiag <seq>" padded, handy in tcpdump.
        let tag = format!("xfrmdiag {i:06}");
        let n = tag.len().min(payload.len());
        payload[..n].copy_from_slice(&tag.as_bytes()[..n]);
        result.attempted += 1;
        match socket.send_to(&payload, opts.dst) {
            Ok(_) => result.sent += 1,
            Err(err) => record_error(&mut result.errors, &err, i),
        }
        if i + 1 < opts.count && !opts.interval.is_zero() {
            std::thread::sleep(opts.interval);
        }
    }
    Ok(result)
}

fn set_pmtu(socket: &UdpSocket, dst: IpAddr, mode: Pmtu) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name) = match dst {
        IpAddr::V4(_) => (nix::libc::IPPROTO_IP, nix::libc::IP_MTU_DISCOVER),
        IpAddr::V6(_) => (nix::libc::IPPROTO_IPV6, nix::libc::IPV6_MTU_DISCOVER),
    };
    let value: nix::libc::c_int = mode.value();
    // SAFETY: a valid socket fd, a pointer to an int that lives across the call, and its size.
    let rc = unsafe {
        nix::libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const nix::libc::c_int).cast(),
            std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub(crate) fn record_error(errors: &mut Vec<SendError>, err: &std::io::Error, index: u32) {
    let code = err.raw_os_error().unwrap_or(0);
    if let Some(e) = errors.iter_mut().find(|e| e.code == code) {
        e.count += 1;
        return;
    }
    let errno = nix::errno::Errno::from_raw(code);
    errors.push(SendError {
        errno: format!("{errno:?}"),
        code,
        message: errno.desc().to_string(),
        count: 1,
        first: index,
    });
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// A bound UDP port that counts what reaches it. Bound before the send, counted after.
#[derive(Debug)]
pub struct Listener {
    port: u16,
    sockets: Vec<UdpSocket>,
}

impl Listener {
    /// Binds `port` inside `netns` for IPv4 and IPv6 (a dual-stack `[::]` socket where IPv6
    /// exists, else `0.0.0.0`).
    pub fn bind(netns: &Netns, port: u16) -> Result<Listener, Error> {
        netns.run(move || bind_here(port))?
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Counts datagrams until `expected` have arrived or `window` has passed. `progress` is
    /// called about ten times a second with the count so far and the time left.
    pub fn wait(
        self,
        expected: Option<u32>,
        window: Duration,
        mut progress: impl FnMut(u32, Duration),
    ) -> ListenResult {
        self.wait_until(expected, window, |received, left| {
            progress(received, left);
            false
        })
    }

    /// [`Listener::wait`], and the window also closes when `tick` (called between reads with
    /// the count so far and the time left) answers true: the caller has accounted for every
    /// datagram some other way (counted as dropped).
    pub fn wait_until(
        self,
        expected: Option<u32>,
        window: Duration,
        mut tick: impl FnMut(u32, Duration) -> bool,
    ) -> ListenResult {
        let start = Instant::now();
        let mut result = ListenResult {
            port: self.port,
            expected,
            ..Default::default()
        };
        let mut buf = vec![0u8; 65536];
        for s in &self.sockets {
            // Short timeouts so several sockets and the progress line are served in turn.
            let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
        }
        loop {
            let elapsed = start.elapsed();
            if elapsed >= window || expected.is_some_and(|e| result.received >= e) {
                break;
            }
            for s in &self.sockets {
                while let Ok((n, _)) = s.recv_from(&mut buf) {
                    result.received += 1;
                    result.bytes += n as u64;
                    let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
                }
                let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
            }
            if tick(result.received, window.saturating_sub(start.elapsed())) {
                break;
            }
        }
        result.window_ms = start.elapsed().as_millis() as u64;
        result
    }
}

fn bind_here(port: u16) -> Result<Listener, Error> {
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let taken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match UdpSocket::bind(v6) {
        // Linux default (bindv6only=0): `[::]` also receives IPv4 as mapped addresses.
        Ok(s) => Ok(Listener {
            port,
            sockets: vec![s],
        }),
        Err(e) if taken(&e) => Err(Error::PortTaken { port }),
        Err(_) => match UdpSocket::bind(v4) {
            Ok(s) => Ok(Listener {
                port,
                sockets: vec![s],
            }),
            Err(e) if taken(&e) => Err(Error::PortTaken { port }),
            Err(source) => Err(Error::Socket {
                what: format!("listening on port {port}"),
                source,
            }),
        },
    }
}

/// Watches a port another program holds, through its sockets' lines in /proc/net/udp{,6}.
#[derive(Debug)]
pub struct Observer {
    port: u16,
    proc_root: std::path::PathBuf,
    drops_before: Option<u64>,
    start: Instant,
}

impl Observer {
    /// Reads the port's sockets inside `netns`; `proc_root` is normally `/proc`.
    pub fn start(netns: &Netns, proc_root: &Path, port: u16) -> Result<Observer, Error> {
        let root = proc_root.to_path_buf();
        let drops_before = netns.run(move || proc_udp::read_drops(&root, port))??;
        Ok(Observer {
            port,
            proc_root: proc_root.to_path_buf(),
            drops_before,
            start: Instant::now(),
        })
    }

    pub fn finish(self, netns: &Netns) -> Result<ObserveResult, Error> {
        let (root, port) = (self.proc_root.clone(), self.port);
        let drops_after = netns.run(move || proc_udp::read_drops(&root, port))??;
        Ok(ObserveResult {
            port: self.port,
            socket_found: self.drops_before.is_some(),
            socket_drops: match (self.drops_before, drops_after) {
                (Some(b), Some(a)) => Some(a.saturating_sub(b)),
                _ => None,
            },
            window_ms: self.start.elapsed().as_millis() as u64,
        })
    }
}

/// Runs `command` with `sh -c` inside `netns` as the test send.
pub fn exec(netns: &Netns, command: &str) -> Result<ExecResult, Error> {
    let cmd = command.to_string();
    let output = netns.run(move || {
        // A child forked from this thread starts in the thread's namespace.
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .output()
    })?;
    let output = output.map_err(|source| Error::Exec {
        command: command.into(),
        source,
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Ok(ExecResult {
        command: command.into(),
        exit_code: output.status.code(),
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_v4_and_v6() {
        assert_eq!(
            "udp:10.0.0.2:5000".parse::<UdpTarget>().unwrap().0,
            "10.0.0.2:5000".parse().unwrap()
        );
        assert_eq!(
            "udp:[fd00::2]:5000".parse::<UdpTarget>().unwrap().0,
            "[fd00::2]:5000".parse().unwrap()
        );
        assert_eq!(
            "udp:fd00::2:5000".parse::<UdpTarget>().unwrap().0,
            "[fd00::2]:5000".parse().unwrap()
        );
        assert!("tcp:10.0.0.2:5000".parse::<UdpTarget>().is_err());
        assert!("udp:10.0.0.2".parse::<UdpTarget>().is_err());
        assert_eq!("udp:4500".parse::<UdpPort>().unwrap().0, 4500);
        assert!("udp:x".parse::<UdpPort>().is_err());
    }

    #[test]
    fn send_and_listen_on_loopback_count_every_datagram() {
        let listener = Listener::bind(&Netns::Current, 0).unwrap();
        // Port 0: find which port the kernel gave us.
        let port = listener.sockets[0].local_addr().unwrap().port();
        let sent = send_udp(
            &Netns::Current,
            &SendOptions {
                dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                count: 3,
                size: 32,
                sport: None,
                interval: Duration::ZERO,
                pmtu: None,
            },
        )
        .unwrap();
        assert_eq!((sent.attempted, sent.sent), (3, 3));
        assert!(sent.errors.is_empty());
        let got = listener.wait(Some(3), Duration::from_secs(5), |_, _| {});
        assert_eq!(got.received, 3);
        assert_eq!(got.bytes, 96);
    }

    #[test]
    fn a_taken_port_says_use_observe() {
        let holder = UdpSocket::bind("[::]:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let err = Listener::bind(&Netns::Current, port).unwrap_err();
        assert!(err.to_string().contains("--observe"), "{err}");
    }

    #[test]
    fn send_errors_are_grouped_by_errno() {
        // A datagram larger than UDP allows: the kernel refuses each with EMSGSIZE.
        let sent = send_udp(
            &Netns::Current,
            &SendOptions {
                dst: "127.0.0.1:9".parse().unwrap(),
                count: 2,
                size: 70_000,
                sport: None,
                interval: Duration::ZERO,
                pmtu: None,
            },
        )
        .unwrap();
        assert_eq!(sent.sent, 0);
        assert_eq!(sent.errors.len(), 1);
        assert_eq!(sent.errors[0].errno, "EMSGSIZE");
        assert_eq!(sent.errors[0].count, 2);
    }

    #[test]
    fn exec_reports_exit_code_and_stderr() {
        let r = exec(&Netns::Current, "echo oops >&2; exit 3").unwrap();
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.stderr_tail, "oops");
    }
}

#[cfg(test)]
mod pmtu_tests {
    use super::*;

    #[test]
    fn pmtu_mode_is_set_and_parsed() {
        // The option is accepted by the kernel and a datagram under the MTU still goes out
        // (EMSGSIZE over the MTU is tested in namespaces: tests/integration/diagnose.rs).
        let sent = send_udp(
            &Netns::Current,
            &SendOptions {
                dst: "127.0.0.1:9".parse().unwrap(),
                count: 1,
                size: 100,
                sport: None,
                interval: Duration::ZERO,
                pmtu: Some(Pmtu::Do),
            },
        )
        .unwrap();
        assert_eq!(sent.sent, 1);
        assert_eq!("probe".parse::<Pmtu>().unwrap(), Pmtu::Probe);
        assert!("sometimes".parse::<Pmtu>().is_err());
    }
}
