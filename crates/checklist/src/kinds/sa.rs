//! `kind = "sa"`: SAs matching the given fields exist (as `ip xfrm state`), in number, with
//! lifetime to spare. Larval SAs (no keys yet: made by an ACQUIRE or `allocspi` while IKE
//! negotiates) do not count unless `include_larval = true`: they carry no traffic.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use xfrmdiag_inventory::Sa;

use super::{Context, Outcome};
use crate::model::SaCheck;

pub fn run(check: &SaCheck, ctx: &Context) -> Outcome {
    match xfrmdiag_inventory::dump_sas(&ctx.netns) {
        Ok(sas) => evaluate(check, &sas, unix_now()),
        Err(e) => Outcome::fail(format!("cannot read the SAs: {e}"), None),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// True when the SA has no algorithm at all: a larval state, not usable for traffic.
pub fn is_larval(sa: &Sa) -> bool {
    let a = &sa.algorithms;
    a.aead.is_none() && a.auth.is_none() && a.enc.is_none() && a.comp.is_none()
}

fn matches(check: &SaCheck, sa: &Sa) -> bool {
    let addr = |want: &Option<String>, have: IpAddr| {
        want.as_deref()
            .is_none_or(|w| w.parse::<IpAddr>().is_ok_and(|w| w == have))
    };
    addr(&check.src, sa.src)
        && addr(&check.dst, sa.dst)
        && check
            .proto
            .is_none_or(|p| p.as_str() == sa.proto.to_string())
        && check.spi.is_none_or(|spi| i64::from(sa.spi.0) == spi.0)
        && check.mode.is_none_or(|m| m.as_str() == sa.mode.to_string())
        && check.reqid.is_none_or(|r| i64::from(sa.reqid) == r.0)
        && check.encap.is_none_or(|e| {
            let have = sa.encap.as_ref().map_or("none", |x| x.encap_type.as_str());
            e.as_str() == have
        })
}

fn describe(sa: &Sa) -> String {
    let encap = sa
        .encap
        .as_ref()
        .map(|e| format!(" encap {} {}:{}", e.encap_type, e.sport, e.dport))
        .unwrap_or_default();
    format!(
        "{} {} -> {} spi {} {} reqid {}{}{}",
        sa.proto,
        sa.src,
        sa.dst,
        sa.spi,
        sa.mode,
        sa.reqid,
        encap,
        if is_larval(sa) { " (larval)" } else { "" }
    )
}

/// Percent of the tightest hard limit used, with which limit it is.
fn lifetime_used(sa: &Sa, now: u64) -> Option<(f64, String)> {
    let cfg = &sa.lifetime.config;
    let cur = &sa.lifetime.current;
    let mut used: Vec<(f64, String)> = Vec::new();
    if let Some(limit) = cfg.hard_byte_limit.filter(|l| *l > 0) {
        used.push((
            100.0 * cur.bytes as f64 / limit as f64,
            format!("{} of {limit} bytes", cur.bytes),
        ));
    }
    if let Some(limit) = cfg.hard_packet_limit.filter(|l| *l > 0) {
        used.push((
            100.0 * cur.packets as f64 / limit as f64,
            format!("{} of {limit} packets", cur.packets),
        ));
    }
    if let Some(limit) = cfg.hard_add_expires_seconds.filter(|l| *l > 0) {
        let age = now.saturating_sub(cur.add_time);
        used.push((
            100.0 * age as f64 / limit as f64,
            format!("{age} of {limit} s since added"),
        ));
    }
    used.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))
}

