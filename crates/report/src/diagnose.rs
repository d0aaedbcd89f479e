//! Rendering of diagnose results.
