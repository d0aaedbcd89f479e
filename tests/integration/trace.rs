//! Integration tests for trace.

#[allow(unused_imports)]
use crate::util::*;
