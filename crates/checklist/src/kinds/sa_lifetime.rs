//! `kind = "sa-lifetime"`: SAs are not about to reach their hard expiry, when the kernel deletes
//! them and traffic stops until IKE installs new ones. IKE rekeys at the soft expiry; an SA near
//! its hard expiry means the rekey did not happen. The same figures are exported as
//! `xfrmdiag_sa_time_to_{soft,hard}_expiry_seconds` by `watch --prometheus`.

use std::time::{SystemTime, UNIX_EPOCH};

use xfrmdiag_inventory::Sa;

use super::sa::is_larval;
use super::sa_seq_headroom::selected;
use super::{Context, Outcome};
use crate::model::SaLifetimeCheck;

/// Seconds until an SA's soft and hard time limits, when it has them. A limit counted from first
/// use does not run until the SA was used. Never negative: 0 means reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expiry {
    pub soft_seconds: Option<u64>,
    pub hard_seconds: Option<u64>,
}

/// The nearest time limit of an SA at Unix time `now`, from its lifetime config and use.
pub fn expiry(sa: &Sa, now: u64) -> Expiry {
    let cfg = &sa.lifetime.config;
    let cur = &sa.lifetime.current;
    let until = |since: u64, limit: Option<u64>| {
        limit
            .filter(|l| *l > 0 && since > 0)
            .map(|l| (since + l).saturating_sub(now))
    };
    let nearest = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Expiry {
        soft_seconds: nearest(
            until(cur.add_time, cfg.soft_add_expires_seconds),
            until(cur.use_time, cfg.soft_use_expires_seconds),
        ),
        hard_seconds: nearest(
            until(cur.add_time, cfg.hard_add_expires_seconds),
            until(cur.use_time, cfg.hard_use_expires_seconds),
        ),
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn run(check: &SaLifetimeCheck, ctx: &Context) -> Outcome {
    match xfrmdiag_inventory::dump_sas(&ctx.netns) {
        Ok(sas) => evaluate(check, &sas, unix_now()),
        Err(e) => Outcome::fail(format!("cannot read the SAs: {e}"), None),
    }
}

pub fn evaluate(check: &SaLifetimeCheck, sas: &[Sa], now: u64) -> Outcome {
    let min = check
        .min_remaining_seconds
        .map_or(60, |m| m.0.max(0) as u64);
    let matching: Vec<&Sa> = sas
        .iter()
        .filter(|sa| selected(sa, &check.src, &check.dst, check.spi, check.reqid))
        .filter(|sa| check.include_larval || !is_larval(sa))
        .collect();
    if matching.is_empty() {
        return Outcome::skip(format!(
            "no matching SA among {} SAs: nothing to measure",
            sas.len()
        ));
    }
    let nearest = matching
        .iter()
        .filter_map(|sa| expiry(sa, now).hard_seconds.map(|s| (*sa, s)))
        .min_by_key(|(_, s)| *s);
    let Some((sa, seconds)) = nearest else {
        return Outcome::pass(
            format!(
                "{} matching SA(s), none with a hard time limit",
                matching.len()
            ),
            None,
        );
    };
    let observed = Some(format!(
        "spi {} {} -> {} reaches its hard expiry in {seconds} s; {} SA(s) matched",
        sa.spi,
        sa.src,
        sa.dst,
        matching.len()
    ));
    if seconds < min {
        return Outcome::fail(
            format!(
                "SA spi {} is deleted by the kernel in {seconds} s (less than {min} s): IKE did not rekey it at its soft expiry",
                sa.spi
            ),
            observed,
        );
    }
    Outcome::pass(
        format!("every matching SA is at least {seconds} s from its hard expiry"),
        observed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Verdict;
    use crate::model::Int;

    use crate::kinds::sa::tests::fixture;

    fn check(min: i64) -> SaLifetimeCheck {
        SaLifetimeCheck {
            src: None,
            dst: None,
            spi: Some(Int(0x1f3c)),
            reqid: None,
            min_remaining_seconds: Some(Int(min)),
            include_larval: true,
        }
    }

    #[test]
    fn hard_add_expire_counts_down_from_the_add_time() {
        let sas = fixture();
        let sa = sas.iter().find(|s| s.spi.0 == 0x1f3c).expect("allocspi SA");
        let added = sa.lifetime.current.add_time;
        assert_eq!(
            expiry(sa, added + 10),
            Expiry {
                soft_seconds: None,
                hard_seconds: Some(20)
            }
        );
        assert_eq!(expiry(sa, added + 99).hard_seconds, Some(0));
        assert_eq!(
            evaluate(&check(15), &sas, added + 10).verdict,
            Verdict::Pass
        );
        let near = evaluate(&check(25), &sas, added + 10);
        assert_eq!(near.verdict, Verdict::Fail);
        assert!(near.reason.contains("in 20 s"), "{}", near.reason);
    }

    #[test]
    fn use_expiry_waits_for_first_use_and_the_nearest_limit_wins() {
        let mut sa = fixture().into_iter().find(|s| s.spi.0 == 0x1f3c).unwrap();
        sa.lifetime.current.add_time = 1000;
        sa.lifetime.config.hard_add_expires_seconds = Some(3600);
        sa.lifetime.config.soft_add_expires_seconds = Some(3000);
        sa.lifetime.config.hard_use_expires_seconds = Some(100);
        sa.lifetime.current.use_time = 0;
        assert_eq!(expiry(&sa, 1500).hard_seconds, Some(3100), "never used");
        sa.lifetime.current.use_time = 1450;
        let e = expiry(&sa, 1500);
        assert_eq!(e.hard_seconds, Some(50));
        assert_eq!(e.soft_seconds, Some(2500));
    }

    #[test]
    fn larval_states_are_left_out_unless_asked() {
        let sas = fixture();
        let mut c = check(25);
        c.include_larval = false;
        assert_eq!(evaluate(&c, &sas, 0).verdict, Verdict::Skip);
    }
}
