//! Parts an SA and a policy share: lifetimes, security context, undecoded attributes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Limits configured on an SA or policy. An absent limit is infinite (the kernel's XFRM_INF).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_byte_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_byte_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_packet_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_packet_limit: Option<u64>,
    /// Seconds after adding / after first use; absent (or 0 from the kernel) means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_add_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_add_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_use_expires_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_use_expires_seconds: Option<u64>,
}

/// What an SA or policy has used so far (`struct xfrm_lifetime_cur`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeCurrent {
    pub bytes: u64,
    pub packets: u64,
    /// Unix seconds when added / first used (0: never used).
    pub add_time: u64,
    pub use_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    pub config: LifetimeConfig,
    pub current: LifetimeCurrent,
}

/// An attribute this version does not decode, kept so nothing is silently lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownAttribute {
    /// The XFRMA_* number.
    pub kind: u16,
    /// Length of its value in bytes.
    pub len: usize,
    /// Why it is here: `unknown` (a newer kernel) or `malformed` (too short for its type).
    pub reason: String,
}

impl fmt::Display for UnknownAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason == "unknown" {
            write!(f, "unknown attribute {} ({} bytes)", self.kind, self.len)
        } else {
            write!(
                f,
                "{} attribute {} ({} bytes)",
                self.reason, self.kind, self.len
            )
        }
    }
}

/// A security context (SELinux label) on an SA or policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityContext {
    pub alg: u8,
    pub doi: u8,
    pub context: String,
}
