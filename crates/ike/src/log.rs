//! Why a negotiation failed, read from the daemon's log: charon's filelog/syslog lines and pluto's
//! log. Only the reason, the connection name and the line are kept, the line with every long hex
//! token replaced (logs carry no keys at default levels, but a raised log level can dump them).

use crate::model::NegotiationFailure;

/// Reasons in the order they are tested: the first that matches a line wins.
const PATTERNS: &[(&str, &str)] = &[
    ("NO_PROPOSAL_CHOSEN", "NO_PROPOSAL_CHOSEN"),
    ("no acceptable proposal", "NO_PROPOSAL_CHOSEN"),
    ("no matching proposal", "NO_PROPOSAL_CHOSEN"),
    ("AUTHENTICATION_FAILED", "AUTHENTICATION_FAILED"),
    ("MAC mismatched", "AUTHENTICATION_FAILED"),
    ("authentication of", "AUTHENTICATION_FAILED"),
    ("TS_UNACCEPTABLE", "TS_UNACCEPTABLE"),
    ("unacceptable", "TS_UNACCEPTABLE"),
    ("giving up after", "timeout"),
    ("peer not responding", "timeout"),
    ("timeout exceeded", "timeout"),
];

fn reason_of(line: &str) -> Option<&'static str> {
    // "authentication of 'x' with pre-shared key successful" is not a failure
    let failed_auth = !line.contains("authentication of") || line.contains("failed");
    PATTERNS
        .iter()
        .find(|(needle, reason)| {
            line.contains(needle) && (*reason != "AUTHENTICATION_FAILED" || failed_auth)
        })
        .map(|(_, reason)| *reason)
}

/// The connection a line names: charon's `<name|3>` prefix or pluto's leading `"name"`.
fn connection_of(line: &str) -> Option<String> {
    if let Some(start) = line.find('<') {
        let rest = &line[start + 1..];
        if let Some(end) = rest.find('>') {
            let inner = &rest[..end];
            if let Some((name, id)) = inner.split_once('|') {
                if id.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() {
                    return Some(name.to_string());
                }
            }
        }
    }
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let end = rest.find('"')?;
    let name = &rest[..end];
    // pluto writes "conn" or "conn"[1] before the state number
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_string())
}

/// True for a token that could be key bytes: a long run of hex digits (with or without `0x`
/// and `:` separators).
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

/// Every failure in the log text, oldest first.
pub fn failures_from_log(text: &str) -> Vec<NegotiationFailure> {
    text.lines()
        .filter_map(|line| {
            let reason = reason_of(line)?;
            Some(NegotiationFailure {
                reason: reason.to_string(),
                connection: connection_of(line),
                detail: trimmed(line),
            })
        })
        .collect()
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
        let f = failures_from_log(
            "<c|1> AUTHENTICATION_FAILED Sk_ai secret => 00112233445566778899aabb",
        );
        assert_eq!(f.len(), 1);
        assert!(!f[0].detail.contains("0011223344"), "{}", f[0].detail);
        assert!(f[0].detail.ends_with("[hex]"));
    }
}
