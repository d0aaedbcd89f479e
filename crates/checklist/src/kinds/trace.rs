//! `kind = "trace"`.

use super::{Context, Outcome};
use crate::model::TraceCheck;

pub fn run(_check: &TraceCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the trace reader")
}
