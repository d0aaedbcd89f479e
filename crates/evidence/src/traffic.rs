//! What the test traffic did, and how a counter changed: the evidence's own copies of the
//! traffic and counters crates' result types, serialized exactly as those were when the format
//! was fixed (version 1). The collector converts; a change there must not reach saved files.

use serde::{Deserialize, Serialize};

/// Result of sending test datagrams.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendResult {
    pub dst: String,
    /// Datagrams the program tried to send.
    pub attempted: u32,
    /// `sendto` calls that succeeded (the kernel took the datagram; it may still drop it).
    pub sent: u32,
    pub size: usize,
    /// Failed `sendto` calls grouped by errno; each errno names a kernel decision.
    #[serde(default)]
    pub errors: Vec<SendError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendError {
    /// Symbolic name: `EPERM`, `EINVAL`, `EMSGSIZE`, …
    pub errno: String,
    pub code: i32,
    pub message: String,
    pub count: u32,
    /// Index (0-based) of the first datagram that failed this way.
    pub first: u32,
}

/// Result of listening on a UDP port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListenResult {
    pub port: u16,
    pub received: u32,
    pub bytes: u64,
    /// How many were expected (the sender's count), when known.
    #[serde(default)]
    pub expected: Option<u32>,
    pub window_ms: u64,
}

/// Watching a port held by another program, without binding it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObserveResult {
    pub port: u16,
    /// A socket was bound on the port when the window opened.
    pub socket_found: bool,
    /// Growth of the socket's `drops` column in /proc/net/udp{,6} (buffer full, filter).
    #[serde(default)]
    pub socket_drops: Option<u64>,
    pub window_ms: u64,
}

/// A user command run as the test send.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecResult {
    pub command: String,
    /// `None` when a signal ended it.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Last lines of its stderr (what a failing client says).
    #[serde(default)]
    pub stderr_tail: String,
}

/// How one counter changed over the window.
///
/// JSON: `"unchanged"`, `{"increased": 3}`, `{"decreased": 2}` (gauges only) or
/// `{"reset": {"before": 10, "after": 1}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterChange {
    Unchanged,
    /// Went up by this much.
    Increased(u64),
    /// A gauge went down by this much; counters never do.
    Decreased(u64),
    /// A counter went backwards: the namespace or SA was recreated, or the counter wrapped.
    Reset {
        before: u64,
        after: u64,
    },
}
