//! What was collected on one side of a flow: plain data, saved and re-read as JSON.
//!
//! This crate is the saved-evidence format (`diagnose --save-evidence`, read by `analyze`): plain
//! serde types, no I/O and no reader's types. The readers' types are converted into these in
//! `xfrmdiag-collect`, so a change in a reader cannot silently change the format; the decision
//! (`xfrmdiag-diagnose`) only reads these types.
//!
//! Every source is an `Option`: a reader that could not run leaves a hole (and says why in
//! `holes`), never an abort and never a guess.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod flows;
mod ike;
mod traffic;

pub use ike::{
    ChildSaInfo, IkeChildConfig, IkeConnection, IkeFailure, IkeJoinFinding, IkeSaInfo, IkeView,
};

/// Version of the evidence file format written by `diagnose --save-evidence`.
pub const EVIDENCE_VERSION: u32 = 1;

/// A saved evidence file: one or two sides of the same test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvidenceFile {
    pub xfrmdiag_evidence: u32,
    pub sides: Vec<SideEvidence>,
}

/// What one side (a host or a namespace) saw during the test window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideEvidence {
    /// Namespace name, or `(current)`; for a remote host its name.
    pub namespace: String,
    pub role: Role,
    /// The flow under test, as the user gave it.
    #[serde(default)]
    pub flow: Option<Flow>,
    /// What the test traffic did on this side.
    #[serde(default)]
    pub traffic: Option<Traffic>,
    /// Counter changes over the window.
    #[serde(default)]
    pub counters: Option<Counters>,
    /// The drop trace taken during the window. `kfree_skb` is system wide: with two namespaces on
    /// one machine the capture covers both and is attached to one side only.
    #[serde(default)]
    pub trace: Option<TraceSummary>,
    #[serde(default)]
    pub inventory: Option<Inventory>,
    /// The route the flow takes from this side (`ip route get`).
    #[serde(default)]
    pub route: Option<RouteInfo>,
    /// The route the flow's ESP packets take (to the outer destination of the outbound SA that
    /// carries the flow), with its device's MTU: the link the ESP overhead must fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp_route: Option<RouteInfo>,
    #[serde(default)]
    pub sysctls: Option<Sysctls>,
    /// XFRM events seen during the window (ACQUIRE, EXPIRE, REPORT, …).
    #[serde(default)]
    pub events: Option<Vec<XfrmEvent>>,
    /// nftables rule counters that moved during the window (where nft exists).
    #[serde(default)]
    pub firewall: Option<Vec<FirewallHit>>,
    /// The netfilter tables of this side's namespace after the window (`inet filter`,
    /// `iptables filter` for a legacy one); `None` when they could not be read (no `nft`).
    /// `skb:kfree_skb` is system wide: a `NETFILTER_DROP` cannot come from a namespace
    /// without any table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netfilter_tables: Option<Vec<String>>,
    /// xfrm and VTI interfaces of this side (route-based VPNs), read before the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_links: Option<Vec<TunnelLink>>,
    /// The NAT rules of this side's nftables ruleset (source and destination NAT), each with how
    /// many packets its counter counted during the window: NAT that rewrites a flow around the
    /// policy lookup makes it leave in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Vec<NatRule>>,
    /// UDP ports the SAs' NAT-T encapsulation uses (on either side), and whether a socket is
    /// bound on each here (an IKE daemon keeps its UDP_ENCAP_ESPINUDP socket on 4500).
    #[serde(default)]
    pub encap_sockets: Option<Vec<EncapSocket>>,
    /// The IKE daemon's view, when one was reachable on this side (`diagnose --ike`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike: Option<IkeView>,
    /// RFC 3339 time the window closed.
    #[serde(default)]
    pub collected_at: String,
    /// Sources that could not be read, each with why (`"trace: function tracer refused"`).
    #[serde(default)]
    pub holes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends the test traffic (`--send`, `--exec`).
    #[default]
    Sender,
    /// Receives it (`--listen`, `--observe`).
    Receiver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Receiver => "receiver",
        }
    }
}

/// The flow under test: UDP to `dst:port`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flow {
    pub proto: String,
    /// Destination address; absent on a receiver that only knows its port.
    #[serde(default)]
    pub dst: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub sport: Option<u16>,
}

/// What the test traffic did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Traffic {
    Send(SendResult),
    Listen(ListenResult),
    Observe(ObserveResult),
    Exec(ExecResult),
    /// A TCP test connection.
    Tcp(TcpSendResult),
    /// A TCP listener.
    #[serde(rename = "tcp-listen")]
    TcpListen(TcpListenResult),
    /// ICMP echo requests.
    Icmp(IcmpResult),
}

