//! `kind = "default-policy"`.

use super::{Context, Outcome};
use crate::model::DefaultPolicyCheck;

pub fn run(_check: &DefaultPolicyCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the inventory reader")
}
