//! Rendering of junit results.
