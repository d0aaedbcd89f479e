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
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
