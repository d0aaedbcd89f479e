//! Libreswan's view: `ipsec whack --status` text (pluto's control socket), parsed.
//!
//! The lines used (Libreswan 4.x; a leading `000 ` code, printed by older versions, is ignored):
//! - `"conn": LCLIENT===LHOST<LHOST>[ID]...RHOST<RHOST>[ID]===RCLIENT; erouted; …` — the
//!   connection, its hosts and its selectors (a side without `===` protects the host itself).
//! - `"conn":   policy: IKEv2+PSK+ENCRYPT+TUNNEL+…` — the mode.
//! - `"conn":   ESP algorithms: AES_CBC_128-HMAC_SHA2_256_128` — the negotiated ESP proposal.
//! - `#N: "conn":500 STATE_… (…); REKEY in 28517s; …; IKE SA #M; …` — one state: an IKE SA or a
//!   Child SA (the latter names its `IKE SA #M`).
//! - `#N: "conn" esp.SPI@DST esp.SPI@DST … Traffic: ESPin=0B ESPout=0B ESPmax=…` — a Child SA's
//!   SPIs (each given with the destination of its SA) and byte counts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use xfrmdiag_inventory::Spi;

use crate::model::{
    ChildConfig, ChildSa, Connection, DaemonKind, DaemonView, IkeSa, NegotiationFailure,
    TrafficSelector,
};
use crate::Error;

/// pluto's default control socket.
pub const DEFAULT_SOCKET: &str = "/run/pluto/pluto.ctl";

/// Runs `ipsec whack --ctlsocket PATH --status` and parses it.
pub fn read_view(socket: &Path) -> Result<DaemonView, Error> {
    let unreachable = |why: String| Error::Unreachable {
        daemon: DaemonKind::Libreswan,
        source_path: socket.display().to_string(),
        why,
    };
    if !socket.exists() {
        return Err(unreachable("no such socket".into()));
    }
    let out = whack(socket, "--status").map_err(unreachable)?;
    Ok(parse_status(&socket.display().to_string(), &out))
}

