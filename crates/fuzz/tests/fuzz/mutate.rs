//! Mutation of real captured inputs: bytes flipped, set, inserted, cut and repeated, lengths
//! and counts overwritten with boundary values; for text also whole lines and tokens. Positions
//! are drawn as plain numbers and taken modulo the input's length, so shrinking moves them
//! toward the start.

use proptest::collection::vec;
use proptest::prelude::*;

/// Values that break length and count arithmetic.
const INTERESTING: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    12,
    15,
    16,
    20,
    24,
    31,
    32,
    63,
    64,
    127,
    128,
    255,
    256,
    511,
    1024,
    4095,
    0x7fff,
    0x8000,
    0xfffe,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Tokens that break number, name and UTF-8 handling in text formats.
const TOKENS: &[&str] = &[
    "",
    "0",
    "-1",
    "+1",
    "1.5",
    "1e99",
    "NaN",
    "0x",
    "0xffffffffffffffff",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-9223372036854775809",
    "é",
    "€",
    "🦀",
    "\u{0}",
    "\u{feff}",
    "\t",
    " ",
    ":",
    "::",
    "=",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "\\",
    "#",
    ",",
    "|",
    "()",
    "${",
    "${x}",
    "}}",
    "\n",
    "\r\n",
];

#[derive(Debug, Clone)]
enum Op {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    /// Copies `len` bytes from one place to another (a repeated attribute or message).
    Repeat(usize, usize, usize),
    /// Overwrites 1, 2 or 4 bytes (native order, as netlink lengths are) with a boundary value.
    Word(usize, u8, u32),
    /// Appends part of another seed.
    Splice(usize, usize, usize),
}

#[derive(Debug, Clone)]
enum TextOp {
    Bytes(Op),
    /// Replaces the n-th whitespace-separated token.
    Token(usize, &'static str),
    /// Inserts a token before the n-th one.
    InsertToken(usize, &'static str),
    DropLine(usize),
    RepeatLine(usize, usize),
    SwapLines(usize, usize),
    /// Puts a line of another seed in at line n.
    ForeignLine(usize, usize, usize),
}

fn byte_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Op::Flip(at, bit)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Op::Set(at, b)),
        2 => (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Op::Insert(at, b)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, n)| Op::Remove(at, n)),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => (any::<usize>(), 1usize..256, any::<usize>()).prop_map(|(f, n, t)| Op::Repeat(f, n, t)),
        4 => (any::<usize>(), prop::sample::select(&[1u8, 2, 4][..]), prop::sample::select(INTERESTING))
            .prop_map(|(at, w, v)| Op::Word(at, w, v)),
        1 => (any::<usize>(), any::<usize>(), 1usize..512).prop_map(|(s, at, n)| Op::Splice(s, at, n)),
    ]
}

fn text_op() -> impl Strategy<Value = TextOp> {
    let token = || prop::sample::select(TOKENS);
    prop_oneof![
        3 => byte_op().prop_map(TextOp::Bytes),
        4 => (any::<usize>(), token()).prop_map(|(n, t)| TextOp::Token(n, t)),
        2 => (any::<usize>(), token()).prop_map(|(n, t)| TextOp::InsertToken(n, t)),
        1 => any::<usize>().prop_map(TextOp::DropLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| TextOp::RepeatLine(a, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| TextOp::SwapLines(a, b)),
        1 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(s, l, at)| TextOp::ForeignLine(s, l, at)),
    ]
}

/// Real binary inputs with 1–8 byte-level mutations.
pub fn bytes(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty());
    (0..seeds.len(), vec(byte_op(), 1..8)).prop_map(move |(i, ops)| {
        let mut buf = seeds[i].clone();
        for op in &ops {
            apply(&mut buf, op, &seeds);
        }
        buf
    })
}

/// Real text inputs with 1–8 mutations of bytes, tokens and lines.
pub fn text(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty());
    (0..seeds.len(), vec(text_op(), 1..8)).prop_map(move |(i, ops)| {
        let mut buf = seeds[i].clone();
        for op in &ops {
            apply_text(&mut buf, op, &seeds);
        }
        buf
    })
}

fn apply(buf: &mut Vec<u8>, op: &Op, seeds: &[Vec<u8>]) {
    let at = |n: usize, len: usize| if len == 0 { 0 } else { n % len };
    let len = buf.len();
    match *op {
        Op::Flip(n, bit) if len > 0 => buf[at(n, len)] ^= 1 << bit,
        Op::Set(n, b) if len > 0 => buf[at(n, len)] = b,
        Op::Insert(n, ref bytes) => {
            let i = at(n, len + 1);
            buf.splice(i..i, bytes.iter().copied());
        }
        Op::Remove(n, count) if len > 0 => {
            let i = at(n, len);
            buf.drain(i..(i + count).min(len));
        }
        Op::Truncate(n) => buf.truncate(at(n, len + 1)),
        Op::Repeat(from, count, to) if len > 0 => {
            let f = at(from, len);
            let part = buf[f..(f + count).min(len)].to_vec();
            let t = at(to, len + 1);
            buf.splice(t..t, part);
        }
        Op::Word(n, width, value) if len > 0 => {
            let i = at(n, len);
            let bytes = value.to_ne_bytes();
            let w = usize::from(width).min(len - i);
            match width {
                1 => buf[i] = value as u8,
                2 => buf[i..i + w].copy_from_slice(&(value as u16).to_ne_bytes()[..w]),
                _ => buf[i..i + w].copy_from_slice(&bytes[..w]),
            }
        }
        Op::Splice(seed, n, count) => {
            let other = &seeds[seed % seeds.len()];
            if !other.is_empty() {
                let f = at(n, other.len());
                buf.extend_from_slice(&other[f..(f + count).min(other.len())]);
            }
        }
        _ => {}
    }
}

fn apply_text(buf: &mut Vec<u8>, op: &TextOp, seeds: &[Vec<u8>]) {
    let TextOp::Bytes(op) = op else {
        let text = String::from_utf8_lossy(buf).into_owned();
        *buf = edit_text(&text, op, seeds).into_bytes();
        return;
    };
    apply(buf, op, seeds);
}

fn edit_text(text: &str, op: &TextOp, seeds: &[Vec<u8>]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match *op {
        TextOp::Token(i, token) | TextOp::InsertToken(i, token) => {
            let spans = token_spans(text);
            if spans.is_empty() {
                return format!("{text}{token}");
            }
            let (s, e) = spans[i % spans.len()];
            let end = if matches!(op, TextOp::Token(..)) {
                e
            } else {
                s
            };
            return format!("{}{}{}", &text[..s], token, &text[end..]);
        }
        TextOp::DropLine(i) => {
            lines.remove(i % n);
        }
        TextOp::RepeatLine(i, to) => {
            let line = lines[i % n].clone();
            lines.insert(to % (n + 1), line);
        }
        TextOp::SwapLines(a, b) => lines.swap(a % n, b % n),
        TextOp::ForeignLine(seed, line, at) => {
            let other = String::from_utf8_lossy(&seeds[seed % seeds.len()]).into_owned();
            let theirs: Vec<&str> = other.split('\n').collect();
            lines.insert(at % (n + 1), theirs[line % theirs.len()].to_string());
        }
        TextOp::Bytes(_) => {}
    }
    lines.join("\n")
}

/// Byte ranges of the whitespace-separated tokens of `text`.
fn token_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}
