//! Why a negotiation failed, read from the daemon's log: charon's filelog, syslog and journal
//! lines, pluto's logfile and journal lines. Only the reason, the connection and the line are
//! kept. Lines that can carry key material (charon dumps keys from log level 4 on: a `… => N
//! bytes @ 0x…` header, then hex rows) are dropped before anything else looks at them, and every
//! long hex token left in a kept line is replaced by `[hex]`.
//!
//! A failure followed, for the same connection, by a CHILD_SA that was established is over: only
//! failures after the connection's last establishment are returned.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::model::{Connection, DaemonKind, NegotiationFailure};
use crate::Error;

/// At most this much of the end of a log file is read (syslog can be large).
const TAIL_BYTES: u64 = 4 << 20;
/// At most this many journal entries are read.
const JOURNAL_ENTRIES: &str = "20000";
/// At most this many failures are kept (the newest).
const KEEP: usize = 50;

/// Where a daemon's log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    File(PathBuf),
    /// The systemd journal of these units (`journalctl -u`).
    Journal(Vec<String>),
}

/// The units the daemons run as (Debian, Fedora): charon-systemd, the starter, Libreswan's.
const STRONGSWAN_UNITS: &[&str] = &["strongswan", "strongswan-starter", "strongswan-swanctl"];
const LIBRESWAN_UNITS: &[&str] = &["ipsec"];

impl LogSource {
    /// `journal` (the daemons' usual units), `journal:UNIT[,UNIT…]`, or a file path.
    pub fn parse(text: &str) -> LogSource {
        match text.strip_prefix("journal") {
            Some("") => LogSource::Journal(
                STRONGSWAN_UNITS
                    .iter()
                    .chain(LIBRESWAN_UNITS)
                    .map(|u| u.to_string())
                    .collect(),
            ),
            Some(units) if units.starts_with(':') && units.len() > 1 => {
                LogSource::Journal(units[1..].split(',').map(str::to_string).collect())
            }
            _ => LogSource::File(PathBuf::from(text)),
        }
    }

    /// How it is shown: the path, or `journal (UNIT, …)`.
    pub fn describe(&self) -> String {
        match self {
            LogSource::File(p) => p.display().to_string(),
            LogSource::Journal(units) => format!("journal ({})", units.join(", ")),
        }
    }

    /// The log's text, newest last: the end of a file, or the units' journal entries as lines.
    pub fn read(&self) -> Result<String, Error> {
        let err = |why: String| Error::Log {
            path: self.describe(),
            why,
        };
        match self {
            LogSource::File(path) => read_tail(path).map_err(|e| err(e.to_string())),
            LogSource::Journal(units) => {
                let mut cmd = std::process::Command::new("journalctl");
                cmd.args(["--no-pager", "-q", "-o", "json", "-n", JOURNAL_ENTRIES]);
                for u in units {
                    cmd.args(["-u", u]);
                }
                let out = cmd
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                    .map_err(|e| err(format!("cannot run journalctl: {e}")))?;
                if !out.status.success() {
                    return Err(err(format!("journalctl failed ({})", out.status)));
                }
                Ok(journal_lines(&String::from_utf8_lossy(&out.stdout)))
            }
        }
    }
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // the first line was cut
        text = text
            .split_once('\n')
            .map_or(String::new(), |(_, r)| r.into());
    }
    Ok(text)
}

/// Where the daemon usually logs, first that exists: its own file, the journal (when journald
/// runs), the system's syslog file.
pub fn discover(kind: DaemonKind) -> Option<LogSource> {
    discover_in(kind, Path::new("/"), journald_runs())
}

