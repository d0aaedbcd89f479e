//! Every cause the engine can name, as a type: a misspelt cause does not compile.
//!
//! The declaration order is the ranking among findings of equal confidence: the order a packet
//! meets the causes (the sender's stack, the wire, the receiver's XFRM input, its policy check, a
//! gateway's forward path, the receiver's IP and UDP layers), outcomes first and `unknown-drop`
//! last. The serialized ids (kebab-case) are stable: scripts, checklists and saved reports use
//! them. docs/causes.md is generated from the rules (`xfrmdiag_report::causes::markdown`).

use serde::{Deserialize, Serialize};

macro_rules! cause_ids {
    ($($(#[$doc:meta])* $variant:ident = $id:literal,)*) => {
        /// A cause id. `Ord` is the ranking (declaration order).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum CauseId {
            $($(#[$doc])* #[serde(rename = $id)] $variant,)*
        }

        impl CauseId {
            /// Every cause, in ranking order.
            pub const ALL: &'static [CauseId] = &[$(CauseId::$variant,)*];

            /// The stable kebab-case id.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CauseId::$variant => $id,)*
                }
            }
        }
    };
}

cause_ids! {
    Delivered = "delivered",
    NoDropSeen = "no-drop-seen",
    NoRoute = "no-route",
    /// The xfrm/VTI interface the flow is routed into is down (route-based VPN).
    TunnelInterfaceDown = "tunnel-interface-down",
    /// The route for the flow's destination leaves outside the tunnel interface whose policies
    /// cover it: the flow leaves in clear.
    NoRouteIntoTunnel = "no-route-into-tunnel",
    /// A NAT rule rewrote the flow around the policy lookup: no policy matched, it left in clear.
    NatBeforePolicy = "nat-before-policy",
    /// The flow is meant to be protected but left this side unencrypted (a security finding).
    CleartextLeak = "cleartext-leak",
    TxDrop = "tx-drop",
    NotReached = "not-reached",
    NoOutboundPolicy = "no-outbound-policy",
    /// The IKE daemon is configured to protect the flow but has no CHILD_SA for it.
    IkeNotEstablished = "ike-not-established",
    /// The daemon's CHILD_SAs were negotiated with selectors that leave the flow out.
    IkeTsMismatch = "ike-ts-mismatch",
    /// The daemon believes a CHILD_SA is installed; the kernel has no SA with its SPI.
    IkeChildSaNotInKernel = "ike-child-sa-not-in-kernel",
    /// A kernel SA no CHILD_SA of the daemon owns.
    KernelSaWithoutIke = "kernel-sa-without-ike",
    /// An SA's `if_id` (or VTI key/mark) differs from its policy's: the lookup finds no state.
    IfIdMismatch = "if-id-mismatch",
    SaExpired = "sa-expired",
    NoOutboundSa = "no-outbound-sa",
    PolicyBlockOut = "policy-block-out",
    /// A default `block` policy (out, in or fwd) stopped the flow: no policy matched it.
    DefaultPolicyBlock = "default-policy-block",
    OutboundMtu = "outbound-mtu",
    SaInvalid = "sa-invalid",
    SaDirectionMismatch = "sa-direction-mismatch",
    SaSeqOverflow = "sa-seq-overflow",
    NoInboundSa = "no-inbound-sa",
    SaAuthFailure = "sa-auth-failure",
    SaKeyMismatch = "sa-key-mismatch",
    SaSelectorMismatch = "sa-selector-mismatch",
    ReplayWindow = "replay-window",
    SaModeMismatch = "sa-mode-mismatch",
    EncapMismatch = "encap-mismatch",
    NatTSocketMissing = "nat-t-socket-missing",
    PolicyTemplateMismatch = "policy-template-mismatch",
    NoInboundPolicy = "no-inbound-policy",
    PolicyBlockIn = "policy-block-in",
    ForwardPolicyMissing = "forward-policy-missing",
    ForwardNoRoute = "forward-no-route",
    /// Packets above the path MTU die on the way and the ICMP that says so never arrives.
    PmtuBlackhole = "pmtu-blackhole",
    RpFilter = "rp-filter",
    FirewallDrop = "firewall-drop",
    NoSocket = "no-socket",
    SocketBufferFull = "socket-buffer-full",
    UdpChecksum = "udp-checksum",
    UnknownDrop = "unknown-drop",
}

impl std::fmt::Display for CauseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CauseId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CauseId::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a cause id (see docs/causes.md)"))
    }
}

impl PartialEq<str> for CauseId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CauseId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for CauseId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip() {
        for (i, c) in CauseId::ALL.iter().enumerate() {
            let id = c.as_str();
            assert!(
                id.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{id} is not kebab-case"
            );
            assert!(!CauseId::ALL[i + 1..].iter().any(|o| o.as_str() == id));
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{id}\""));
            assert_eq!(id.parse::<CauseId>(), Ok(*c));
        }
    }

    #[test]
    fn ranking_is_the_declaration_order() {
        assert!(CauseId::Delivered < CauseId::NoRoute);
        assert!(CauseId::NatTSocketMissing < CauseId::PolicyTemplateMismatch);
        assert!(CauseId::UdpChecksum < CauseId::UnknownDrop);
    }
}
