//! strongSwan's view over vici: `version`, `list-sas` and `list-conns` (both streamed as events).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use xfrmdiag_inventory::{Mark, Spi};

use crate::model::TrafficSelector;
use crate::model::{ChildConfig, ChildSa, Connection, DaemonKind, DaemonView, IkeSa};
use crate::vici::{self, Message, Packet, PacketType, Value};
use crate::Error;

/// charon's default vici socket.
pub const DEFAULT_SOCKET: &str = "/var/run/charon.vici";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to charon's vici socket.
pub struct Client {
    stream: UnixStream,
    path: String,
    /// Every packet received, re-encoded after decoding (so without secrets), when recording.
    recorded: Option<Vec<u8>>,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, Error> {
        let stream = UnixStream::connect(path).map_err(|e| Error::Unreachable {
            daemon: DaemonKind::Strongswan,
            source_path: path.display().to_string(),
            why: e.to_string(),
        })?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Client {
            stream,
            path: path.display().to_string(),
            recorded: None,
        })
    }

    /// Keeps every packet received from now on, for test fixtures ([`Client::recorded`]).
    pub fn record(&mut self) {
        self.recorded = Some(Vec::new());
    }

    /// The packets kept since [`Client::record`]: 4-byte length, packet; secrets already dropped.
    pub fn recorded(&self) -> &[u8] {
        self.recorded.as_deref().unwrap_or(&[])
    }

    fn send(&mut self, kind: PacketType, name: Option<&str>, msg: &Message) -> Result<(), Error> {
        self.stream
            .write_all(&vici::encode_packet(kind, name, msg))?;
        Ok(())
    }

    fn recv(&mut self) -> Result<Packet, Error> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > vici::MAX_PACKET {
            return Err(Error::Protocol(format!("packet of {len} bytes announced")));
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf)?;
        let p = vici::decode_packet(&buf).map_err(|e| Error::Protocol(e.to_string()))?;
        if let Some(rec) = &mut self.recorded {
            rec.extend(vici::encode_packet(p.kind, p.name.as_deref(), &p.message));
        }
        Ok(p)
    }

    /// A plain request/response command.
    pub fn request(&mut self, cmd: &str, args: &Message) -> Result<Message, Error> {
        self.send(PacketType::CmdRequest, Some(cmd), args)?;
        let p = self.recv()?;
        match p.kind {
            PacketType::CmdResponse => Ok(p.message),
            PacketType::CmdUnknown => Err(Error::Protocol(format!("charon does not know '{cmd}'"))),
            other => Err(Error::Protocol(format!("unexpected {other:?} to '{cmd}'"))),
        }
    }

    /// A streamed command: register `event`, send `cmd`, collect the events until the response.
    pub fn stream(
        &mut self,
        cmd: &str,
        event: &str,
        args: &Message,
    ) -> Result<Vec<Message>, Error> {
        self.send(PacketType::EventRegister, Some(event), &Message::default())?;
        let confirm = self.recv()?;
        if confirm.kind != PacketType::EventConfirm {
            return Err(Error::Protocol(format!("charon refused event '{event}'")));
        }
        self.send(PacketType::CmdRequest, Some(cmd), args)?;
        let mut events = Vec::new();
        loop {
            let p = self.recv()?;
            match p.kind {
                PacketType::Event if p.name.as_deref() == Some(event) => events.push(p.message),
                PacketType::Event => {}
                PacketType::CmdResponse => break,
                PacketType::CmdUnknown => {
                    return Err(Error::Protocol(format!("charon does not know '{cmd}'")))
                }
                other => return Err(Error::Protocol(format!("unexpected {other:?} to '{cmd}'"))),
            }
        }
        self.send(
            PacketType::EventUnregister,
            Some(event),
            &Message::default(),
        )?;
        let _ = self.recv()?;
        Ok(events)
    }

    /// version, list-sas and list-conns, read in that order.
    pub fn read_view(&mut self) -> Result<DaemonView, Error> {
        let version = self.request("version", &Message::default())?;
        let sas = self.stream("list-sas", "list-sa", &Message::default())?;
        let conns = self.stream("list-conns", "list-conn", &Message::default())?;
        Ok(view_from_messages(&self.path, &version, &sas, &conns))
    }
}

/// Builds the view from decoded vici messages (also what the fixture tests feed).
pub fn view_from_messages(
    source: &str,
    version: &Message,
    sas: &[Message],
    conns: &[Message],
) -> DaemonView {
    DaemonView {
        daemon: DaemonKind::Strongswan,
        source: source.to_string(),
        version: version
            .str("version")
            .map(|v| format!("{} {}", version.str("daemon").unwrap_or("charon"), v)),
        ike_sas: sas
            .iter()
            .flat_map(|m| m.sections())
            .map(|(name, m)| ike_sa(name, m))
            .collect(),
        connections: conns
            .iter()
            .flat_map(|m| m.sections())
            .map(|(name, m)| connection(name, m))
            .collect(),
        failures: Vec::new(),
    }
}

fn num<T: std::str::FromStr>(m: &Message, key: &str) -> Option<T> {
    m.str(key).and_then(|v| v.parse().ok())
}

