//! A small codec for strongSwan's vici protocol (src/libcharon/plugins/vici/README.md).
//!
//! Transport: every packet is a 32-bit big-endian length, then the packet. A packet is one type
//! byte, for named types a length-prefixed name, then a message. A message is a sequence of
//! elements: section start (name) / section end, key-value (name, 16-bit length, value), list start
//! (name) / list item (16-bit length, value) / list end.
//!
//! Secrets never enter a decoded [`Message`]: a key, list or whole section whose name looks like
//! key material (see [`is_secret_name`]) is skipped while decoding, so nothing built on this codec
//! can print or store it.

use std::collections::BTreeMap;
use std::fmt;

/// The largest packet vici accepts (its README: 512 KiB segments; charon caps at this size).
pub const MAX_PACKET: usize = 512 * 1024;
/// Nesting deeper than this is refused: charon never nests more than a handful of levels.
const MAX_DEPTH: usize = 32;

/// Packet types of the vici transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    CmdRequest = 0,
    CmdResponse = 1,
    CmdUnknown = 2,
    EventRegister = 3,
    EventUnregister = 4,
    EventConfirm = 5,
    EventUnknown = 6,
    Event = 7,
}

impl PacketType {
    fn from_byte(b: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match b {
            0 => CmdRequest,
            1 => CmdResponse,
            2 => CmdUnknown,
            3 => EventRegister,
            4 => EventUnregister,
            5 => EventConfirm,
            6 => EventUnknown,
            7 => Event,
            _ => return None,
        })
    }

    /// Types that carry a name (command or event) after the type byte.
    fn is_named(self) -> bool {
        matches!(
            self,
            PacketType::CmdRequest
                | PacketType::EventRegister
                | PacketType::EventUnregister
                | PacketType::Event
        )
    }

    /// Types that carry a message after the type (and name).
    fn has_message(self) -> bool {
        matches!(
            self,
            PacketType::CmdRequest | PacketType::CmdResponse | PacketType::Event
        )
    }
}

/// One value of a message: text (charon sends everything as text), a list, or a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    List(Vec<String>),
    Section(Message),
}

/// A vici message: named values in the order charon sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub entries: Vec<(String, Value)>,
}

impl Message {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> &[String] {
        match self.get(name) {
            Some(Value::List(l)) => l,
            _ => &[],
        }
    }

    pub fn section(&self, name: &str) -> Option<&Message> {
        match self.get(name) {
            Some(Value::Section(m)) => Some(m),
            _ => None,
        }
    }

    /// The sub-sections in order, with their names.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Message)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Value::Section(m) => Some((k.as_str(), m)),
            _ => None,
        })
    }

    pub fn push_str(&mut self, name: &str, value: &str) {
        self.entries
            .push((name.to_string(), Value::Str(value.to_string())));
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketType,
    pub name: Option<String>,
    pub message: Message,
}

/// What was wrong with bytes that claimed to be vici.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed vici data: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn err<T>(what: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(what.into()))
}

/// True for names under which charon may hand out key material or secrets: they are dropped at
/// decode time. Key *sizes* (`encr-keysize`, `integ-keysize`) are not secret and are kept.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n.ends_with("keysize") {
        return false;
    }
    [
        "key",
        "secret",
        "psk",
        "password",
        "passphrase",
        "pin",
        "nonce",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n.starts_with("sk_")
        || n.starts_with("sk-")
}

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| DecodeError("truncated".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| DecodeError(format!("truncated: {n} bytes announced")))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn name(&mut self) -> Result<String, DecodeError> {
        let len = usize::from(self.u8()?);
        let raw = self.bytes(len)?;
        String::from_utf8(raw.to_vec()).or_else(|_| err("a name is not UTF-8"))
    }

    fn value(&mut self) -> Result<&'a [u8], DecodeError> {
        let hi = self.u8()?;
        let lo = self.u8()?;
        self.bytes(usize::from(u16::from_be_bytes([hi, lo])))
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Values are text in every message charon sends; anything else is shown lossily.
fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Decodes a message body (the elements after type and name).
pub fn decode_message(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    // The stack of open sections; None marks a section being skipped as secret.
    let mut stack: Vec<(Option<String>, Message)> = vec![(None, Message::default())];
    let mut skipping = 0usize;
    while !r.done() {
        match r.u8()? {
            SECTION_START => {
                let name = r.name()?;
                if stack.len() + skipping > MAX_DEPTH {
                    return err("sections nested too deep");
                }
                if skipping > 0 || is_secret_name(&name) {
                    skipping += 1;
                } else {
                    stack.push((Some(name), Message::default()));
                }
            }
            SECTION_END => {
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if stack.len() < 2 {
                    return err("section end without a start");
                }
                let (name, msg) = stack.pop().expect("checked above");
                let parent = &mut stack.last_mut().expect("root stays").1;
                parent
                    .entries
                    .push((name.expect("only the root is unnamed"), Value::Section(msg)));
            }
            KEY_VALUE => {
                let name = r.name()?;
                let value = r.value()?;
                if skipping == 0 && !is_secret_name(&name) {
                    let cur = &mut stack.last_mut().expect("root stays").1;
                    cur.entries.push((name, Value::Str(text(value))));
                }
            }
            LIST_START => {
                let name = r.name()?;
                let mut items = Vec::new();
                loop {
                    match r.u8()? {
                        LIST_ITEM => items.push(text(r.value()?)),
                        LIST_END => break,
                        other => return err(format!("element type {other} inside a list")),
                    }
                }
                if skipping == 0 && !is_secret_name(&name) {
                    let cur = &mut stack.last_mut().expect("root stays").1;
                    cur.entries.push((name, Value::List(items)));
                }
            }
            LIST_ITEM | LIST_END => return err("list element outside a list"),
            other => return err(format!("unknown element type {other}")),
        }
    }
    if stack.len() != 1 || skipping != 0 {
        return err("a section is not closed");
    }
    Ok(stack.pop().expect("root").1)
}

