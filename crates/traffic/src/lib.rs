//! Test traffic: send, listen, observe and exec, each inside a chosen namespace.
//!
//! Must not: read counters or configuration, or decide anything.
