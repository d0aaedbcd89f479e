//! Property tests: the parsers never panic, always account for every well-formed line, and a
//! damaged line never hides its neighbours.

use proptest::prelude::*;
use xfrmdiag_counters::parse::{
    parse_net_dev, parse_netstat, parse_snmp, parse_snmp6, parse_xfrm_stat,
};

fn name() -> impl Strategy<Value = String> {
    "[A-Z][A-Za-z0-9]{0,20}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        for parse in [parse_xfrm_stat, parse_snmp, parse_netstat, parse_snmp6, parse_net_dev] {
            let parsed = parse(&text);
            // Problems are bounded: a hostile file cannot flood the report.
            prop_assert!(parsed.problems.len() <= 9);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        for parse in [parse_xfrm_stat, parse_snmp, parse_netstat, parse_snmp6, parse_net_dev] {
            let _ = parse(&text);
        }
    }

    /// Name/value files: every good line is kept, whatever garbage sits between them.
    #[test]
    fn name_value_keeps_good_lines(
        good in proptest::collection::btree_map(name(), any::<u64>(), 1..20),
        junk in proptest::collection::vec("[^\\n]{0,30}", 0..5),
    ) {
        let mut text = String::new();
        for (i, (n, v)) in good.iter().enumerate() {
            text.push_str(&format!("{n:<24}\t{v}\n"));
            if let Some(j) = junk.get(i) {
                // Junk that cannot look like a good `Name value` line.
                text.push_str(&format!("{j} x y z\n"));
            }
        }
        let parsed = parse_xfrm_stat(&text);
        for (n, v) in &good {
            prop_assert!(parsed.counters.contains(&(n.clone(), *v)), "{} lost", n);
        }
    }

    /// snmp: a good group survives a truncated or damaged neighbour group.
    #[test]
    fn snmp_keeps_good_groups(
        names in proptest::collection::vec(name(), 1..10),
        values in proptest::collection::vec(any::<u64>(), 10),
        cut in 0usize..60,
    ) {
        let header = format!("Udp: {}", names.join(" "));
        let line = format!("Udp: {}", values[..names.len()].iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        let damaged = "Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 77\n";
        let damaged = &damaged[..cut.min(damaged.len())];
        let text = format!("{damaged}\n{header}\n{line}\nTcp: A B\n");
        let parsed = parse_snmp(&text);
        for (n, v) in names.iter().zip(&values) {
            let key = format!("Udp.{n}");
            // Duplicate generated names keep the last value; only check unique ones.
            if names.iter().filter(|m| *m == n).count() == 1 {
                prop_assert!(parsed.counters.contains(&(key.clone(), *v)), "{} lost", key);
            }
        }
        // The dangling `Tcp: A B` header is reported.
        prop_assert!(parsed.problems.iter().any(|p| p.contains("Tcp")));
    }
}
