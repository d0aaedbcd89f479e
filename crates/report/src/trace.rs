//! Rendering of trace results.
