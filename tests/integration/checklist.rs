//! Integration tests for checklist.

#[allow(unused_imports)]
use crate::util::*;
