//! Integration tests for diagnose.

#[allow(unused_imports)]
use crate::util::*;