fn whack(socket: &Path, what: &str) -> Result<String, String> {
    // `ipsec whack` is the documented entry; the helper itself lives in libexec.
    let candidates = ["/usr/libexec/ipsec/whack", "/usr/lib/ipsec/whack"];
    let mut cmd = match candidates.iter().find(|p| Path::new(p).exists()) {
        Some(p) => Command::new(p),
        None => {
            let mut c = Command::new("ipsec");
            c.arg("whack");
            c
        }
    };
    let out = cmd
        .arg("--ctlsocket")
        .arg(socket)
        .arg(what)
        .output()
        .map_err(|e| format!("cannot run whack: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "whack {what} failed: {}",
            err.lines().next().unwrap_or("no message")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Strips the `000 ` code older versions print before every line.
fn body(line: &str) -> &str {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
        &line[4..]
    } else {
        line
    }
}

/// `"name"` or `"name"[3]` at the start: the name and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.find('"')?;
    let mut rest = &s[end + 1..];
    // instance suffix of template connections: "name"[1] 192.0.2.1
    if rest.starts_with('[') {
        rest = &rest[rest.find(']').map_or(0, |i| i + 1)..];
    }
    Some((&s[..end], rest))
}

#[derive(Default)]
struct ConnInfo {
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    mode: Option<String>,
    esp: Option<String>,
    ike: Option<String>,
    /// What the newest SAs negotiated (`ESP algorithm newest:`), over the configured lists.
    esp_newest: Option<String>,
    ike_newest: Option<String>,
}

/// One end of `LCLIENT===LHOST<LHOST>[ID]` (or mirrored for the remote end): the host and the
/// selector (the client subnet, else the host itself, with a `:PROTO/PORT` when one follows).
fn end_of(text: &str, host_first: bool) -> (Option<IpAddr>, Option<String>) {
    let parts: Vec<&str> = text.split("===").collect();
    let (client, host) = match (parts.len(), host_first) {
        (2, true) => (Some(parts[1].trim()), parts[0]),
        (2, false) => (Some(parts[0].trim()), parts[1]),
        _ => (None, parts[0]),
    };
    let host_addr = host
        .split(['<', '['])
        .next()
        .and_then(|h| h.trim().parse::<IpAddr>().ok());
    let protoport = host
        .rsplit_once(']')
        .and_then(|(_, r)| r.trim().strip_prefix(':'))
        .filter(|pp| pp.contains('/'));
    let ts = match (client, host_addr) {
        (Some(c), _) => Some(c.to_string()),
        (None, Some(h)) => Some(format!("{h}/{}", if h.is_ipv4() { 32 } else { 128 })),
        (None, None) => None,
    };
    let ts = match (ts, protoport) {
        (Some(t), Some(pp)) if !t.contains(':') => Some(format!("{t}:{pp}")),
        (t, _) => t,
    };
    (host_addr, ts)
}

/// Libreswan's selector (`10.0.0.0/24`, `10.99.0.1/32:UDP/5555`, `10.99.0.1/32:UDP/0-65535`,
/// `fd00::1/128:17/5555`) in strongSwan's notation (`10.99.0.1/32[udp/5555]`), which the rest of
/// xfrmdiag reads for configured and negotiated selectors alike.
pub fn normalize_selector(text: &str) -> String {
    // the protocol/port part starts at the first ':' after the prefix length (IPv6 has others)
    let split = text
        .find('/')
        .and_then(|slash| text[slash..].find(':').map(|c| slash + c));
    let Some(i) = split else {
        return text.to_string();
    };
    let (net, pp) = (&text[..i], &text[i + 1..]);
    let (proto, ports) = pp.split_once('/').unwrap_or((pp, ""));
    let proto = proto.to_ascii_lowercase();
    let any_port = matches!(ports, "" | "0" | "0-65535");
    match (proto.as_str(), any_port) {
        ("0", true) => net.to_string(),
        (p, true) => format!("{net}[{p}]"),
        (p, false) => format!("{net}[{p}/{ports}]"),
    }
}

/// Libreswan's selector text as a selector (its `text` in strongSwan's notation).
pub fn parse_selector(text: &str) -> Option<TrafficSelector> {
    TrafficSelector::parse_strongswan(&normalize_selector(text))
}

fn secs_after(s: &str, word: &str) -> Option<u64> {
    let i = s.find(word)? + word.len();
    let rest = s[i..].trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses `whack --status` into a view.
pub fn parse_status(source: &str, text: &str) -> DaemonView {
    let mut conns: BTreeMap<String, ConnInfo> = BTreeMap::new();
    let mut ike_sas: BTreeMap<u32, IkeSa> = BTreeMap::new();
    let mut children: BTreeMap<u32, (u32, ChildSa)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut version = None;
    for line in text.lines() {
        let l = body(line).trim_end();
        if let Some(v) = l.strip_prefix("Libreswan ") {
            version = Some(format!(
                "Libreswan {}",
                v.split_whitespace().next().unwrap_or(v)
            ));
        } else if let Some(v) = l.strip_prefix("pluto_version=") {
            // `pluto_version=4.10, pluto_vendorid=OE-Libreswan-4.10, audit-log=yes`
            version = Some(format!(
                "Libreswan {}",
                v.split(',').next().unwrap_or(v).trim()
            ));
        }
        if let Some((name, rest)) = quoted(l) {
            let c = conns.entry(name.to_string()).or_default();
            let rest = rest.trim_start_matches(':');
            if let Some(p) = rest.trim().strip_prefix("policy:") {
                c.mode = Some(
                    if p.contains("TUNNEL") {
                        "tunnel"
                    } else {
                        "transport"
                    }
                    .into(),
                );
            } else if let Some(a) = rest.trim().strip_prefix("ESP algorithms:") {
                c.esp = Some(a.trim().to_string());
            } else if let Some(a) = rest.trim().strip_prefix("IKE algorithms:") {
                c.ike = Some(a.trim().to_string());
            } else if let Some(a) = rest.trim().strip_prefix("ESP algorithm newest:") {
                // `AES_CBC_128-HMAC_SHA2_256_128; pfsgroup=<Phase1>`
                c.esp_newest = a.split(';').next().map(|a| a.trim().to_string());
            } else if let Some(a) = rest
                .trim()
                .strip_prefix("IKEv2 algorithm newest:")
                .or_else(|| rest.trim().strip_prefix("IKEv1 algorithm newest:"))
            {
                c.ike_newest = Some(a.trim().to_string());
            } else if rest.contains("...") && c.local.is_none() {
                let spec = rest.trim().split(';').next().unwrap_or("");
                if let Some((l, r)) = spec.split_once("...") {
                    let (lh, lts) = end_of(l.trim(), false);
                    let (rh, rts) = end_of(r.trim(), true);
                    c.local = lh;
                    c.remote = rh;
                    c.local_ts.extend(lts.map(|t| normalize_selector(&t)));
                    c.remote_ts.extend(rts.map(|t| normalize_selector(&t)));
                }
            }
            continue;
        }
        let Some(rest) = l.strip_prefix('#') else {
            continue;
        };
        let Some((num, rest)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(serial) = num.parse::<u32>() else {
            continue;
        };
        let Some((name, rest)) = quoted(rest) else {
            continue;
        };
        let rest = rest
            .trim_start_matches(|c: char| c == ':' || c.is_ascii_digit())
            .trim();
        if rest.starts_with("STATE_") {
            let state = rest.split_whitespace().next().unwrap_or("?").to_string();
            let parent = rest
                .split(';')
                .find_map(|p| p.trim().strip_prefix("IKE SA #"))
                .and_then(|n| n.trim().parse::<u32>().ok());
            let rekey =
                secs_after(rest, "REKEY in").or_else(|| secs_after(rest, "EVENT_v2_REKEY in"));
            let expire = secs_after(rest, "REPLACE in").or_else(|| secs_after(rest, "EXPIRE in"));
            let is_child = parent.is_some() || state.contains("CHILD");
            if is_child {
                let entry = children
                    .entry(serial)
                    .or_insert_with(|| (parent.unwrap_or(0), empty_child(name)));
                entry.0 = parent.unwrap_or(entry.0);
                entry.1.installed = state.contains("ESTABLISHED");
                entry.1.state = state;
                entry.1.rekey_in_secs = rekey;
                entry.1.expire_in_secs = expire;
            } else {
                if !state.contains("ESTABLISHED") {
                    failures.push(NegotiationFailure {
                        reason: if rest.contains("retransmi") {
                            "timeout"
                        } else {
                            "in-progress"
                        }
                        .into(),
                        connection: Some(name.to_string()),
                        detail: without_hex(&format!("#{serial}: \"{name}\" {rest}")),
                    });
                }
                ike_sas.insert(
                    serial,
                    IkeSa {
                        name: name.to_string(),
                        uniqueid: Some(serial),
                        version: Some(if state.starts_with("STATE_V2") { 2 } else { 1 }),
                        established: state.contains("ESTABLISHED"),
                        state,
                        rekey_in_secs: rekey,
                        ..Default::default()
                    },
                );
            }
        } else if let Some(fields) = rest.strip_prefix(',').filter(|f| f.contains("type=")) {
            // `--trafficstatus`: `#2: "host", type=ESP, add_time=…, inBytes=0, outBytes=576, …`;
            // pluto lists only established Child SAs there
            let entry = children
                .entry(serial)
                .or_insert_with(|| (0, empty_child(name)));
            for field in fields.split(',').map(str::trim) {
                match field.split_once('=') {
                    Some(("type", t)) => entry.1.protocol = t.to_ascii_lowercase(),
                    Some(("inBytes", b)) => entry.1.bytes_in = bytes(b),
                    Some(("outBytes", b)) => entry.1.bytes_out = bytes(b),
                    _ => {}
                }
            }
            if entry.1.state == "?" {
                entry.1.state = "STATE_V2_ESTABLISHED_CHILD_SA".into();
                entry.1.installed = true;
            }
        } else if rest.contains("Traffic:") {
            let entry = children
                .entry(serial)
                .or_insert_with(|| (0, empty_child(name)));
            for word in rest.split_whitespace() {
                for (proto, spi_at) in [
                    ("esp", word.strip_prefix("esp.")),
                    ("ah", word.strip_prefix("ah.")),
                ] {
                    let Some((spi, dst)) = spi_at.and_then(|s| s.split_once('@')) else {
                        continue;
                    };
                    let Ok(spi) = u32::from_str_radix(spi, 16) else {
                        continue;
                    };
                    entry.1.protocol = proto.into();
                    let dst: Option<IpAddr> = dst.parse().ok();
                    // pluto lists the outbound SA (at the peer) first; the address decides
                    // when the connection line told us which end is local
                    let local = conns.get(name).and_then(|c| c.local);
                    let inbound = match (dst, local) {
                        (Some(d), Some(l)) => d == l,
                        _ => entry.1.spi_out.is_some(),
                    };
                    if inbound {
                        entry.1.spi_in = Some(Spi(spi))
                    } else {
                        entry.1.spi_out = Some(Spi(spi))
                    }
                }
                if let Some(b) = word
                    .strip_prefix("ESPin=")
                    .or_else(|| word.strip_prefix("AHin="))
                {
                    entry.1.bytes_in = bytes(b);
                }
                if let Some(b) = word
                    .strip_prefix("ESPout=")
                    .or_else(|| word.strip_prefix("AHout="))
                {
                    entry.1.bytes_out = bytes(b);
                }
            }
        }
    }
    // Attach each Child SA to its IKE SA, filling in what the connection lines told.
    for (serial, (parent, mut child)) in children {
        let info = conns.get(&child.name);
        if let Some(info) = info {
            child.mode = info.mode.clone().unwrap_or_else(|| "?".into());
            child.algorithms = info.esp_newest.clone().or_else(|| info.esp.clone());
            child.local_ts = info
                .local_ts
                .iter()
                .filter_map(|t| parse_selector(t))
                .collect();
            child.remote_ts = info
                .remote_ts
                .iter()
                .filter_map(|t| parse_selector(t))
                .collect();
        }
        child.uniqueid = Some(serial);
        let ike = ike_sas.entry(parent).or_insert_with(|| IkeSa {
            name: child.name.clone(),
            uniqueid: (parent != 0).then_some(parent),
            state: "unknown".into(),
            ..Default::default()
        });
        ike.child_sas.push(child);
    }
    let mut ike_sas: Vec<IkeSa> = ike_sas.into_values().collect();
    for ike in &mut ike_sas {
        if let Some(info) = conns.get(&ike.name) {
            ike.local_host = info.local;
            ike.remote_host = info.remote;
            ike.algorithms = info.ike_newest.clone().or_else(|| info.ike.clone());
        }
    }
    let connections = conns
        .iter()
        .filter(|(_, c)| c.local.is_some() || c.remote.is_some())
        .map(|(name, c)| Connection {
            name: name.clone(),
            local_addrs: c.local.iter().map(|a| a.to_string()).collect(),
            remote_addrs: c.remote.iter().map(|a| a.to_string()).collect(),
            version: None,
            // Libreswan has no separate CHILD configs: the connection is its own child.
            children: vec![ChildConfig {
                name: name.clone(),
                mode: c.mode.clone().unwrap_or_else(|| "?".into()),
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
                start_action: None,
            }],
        })
        .collect();
    DaemonView {
        daemon: DaemonKind::Libreswan,
        source: source.to_string(),
        version,
        ike_sas,
        connections,
        failures,
    }
}

/// The line with every long hex token (that could be key bytes) replaced, at most 240 characters.
fn without_hex(line: &str) -> String {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| {
            let t = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            let hex: String = t.trim_start_matches("0x").replace(':', "");
            if hex.len() >= 16 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                "[hex]"
            } else {
                w
            }
        })
        .collect();
    words.join(" ").chars().take(240).collect()
}

fn empty_child(name: &str) -> ChildSa {
    ChildSa {
        name: name.to_string(),
        uniqueid: None,
        state: "?".into(),
        installed: false,
        reqid: None,
        mode: "?".into(),
        protocol: "esp".into(),
        encap: false,
        spi_in: None,
        spi_out: None,
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        algorithms: None,
        local_ts: Vec::new(),
        remote_ts: Vec::new(),
        bytes_in: 0,
        packets_in: 0,
        bytes_out: 0,
        packets_out: 0,
        installed_secs: None,
        rekey_in_secs: None,
        expire_in_secs: None,
    }
}

/// `123B`, `1KB`… as pluto prints byte counts; plain numbers too.
fn bytes(text: &str) -> u64 {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap_or(0);
    match text[digits.len()..].chars().next() {
        Some('K') => n * 1024,
        Some('M') => n * 1024 * 1024,
        Some('G') => n * 1024 * 1024 * 1024,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured: side a of the vm-test `ike-libre-transport-healthy` (pluto 4.10, 6.12 guest).
    const STATUS: &str = include_str!(
        "../../../tests/fixtures/libreswan-4.10-whack-guest/ike-libre-transport-healthy-6.12-a.status"
    );

    #[test]
    fn status_gives_the_ike_and_child_sa_with_spis() {
        let v = parse_status("/run/pluto/pluto.ctl", STATUS);
        assert_eq!(v.version.as_deref(), Some("Libreswan 4.10"));
        assert_eq!(v.ike_sas.len(), 1);
        let ike = &v.ike_sas[0];
        assert!(ike.established);
        assert_eq!(ike.uniqueid, Some(1));
        assert_eq!(ike.local_host.unwrap().to_string(), "10.99.0.1");
        assert_eq!(ike.remote_host.unwrap().to_string(), "10.99.0.2");
        assert_eq!(ike.rekey_in_secs, Some(28215));
        let c = &ike.child_sas[0];
        assert!(c.installed);
        assert_eq!(c.uniqueid, Some(2));
        assert_eq!(c.mode, "transport");
        // `esp.8d5dd200@10.99.0.2 esp.7e7cbf46@10.99.0.1`: the SA to the peer is outbound
        assert_eq!(c.spi_out, Some(Spi(0x8d5dd200)));
        assert_eq!(c.spi_in, Some(Spi(0x7e7cbf46)));
        assert_eq!((c.bytes_in, c.bytes_out), (0, 792));
        assert_eq!(
            (c.rekey_in_secs, c.expire_in_secs),
            (Some(27972), Some(28787))
        );
        assert_eq!(c.local_ts[0].text, "10.99.0.1/32[udp]");
        assert_eq!(c.remote_ts[0].ports, Some((5555, 5555)));
        assert_eq!(c.remote_ts[0].proto, Some(17));
        assert_eq!(v.connections[0].name, "host");
        assert_eq!(v.connections[0].children[0].local_ts, ["10.99.0.1/32[udp]"]);
    }

    /// The line layout of a half-open IKE SA (pluto 4.10's format string; a scenario's state
    /// is gone before it can be captured).
    #[test]
    fn a_half_open_ike_sa_is_a_failure_in_progress() {
        let v = parse_status(
            "/x",
            "000 #1: \"host\":500 STATE_V2_PARENT_I1 (sent IKE_SA_INIT request); RETRANSMIT in 2s; idle;\n",
        );
        assert!(!v.ike_sas[0].established);
        assert_eq!(v.failures[0].reason, "in-progress");
    }

    #[test]
    fn no_hex_blob_reaches_a_failure_detail() {
        let v = parse_status(
            "/x",
            "#1: \"host\":500 STATE_V2_PARENT_I1 (x); key 00112233445566778899aabbccddeeff; idle;\n",
        );
        assert!(!v.failures[0].detail.contains("0011223344"));
        assert!(v.failures[0].detail.contains("[hex]"));
    }
}
