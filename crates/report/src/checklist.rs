//! Rendering of checklist results.
