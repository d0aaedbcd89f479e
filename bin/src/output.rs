//! Small helpers shared by commands: errors on one line, broken pipes, colour, stdout.

use std::io::IsTerminal;

use crate::cli::{ColorChoice, Global};

/// Joins an error and its causes into one line: `what: why: why`.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // thiserror messages often already embed their source: skip exact repeats.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
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
}
