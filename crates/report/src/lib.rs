//! Showing results: human tables (tabled), JSON, JUnit XML and Prometheus text.
//!
//! Takes the plain data types of the other crates and renders them. Must not: read the system or
//! decide anything. One module per kind of result, so each reads alone.

pub mod causes;
pub mod checklist;
pub mod counters;
pub mod diagnose;
pub mod inventory;
pub mod junit;
pub mod prometheus;
pub mod trace;
