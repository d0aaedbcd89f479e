//! Rendering of prometheus results.
