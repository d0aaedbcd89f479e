//! `kind = "sa"`.

use super::{Context, Outcome};
use crate::model::SaCheck;

pub fn run(_check: &SaCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the inventory reader")
}
