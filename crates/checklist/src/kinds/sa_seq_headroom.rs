//! `kind = "sa-seq-headroom"`: outbound SAs have sequence numbers to spare.
//!
//! An ESP sender numbers every packet. Without ESN the space is 32 bits and the kernel refuses
//! to wrap it (XfrmOutStateSeqError, unless the SA has `oseq-may-wrap`): an SA IKE did not rekey
//! in time goes silent. With ESN the space is 64 bits. The same figures are exported as
//! `xfrmdiag_sa_output_sequence_used_ratio` by `watch --prometheus`.

use std::net::IpAddr;

use xfrmdiag_inventory::{Direction, Sa};

use super::{Context, Outcome};
use crate::model::{Int, SaSeqHeadroomCheck};

/// How much of an SA's outbound sequence space is used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqUsage {
    /// Last sequence number sent (64 bits with ESN).
    pub sent: u64,
    /// True when the SA uses extended (64-bit) sequence numbers.
    pub esn: bool,
    /// Share of the space used, 0.0 to 1.0.
    pub used_ratio: f64,
}

/// The outbound sequence number and the share of its space (2^32, or 2^64 with ESN) used.
pub fn seq_usage(sa: &Sa) -> SeqUsage {
    let esn = sa.flags.iter().any(|f| f == "esn");
    let high = if esn {
        sa.replay.oseq_hi.unwrap_or(0)
    } else {
        0
    };
    let sent = (u64::from(high) << 32) | u64::from(sa.replay.oseq);
    let space = if esn { 2f64.powi(64) } else { 2f64.powi(32) };
    SeqUsage {
        sent,
        esn,
        used_ratio: sent as f64 / space,
    }
}

/// False only for SAs known to be inbound: by XFRMA_SA_DIR, or by having received packets and
/// sent none. Outbound sequence numbers mean nothing on an inbound SA.
pub fn may_be_outbound(sa: &Sa) -> bool {
    match sa.direction {
        Some(Direction::Out) => true,
        Some(_) => false,
        None => !(sa.replay.oseq == 0 && sa.replay.oseq_hi.unwrap_or(0) == 0 && sa.replay.seq > 0),
    }
}

/// The SA selection keys `sa-seq-headroom` and `sa-lifetime` share.
pub(crate) fn selected(
    sa: &Sa,
    src: &Option<String>,
    dst: &Option<String>,
    spi: Option<Int>,
    reqid: Option<Int>,
) -> bool {
    let addr = |want: &Option<String>, have: IpAddr| {
        want.as_deref()
            .is_none_or(|w| w.parse::<IpAddr>().is_ok_and(|w| w == have))
    };
    addr(src, sa.src)
        && addr(dst, sa.dst)
        && spi.is_none_or(|s| i64::from(sa.spi.0) == s.0)
        && reqid.is_none_or(|r| i64::from(sa.reqid) == r.0)
}

/// Checks the shared selection keys when the file is loaded.
pub(crate) fn validate_select(
    src: &Option<String>,
    dst: &Option<String>,
    spi: Option<Int>,
) -> Result<(), String> {
    for (key, value) in [("src", src), ("dst", dst)] {
        if let Some(v) = value {
            if v.parse::<IpAddr>().is_err() {
                return Err(format!("`{key} = \"{v}\"` is not an IP address"));
            }
        }
    }
    if let Some(spi) = spi {
        if u32::try_from(spi.0).is_err() {
            return Err(format!("`spi = {}` does not fit in 32 bits", spi.0));
        }
    }
    Ok(())
}

pub fn run(check: &SaSeqHeadroomCheck, ctx: &Context) -> Outcome {
    match xfrmdiag_inventory::dump_sas(&ctx.netns) {
        Ok(sas) => evaluate(check, &sas),
        Err(e) => Outcome::fail(format!("cannot read the SAs: {e}"), None),
    }
}

