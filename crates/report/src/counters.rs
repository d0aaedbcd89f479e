//! Rendering of counters results.
