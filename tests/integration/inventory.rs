//! Integration tests for inventory.

#[allow(unused_imports)]
use crate::util::*;
