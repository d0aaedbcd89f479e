//! The small enumerations of `ip xfrm`: direction, action, protocol, mode, level, policy type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Traffic direction of a policy: `in`, `out` or `fwd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    Fwd,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `allow` or `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IPsec protocol of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XfrmProto {
    Esp,
    Ah,
    Comp,
    Route2,
    Hao,
    /// Templates use 255 for "any IPsec protocol".
    Any,
    #[serde(untagged)]
    Other(u8),
}

impl XfrmProto {
    pub fn from_number(n: u8) -> Self {
        match n {
            50 => XfrmProto::Esp,
            51 => XfrmProto::Ah,
            108 => XfrmProto::Comp,
            43 => XfrmProto::Route2,
            60 => XfrmProto::Hao,
            255 => XfrmProto::Any,
            other => XfrmProto::Other(other),
        }
    }
}

impl fmt::Display for XfrmProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrmProto::Esp => f.write_str("esp"),
            XfrmProto::Ah => f.write_str("ah"),
            XfrmProto::Comp => f.write_str("comp"),
            XfrmProto::Route2 => f.write_str("route2"),
            XfrmProto::Hao => f.write_str("hao"),
            XfrmProto::Any => f.write_str("any"),
            XfrmProto::Other(n) => write!(f, "proto-{n}"),
        }
    }
}

/// SA / template mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Transport,
    Tunnel,
    Ro,
    InTrigger,
    Beet,
    Iptfs,
    #[serde(untagged)]
    Other(u8),
}

impl Mode {
    pub fn from_number(n: u8) -> Self {
        match n {
            0 => Mode::Transport,
            1 => Mode::Tunnel,
            2 => Mode::Ro,
            3 => Mode::InTrigger,
            4 => Mode::Beet,
            5 => Mode::Iptfs,
            other => Mode::Other(other),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Transport => f.write_str("transport"),
            Mode::Tunnel => f.write_str("tunnel"),
            Mode::Ro => f.write_str("ro"),
            Mode::InTrigger => f.write_str("in-trigger"),
            Mode::Beet => f.write_str("beet"),
            Mode::Iptfs => f.write_str("iptfs"),
            Mode::Other(n) => write!(f, "mode-{n}"),
        }
    }
}

/// `level required` or `level use` (the template is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Required,
    Use,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Required => "required",
            Level::Use => "use",
        })
    }
}

/// `ptype main` (the normal SPD) or `sub` (sub-policies, used by MIGRATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    Main,
    Sub,
    #[serde(untagged)]
    Other(u8),
}

impl PolicyType {
    pub fn from_number(n: u8) -> Self {
        match n {
            0 => PolicyType::Main,
            1 => PolicyType::Sub,
            other => PolicyType::Other(other),
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyType::Main => f.write_str("main"),
            PolicyType::Sub => f.write_str("sub"),
            PolicyType::Other(n) => write!(f, "type-{n}"),
        }
    }
}
