//! What a checklist file says: the checks, typed, after variables were substituted.
//!
//! Every struct here is what one `[[check]]` table must look like for its `kind`; unknown keys are
//! rejected (`deny_unknown_fields`) so a typo never silently turns a check into a no-op.

use serde::{Deserialize, Serialize};

/// A loaded checklist: validated, variables substituted, ready to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checklist {
    pub name: String,
    pub description: Option<String>,
    /// Where it came from: a file path or `builtin:NAME`.
    pub source: String,
    pub checks: Vec<Check>,
}

impl Checklist {
    /// Why this checklist needs root here, if it does: entering a named namespace needs
    /// CAP_SYS_ADMIN, XFRM netlink dumps CAP_NET_ADMIN, tracefs root. `None`: sysctls, sockets,
    /// features and counters of the caller's namespace are readable without it.
    pub fn needs_root(&self, default_netns_named: bool) -> Option<String> {
        if default_netns_named {
            return Some("entering a named namespace (-n)".into());
        }
        self.checks.iter().find_map(|c| {
            if c.netns.is_some() {
                return Some(format!(
                    "check `{}` enters namespace {}",
                    c.name,
                    c.netns.as_deref().unwrap_or_default()
                ));
            }
            match &c.spec {
                Spec::Sa(_)
                | Spec::SaSeqHeadroom(_)
                | Spec::SaLifetime(_)
                | Spec::Policy(_)
                | Spec::DefaultPolicy(_)
                | Spec::IkeConnection(_) => Some(format!(
                    "check `{}` reads XFRM configuration over netlink",
                    c.name
                )),
                Spec::TraceCapability(_) => Some(format!("check `{}` probes tracefs", c.name)),
                Spec::Diagnose(_) => Some(format!("check `{}` runs a diagnosis", c.name)),
                _ => None,
            }
        })
    }
}

/// One check with the keys every kind shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// Shown in reports and used by `around`; defaults to a description of the check.
    pub name: String,
    /// Run this check in another namespace than the one given with `-n`.
    pub netns: Option<String>,
    pub severity: Severity,
    /// 1-based line of the `[[check]]` table, for messages.
    pub line: usize,
    pub spec: Spec,
}

/// What a failing check means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure fails the run (exit 1).
    #[default]
    Error,
    /// A failure is reported as `warn` and does not fail the run.
    Warning,
}

/// The kind-specific part of a check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Spec {
    Sysctl(SysctlCheck),
    Socket(SocketCheck),
    ModuleOrFeature(FeatureCheck),
    DefaultPolicy(DefaultPolicyCheck),
    Sa(SaCheck),
    SaSeqHeadroom(SaSeqHeadroomCheck),
    SaLifetime(SaLifetimeCheck),
    Policy(PolicyCheck),
    Counter(CounterCheck),
    TraceCapability(TraceCheck),
    Diagnose(DiagnoseCheck),
    IkeConnection(IkeConnectionCheck),
}

/// The `kind` values, in the order the docs list them.
pub const KINDS: &[&str] = &[
    "sa",
    "sa-seq-headroom",
    "sa-lifetime",
    "policy",
    "default-policy",
    "sysctl",
    "counter",
    "socket",
    "module-or-feature",
    "trace-capability",
    "diagnose",
    "ike-connection",
];

impl Spec {
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::Sysctl(_) => "sysctl",
            Spec::Socket(_) => "socket",
            Spec::ModuleOrFeature(_) => "module-or-feature",
            Spec::DefaultPolicy(_) => "default-policy",
            Spec::Sa(_) => "sa",
            Spec::SaSeqHeadroom(_) => "sa-seq-headroom",
            Spec::SaLifetime(_) => "sa-lifetime",
            Spec::Policy(_) => "policy",
            Spec::Counter(_) => "counter",
            Spec::TraceCapability(_) => "trace-capability",
            Spec::Diagnose(_) => "diagnose",
            Spec::IkeConnection(_) => "ike-connection",
        }
    }

    /// A name for a check that has none: the kind and what it looks at.
    pub fn default_name(&self) -> String {
        match self {
            Spec::Sysctl(c) => format!("sysctl {}", c.key),
            Spec::Socket(c) => format!("{} socket on port {}", c.proto.as_str(), c.port),
            Spec::ModuleOrFeature(c) => format!("feature {}", c.feature.as_str()),
            Spec::DefaultPolicy(c) => format!("default policy {}", c.dir.as_str()),
            Spec::Sa(c) => format!(
                "sa {} -> {}",
                c.src.as_deref().unwrap_or("any"),
                c.dst.as_deref().unwrap_or("any")
            ),
            Spec::SaSeqHeadroom(c) => format!(
                "sequence headroom of sa {} -> {}",
                c.src.as_deref().unwrap_or("any"),
                c.dst.as_deref().unwrap_or("any")
            ),
            Spec::SaLifetime(c) => format!(
                "lifetime of sa {} -> {}",
                c.src.as_deref().unwrap_or("any"),
                c.dst.as_deref().unwrap_or("any")
            ),
            Spec::Policy(c) => format!(
                "policy {} {} -> {}",
                c.dir.as_str(),
                c.src.as_deref().unwrap_or("any"),
                c.dst.as_deref().unwrap_or("any")
            ),
            Spec::Counter(c) => format!("counter {}", c.counter),
            Spec::TraceCapability(c) => format!("trace {}", c.need.as_str()),
            Spec::Diagnose(c) => format!("diagnose {}:{}", c.dst, c.port),
            Spec::IkeConnection(c) => format!("ike connection {}", c.connection),
        }
    }
}