fn hex32(m: &Message, key: &str) -> Option<u32> {
    m.str(key).and_then(|v| u32::from_str_radix(v, 16).ok())
}

/// Seconds that charon prints as signed; a negative value (overdue) shows as 0.
fn secs(m: &Message, key: &str) -> Option<u64> {
    num::<i64>(m, key).map(|s| s.max(0) as u64)
}

/// `AES_CBC-128/HMAC_SHA2_256_128/PRF_…/CURVE_25519`, from the separate algorithm fields.
fn algorithms(m: &Message) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(e) = m.str("encr-alg") {
        parts.push(match m.str("encr-keysize") {
            Some(k) => format!("{e}-{k}"),
            None => e.to_string(),
        });
    }
    for key in ["integ-alg", "prf-alg", "dh-group"] {
        if let Some(v) = m.str(key) {
            parts.push(v.to_string());
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn ike_sa(name: &str, m: &Message) -> IkeSa {
    let state = m.str("state").unwrap_or("?").to_string();
    IkeSa {
        name: name.to_string(),
        uniqueid: num(m, "uniqueid"),
        version: num(m, "version"),
        established: matches!(state.as_str(), "ESTABLISHED" | "REKEYING" | "REKEYED"),
        state,
        local_host: num(m, "local-host"),
        remote_host: num(m, "remote-host"),
        local_id: m.str("local-id").map(str::to_string),
        remote_id: m.str("remote-id").map(str::to_string),
        initiator: m.str("initiator").map(|v| v == "yes"),
        algorithms: algorithms(m),
        established_secs: secs(m, "established"),
        rekey_in_secs: secs(m, "rekey-time"),
        reauth_in_secs: secs(m, "reauth-time"),
        child_sas: m
            .section("child-sas")
            .map(|c| c.sections().map(|(k, m)| child_sa(k, m)).collect())
            .unwrap_or_default(),
    }
}

fn mark(m: &Message, dir: &str) -> Option<Mark> {
    let value = hex32(m, &format!("mark-{dir}"))?;
    let mask = hex32(m, &format!("mark-mask-{dir}")).unwrap_or(u32::MAX);
    Some(Mark { value, mask })
}

fn selectors(m: &Message, key: &str) -> Vec<TrafficSelector> {
    m.list(key)
        .iter()
        .filter_map(|t| TrafficSelector::parse_strongswan(t))
        .collect()
}

fn child_sa(section: &str, m: &Message) -> ChildSa {
    let state = m.str("state").unwrap_or("?").to_string();
    ChildSa {
        name: m.str("name").unwrap_or(section).to_string(),
        uniqueid: num(m, "uniqueid"),
        // REKEYED and DELETING SAs stay in the kernel until charon removes them.
        installed: matches!(
            state.as_str(),
            "INSTALLED" | "UPDATING" | "REKEYING" | "REKEYED" | "DELETING"
        ),
        state,
        reqid: num(m, "reqid"),
        mode: m.str("mode").unwrap_or("?").to_ascii_lowercase(),
        protocol: m.str("protocol").unwrap_or("?").to_ascii_lowercase(),
        encap: m.str("encap") == Some("yes"),
        spi_in: hex32(m, "spi-in").map(Spi),
        spi_out: hex32(m, "spi-out").map(Spi),
        mark_in: mark(m, "in"),
        mark_out: mark(m, "out"),
        if_id_in: hex32(m, "if-id-in"),
        if_id_out: hex32(m, "if-id-out"),
        algorithms: algorithms(m),
        local_ts: selectors(m, "local-ts"),
        remote_ts: selectors(m, "remote-ts"),
        bytes_in: num(m, "bytes-in").unwrap_or(0),
        packets_in: num(m, "packets-in").unwrap_or(0),
        bytes_out: num(m, "bytes-out").unwrap_or(0),
        packets_out: num(m, "packets-out").unwrap_or(0),
        installed_secs: secs(m, "install-time"),
        rekey_in_secs: secs(m, "rekey-time"),
        expire_in_secs: secs(m, "life-time"),
    }
}

fn connection(name: &str, m: &Message) -> Connection {
    Connection {
        name: name.to_string(),
        local_addrs: m.list("local_addrs").to_vec(),
        remote_addrs: m.list("remote_addrs").to_vec(),
        version: m.str("version").map(str::to_string),
        children: m
            .section("children")
            .map(|c| {
                c.sections()
                    .map(|(n, c)| ChildConfig {
                        name: n.to_string(),
                        mode: c.str("mode").unwrap_or("?").to_ascii_lowercase(),
                        local_ts: c.list("local-ts").to_vec(),
                        remote_ts: c.list("remote-ts").to_vec(),
                        start_action: c.str("start_action").map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Values a fixture may hold, for tests: every string in a message, recursively.
pub fn all_strings(m: &Message) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in &m.entries {
        out.push(k.clone());
        match v {
            Value::Str(s) => out.push(s.clone()),
            Value::List(l) => out.extend(l.iter().cloned()),
            Value::Section(s) => out.extend(all_strings(s)),
        }
    }
    out
}
