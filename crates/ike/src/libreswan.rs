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
    parse_addr_range, ChildConfig, ChildSa, Connection, DaemonKind, DaemonView, IkeSa,
    NegotiationFailure, TrafficSelector,
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

/// Libreswan's selector text (`10.0.0.0/24`, `10.0.0.1/32:17/6000`) as a selector.
pub fn parse_selector(text: &str) -> Option<TrafficSelector> {
    let (net, pp) = match text.split_once(":") {
        Some((n, pp)) if n.contains('.') => (n, Some(pp)),
        _ => (text, None),
    };
    let (from, to) = parse_addr_range(net)?;
    let mut ts = TrafficSelector {
        text: text.to_string(),
        from,
        to,
        proto: None,
        ports: None,
        ports_unknown: false,
    };
    if let Some(pp) = pp {
        let (proto, port) = pp.split_once('/').unwrap_or((pp, "0"));
        ts.proto = proto.parse().ok().filter(|p| *p != 0);
        ts.set_ports(port);
    }
    Some(ts)
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
            } else if rest.contains("...") && c.local.is_none() {
                let spec = rest.trim().split(';').next().unwrap_or("");
                if let Some((l, r)) = spec.split_once("...") {
                    let (lh, lts) = end_of(l.trim(), false);
                    let (rh, rts) = end_of(r.trim(), true);
                    c.local = lh;
                    c.remote = rh;
                    c.local_ts.extend(lts);
                    c.remote_ts.extend(rts);
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
                        detail: format!("#{serial}: \"{name}\" {rest}")
                            .chars()
                            .take(240)
                            .collect(),
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
                        local_host: None,
                        remote_host: None,
                        local_id: None,
                        remote_id: None,
                        initiator: None,
                        algorithms: None,
                        established_secs: None,
                        rekey_in_secs: rekey,
                        reauth_in_secs: None,
                        child_sas: Vec::new(),
                    },
                );
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
            child.algorithms = info.esp.clone();
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
            version: None,
            state: "unknown".into(),
            established: false,
            local_host: None,
            remote_host: None,
            local_id: None,
            remote_id: None,
            initiator: None,
            algorithms: None,
            established_secs: None,
            rekey_in_secs: None,
            reauth_in_secs: None,
            child_sas: Vec::new(),
        });
        ike.child_sas.push(child);
    }
    let mut ike_sas: Vec<IkeSa> = ike_sas.into_values().collect();
    for ike in &mut ike_sas {
        if let Some(info) = conns.get(&ike.name) {
            ike.local_host = info.local;
            ike.remote_host = info.remote;
            ike.algorithms = info.ike.clone();
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

    /// Constructed from the line layouts pluto 4.10 prints (the format strings in its binary),
    /// not captured: Libreswan does not run in the vm-tests yet.
    const STATUS: &str = r#"000 "host": 10.99.0.1[10.99.0.1]...10.99.0.2[10.99.0.2]; erouted; eroute owner: #2
000 "host":   policy: IKEv2+PSK+ENCRYPT+PFS+UP+IKE_FRAG_ALLOW+ESN_NO;
000 "host":   IKE algorithms: AES_CBC_128-HMAC_SHA2_256-MODP2048
000 "host":   ESP algorithms: AES_CBC_128-HMAC_SHA2_256_128
000 #1: "host":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 28517s; REPLACE in 28787s; newest; idle;
000 #2: "host":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); REKEY in 28517s; REPLACE in 28787s; newest; eroute owner; IKE SA #1; idle;
000 #2: "host" esp.c4ab9e58@10.99.0.2 esp.cddf0a8a@10.99.0.1 Traffic: ESPin=0B ESPout=360B ESPmax=2^63B
"#;

    #[test]
    fn status_gives_the_ike_and_child_sa_with_spis() {
        let v = parse_status("/run/pluto/pluto.ctl", STATUS);
        assert_eq!(v.ike_sas.len(), 1);
        let ike = &v.ike_sas[0];
        assert!(ike.established);
        assert_eq!(ike.local_host.unwrap().to_string(), "10.99.0.1");
        let c = &ike.child_sas[0];
        assert!(c.installed);
        assert_eq!(c.mode, "transport");
        assert_eq!(c.spi_out, Some(Spi(0xc4ab9e58)));
        assert_eq!(c.spi_in, Some(Spi(0xcddf0a8a)));
        assert_eq!((c.bytes_in, c.bytes_out), (0, 360));
        assert_eq!(c.rekey_in_secs, Some(28517));
        assert_eq!(c.local_ts[0].text, "10.99.0.1/32");
        assert_eq!(v.connections[0].name, "host");
    }

    #[test]
    fn a_half_open_ike_sa_is_a_failure_in_progress() {
        let v = parse_status(
            "/x",
            "#1: \"host\":500 STATE_V2_PARENT_I1 (sent IKE_SA_INIT request); RETRANSMIT in 2s; idle;\n",
        );
        assert!(!v.ike_sas[0].established);
        assert_eq!(v.failures[0].reason, "in-progress");
    }
}