pub fn evaluate(check: &SaSeqHeadroomCheck, sas: &[Sa]) -> Outcome {
    let min_headroom = check.min_headroom_percent.map_or(10, |m| m.0) as f64;
    let mut outbound: Vec<(&Sa, SeqUsage)> = sas
        .iter()
        .filter(|sa| selected(sa, &check.src, &check.dst, check.spi, check.reqid))
        .filter(|sa| may_be_outbound(sa))
        .map(|sa| (sa, seq_usage(sa)))
        .collect();
    if outbound.is_empty() {
        return Outcome::skip(format!(
            "no matching outbound SA among {} SAs: nothing to measure",
            sas.len()
        ));
    }
    outbound.sort_by(|a, b| b.1.used_ratio.total_cmp(&a.1.used_ratio));
    let (worst, usage) = outbound[0];
    let headroom = 100.0 * (1.0 - usage.used_ratio);
    let observed = Some(format!(
        "spi {} {} -> {}: sequence {} of {} ({:.4}% used); {} outbound SA(s) matched",
        worst.spi,
        worst.src,
        worst.dst,
        usage.sent,
        if usage.esn { "2^64 (ESN)" } else { "2^32" },
        100.0 * usage.used_ratio,
        outbound.len()
    ));
    if headroom < min_headroom {
        let consequence = if usage.esn {
            "rekey it"
        } else {
            "without ESN the kernel stops sending on it when the space runs out: rekey it sooner (shorter lifetime in packets) or enable ESN"
        };
        return Outcome::fail(
            format!(
                "SA spi {} has {headroom:.1}% of its sequence space left, less than {min_headroom:.0}%: {consequence}",
                worst.spi
            ),
            observed,
        );
    }
    Outcome::pass(
        format!("at least {headroom:.1}% of the sequence space left on every matching outbound SA"),
        observed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Verdict;

    /// A real `allocspi` SA from a 6.18 kernel (SPI 0x1f3c), with sequence numbers set by hand.
    fn sa(oseq: u32, oseq_hi: Option<u32>, esn: bool) -> Sa {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/linux-6.18-netlink-sa-larval/getsa-dump.bin"
        ))
        .expect("fixture");
        let mut sa = xfrmdiag_inventory::sas_from_netlink_bytes(&bytes)
            .expect("decodes")
            .into_iter()
            .find(|s| s.spi.0 == 0x1f3c)
            .expect("allocspi SA");
        sa.replay.oseq = oseq;
        sa.replay.oseq_hi = oseq_hi;
        if esn {
            sa.flags.push("esn".into());
        }
        sa
    }

    fn check(percent: Option<i64>) -> SaSeqHeadroomCheck {
        SaSeqHeadroomCheck {
            src: None,
            dst: None,
            spi: Some(Int(0x1f3c)),
            reqid: None,
            min_headroom_percent: percent.map(Int),
        }
    }

    #[test]
    fn without_esn_the_space_is_32_bits() {
        let nearly_full = sa(0xF000_0000, None, false);
        let usage = seq_usage(&nearly_full);
        assert!((usage.used_ratio - 0.9375).abs() < 1e-9);
        let out = evaluate(&check(None), std::slice::from_ref(&nearly_full));
        assert_eq!(out.verdict, Verdict::Fail);
        assert!(
            out.reason.contains("6.2% of its sequence space left"),
            "{}",
            out.reason
        );
        assert!(out.reason.contains("enable ESN"), "{}", out.reason);
        assert_eq!(
            evaluate(&check(Some(5)), &[nearly_full]).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn with_esn_the_high_word_counts_and_the_space_is_64_bits() {
        let esn = sa(0xF000_0000, Some(3), true);
        let usage = seq_usage(&esn);
        assert_eq!(usage.sent, (3u64 << 32) | 0xF000_0000);
        assert!(usage.used_ratio < 1e-9);
        assert_eq!(evaluate(&check(None), &[esn]).verdict, Verdict::Pass);
        // A stale high word without the ESN flag is ignored, as the kernel does.
        assert_eq!(seq_usage(&sa(5, Some(7), false)).sent, 5);
    }

    #[test]
    fn inbound_sas_are_not_measured() {
        let mut inbound = sa(0, None, false);
        inbound.replay.seq = 100;
        let out = evaluate(&check(None), std::slice::from_ref(&inbound));
        assert_eq!(out.verdict, Verdict::Skip, "{}", out.reason);
        inbound.direction = Some(Direction::Out);
        assert_eq!(evaluate(&check(None), &[inbound]).verdict, Verdict::Pass);
    }
}
