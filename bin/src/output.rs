//! Small helpers shared by commands: errors on one line, broken pipes, colour, stdout.
//!
//! Everything the binary writes to stderr goes through the functions here (clippy's
//! `disallowed-macros` in bin/clippy.toml refuses `eprintln!`/`eprint!` elsewhere): they escape
//! control characters, so a namespace name or a path holding `\n` or `\x1b` prints as one line of
//! text and cannot move the cursor, change colours or forge a second message.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, Global};

/// `text` with every control character (C0, DEL, C1) escaped as Rust writes it: `\n`, `\t`,
/// `\u{1b}`. The result is one line of printable text.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes one line to stderr, controls escaped. Not `eprintln!`: a closed stderr
/// (`2>&1 | head`) must not turn a message into a panic.
pub fn stderr_line(text: impl Display) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        escape_controls(&text.to_string())
    );
}

/// `xfrmdiag: note: TEXT` on stderr.
pub fn note(text: impl Display) {
    stderr_line(format_args!("xfrmdiag: note: {text}"));
}

/// The error line of a failed command: `xfrmdiag: what: why`, controls escaped.
pub fn print_error(err: &anyhow::Error) {
    stderr_line(format_args!("xfrmdiag: {}", one_line(err)));
}

/// Redraws the status line (a terminal's last line) with `text`; an empty text clears it.
pub fn status(text: impl Display) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K{}", escape_controls(&text.to_string()));
    let _ = stderr.flush();
}

/// A command-line usage error as one line: clap's text (the error, the usage, a hint) joined,
/// `xfrmdiag: ` first, controls escaped (an argument holding `\n` cannot split the line).
pub fn usage_error_line(rendered: &str, args: &[String]) -> String {
    let mut text = rendered.to_string();
    // Escape whole arguments first, so a line break inside one is not taken for clap's own.
    for arg in args.iter().filter(|a| a.chars().any(char::is_control)) {
        text = text.replace(arg.as_str(), &escape_controls(arg));
    }
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let joined = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("xfrmdiag: {}", escape_controls(joined))
}

/// Parses the command line. Help and version go to stdout (exit 0); a usage error is one line
/// on stderr ([`usage_error_line`]) and exits 2.
pub fn parse_cli<P: clap::Parser>() -> P {
    match P::try_parse() {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            stderr_line(usage_error_line(&e.render().to_string(), &args));
            std::process::exit(2)
        }
    }
}

/// Joins an error and its causes into one line: `what: why: why`, controls escaped.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // thiserror messages often already embed their source: skip exact repeats.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    escape_controls(&parts.join(": "))
}

/// True when the error comes from writing to a closed stdout (`xfrmdiag … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io_kind = match cause.downcast_ref::<std::io::Error>() {
            Some(e) => Some(e.kind()),
            // serde_json keeps the io::Error to itself: it is not in the source() chain.
            None => cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind),
        };
        io_kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes a command's result to stdout: pretty JSON (and a newline) with `--json`, the human
/// text otherwise. Only the form asked for is built.
pub fn print_result<J: serde::Serialize>(
    global: &Global,
    json: impl FnOnce() -> J,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if global.json {
        serde_json::to_writer_pretty(&mut stdout, &json())?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(human().as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// CAP_NET_ADMIN, from linux/capability.h.
const CAP_NET_ADMIN: u32 = 12;

/// Fails with what to do unless this process may read XFRM state (CAP_NET_ADMIN, i.e. root).
pub fn require_net_admin(command: &str) -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if effective & (1 << CAP_NET_ADMIN) == 0 {
        anyhow::bail!(
            "{command} needs root (CAP_NET_ADMIN to read XFRM state and counters, CAP_SYS_ADMIN for namespaces and tracing): run it with sudo"
        );
    }
    Ok(())
}

#[allow(dead_code)] // used by commands as they land
/// Colour only when asked, or on a terminal without NO_COLOR.
pub fn use_color(global: &Global) -> bool {
    match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

#[allow(dead_code)] // used by commands as they land
/// True when a status line may be drawn on stderr (a terminal that is not taken by JSON).
pub fn status_line_allowed() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A writer whose reader has gone away, as stdout is under `| head`.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn broken_pipe_is_seen_through_serde_json_and_context() {
        let json_err = serde_json::to_writer_pretty(ClosedPipe, &vec![1, 2, 3]).unwrap_err();
        let err = anyhow::Error::new(json_err).context("writing the report");
        assert!(is_broken_pipe(&err));
        let io_err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&io_err.context("writing")));
        assert!(!is_broken_pipe(&anyhow::anyhow!("something else")));
    }

    #[test]
    fn controls_are_escaped_and_text_stays_one_line() {
        assert_eq!(escape_controls("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_controls("a\nb\tc\u{1b}[31md\u{7f}\u{9b}"),
            "a\\nb\\tc\\u{1b}[31md\\u{7f}\\u{9b}"
        );
        let err = anyhow::anyhow!("cannot open 'x\ny'").context("reading \u{1b}[2J");
        let line = one_line(&err);
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    }

    #[test]
    fn usage_errors_become_one_escaped_line() {
        let arg = "--bad\nforged\u{1b}[31m".to_string();
        let rendered = format!(
            "error: unexpected argument '{arg}' found\n\nUsage: xfrmdiag policy\n\nFor more information, try '--help'.\n"
        );
        let line = usage_error_line(&rendered, &["xfrmdiag".into(), arg]);
        assert_eq!(
            line,
            "xfrmdiag: unexpected argument '--bad\\nforged\\u{1b}[31m' found Usage: xfrmdiag policy For more information, try '--help'."
        );
    }
}
