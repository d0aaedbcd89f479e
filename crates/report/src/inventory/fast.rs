//! Byte-buffer writers for the streamed outputs.
//!
//! `xfrmdiag policy` and `xfrmdiag sa` may print 100k objects. serde_json spends most of its time
//! escaping the same static keys again and again, and `write!` with padding allocates; these
//! writers append to a reused buffer instead.

use std::io::Write as _;

use super::proto_name;

const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends a decimal number, two digits at a time into a small stack buffer, then one copy.
pub(super) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        buf.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i] = DIGIT_PAIRS[pair];
        digits[i + 1] = DIGIT_PAIRS[pair + 1];
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i] = DIGIT_PAIRS[pair];
        digits[i + 1] = DIGIT_PAIRS[pair + 1];
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `0x` and 8 lowercase hex digits (an SPI).
pub(super) fn push_hex8(buf: &mut Vec<u8>, n: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0', b'x', 0, 0, 0, 0, 0, 0, 0, 0];
    for (i, slot) in out[2..].iter_mut().enumerate() {
        *slot = HEX[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    buf.extend_from_slice(&out);
}

pub(super) fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

pub(super) fn push_ip(buf: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_u64(buf, u64::from(*octet));
            }
        }
        // IPv6 text has compression rules: leave them to std.
        std::net::IpAddr::V6(v6) => {
            let _ = write!(buf, "{v6}");
        }
    }
}

pub(super) fn push_prefix(buf: &mut Vec<u8>, p: &xfrmdiag_inventory::Prefix) {
    push_ip(buf, p.addr);
    buf.push(b'/');
    push_u64(buf, u64::from(p.len));
}

/// A JSON string; plain ASCII goes straight in, anything else through serde_json's escaping.
pub(super) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// Appends `value` serialized by serde_json (for the rare, small parts).
pub(super) fn push_serde<T: serde::Serialize>(buf: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *buf, value);
}

pub(super) fn push_key(buf: &mut Vec<u8>, key: &str) {
    buf.push(b'"');
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
}

pub(super) fn push_opt_u64(buf: &mut Vec<u8>, key: &str, value: Option<u64>) {
    if let Some(v) = value {
        if buf.last() != Some(&b'{') {
            buf.push(b',');
        }
        push_key(buf, key);
        push_u64(buf, v);
    }
}

/// Pads the text appended since `start` with spaces to `width` (longer text is kept whole).
pub(super) fn pad_from(buf: &mut Vec<u8>, start: usize, width: usize) {
    let written = buf.len() - start;
    if written < width {
        buf.resize(start + width, b' ');
    }
    buf.push(b' ');
}

pub(super) fn push_port(buf: &mut Vec<u8>, port: u16, mask: u16) {
    match mask {
        0 => buf.extend_from_slice(b"any"),
        0xffff => push_u64(buf, u64::from(port)),
        m => {
            let _ = write!(buf, "{port}/0x{m:04x}");
        }
    }
}

pub(super) fn push_proto_name(buf: &mut Vec<u8>, proto: u8) {
    let name: &[u8] = match proto {
        0 => b"any",
        1 => b"icmp",
        6 => b"tcp",
        17 => b"udp",
        47 => b"gre",
        50 => b"esp",
        51 => b"ah",
        58 => b"ipv6-icmp",
        132 => b"sctp",
        _ => {
            buf.extend_from_slice(proto_name(proto).as_bytes());
            return;
        }
    };
    buf.extend_from_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn numbers_are_formatted_like_std() {
        for n in [0u64, 1, 9, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        }
        let mut buf = Vec::new();
        push_i64(&mut buf, i64::MIN);
        assert_eq!(String::from_utf8(buf).unwrap(), i64::MIN.to_string());
    }
}
