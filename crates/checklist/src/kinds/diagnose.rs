//! `kind = "diagnose"`.

use super::{Context, Outcome};
use crate::model::DiagnoseCheck;

pub fn run(_check: &DiagnoseCheck, _ctx: &Context) -> Outcome {
    Outcome::not_available("needs the diagnose reader")
}
