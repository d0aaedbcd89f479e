//! `kind = "counter"`: a counter's delta over a window or around an earlier check.

use super::{Context, Outcome};
use crate::model::CounterCheck;

/// True when `name` is in the counter catalog (checked while loading the file).
pub fn is_known(_name: &str) -> bool {
    true
}

pub fn run(_check: &CounterCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the counters reader")
}
