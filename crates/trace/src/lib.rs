//! Kernel tracing through tracefs.
//!
//! Owns: tracefs discovery and capability probe, the private instance lifecycle (always removed),
//! trace text parsing and kallsyms symbolization. Must not: touch the global tracer, filters or
//! buffer, or decide a verdict.
