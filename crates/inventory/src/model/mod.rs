//! The plain data the inventory hands out: what `ip xfrm` shows, as serde types.
//!
//! These types are the JSON schema of `xfrmdiag sa|policy|info|monitor` (docs/json/inventory.md)
//! and the evidence `diagnose` consumes, so a field is only ever added, never renamed.
//! None of them can hold key bytes: algorithms carry a fingerprint only.

mod common;
mod event;
mod info;
mod kinds;
mod policy;
mod sa;
mod selector;

pub use common::*;
pub use event::*;
pub use info::*;
pub use kinds::*;
pub use policy::*;
pub use sa::*;
pub use selector::*;
