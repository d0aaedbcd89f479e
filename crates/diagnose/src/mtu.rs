//! ESP overhead and path-MTU arithmetic, the way the kernel does it (`xfrm_state_mtu()` in
//! net/xfrm/xfrm_state.c; `esp4_get_mtu()` before 5.x): what an inner packet may measure so
//! that, once encrypted, it fits the link the ESP packets leave by. Pure arithmetic on the
//! evidence's SA; the findings quote it so an admin can check every step.
//!
//! `inner = ((link - header - icv - net_adj) & !(block - 1)) + net_adj - 2`, with `header` =
//! ESP header (8) + IV + the outer IP header in tunnel mode (20 / 40) + the UDP header with NAT-T
//! (8); `block` the cipher's block size aligned to 4; `net_adj` the IP header in transport mode.
//! The `- 2` is ESP's trailer (pad length, next header). Measured: 1400 B with DF through a
//! tunnel SA (`cbc(aes)`, `hmac(sha256)` truncated to 128 bits) over MTU 1400 fails with
//! EMSGSIZE and the socket learns path MTU 1326 (6.1, 6.12; docs/kernel-notes.md).

use crate::evidence::Sa;

/// How an SA's packets grow, from its algorithms, mode and encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspOverhead {
    /// The cipher's IV carried in every packet.
    pub iv: u32,
    /// Padding aligns the encrypted part to this (the block size, at least 4).
    pub block: u32,
    /// Integrity check value appended (the auth-trunc length, or the AEAD's ICV).
    pub icv: u32,
    /// The outer IP header a tunnel-mode SA adds (0 in transport mode).
    pub outer_ip: u32,
    /// The UDP header NAT-T encapsulation adds.
    pub udp: u32,
    /// The inner packet's IP header in transport mode (it stays outside the encryption).
    pub net_adj: u32,
    /// Whether every algorithm was known; otherwise common defaults were assumed.
    pub exact: bool,
}

/// The ESP header: SPI and sequence number.
const ESP_HEADER: u32 = 8;
/// The ESP trailer's pad-length and next-header bytes.
const ESP_TRAILER: u32 = 2;

impl EspOverhead {
    /// The overhead of `sa` (an ESP SA); `None` for AH, IPComp or an SA without algorithms.
    pub fn of(sa: &Sa) -> Option<EspOverhead> {
        if sa.proto != "esp" {
            return None;
        }
        let v6 = sa.dst.contains(':');
        let ip_header = if v6 { 40 } else { 20 };
        let by_role = |role: &str| sa.algorithms.iter().find(|a| a.role == role);
        let (iv, block, icv, exact) = if let Some(aead) = by_role("aead") {
            let (iv, block, known) = cipher(&aead.name);
            let icv = aead.icv_bits.map(|b| b / 8);
            (iv, block, icv.unwrap_or(16), known && icv.is_some())
        } else {
            let enc = by_role("enc");
            let (iv, block, known) = enc.map_or((0, 4, false), |e| cipher(&e.name));
            let auth = by_role("auth");
            let icv = auth.and_then(|a| a.icv_bits.map(|b| b / 8).or_else(|| full_icv(&a.name)));
            (
                iv,
                block,
                icv.unwrap_or(0),
                known && (auth.is_none() || icv.is_some()),
            )
        };
        let tunnel = sa.mode == "tunnel";
        Some(EspOverhead {
            iv,
            block: block.max(4).next_multiple_of(4),
            icv,
            outer_ip: if tunnel { ip_header } else { 0 },
            udp: match sa.encap.as_ref().map(|e| e.kind.as_str()) {
                Some("espinudp") => 8,
                Some("espinudp-nonike") => 16,
                _ => 0,
            },
            net_adj: if tunnel { 0 } else { ip_header },
            exact,
        })
    }

    /// Bytes in front of the payload: ESP header, IV, outer IP header, UDP header.
    pub fn header(&self) -> u32 {
        ESP_HEADER + self.iv + self.outer_ip + self.udp
    }

    /// The largest inner packet that fits a link of `link_mtu` once encrypted (the kernel's
    /// `xfrm_state_mtu()`).
    pub fn inner_mtu(&self, link_mtu: u32) -> u32 {
        let room = link_mtu.saturating_sub(self.header() + self.icv + self.net_adj);
        ((room & !(self.block - 1)) + self.net_adj).saturating_sub(ESP_TRAILER)
    }

    /// The arithmetic in words, for a finding.
    pub fn explain(&self, link_mtu: u32) -> String {
        let mut parts = vec![format!("ESP header {ESP_HEADER}")];
        if self.iv > 0 {
            parts.push(format!("IV {}", self.iv));
        }
        if self.outer_ip > 0 {
            parts.push(format!("outer IP header {} (tunnel mode)", self.outer_ip));
        }
        if self.udp > 0 {
            parts.push(format!("UDP encapsulation {}", self.udp));
        }
        parts.push(format!("ICV {}", self.icv));
        parts.push(format!(
            "trailer {ESP_TRAILER} after padding to {} B",
            self.block
        ));
        let assumed = if self.exact {
            ""
        } else {
            " (an algorithm's sizes were assumed)"
        };
        format!(
            "link MTU {link_mtu} - ({}) = inner MTU {}{assumed}",
            parts.join(" + "),
            self.inner_mtu(link_mtu)
        )
    }
}

