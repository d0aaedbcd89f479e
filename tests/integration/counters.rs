//! Integration tests for counters.

#[allow(unused_imports)]
use crate::util::*;
