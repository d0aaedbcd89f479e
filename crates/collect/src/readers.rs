//! Reading one side's evidence: glue between the reader crates and the evidence types.
//!
//! Every reader that fails leaves a hole with its reason; the test still runs.

use std::net::IpAddr;
use std::path::Path;

use xfrmdiag_counters::Snapshot;
use xfrmdiag_evidence::{
    Counters, FirewallHit, Inventory, NatRule, RouteInfo, Sysctls, XfrmEvent, WATCHED_UNCHANGED,
};
use xfrmdiag_inventory as inv;
use xfrmdiag_netns::Netns;

use crate::convert;

/// SAs, policies and default policies (`ip xfrm state/policy`, `policy getdefault`).
pub fn inventory(ns: &Netns, holes: &mut Vec<String>) -> Inventory {
    let mut view = Inventory::default();
    match inv::dump_sas(ns) {
        Ok(sas) => view.sas = Some(sas.iter().map(convert::sa).collect()),
        Err(e) => holes.push(format!("SAs: {e}")),
    }
    match inv::dump_policies(ns) {
        Ok(p) => view.policies = Some(p.iter().map(convert::policy).collect()),
        Err(e) => holes.push(format!("policies: {e}")),
    }
    match inv::xfrm_info(ns) {
        Ok(i) => view.info = Some(convert::xfrm_info(&i)),
        Err(e) => holes.push(format!("default policies: {e}")),
    }
    view
}

/// A counters snapshot of `ns`, per-SA counters (`sa:<spi>:<field>`) included: the counters
/// crate takes them from an SA dump on the same namespace thread.
pub fn counters(ns: &Netns) -> Result<Snapshot, String> {
    Snapshot::take(ns).map_err(|e| e.to_string())
}

/// What moved between two snapshots, and which of the counters whose stillness matters were
/// read on both ends (the watched ones, and each SA's packet count: an SA that carried nothing
/// is how a flow that left in clear shows).
pub fn counter_delta(before: &Snapshot, after: &Snapshot) -> Counters {
    let d = xfrmdiag_counters::delta(before, after);
    let sa_packets = before
        .counters
        .keys()
        .filter(|n| n.starts_with("sa:") && n.ends_with(":packets"))
        .map(String::as_str);
    let read = WATCHED_UNCHANGED
        .iter()
        .copied()
        .chain(sa_packets)
        .filter(|n| before.get(n).is_some() && after.get(n).is_some())
        .map(|n| n.to_string())
        .collect();
    Counters {
        delta: d
            .delta
            .into_iter()
            .filter(|(_, c)| *c != xfrmdiag_counters::Change::Unchanged)
            .map(|(name, c)| (name, convert::counter_change(c)))
            .collect(),
        read,
    }
}

/// `ip route get DST` inside the namespace. A refused lookup is the route's answer too: the
/// kernel refuses a blackhole route with EINVAL, unreachable with EHOSTUNREACH/ENETUNREACH,
/// prohibit with EACCES — as `ip route get` shows ("RTNETLINK answers: …").
pub fn route(ns: &Netns, dst: IpAddr) -> Result<RouteInfo, String> {
    match inv::route_get(ns, dst) {
        Ok(r) => Ok(convert::route(&r)),
        Err(e) => {
            let kind = match e.errno() {
                Some(22) => "blackhole",
                Some(113) | Some(101) => "unreachable",
                Some(13) => "prohibit",
                _ => return Err(e.to_string()),
            };
            Ok(RouteInfo {
                dst: dst.to_string(),
                kind: kind.into(),
                ..Default::default()
            })
        }
    }
}

/// XFRM events of the window, in the evidence's words.
pub fn events(collector: inv::Collector) -> Result<Vec<XfrmEvent>, String> {
    collector
        .stop()
        .map(|evs| evs.iter().map(convert::event).collect())
        .map_err(|e| e.to_string())
}

/// rp_filter, disable_policy, disable_xfrm per device and IPv4/IPv6 forwarding, read inside `ns`.
/// (/proc/sys/net follows the reading thread's namespace.)
pub fn sysctls(ns: &Netns) -> Result<Sysctls, String> {
    ns.run(|| read_sysctls(Path::new("/proc/sys/net")))
        .map_err(|e| e.to_string())
}

