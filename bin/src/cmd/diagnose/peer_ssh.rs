//! `--peer ssh://[USER@]HOST[:PORT]`: the other end of the test runs on HOST through the system's
//! OpenSSH client (the user's keys, agent and ssh_config apply).
//!
//! The peer runs `xfrmdiag diagnose --listen … --json --announce-ready`; it says `xfrmdiag-ready`
//! on stderr once its listener, counters and trace are up, then we send, then it prints its
//! report. The peer's listener ends by itself when its window closes, so nothing stays running
//! there even when the connection drops.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use xfrmdiag_diagnose::SideEvidence;
use xfrmdiag_netns::Netns;

/// The line the peer prints on stderr when it is ready for the send.
pub const READY: &str = "xfrmdiag-ready";

/// `ssh://[USER@]HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::str::FromStr for SshTarget {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad =
            |why: &str| format!("bad peer '{text}': {why} (expected ssh://[USER@]HOST[:PORT])");
        let rest = text
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("only ssh:// is supported"))?;
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        // [v6]:port, v4:port, name:port, or no port.
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().map_err(|_| bad("not a port"))?),
                None => None,
            };
            (h.to_string(), port)
        } else if hostport.matches(':').count() == 1 {
            let (h, p) = hostport.split_once(':').expect("one colon");
            (
                h.to_string(),
                Some(p.parse().map_err(|_| bad("not a port"))?),
            )
        } else {
            (hostport.to_string(), None)
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(SshTarget { user, host, port })
    }
}

impl SshTarget {
    fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// What the peer is asked to do.
pub struct PeerRequest<'a> {
    pub target: &'a SshTarget,
    pub xfrmdiag: &'a str,
    pub ssh_options: &'a [String],
    pub listen: Listen,
    /// How long the peer listens: our window plus the time our send takes.
    pub window: Duration,
}

/// What the peer listens for: our datagrams, or our TCP connection's bytes, sent to `dst`.
#[derive(Debug, Clone, Copy)]
pub enum Listen {
    Udp {
        dst: std::net::SocketAddr,
        count: u32,
    },
    Tcp {
        dst: std::net::SocketAddr,
        bytes: usize,
    },
}

impl Listen {
    /// The peer's `diagnose` arguments for it.
    fn args(self) -> [String; 6] {
        let (listen, amount, n, dst) = match self {
            Listen::Udp { dst, count } => (
                format!("udp:{}", dst.port()),
                "--count",
                count.to_string(),
                dst,
            ),
            Listen::Tcp { dst, bytes } => (
                format!("tcp:{}", dst.port()),
                "--bytes",
                bytes.to_string(),
                dst,
            ),
        };
        [
            "--listen".into(),
            listen,
            amount.into(),
            n,
            // The listener knows only its port: the whole flow judges its policies and selectors.
            "--flow-dst".into(),
            dst.ip().to_string(),
        ]
    }
}

/// A peer that is listening and waits for our send.
pub struct ReadyPeer {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    host: String,
}

/// Starts the peer in `netns` (the ssh client runs where the test traffic starts) and waits
/// until it is ready for the send.
pub fn start(netns: &Netns, req: &PeerRequest) -> anyhow::Result<ReadyPeer> {
    let remote: Vec<String> = [req.xfrmdiag.to_string(), "diagnose".into()]
        .into_iter()
        .chain(req.listen.args())
        .chain([
            "--window".into(),
            format!("{}ms", req.window.as_millis()),
            "--json".into(),
            "--announce-ready".into(),
        ])
        .collect();
    // ssh hands the remote shell one string: quote every word.
    let remote_cmd: Vec<String> = remote.iter().map(|w| shell_quote(w)).collect();
    let mut ssh = Command::new("ssh");
    // BatchMode: never prompt (a password prompt would hang the test); the user's keys and
    // agent still work.
    ssh.args(["-o", "BatchMode=yes"]);
    for opt in req.ssh_options {
        ssh.args(["-o", opt]);
    }
    if let Some(port) = req.target.port {
        ssh.args(["-p", &port.to_string()]);
    }
    ssh.arg(req.target.destination())
        .arg("--")
        .args(&remote_cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let host = req.target.host.clone();
    let mut child = netns
        .run(move || ssh.spawn())?
        .context("cannot run the OpenSSH client `ssh`: install openssh-client")?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut peer = ReadyPeer {
        child,
        stderr_lines: rx,
        host,
    };
    let mut said = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match peer
            .stderr_lines
            .recv_timeout(left.max(Duration::from_millis(1)))
        {
            Ok(line) if line.trim() == READY => return Ok(peer),
            Ok(line) => said.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = peer.child.wait()?;
                return Err(start_error(&peer.host, req, status.code(), &said));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                peer.abort();
                bail!(
                    "the peer {} did not get ready within 30 s: check `ssh {}` works without a prompt",
                    peer.host,
                    req.target.destination()
                );
            }
        }
    }
}