/// TCP's MSS for an inner MTU: minus the IP and TCP headers (20 + 20, or 40 + 20 for IPv6).
pub fn tcp_mss(inner_mtu: u32, ipv6: bool) -> u32 {
    inner_mtu.saturating_sub(if ipv6 { 60 } else { 40 })
}

/// (IV bytes, block size, known) of a kernel cipher name.
fn cipher(name: &str) -> (u32, u32, bool) {
    match name {
        "cbc(aes)" => (16, 16, true),
        "cbc(des3_ede)" | "cbc(des)" | "cbc(blowfish)" | "cbc(cast5)" => (8, 8, true),
        "cbc(serpent)" | "cbc(twofish)" | "cbc(camellia)" => (16, 16, true),
        "ecb(cipher_null)" | "cipher_null" => (0, 4, true),
        // Counter modes and AEADs carry an 8-byte IV and need no padding beyond 4.
        "rfc3686(ctr(aes))"
        | "rfc4106(gcm(aes))"
        | "rfc4309(ccm(aes))"
        | "rfc4543(gcm(aes))"
        | "rfc7539esp(chacha20,poly1305)" => (8, 4, true),
        _ => (16, 16, false),
    }
}

/// The untruncated ICV of an auth algorithm given without auth-trunc (`ip xfrm` `auth`: the
/// kernel then uses the RFC's truncation).
fn full_icv(name: &str) -> Option<u32> {
    match name {
        "hmac(md5)" | "hmac(sha1)" | "xcbc(aes)" | "cmac(aes)" => Some(12),
        "hmac(sha256)" => Some(16),
        "hmac(sha384)" => Some(24),
        "hmac(sha512)" => Some(32),
        "digest_null" => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Algorithm, Encap};

    fn sa(mode: &str, dst: &str, algs: &[(&str, &str, Option<u32>)]) -> Sa {
        Sa {
            src: "192.0.2.1".into(),
            dst: dst.into(),
            proto: "esp".into(),
            spi: "0x00003001".into(),
            mode: mode.into(),
            algorithms: algs
                .iter()
                .map(|(role, name, icv)| Algorithm {
                    role: (*role).into(),
                    name: (*name).into(),
                    icv_bits: *icv,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn cbc_sha256(mode: &str, dst: &str) -> Sa {
        sa(
            mode,
            dst,
            &[
                ("enc", "cbc(aes)", None),
                ("auth", "hmac(sha256)", Some(128)),
            ],
        )
    }

    #[test]
    fn the_measured_tunnel_over_mtu_1400_gives_path_mtu_1326() {
        // Measured on 6.1 and 6.12: 1400 B with DF through this SA over MTU 1400 → EMSGSIZE,
        // path MTU 1326.
        let o = EspOverhead::of(&cbc_sha256("tunnel", "192.0.2.2")).unwrap();
        assert!(o.exact);
        assert_eq!(o.header(), 8 + 16 + 20);
        assert_eq!(o.inner_mtu(1400), 1326);
        assert_eq!(tcp_mss(o.inner_mtu(1400), false), 1286);
        assert_eq!(o.inner_mtu(1500), 1438);
        let text = o.explain(1400);
        assert!(
            text.starts_with("link MTU 1400 - (ESP header 8 + IV 16 + outer IP header 20")
                && text.ends_with("= inner MTU 1326"),
            "{text}"
        );
    }

    #[test]
    fn nat_t_ipv6_transport_and_aead_change_the_sum() {
        let mut natt = cbc_sha256("tunnel", "192.0.2.2");
        natt.encap = Some(Encap {
            kind: "espinudp".into(),
            sport: 4500,
            dport: 4500,
        });
        let o = EspOverhead::of(&natt).unwrap();
        // 8 more in front: (1400 - 52 - 16) & ~15 = 1328, - 2.
        assert_eq!(o.inner_mtu(1400), 1326);
        assert_eq!(o.inner_mtu(1500), 1422);
        let v6 = EspOverhead::of(&cbc_sha256("tunnel", "fdaa::2")).unwrap();
        assert_eq!(v6.inner_mtu(1500), ((1500 - 64 - 16) & !15) - 2);
        assert_eq!(tcp_mss(v6.inner_mtu(1500), true), v6.inner_mtu(1500) - 60);
        // Transport mode: the inner IP header stays in front, outside the padding.
        let t = EspOverhead::of(&cbc_sha256("transport", "192.0.2.2")).unwrap();
        assert_eq!(t.inner_mtu(1400), ((1400 - 24 - 16 - 20) & !15) + 20 - 2);
        let gcm = sa(
            "tunnel",
            "192.0.2.2",
            &[("aead", "rfc4106(gcm(aes))", Some(128))],
        );
        let g = EspOverhead::of(&gcm).unwrap();
        assert_eq!((g.iv, g.block, g.icv), (8, 4, 16));
        assert_eq!(g.inner_mtu(1400), ((1400 - 36 - 16) & !3) - 2);
    }

    #[test]
    fn unknown_algorithms_are_said_to_be_assumed() {
        let o = EspOverhead::of(&sa("tunnel", "192.0.2.2", &[("enc", "cbc(sm4x)", None)])).unwrap();
        assert!(!o.exact);
        assert!(o.explain(1400).contains("assumed"));
        let mut ah = cbc_sha256("tunnel", "192.0.2.2");
        ah.proto = "ah".into();
        assert!(EspOverhead::of(&ah).is_none());
    }
}
