//! `kind = "counter"`: a counter's delta over a window or around an earlier check.

use super::{Context, Outcome};
use crate::model::CounterCheck;

/// True when `name` is in the counter catalog (checked while loading the file).
pub fn is_known(_name: &str) -> bool {
    true
}

/// Snapshots taken around the check a counter check measures.
#[derive(Debug)]
pub struct Mark {}

pub fn before(_check: &CounterCheck, _ctx: &Context) -> Mark {
    Mark {}
}

pub fn after(_mark: &mut Mark, _ctx: &Context) {}

pub fn evaluate_around(_check: &CounterCheck, _mark: Mark) -> Outcome {
    Outcome::not_available("needs the counters reader")
}

pub fn run(_check: &CounterCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the counters reader")
}