pub fn evaluate(check: &SaCheck, sas: &[Sa], now: u64) -> Outcome {
    let matching: Vec<&Sa> = sas.iter().filter(|sa| matches(check, sa)).collect();
    let (usable, larval): (Vec<&Sa>, Vec<&Sa>) = matching
        .iter()
        .partition(|sa| check.include_larval || !is_larval(sa));
    let count = usable.len() as i64;
    let min = check.min_count.map_or(1, |m| m.0);
    let observed = Some(if matching.is_empty() {
        format!("no matching SA among {} SAs", sas.len())
    } else {
        matching
            .iter()
            .map(|sa| describe(sa))
            .collect::<Vec<_>>()
            .join("; ")
    });
    let larval_note = if larval.is_empty() {
        String::new()
    } else {
        format!(
            " ({} more larval: no keys yet, IKE has not finished; `include_larval = true` counts them)",
            larval.len()
        )
    };
    if count < min {
        return Outcome::fail(
            format!("{count} matching SA(s), expected at least {min}{larval_note}"),
            observed,
        );
    }
    if let Some(max) = check.max_count {
        if count > max.0 {
            return Outcome::fail(
                format!(
                    "{count} matching SA(s), expected at most {}{larval_note}",
                    max.0
                ),
                observed,
            );
        }
    }
    let margin = check.lifetime_margin_percent.map_or(10, |m| m.0) as f64;
    for sa in &usable {
        if let Some((percent, what)) = lifetime_used(sa, now) {
            if percent >= 100.0 - margin {
                return Outcome::fail(
                    format!(
                        "SA spi {} has used {percent:.0}% of its hard lifetime ({what}), more than {:.0}%: it is about to expire and be deleted",
                        sa.spi,
                        100.0 - margin
                    ),
                    observed,
                );
            }
        }
    }
    Outcome::pass(format!("{count} matching SA(s){larval_note}"), observed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kinds::Verdict;
    use crate::model::{Int, Mode, XfrmProto};

    /// Two real SAs from a 6.18 kernel: a larval ACQUIRE state (SPI 0, reqid 9) and an
    /// `allocspi` one (SPI 0x1f3c, reqid 4), both with a 30 s hard add-expire and no soft limit.
    pub(crate) fn fixture() -> Vec<Sa> {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/linux-6.18-netlink-sa-larval/getsa-dump.bin"
        ))
        .expect("fixture");
        xfrmdiag_inventory::sas_from_netlink_bytes(&bytes).expect("decodes")
    }

    fn check() -> SaCheck {
        SaCheck {
            src: None,
            dst: None,
            proto: Some(XfrmProto::Esp),
            spi: Some(Int(0x1f3c)),
            mode: Some(Mode::Tunnel),
            encap: None,
            reqid: Some(Int(4)),
            min_count: None,
            max_count: None,
            lifetime_margin_percent: None,
            include_larval: true,
        }
    }

    #[test]
    fn hard_add_expire_near_its_end_fails() {
        let sas = fixture();
        let sa = sas.iter().find(|s| s.spi.0 == 0x1f3c).expect("allocspi SA");
        let added = sa.lifetime.current.add_time;
        // 5 of 30 s used: fine with the default 10 % margin.
        assert_eq!(evaluate(&check(), &sas, added + 5).verdict, Verdict::Pass);
        // 28 of 30 s (93 %) is within 10 % of the end.
        let near = evaluate(&check(), &sas, added + 28);
        assert_eq!(near.verdict, Verdict::Fail);
        assert!(
            near.reason.contains("28 of 30 s since added"),
            "{}",
            near.reason
        );
        // A 5 % margin lets 93 % pass.
        let mut relaxed = check();
        relaxed.lifetime_margin_percent = Some(Int(5));
        assert_eq!(evaluate(&relaxed, &sas, added + 28).verdict, Verdict::Pass);
    }

    #[test]
    fn larval_states_are_reported_but_not_counted_by_default() {
        let sas = fixture();
        let mut c = check();
        c.include_larval = false;
        c.spi = None;
        c.reqid = None;
        let out = evaluate(&c, &sas, 0);
        assert_eq!(out.verdict, Verdict::Fail);
        assert!(out.reason.contains("2 more larval"), "{}", out.reason);
        c.include_larval = true;
        c.max_count = Some(Int(1));
        let out = evaluate(&c, &sas, 0);
        assert_eq!(out.verdict, Verdict::Fail, "two match, at most one allowed");
        assert!(out.reason.contains("expected at most 1"), "{}", out.reason);
    }

    #[test]
    fn encap_none_and_espinudp_are_told_apart() {
        use crate::model::Encap as Want;
        let plain = fixture()
            .into_iter()
            .find(|s| s.spi.0 == 0x1f3c)
            .expect("allocspi SA");
        let mut natt = plain.clone();
        natt.spi = xfrmdiag_inventory::Spi(0x2000);
        natt.encap = Some(xfrmdiag_inventory::Encap {
            encap_type: "espinudp".into(),
            sport: 4500,
            dport: 4500,
            oa: None,
        });
        let sas = vec![plain, natt];
        let mut c = check();
        c.spi = None;
        c.encap = Some(Want::Espinudp);
        let out = evaluate(&c, &sas, 0);
        assert_eq!(out.verdict, Verdict::Pass);
        assert!(out.observed.unwrap().contains("encap espinudp 4500:4500"));
        c.encap = Some(Want::None);
        c.max_count = Some(Int(1));
        assert_eq!(evaluate(&c, &sas, 0).verdict, Verdict::Pass);
        c.encap = Some(Want::Espintcp);
        assert_eq!(evaluate(&c, &sas, 0).verdict, Verdict::Fail);
    }
}