pub use flows::{IcmpError, IcmpResult, TcpInfo, TcpListenResult, TcpSendResult, TunnelLink};

pub use traffic::{CounterChange, ExecResult, ListenResult, ObserveResult, SendError, SendResult};

/// Counters whose *not* moving the decision uses (a packet never arrived; EPERM that no policy
/// gave). Collectors list these in [`Counters::read`] when they were read on both ends.
pub const WATCHED_UNCHANGED: &[&str] = &["Ip.InReceives", "Ip6InReceives", "XfrmOutPolBlock"];

/// Counter changes over the window. Names: xfrm_stat as written (`XfrmInTmplMismatch`),
/// `Group.Name` for snmp/netstat (`Udp.InErrors`), snmp6 as written, `sa:<spi>:<field>` per SA.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// Only counters that moved.
    pub delta: BTreeMap<String, CounterChange>,
    /// Of [`WATCHED_UNCHANGED`] and the SAs' `sa:<spi>:packets`, those read before and after
    /// (so "did not move" is known, not assumed).
    #[serde(default)]
    pub read: Vec<String>,
}

impl Counters {
    /// How much `name` grew; `None` when it did not move or was reset.
    pub fn increase(&self, name: &str) -> Option<u64> {
        match self.delta.get(name) {
            Some(CounterChange::Increased(n)) if *n > 0 => Some(*n),
            _ => None,
        }
    }

    /// True when `name` was read on both ends of the window and did not move.
    pub fn known_unchanged(&self, name: &str) -> bool {
        self.read.iter().any(|r| r == name) && !self.delta.contains_key(name)
    }
}

/// The drop trace of the window, summarised.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceSummary {
    /// `skb:kfree_skb` drops grouped by reason and location.
    pub drops: Vec<TraceDrop>,
    /// `xfrm_audit_*` functions hit (need the function tracer), with counts.
    #[serde(default)]
    pub audit_markers: Vec<(String, u64)>,
    /// Whether the function tracer could be used (`used`, `refused`, `absent`).
    #[serde(default)]
    pub function_tracer: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TraceDrop {
    /// Drop reason as the kernel names it: `XFRM_POLICY`, `NO_SOCKET`, `NOT_SPECIFIED`, …
    pub reason: String,
    /// `symbol+0xoff`.
    pub location: String,
    pub count: u64,
}

impl TraceDrop {
    /// The function the drop happened in, without the offset.
    pub fn symbol(&self) -> &str {
        self.location.split('+').next().unwrap_or_default()
    }
}

/// The XFRM configuration of a side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Inventory {
    #[serde(default)]
    pub sas: Option<Vec<Sa>>,
    #[serde(default)]
    pub policies: Option<Vec<Policy>>,
    #[serde(default)]
    pub info: Option<XfrmInfo>,
}

/// An SA as the inventory reads it (keys only as fingerprints).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sa {
    pub src: String,
    pub dst: String,
    /// `esp`, `ah`, `comp`.
    pub proto: String,
    /// `0x%08x`.
    pub spi: String,
    pub reqid: u32,
    /// `transport`, `tunnel`, `beet`, …
    pub mode: String,
    #[serde(default)]
    pub encap: Option<Encap>,
    #[serde(default)]
    pub mark: Option<Mark>,
    #[serde(default)]
    pub if_id: Option<u32>,
    /// `in` / `out` when the SA carries a direction (kernel 6.10+).
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub selector: Option<Selector>,
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    #[serde(default)]
    pub replay_window: Option<u32>,
    #[serde(default)]
    pub esn: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Encap {
    /// `espinudp`, `espinudp-nonike`, `espintcp`.
    pub kind: String,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mark {
    pub value: u32,
    pub mask: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Algorithm {
    /// `auth`, `enc`, `aead`, `comp`.
    pub role: String,
    pub name: String,
    #[serde(default)]
    pub key_fingerprint: Option<String>,
    #[serde(default)]
    pub key_bits: Option<u32>,
    /// The integrity check value in bits (auth-trunc's truncation, or the AEAD's ICV length):
    /// part of the ESP overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icv_bits: Option<u32>,
}

/// A traffic selector; addresses as `prefix/len`, `None` for "any".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Selector {
    pub src: String,
    pub dst: String,
    /// Protocol name or number; `None` = any.
    #[serde(default)]
    pub proto: Option<String>,
    #[serde(default)]
    pub sport: Option<u16>,
    #[serde(default)]
    pub dport: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Policy {
    /// `in`, `out`, `fwd`.
    pub dir: String,
    /// `allow`, `block`.
    pub action: String,
    pub priority: u32,
    pub selector: Selector,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default)]
    pub mark: Option<Mark>,
    #[serde(default)]
    pub if_id: Option<u32>,
    /// A per-socket policy (an IKE daemon's bypass): it applies to one socket, not by selector.
    #[serde(default)]
    pub socket: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Template {
    pub proto: String,
    pub mode: String,
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub dst: Option<String>,
    #[serde(default)]
    pub reqid: u32,
    /// `level use`: the packet may pass without this transform.
    #[serde(default)]
    pub optional: bool,
}

/// SPD/SAD counts and default policies.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct XfrmInfo {
    /// Default action per direction (`allow`/`block`), from `ip xfrm policy getdefault`.
    #[serde(default)]
    pub default_in: Option<String>,
    #[serde(default)]
    pub default_out: Option<String>,
    #[serde(default)]
    pub default_fwd: Option<String>,
}

