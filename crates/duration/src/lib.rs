//! The one duration syntax of xfrmdiag: every flag (`diagnose --window`, `trace --window`,
//! `watch --interval`, `monitor --duration`) and every checklist field (`window`) goes through
//! [`parse`], so the same text is accepted or refused everywhere.
//!
//! The rules ([`RULES`]):
//! - humantime syntax: a whole number with a unit, several may follow each other: `500ms`, `2s`,
//!   `1m30s`, `1h`; units `ms`, `s`, `m`, `h` (and humantime's long spellings: `sec`, `min`…);
//! - a bare whole number is seconds: `20` is `20s` (as `sleep` and `timeout` read it);
//! - no fractions (`1.5s`: write `1s500ms`), no sign, no space inside a number;
//! - from 10ms to 24h.
//!
//! A pause ([`parse_pause`], `diagnose --interval`) follows the same rules and may also be zero
//! (`0`, `0s`, `0ms`): no pause at all, back to back.

use std::time::Duration;

/// The shortest duration accepted.
pub const MIN: Duration = Duration::from_millis(10);
/// The longest duration accepted.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// The rules in one line, for help texts and errors.
pub const RULES: &str =
    "a number with a unit, e.g. 500ms, 2s, 1m30s (a bare number is seconds), from 10ms to 24h";

/// Why a text is not a duration. Displays as one line naming the text and what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    text: String,
    why: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text comes from the user: controls are shown escaped, never sent to the terminal.
        let shown: String = self.text.chars().flat_map(char::escape_debug).collect();
        write!(
            f,
            "`{shown}` is not a duration: {}; write {RULES}",
            self.why
        )
    }
}

impl std::error::Error for Error {}

/// Parses `text` by the rules of this crate (surrounding whitespace ignored).
pub fn parse(text: &str) -> Result<Duration, Error> {
    let fail = |why: &str| Error {
        text: text.to_string(),
        why: why.to_string(),
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(fail("it is empty"));
    }
    let d = if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| fail("the number is too large"))?
    } else if t.contains('.') {
        return Err(fail("fractions are not accepted (1s500ms, not 1.5s)"));
    } else {
        humantime::parse_duration(t).map_err(|e| fail(&e.to_string()))?
    };
    if d < MIN {
        return Err(fail("it is shorter than 10ms"));
    }
    if d > MAX {
        return Err(fail("it is longer than 24h"));
    }
    Ok(d)
}

/// For clap's `value_parser`: the error as a one-line string.
pub fn parse_arg(text: &str) -> Result<Duration, String> {
    parse(text).map_err(|e| e.to_string())
}

/// Like [`parse`], and zero (in any spelling of it) is accepted: a pause between datagrams
/// can be none at all, where a window or an interval cannot.
pub fn parse_pause(text: &str) -> Result<Duration, Error> {
    parse(text).or_else(|e| {
        if is_zero(text) {
            Ok(Duration::ZERO)
        } else {
            Err(e)
        }
    })
}

/// For clap's `value_parser`: [`parse_pause`] with the error as a one-line string.
pub fn parse_pause_arg(text: &str) -> Result<Duration, String> {
    parse_pause(text).map_err(|e| e.to_string())
}

fn is_zero(text: &str) -> bool {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.bytes().all(|b| b == b'0');
    }
    !t.contains('.') && humantime::parse_duration(t) == Ok(Duration::ZERO)
}

/// Texts every user of [`parse`] must accept, with their value: the shared cases of the unit
/// tests here and the CLI tests that check each flag and checklist field.
pub const ACCEPTED: &[(&str, Duration)] = &[
    ("500ms", Duration::from_millis(500)),
    ("2s", Duration::from_secs(2)),
    ("1m30s", Duration::from_secs(90)),
    ("1m", Duration::from_secs(60)),
    ("20", Duration::from_secs(20)),
    ("10ms", MIN),
    ("24h", MAX),
    (" 3s ", Duration::from_secs(3)),
];

/// Texts every user of [`parse`] must refuse.
pub const REFUSED: &[&str] = &[
    "",
    "soon",
    "1.5s",
    "0",
    "0s",
    "5ms",
    "25h",
    "-1s",
    "2 hours x",
    "s",
    "1q",
    "2s\u{1b}[31m",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_may_be_zero_and_is_otherwise_a_duration() {
        for text in ["0", "00", "0s", "0ms", " 0 "] {
            assert_eq!(parse_pause(text), Ok(Duration::ZERO), "{text:?}");
        }
        for (text, want) in ACCEPTED {
            assert_eq!(parse_pause(text), Ok(*want), "{text:?}");
        }
        for text in REFUSED.iter().filter(|t| !["0", "0s"].contains(t)) {
            assert_eq!(parse_pause(text), parse(text), "{text:?}");
        }
    }

    #[test]
    fn accepted_texts_have_their_value() {
        for (text, want) in ACCEPTED {
            assert_eq!(parse(text), Ok(*want), "{text:?}");
        }
    }

    #[test]
    fn refused_texts_get_one_line_naming_the_text_and_the_rules() {
        for text in REFUSED {
            let err = parse(text).expect_err(text).to_string();
            assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err:?}");
            assert!(
                err.contains("is not a duration") && err.contains(RULES),
                "{err}"
            );
        }
        assert!(parse("1.5s").unwrap_err().to_string().contains("1s500ms"));
        assert!(parse("25h")
            .unwrap_err()
            .to_string()
            .contains("longer than 24h"));
        assert!(parse("2s\u{1b}[31m")
            .unwrap_err()
            .to_string()
            .contains("\\u{1b}"));
    }
}