/// An integer that may also be written as a string, so `"${port}"` works where a number goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer (or a string holding one, such as \"${port}\")")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Int, E> {
                parse_int(v)
                    .map(Int)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &"an integer"))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Decimal or `0x` hex, as SPIs and marks are written.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// A value compared as text: a TOML string, integer or boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, integer or boolean")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(if v { "1" } else { "0" }.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `kind = "sysctl"`: a value under /proc/sys, read in the check's namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlCheck {
    /// `net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/rp_filter` (slashes keep dots in names).
    pub key: String,
    /// The value must equal this (whitespace between fields is normalised).
    pub equals: Option<Scalar>,
    /// The value must be one of these.
    pub one_of: Option<Vec<Scalar>>,
    /// Numeric lower bound (inclusive).
    pub min: Option<Int>,
    /// Numeric upper bound (inclusive).
    pub max: Option<Int>,
}

/// `kind = "socket"`: a socket bound on a local port (UDP by default: the NAT-T socket on 4500).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketCheck {
    pub port: Int,
    #[serde(default)]
    pub proto: SocketProto,
    /// Only a socket bound to this address (or to the wildcard) counts.
    pub address: Option<String>,
    #[serde(default)]
    pub family: Family,
    /// `false`: the check passes when no such socket exists.
    #[serde(default = "yes")]
    pub present: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketProto {
    #[default]
    Udp,
    Tcp,
}

impl SocketProto {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketProto::Udp => "udp",
            SocketProto::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Any,
    Ipv4,
    Ipv6,
}

/// `kind = "module-or-feature"`: a kernel feature IPsec needs, loaded or built in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureCheck {
    pub feature: Feature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// The XFRM netlink interface (`ip xfrm`, every IKE daemon).
    XfrmUser,
    /// /proc/net/xfrm_stat (CONFIG_XFRM_STATISTICS).
    XfrmStatistics,
    Esp4,
    Esp6,
    Ah4,
    Ah6,
    Ipcomp4,
    Ipcomp6,
    /// xfrm interfaces (`ip link add type xfrm`).
    XfrmInterface,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::XfrmUser => "xfrm-user",
            Feature::XfrmStatistics => "xfrm-statistics",
            Feature::Esp4 => "esp4",
            Feature::Esp6 => "esp6",
            Feature::Ah4 => "ah4",
            Feature::Ah6 => "ah6",
            Feature::Ipcomp4 => "ipcomp4",
            Feature::Ipcomp6 => "ipcomp6",
            Feature::XfrmInterface => "xfrm-interface",
        }
    }
}

/// Policy direction and action are the inventory's own types: a checklist names them as
/// `xfrmdiag policy` prints them (`in`/`out`/`fwd`, `allow`/`block`).
pub use xfrmdiag_inventory::{Action, Direction as Dir};

/// `kind = "default-policy"`: what the kernel does with packets no policy matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultPolicyCheck {
    pub dir: Dir,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XfrmProto {
    Esp,
    Ah,
    Comp,
}

impl XfrmProto {
    pub fn as_str(self) -> &'static str {
        match self {
            XfrmProto::Esp => "esp",
            XfrmProto::Ah => "ah",
            XfrmProto::Comp => "comp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Transport,
    Tunnel,
    Beet,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Transport => "transport",
            Mode::Tunnel => "tunnel",
            Mode::Beet => "beet",
        }
    }
}

/// UDP/TCP encapsulation of an SA, as `ip xfrm state` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encap {
    None,
    Espinudp,
    EspinudpNonike,
    Espintcp,
}

impl Encap {
    pub fn as_str(self) -> &'static str {
        match self {
            Encap::None => "none",
            Encap::Espinudp => "espinudp",
            Encap::EspinudpNonike => "espinudp-nonike",
            Encap::Espintcp => "espintcp",
        }
    }
}

