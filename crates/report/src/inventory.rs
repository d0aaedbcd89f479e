//! Rendering of inventory results.