/// Decodes one packet (without the 4-byte length prefix of the transport).
pub fn decode_packet(buf: &[u8]) -> Result<Packet, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let type_byte = r.u8()?;
    let kind = PacketType::from_byte(type_byte)
        .ok_or_else(|| DecodeError(format!("unknown packet type {type_byte}")))?;
    let name = if kind.is_named() {
        Some(r.name()?)
    } else {
        None
    };
    let message = if kind.has_message() {
        decode_message(&buf[r.pos..])?
    } else if !r.done() {
        return err("trailing bytes after a packet without message");
    } else {
        Message::default()
    };
    Ok(Packet {
        kind,
        name,
        message,
    })
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let n = &name.as_bytes()[..name.len().min(255)];
    out.push(n.len() as u8);
    out.extend_from_slice(n);
}

fn put_value(out: &mut Vec<u8>, value: &str) {
    let v = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// Encodes a message body.
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    for (name, value) in &msg.entries {
        match value {
            Value::Str(s) => {
                out.push(KEY_VALUE);
                put_name(out, name);
                put_value(out, s);
            }
            Value::List(items) => {
                out.push(LIST_START);
                put_name(out, name);
                for item in items {
                    out.push(LIST_ITEM);
                    put_value(out, item);
                }
                out.push(LIST_END);
            }
            Value::Section(m) => {
                out.push(SECTION_START);
                put_name(out, name);
                encode_message(m, out);
                out.push(SECTION_END);
            }
        }
    }
}

/// Encodes a packet with its 4-byte length prefix, ready to write to the socket.
pub fn encode_packet(kind: PacketType, name: Option<&str>, msg: &Message) -> Vec<u8> {
    let mut body = vec![kind as u8];
    if let Some(name) = name {
        put_name(&mut body, name);
    }
    if kind.has_message() {
        encode_message(msg, &mut body);
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Flattens a message into the `a.b.c = value` lines `swanctl --raw` would show, for
/// fixture files that a reader can check by eye.
pub fn to_map(msg: &Message) -> BTreeMap<String, String> {
    fn walk(prefix: &str, msg: &Message, out: &mut BTreeMap<String, String>) {
        for (k, v) in &msg.entries {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Str(s) => {
                    out.insert(key, s.clone());
                }
                Value::List(l) => {
                    out.insert(key, format!("[{}]", l.join(", ")));
                }
                Value::Section(m) => walk(&key, m, out),
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", msg, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(entries: Vec<(&str, Value)>) -> Message {
        Message {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    #[test]
    fn round_trip_of_nested_message() {
        let msg = section(vec![
            ("version", Value::Str("2".into())),
            (
                "children",
                Value::Section(section(vec![(
                    "net",
                    Value::Section(section(vec![(
                        "local-ts",
                        Value::List(vec!["10.0.0.1/32".into()]),
                    )])),
                )])),
            ),
        ]);
        let bytes = encode_packet(PacketType::Event, Some("list-sa"), &msg);
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
        let p = decode_packet(&bytes[4..]).unwrap();
        assert_eq!(p.kind, PacketType::Event);
        assert_eq!(p.name.as_deref(), Some("list-sa"));
        assert_eq!(p.message, msg);
    }

    #[test]
    fn secrets_are_dropped_while_decoding() {
        let msg = section(vec![
            ("encr-keysize", Value::Str("128".into())),
            (
                "encr-key",
                Value::Str("00112233445566778899aabbccddeeff".into()),
            ),
            ("sk_ei", Value::Str("deadbeef".into())),
            (
                "keys",
                Value::Section(section(vec![("x", Value::Str("cafe".into()))])),
            ),
            ("psk-list", Value::List(vec!["secret".into()])),
            ("state", Value::Str("INSTALLED".into())),
        ]);
        let bytes = encode_packet(PacketType::CmdResponse, None, &msg);
        let p = decode_packet(&bytes[4..]).unwrap();
        let names: Vec<&str> = p.message.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["encr-keysize", "state"]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(decode_packet(&[]).is_err());
        assert!(decode_packet(&[9]).is_err());
        assert!(decode_packet(&[1, SECTION_END]).is_err());
        assert!(decode_packet(&[1, SECTION_START, 1, b'a']).is_err());
        assert!(decode_packet(&[1, KEY_VALUE, 1, b'a', 0, 5, b'x']).is_err());
        assert!(decode_packet(&[1, LIST_ITEM, 0, 0]).is_err());
        assert!(decode_packet(&[5, 0]).is_err());
    }
}