fn read_sysctls(root: &Path) -> Sysctls {
    let read = |p: &Path| -> Option<u32> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let mut s = Sysctls {
        ip_forward: read(&root.join("ipv4/ip_forward")),
        ip6_forward: read(&root.join("ipv6/conf/all/forwarding")),
        ..Default::default()
    };
    let conf = root.join("ipv4/conf");
    let Ok(devs) = std::fs::read_dir(&conf) else {
        return s;
    };
    for dev in devs.flatten() {
        let name = dev.file_name().to_string_lossy().into_owned();
        if name == "default" {
            continue;
        }
        let dir = dev.path();
        if let Some(v) = read(&dir.join("rp_filter")) {
            s.rp_filter.insert(name.clone(), v);
        }
        if let Some(v) = read(&dir.join("disable_policy")).filter(|v| *v != 0) {
            s.disable_policy.insert(name.clone(), v);
        }
        if let Some(v) = read(&dir.join("disable_xfrm")).filter(|v| *v != 0) {
            s.disable_xfrm.insert(name, v);
        }
    }
    s
}

/// The nftables ruleset of `ns`, or `None` when nft is not installed (no hole: there is no
/// nftables firewall to read) or could not be read (a hole says why).
pub fn nft_rules(
    ns: &Netns,
    with_text: bool,
    holes: &mut Vec<String>,
) -> Option<xfrmdiag_netfilter::Ruleset> {
    let read = if with_text {
        xfrmdiag_netfilter::read(ns)
    } else {
        xfrmdiag_netfilter::read_counters(ns)
    };
    match read {
        Ok(rules) => rules,
        Err(e) => {
            holes.push(format!("nftables: {e}"));
            None
        }
    }
}

/// Every netfilter table of `ns`: the nftables ones (`nft` read them) and the legacy ones.
/// `None` when nft could not be read and no legacy table shows: unknown, not "none".
pub fn netfilter_tables(
    ns: &Netns,
    nft: Option<&xfrmdiag_netfilter::Ruleset>,
    holes: &mut Vec<String>,
) -> Option<Vec<String>> {
    let legacy = match xfrmdiag_netfilter::legacy_tables(ns) {
        Ok(t) => t,
        Err(e) => {
            holes.push(format!("legacy netfilter tables: {e}"));
            return None;
        }
    };
    match nft {
        Some(r) => Some(r.tables.iter().cloned().chain(legacy).collect()),
        None => (!legacy.is_empty()).then_some(legacy),
    }
}

/// The rules whose counters moved during the window, named as `nft -a list ruleset` shows them.
pub fn firewall_hits(
    before: &[xfrmdiag_netfilter::Rule],
    after: &[xfrmdiag_netfilter::Rule],
) -> Vec<FirewallHit> {
    xfrmdiag_netfilter::hits(before, after)
        .into_iter()
        .map(|h| FirewallHit {
            rule: h.rule.describe(),
            verdict: h.rule.verdict.clone(),
            packets: h.packets,
        })
        .collect()
}

/// The NAT rules after the window, each with what its counter counted during it.
pub fn nat_rules(
    before: &[xfrmdiag_netfilter::Rule],
    after: &[xfrmdiag_netfilter::Rule],
) -> Vec<NatRule> {
    let hits = xfrmdiag_netfilter::hits(before, after);
    after
        .iter()
        .filter(|r| r.is_nat())
        .map(|r| NatRule {
            rule: r.describe(),
            statement: r.verdict.clone(),
            hook: r.hook.clone(),
            packets: r.packets.map(|_| {
                hits.iter()
                    .find(|h| h.rule.describe() == r.describe())
                    .map_or(0, |h| h.packets)
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrmdiag_netfilter::Rule;

    fn nat(handle: u64, verdict: &str, packets: Option<u64>) -> Rule {
        Rule {
            family: "ip".into(),
            table: "nat".into(),
            chain: "post".into(),
            handle,
            hook: Some("postrouting".into()),
            chain_type: Some("nat".into()),
            text: format!("oifname \"wan0\" counter {verdict}"),
            verdict: verdict.into(),
            packets,
            bytes: packets.map(|p| p * 100),
        }
    }

    #[test]
    fn nat_rules_carry_their_window_count_and_filters_stay_out() {
        let before = vec![nat(2, "masquerade", Some(4)), nat(3, "snat", None)];
        let mut after = before.clone();
        after[0].packets = Some(5);
        after.push(nat(4, "drop", Some(9)));
        let got = nat_rules(&before, &after);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0].rule,
            "ip nat post #2: oifname \"wan0\" counter masquerade"
        );
        assert_eq!(
            (got[0].packets, got[0].hook.as_deref()),
            (Some(1), Some("postrouting"))
        );
        assert!(got[0].is_source_nat());
        assert_eq!(got[1].packets, None, "no counter: unknown, not 0");
    }
}
