//! Looking causes up by their stable id (checklists, saved reports): the rules are the truth.

use crate::cause::CauseId;
use crate::rules::{self, Rule};

/// The rule of the cause whose id is `id`.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    id.parse::<CauseId>().ok().map(rules::rule)
}