/// `ip route get DST` from this side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteInfo {
    pub dst: String,
    /// `unicast`, `local`, `unreachable`, …
    pub kind: String,
    #[serde(default)]
    pub dev: Option<String>,
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// The sysctls that decide a packet's fate, read inside the side's namespace.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sysctls {
    /// `net.ipv4.conf.{all,DEV}.rp_filter`, keyed by `all` / device name.
    #[serde(default)]
    pub rp_filter: BTreeMap<String, u32>,
    /// `net.ipv4.conf.DEV.disable_policy` per device (1 = the device skips policy checks).
    #[serde(default)]
    pub disable_policy: BTreeMap<String, u32>,
    #[serde(default)]
    pub disable_xfrm: BTreeMap<String, u32>,
    #[serde(default)]
    pub ip_forward: Option<u32>,
    /// `net.ipv6.conf.all.forwarding` (absent in evidence saved before it was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6_forward: Option<u32>,
}

/// An XFRM netlink event seen during the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct XfrmEvent {
    /// `acquire`, `expire`, `report`, `newsa`, `delsa`, …
    pub kind: String,
    /// One line as `ip xfrm monitor` would print it (keys fingerprinted).
    pub text: String,
    /// For EXPIRE: a hard expiry (the SA is gone).
    #[serde(default)]
    pub hard: Option<bool>,
}

/// A NAT-T port and whether a UDP socket is bound on it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncapSocket {
    pub port: u16,
    pub bound: bool,
}

/// An nftables rule whose counter moved during the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirewallHit {
    pub rule: String,
    pub verdict: String,
    pub packets: u64,
}

/// An nftables NAT rule (`masquerade`, `snat`, `dnat`, `redirect`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NatRule {
    /// `family table chain #handle: text`, as `nft -a list ruleset` shows it.
    pub rule: String,
    /// `masquerade`, `snat`, `dnat`, `redirect`.
    pub statement: String,
    /// The hook of its chain: `prerouting`, `input`, `output`, `postrouting`.
    #[serde(default)]
    pub hook: Option<String>,
    /// Packets its counter counted during the window; `None` when the rule has no `counter`.
    /// NAT rules see the first packet of each connection only.
    #[serde(default)]
    pub packets: Option<u64>,
}

impl NatRule {
    /// Source NAT runs in postrouting (after the policy lookup: the kernel looks up again);
    /// destination NAT in prerouting/output.
    pub fn is_source_nat(&self) -> bool {
        matches!(self.statement.as_str(), "masquerade" | "snat")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evidence saved by the release that fixed format 1, before these types had a crate of
    /// their own (tests/fixtures/6.18-evidence-v1/README).
    const SAVED_V1: &str =
        include_str!("../../../tests/fixtures/6.18-evidence-v1/policy-template-mismatch.json");

    #[test]
    fn evidence_saved_in_format_1_reads_and_writes_back_unchanged() {
        let file: EvidenceFile = serde_json::from_str(SAVED_V1).expect("format 1 still reads");
        assert_eq!(file.xfrmdiag_evidence, 1);
        assert_eq!(file.sides.len(), 2);
        let written = serde_json::to_value(&file).unwrap();
        let saved: serde_json::Value = serde_json::from_str(SAVED_V1).unwrap();
        assert_eq!(written, saved, "the saved format changed");
    }

    #[test]
    fn counter_changes_keep_their_json_shape() {
        for (change, json) in [
            (CounterChange::Unchanged, r#""unchanged""#),
            (CounterChange::Increased(3), r#"{"increased":3}"#),
            (CounterChange::Decreased(2), r#"{"decreased":2}"#),
            (
                CounterChange::Reset {
                    before: 10,
                    after: 1,
                },
                r#"{"reset":{"before":10,"after":1}}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&change).unwrap(), json);
            assert_eq!(serde_json::from_str::<CounterChange>(json).unwrap(), change);
        }
    }
}