fn journald_runs() -> bool {
    Path::new("/run/systemd/journal/socket").exists()
        && std::process::Command::new("journalctl")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn discover_in(kind: DaemonKind, root: &Path, journal: bool) -> Option<LogSource> {
    let own = match kind {
        DaemonKind::Strongswan => ["var/log/charon.log", "var/log/strongswan.log"],
        DaemonKind::Libreswan => ["var/log/pluto.log", "var/log/pluto/pluto.log"],
    };
    let units = match kind {
        DaemonKind::Strongswan => STRONGSWAN_UNITS,
        DaemonKind::Libreswan => LIBRESWAN_UNITS,
    };
    let file = |p: &str| {
        let path = root.join(p);
        path.is_file().then_some(LogSource::File(path))
    };
    own.iter()
        .find_map(|p| file(p))
        .or_else(|| {
            journal.then(|| LogSource::Journal(units.iter().map(|u| u.to_string()).collect()))
        })
        .or_else(|| {
            ["var/log/syslog", "var/log/messages"]
                .iter()
                .find_map(|p| file(p))
        })
}

/// `journalctl -o json` output as log lines. charon-systemd puts the IKE_SA's name and id in
/// fields, not in the message: they are put back as charon's `<name|id>` prefix.
fn journal_lines(json: &str) -> String {
    let mut out = String::new();
    for entry in json.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(entry) else {
            continue;
        };
        // a non-UTF-8 message comes as an array of bytes: not a line we can read
        let Some(msg) = v.get("MESSAGE").and_then(|m| m.as_str()) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(|f| f.as_str());
        let prefix = match (field("IKE_SA_NAME"), field("IKE_SA_UNIQUE_ID")) {
            (Some(name), Some(id)) if !msg.contains('<') => format!("<{name}|{id}> "),
            _ => String::new(),
        };
        for line in msg.lines() {
            out.push_str(&prefix);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Reads `source` and returns the failures in it; failures naming only a peer address are given
/// the connection to that peer.
pub fn read_failures(
    source: &LogSource,
    connections: &[Connection],
) -> Result<Vec<NegotiationFailure>, Error> {
    Ok(failures_with_peers(&source.read()?, connections))
}

/// A reason and the words that give it, tested in order: the first that matches a line wins.
/// Texts from charon 5.9 (`ike_init.c`, `child_create.c`, `ike_auth.c`, `task_manager_v2.c`) and
/// pluto 4.x.
const PATTERNS: &[(&[&str], &str)] = &[
    (&["NO_PROPOSAL_CHOSEN"], "NO_PROPOSAL_CHOSEN"),
    // charon's responder, IKE_SA_INIT / IKE_AUTH (then it sends NO_PROPOSAL_CHOSEN)
    (&["proposals unacceptable"], "NO_PROPOSAL_CHOSEN"),
    (&["no acceptable proposal"], "NO_PROPOSAL_CHOSEN"),
    (&["no matching proposal"], "NO_PROPOSAL_CHOSEN"),
    (&["no IKE config found"], "NO_PROPOSAL_CHOSEN"),
    // pluto's responder
    (&["no local proposal matches"], "NO_PROPOSAL_CHOSEN"),
    (&["AUTHENTICATION_FAILED"], "AUTHENTICATION_FAILED"),
    (&["MAC mismatched"], "AUTHENTICATION_FAILED"),
    (&["no shared key found"], "AUTHENTICATION_FAILED"),
    (&["no trusted", "public key found"], "AUTHENTICATION_FAILED"),
    (&["signature validation failed"], "AUTHENTICATION_FAILED"),
    (&["constraint check failed"], "AUTHENTICATION_FAILED"),
    (&["authentication", "failed"], "AUTHENTICATION_FAILED"),
    (&["TS_UNACCEPTABLE"], "TS_UNACCEPTABLE"),
    (&["traffic selectors", "unacceptable"], "TS_UNACCEPTABLE"),
    (&["giving up after", "retransmit"], "timeout"),
    (&["peer not responding"], "timeout"),
    (&["timeout exceeded"], "timeout"),
];

fn reason_of(line: &str) -> Option<&'static str> {
    PATTERNS
        .iter()
        .find(|(words, _)| words.iter().all(|w| line.contains(w)))
        .map(|(_, reason)| *reason)
}

/// A CHILD_SA came up: charon's `CHILD_SA flow{1} established with SPIs`, pluto's
/// `established Child SA` / `IPsec SA established`.
fn is_established(line: &str) -> bool {
    (line.contains("CHILD_SA") && line.contains("established with SPIs"))
        || line.contains("established Child SA")
        || line.contains("IPsec SA established")
}

/// True for a line that can carry key material: charon's dump header (`Sk_ei secret => 32 bytes
/// @ 0x…`, `shared Diffie Hellman secret =>`) and the hex rows under it (`   0: 1A 2B …`).
fn carries_key(line: &str) -> bool {
    if line.contains("=>") && (line.contains("bytes @") || line.contains("secret")) {
        return true;
    }
    // a hex row: OFFSET: then hex byte pairs
    let body = match line.find("> ") {
        Some(i) if line[..i].contains('<') => &line[i + 2..],
        _ => line,
    };
    let mut words = body.split_whitespace().skip_while(|w| !w.ends_with(':'));
    let Some(offset) = words.next() else {
        return false;
    };
    let pairs = words
        .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .count();
    offset
        .trim_end_matches(':')
        .chars()
        .all(|c| c.is_ascii_digit())
        && pairs >= 4
}

/// The IKE_SA a charon line is about: `<name|id>`, or `<id>` before a config is chosen (a
/// responder's IKE_SA_INIT).
fn charon_ike_sa(line: &str) -> Option<(Option<&str>, &str)> {
    let start = line.find('<')?;
    let rest = &line[start + 1..];
    let inner = &rest[..rest.find('>')?];
    let (name, id) = inner.split_once('|').unwrap_or(("", inner));
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((
        (!name.is_empty() && name != "(unnamed)").then_some(name),
        id,
    ))
}

/// Pluto's `"name"`, `"name"[1] 10.0.0.1`, before `#N:` or `:`.
fn pluto_connection(line: &str) -> Option<&str> {
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let end = rest.find('"')?;
    let name = &rest[..end];
    let after = &rest[end + 1..];
    let well_formed = after.starts_with('[') || after.starts_with(" #") || after.starts_with(':');
    (well_formed && !name.is_empty() && !name.contains(' ')).then_some(name)
}

/// The first IP address in `text` (with an optional `[port]` or `:port`).
fn first_addr(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.split('[').next().unwrap_or(w))
        .map(|w| {
            let w = w.trim_end_matches(':');
            // 10.0.0.1:500 (an IPv6 address has more than one colon)
            match w.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => a,
                _ => w,
            }
        })
        .find(|w| w.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
}

/// The peer a line names: charon's `ADDR is initiating an IKE_SA`, `initiating IKE_SA x[1] to
/// ADDR`; pluto's `"name"[1] ADDR #…` and `packet from ADDR:500:`.
fn peer_of(line: &str) -> Option<String> {
    if let Some(i) = line.find(" is initiating an IKE_SA") {
        return first_addr(line[..i].rsplit('>').next().unwrap_or(""));
    }
    if let Some(i) = line.find("initiating IKE_SA ") {
        return line[i..]
            .split_once(" to ")
            .and_then(|(_, a)| first_addr(a));
    }
    if let Some(i) = line.find("packet from ") {
        return first_addr(&line[i + 12..]);
    }
    let start = line.find("\"[")?;
    first_addr(line[start..].split_once("] ")?.1.split('#').next()?)
}

/// True when `token` could be key bytes: a long run of hex digits (with or without `0x` and `:`
/// separators).
fn looks_like_key(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let t = t.strip_prefix("0x").unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    hex.len() >= 16 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The line with key-like tokens replaced, at most 240 characters.
fn trimmed(line: &str) -> String {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| if looks_like_key(w) { "[hex]" } else { w })
        .collect();
    words.join(" ").chars().take(240).collect()
}

/// Every failure in the log text still open, oldest first (see the module's doc).
pub fn failures_from_log(text: &str) -> Vec<NegotiationFailure> {
    failures_with_peers(text, &[])
}

/// As [`failures_from_log`]; a failure whose line names no connection but whose IKE_SA (charon)
/// or packet (pluto) came from a peer gets the connection to that peer in `connections`.
pub fn failures_with_peers(text: &str, connections: &[Connection]) -> Vec<NegotiationFailure> {
    let lines: Vec<&str> = text.lines().filter(|l| !carries_key(l)).collect();
    // charon: what each IKE_SA id is called and who its peer is, from any of its lines
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut peers: HashMap<&str, String> = HashMap::new();
    for line in &lines {
        if let Some((name, id)) = charon_ike_sa(line) {
            if let Some(name) = name {
                names.insert(id, name);
            }
            if let Some(peer) = peer_of(line) {
                peers.entry(id).or_insert(peer);
            }
        }
    }
    let by_peer = |peer: &str| {
        connections
            .iter()
            .find(|c| c.remote_addrs.iter().any(|a| a == peer))
            .map(|c| c.name.clone())
    };
    let mut out: Vec<NegotiationFailure> = Vec::new();
    for line in lines {
        let ike_sa = charon_ike_sa(line);
        let connection = match ike_sa {
            Some((Some(name), _)) => Some(name.to_string()),
            Some((None, id)) => names
                .get(id)
                .map(|n| n.to_string())
                .or_else(|| peers.get(id).and_then(|p| by_peer(p))),
            None => pluto_connection(line)
                .map(str::to_string)
                .or_else(|| peer_of(line).and_then(|p| by_peer(&p))),
        };
        if is_established(line) {
            // what failed before for this connection is over
            out.retain(|f| f.connection.is_some() && f.connection != connection);
            continue;
        }
        if let Some(reason) = reason_of(line) {
            out.push(NegotiationFailure {
                reason: reason.to_string(),
                connection,
                detail: trimmed(line),
            });
        }
    }
    let skip = out.len().saturating_sub(KEEP);
    out.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charon_and_pluto_lines() {
        let log = "\
Nov 30 08:00:01 12[IKE] <host-host|1> received NO_PROPOSAL_CHOSEN notify error
Nov 30 08:00:02 13[IKE] <host-host|2> tried 1 shared key for 'a' - 'b', but MAC mismatched
Nov 30 08:00:02 13[IKE] <host-host|2> authentication of 'a' with pre-shared key successful
Nov 30 08:00:03 09[IKE] <net|3> received TS_UNACCEPTABLE notify, no CHILD_SA built
Nov 30 08:00:04 09[IKE] <net|4> giving up after 5 retransmits
\"west\" #1: IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED
";
        let f = failures_from_log(log);
        let got: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.reason.as_str(), f.connection.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("NO_PROPOSAL_CHOSEN", Some("host-host")),
                ("AUTHENTICATION_FAILED", Some("host-host")),
                ("TS_UNACCEPTABLE", Some("net")),
                ("timeout", Some("net")),
                ("AUTHENTICATION_FAILED", Some("west")),
            ]
        );
        assert!(f[1].detail.contains("MAC mismatched"));
    }

    #[test]
    fn a_line_that_goes_on_to_key_bytes_is_cut() {
        let f =
            failures_from_log("<c|1> AUTHENTICATION_FAILED Sk_ai secret 00112233445566778899aabb");
        assert_eq!(f.len(), 1);
        assert!(!f[0].detail.contains("0011223344"), "{}", f[0].detail);
        assert!(f[0].detail.ends_with("[hex]"));
    }

    #[test]
    fn key_dumps_are_dropped_before_matching() {
        // charon at log level 4: a dump header, then hex rows (the ASCII column may spell
        // anything, here a reason)
        let log = "\
Nov 30 08:00:01 13[IKE] <host|1> Sk_ai secret => 32 bytes @ 0x7f3a1c000b70
Nov 30 08:00:01 13[IKE] <host|1>    0: 4E 4F 5F 50 52 4F 50 4F 53 41 4C 5F 43 48 4F 53  NO_PROPOSAL_CHOS
Nov 30 08:00:01 13[IKE] <host|1>   16: 45 4E 00 00 00 00 00 00 00 00 00 00 00 00 00 00  EN..............
Nov 30 08:00:01 13[IKE] <host|1> shared Diffie Hellman secret => 256 bytes @ 0x55d0
";
        assert!(failures_from_log(log).is_empty());
        assert!(!carries_key(
            "13[IKE] <host|1> tried 1 shared key for 'a' - 'b', but MAC mismatched"
        ));
    }

    #[test]
    fn charon_responder_lines_before_a_config_is_chosen_get_the_peers_connection() {
        let log = "\
Nov 30 08:00:01 14[IKE] <1> 10.77.0.1 is initiating an IKE_SA
Nov 30 08:00:01 14[IKE] <1> received proposals unacceptable
Nov 30 08:00:02 15[CFG] <2> traffic selectors 10.0.0.2/32[udp/7000] === 10.0.0.1/32[udp] unacceptable
";
        let conns = [Connection {
            name: "host".into(),
            local_addrs: vec!["10.77.0.2".into()],
            remote_addrs: vec!["10.77.0.1".into()],
            version: None,
            children: vec![],
        }];
        let f = failures_with_peers(log, &conns);
        let got: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.reason.as_str(), f.connection.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("NO_PROPOSAL_CHOSEN", Some("host")),
                ("TS_UNACCEPTABLE", None)
            ]
        );
    }

    #[test]
    fn a_later_established_child_sa_ends_the_connections_failures() {
        let log = "\
08:00:01 12[IKE] <host|1> received AUTHENTICATION_FAILED notify error
08:00:01 12[IKE] <other|2> received NO_PROPOSAL_CHOSEN notify error
08:05:00 12[IKE] <host|3> CHILD_SA flow{1} established with SPIs c1a2b3c4_i c5d6e7f8_o and TS 10.0.0.1/32 === 10.0.0.2/32
";
        let f = failures_from_log(log);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].connection.as_deref(), Some("other"));
    }

    #[test]
    fn pluto_lines() {
        let log = "\
Nov 30 08:00:01.123456: \"host\" #1: sent IKE_SA_INIT request to 10.77.0.2:UDP/500
Nov 30 08:00:01.223456: \"host\" #2: IKE_AUTH response rejected Child SA with TS_UNACCEPTABLE
Nov 30 08:00:02.000000: \"host\"[1] 10.77.0.1 #3: no local proposal matches remote proposals 1:IKE:ENCR=AES_CBC_256;INTEG=HMAC_SHA2_384_192;DH=MODP3072
Nov 30 08:00:03.000000: \"host\" #4: STATE_V2_PARENT_I1: 60 second timeout exceeded after 7 retransmits.  No response (or no acceptable response) to our first IKEv2 message
Nov 30 08:00:04.000000: packet from 10.77.0.9:500: authentication failed: computed hash does not match hash received from peer
";
        let conns = [Connection {
            name: "nine".into(),
            local_addrs: vec![],
            remote_addrs: vec!["10.77.0.9".into()],
            version: None,
            children: vec![],
        }];
        let f = failures_with_peers(log, &conns);
        let got: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.reason.as_str(), f.connection.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("TS_UNACCEPTABLE", Some("host")),
                ("NO_PROPOSAL_CHOSEN", Some("host")),
                ("timeout", Some("host")),
                ("AUTHENTICATION_FAILED", Some("nine")),
            ]
        );
    }

    #[test]
    fn journal_entries_get_charons_prefix_back() {
        let json = r#"{"MESSAGE":"received NO_PROPOSAL_CHOSEN notify error","IKE_SA_NAME":"host","IKE_SA_UNIQUE_ID":"4","SYSLOG_IDENTIFIER":"charon-systemd"}
{"MESSAGE":"13[IKE] <net|2> giving up after 5 retransmits"}
{"MESSAGE":[1,2,3]}
not json
"#;
        let text = journal_lines(json);
        let f = failures_from_log(&text);
        assert_eq!(f[0].connection.as_deref(), Some("host"));
        assert_eq!(f[1].connection.as_deref(), Some("net"));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn log_sources() {
        assert_eq!(
            LogSource::parse("/var/log/charon.log"),
            LogSource::File("/var/log/charon.log".into())
        );
        assert_eq!(
            LogSource::parse("journal:strongswan,ipsec"),
            LogSource::Journal(vec!["strongswan".into(), "ipsec".into()])
        );
        assert!(matches!(LogSource::parse("journal"), LogSource::Journal(u) if u.len() > 1));
        let dir = std::env::temp_dir().join(format!("xfrmdiag-log-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("var/log")).unwrap();
        assert_eq!(discover_in(DaemonKind::Strongswan, &dir, false), None);
        assert!(matches!(
            discover_in(DaemonKind::Strongswan, &dir, true),
            Some(LogSource::Journal(_))
        ));
        std::fs::write(dir.join("var/log/syslog"), "").unwrap();
        assert_eq!(
            discover_in(DaemonKind::Libreswan, &dir, false),
            Some(LogSource::File(dir.join("var/log/syslog")))
        );
        std::fs::write(dir.join("var/log/charon.log"), "").unwrap();
        assert_eq!(
            discover_in(DaemonKind::Strongswan, &dir, true),
            Some(LogSource::File(dir.join("var/log/charon.log")))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