/// `kind = "sa"`: SAs matching every given field exist, in number and with lifetime to spare.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaCheck {
    pub src: Option<String>,
    pub dst: Option<String>,
    pub proto: Option<XfrmProto>,
    /// `0x…` or decimal.
    pub spi: Option<Int>,
    pub mode: Option<Mode>,
    pub encap: Option<Encap>,
    pub reqid: Option<Int>,
    /// At least this many SAs must match (default 1).
    pub min_count: Option<Int>,
    /// At most this many (e.g. 2 during a rekey).
    pub max_count: Option<Int>,
    /// Fail when an SA has used more than (100 - this)% of a hard limit (bytes, packets, time).
    pub lifetime_margin_percent: Option<Int>,
    /// Count larval SAs (no keys yet, IKE still negotiating) too.
    #[serde(default)]
    pub include_larval: bool,
}

/// `kind = "sa-seq-headroom"`: every matching outbound SA has sequence numbers to spare
/// (32-bit space, or 64-bit with ESN). Without ESN the kernel stops sending on an SA whose
/// sequence number would wrap, so an SA that IKE does not rekey in time goes silent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaSeqHeadroomCheck {
    pub src: Option<String>,
    pub dst: Option<String>,
    pub spi: Option<Int>,
    pub reqid: Option<Int>,
    /// Fail when less than this share of the sequence space is left (default 10).
    pub min_headroom_percent: Option<Int>,
}

/// `kind = "sa-lifetime"`: every matching SA is further than `min_remaining_seconds` from its
/// hard expiry (time since added or first used), when the kernel deletes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaLifetimeCheck {
    pub src: Option<String>,
    pub dst: Option<String>,
    pub spi: Option<Int>,
    pub reqid: Option<Int>,
    /// Fail when an SA expires sooner than this (default 60).
    pub min_remaining_seconds: Option<Int>,
    /// Look at larval SAs (no keys yet, IKE still negotiating) too.
    #[serde(default)]
    pub include_larval: bool,
}

/// A policy template (`tmpl …`) to expect.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub proto: Option<XfrmProto>,
    pub mode: Option<Mode>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub reqid: Option<Int>,
}

/// `kind = "policy"`: a policy for this selector and direction exists (with action, template).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    pub dir: Dir,
    /// Selector source prefix, `10.0.1.0/24` (an address alone means a host prefix).
    pub src: Option<String>,
    pub dst: Option<String>,
    /// Upper-layer protocol of the selector: `udp`, `tcp`, `icmp` or a number.
    pub l4proto: Option<String>,
    pub action: Option<Action>,
    pub template: Option<TemplateSpec>,
    /// `false`: the check passes when no such policy exists.
    #[serde(default = "yes")]
    pub present: bool,
}

/// `kind = "counter"`: how much a counter moves over a window or around an earlier check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterCheck {
    /// `XfrmInNoStates`, `Udp.InErrors`, `Ip6InDiscards`… (see `xfrmdiag counters`).
    pub counter: String,
    /// Measure over this long, e.g. `"5s"`, `"500ms"`.
    pub window: Option<String>,
    /// Measure around the check with this name (listed before this one).
    pub around: Option<String>,
    /// The delta must be at least this (default 0).
    pub min: Option<Int>,
    /// The delta must be at most this (default: no bound).
    pub max: Option<Int>,
}

/// `kind = "trace-capability"`: what the trace reader can use on this host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceCheck {
    pub need: TraceNeed,
    /// For `need = "tracepoint"`: `skb:kfree_skb` by default.
    pub event: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceNeed {
    Tracefs,
    FunctionTracer,
    Tracepoint,
}

impl TraceNeed {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceNeed::Tracefs => "tracefs",
            TraceNeed::FunctionTracer => "function-tracer",
            TraceNeed::Tracepoint => "tracepoint",
        }
    }
}

/// `kind = "diagnose"`: send test datagrams (and listen) and expect a verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseCheck {
    /// Destination address of the test flow.
    pub dst: String,
    pub port: Int,
    /// Namespace that receives (listens); the check's namespace sends.
    pub listen_netns: Option<String>,
    /// Expected verdict cause id (default `delivered`).
    pub expect: Option<String>,
    /// Datagrams to send (default 3).
    pub count: Option<Int>,
    /// How long to wait for them, e.g. `"2s"` (default).
    pub window: Option<String>,
    /// Capture a drop trace during the window (default true; `false` skips tracefs).
    #[serde(default = "yes")]
    pub trace: bool,
}

/// `kind = "ike-connection"`: connection NAME is established in the IKE daemon and every CHILD_SA
/// it has installed is in the kernel (both SPIs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeConnectionCheck {
    /// The connection's name in the daemon (swanctl.conf `connections.NAME`, ipsec.conf `conn`).
    pub connection: String,
    /// `auto` (default), `strongswan` or `libreswan`.
    #[serde(default)]
    pub ike: IkeDaemonChoice,
    /// The daemon's socket, when not at its default place.
    pub socket: Option<String>,
    /// The daemon's log, read for the reason when the connection is down.
    pub log: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IkeDaemonChoice {
    #[default]
    Auto,
    Strongswan,
    Libreswan,
}
