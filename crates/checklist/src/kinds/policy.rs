//! `kind = "policy"`.

use super::{Context, Outcome};
use crate::model::PolicyCheck;

pub fn run(_check: &PolicyCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the inventory reader")
}