/// Why the peer never got ready, in words that say what to do.
fn start_error(host: &str, req: &PeerRequest, code: Option<i32>, said: &[String]) -> anyhow::Error {
    let all = said.join("\n");
    let last = said
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    if code == Some(127) || all.contains("not found") || all.contains("No such file") {
        return anyhow!(
            "xfrmdiag is not installed on {host} (`{}` not found): install it there or give --peer-xfrmdiag PATH",
            req.xfrmdiag
        );
    }
    if all.contains("unexpected argument") || all.contains("unrecognized") {
        return anyhow!(
            "the xfrmdiag on {host} is too old for --peer (it lacks --announce-ready): install xfrmdiag {} there",
            env!("CARGO_PKG_VERSION")
        );
    }
    if code == Some(255) {
        return anyhow!(
            "cannot log in to {host} with ssh: {last}: check that `ssh {}` works without a prompt (keys, agent, ssh_config)",
            req.target.destination()
        );
    }
    anyhow!(
        "xfrmdiag on {host} failed (status {}): {last}",
        code.map(|c| c.to_string())
            .unwrap_or_else(|| "killed".into())
    )
}

impl ReadyPeer {
    /// Waits for the peer's report and returns its sides, named after the host.
    pub fn finish(mut self) -> anyhow::Result<Vec<SideEvidence>> {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut out)?;
        let status = self.child.wait()?;
        let said: Vec<String> = self.stderr_lines.try_iter().collect();
        // 0 and 1 are verdicts; anything else means no report.
        if !matches!(status.code(), Some(0) | Some(1)) {
            let last = said.last().cloned().unwrap_or_default();
            if status.code() == Some(255) {
                bail!(
                    "the connection to {} dropped during the test: {last}",
                    self.host
                );
            }
            bail!(
                "xfrmdiag on {} ended without a report (status {:?}): {last}",
                self.host,
                status.code()
            );
        }
        let mut sides = crate::cmd::analyze::parse_sides(&out)
            .with_context(|| format!("the report from {} is not xfrmdiag JSON", self.host))?;
        for s in &mut sides {
            s.namespace = if s.namespace == "(current)" {
                self.host.clone()
            } else {
                format!("{}:{}", self.host, s.namespace)
            };
        }
        Ok(sides)
    }

    /// Ends the ssh client (the peer's listener ends with its window).
    pub fn abort(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ReadyPeer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.abort();
        }
    }
}

fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t: SshTarget = "ssh://root@10.0.0.2:2222".parse().unwrap();
        assert_eq!(
            t,
            SshTarget {
                user: Some("root".into()),
                host: "10.0.0.2".into(),
                port: Some(2222)
            }
        );
        let t: SshTarget = "ssh://gw.example".parse().unwrap();
        assert_eq!((t.user, t.port), (None, None));
        let t: SshTarget = "ssh://[fd00::2]:22".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00::2", Some(22)));
        assert!("host".parse::<SshTarget>().is_err());
        assert!("ssh://".parse::<SshTarget>().is_err());
    }

    #[test]
    fn remote_words_are_quoted() {
        assert_eq!(shell_quote("udp:5000"), "udp:5000");
        assert_eq!(shell_quote("/opt/x y/xfrmdiag"), "'/opt/x y/xfrmdiag'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
