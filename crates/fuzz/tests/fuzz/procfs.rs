//! The /proc parsers: xfrm_stat, snmp, netstat, snmp6, net/dev (crates/counters) and
//! /proc/net/udp{,6} (crates/traffic). Real 6.18 files mutated, and files built from the
//! formats' parts: name/value lines, header/value line pairs with mismatched columns, device
//! rows and socket rows with missing, extra and non-numeric fields.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::engine::{fixture, fuzz};
use crate::mutate;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn check_xfrm_stat(b: &[u8]) {
    xfrmdiag_counters::parse::parse_xfrm_stat(&text(b));
}
pub fn check_snmp(b: &[u8]) {
    xfrmdiag_counters::parse::parse_snmp(&text(b));
}
pub fn check_netstat(b: &[u8]) {
    xfrmdiag_counters::parse::parse_netstat(&text(b));
}
pub fn check_snmp6(b: &[u8]) {
    xfrmdiag_counters::parse::parse_snmp6(&text(b));
}
pub fn check_net_dev(b: &[u8]) {
    xfrmdiag_counters::parse::parse_net_dev(&text(b));
}
pub fn check_udp(b: &[u8]) {
    xfrmdiag_traffic::proc_udp::parse(&text(b));
}

fn seeds(files: &[&str]) -> Vec<Vec<u8>> {
    let dirs = [
        "6.18-counters-tmpl-mismatch",
        "6.18-counters-damaged",
        "6.18-counters-no-xfrm-statistics",
        "6.18-checklist-sockets",
    ];
    let mut out = Vec::new();
    for dir in dirs {
        for file in files {
            let path = format!("{dir}/{file}");
            let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures")
                .join(&path);
            if full.exists() {
                out.push(fixture(&path));
            }
        }
    }
    assert!(!out.is_empty(), "no seed for {files:?}");
    out
}

/// A number as /proc prints it, or something that is not quite one.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => any::<u64>().prop_map(|v| v.to_string()),
        2 => (0u64..100).prop_map(|v| v.to_string()),
        1 => any::<i64>().prop_map(|v| v.to_string()),
        1 => "[0-9a-fx+-]{0,24}",
        1 => "\\PC{0,6}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&[
            "XfrmInError", "XfrmInTmplMismatch", "XfrmOutNoStates", "Ip6InReceives",
            "Udp6InErrors", "Icmp6OutType135", "InReceives", "InErrors", "NoPorts",
        ][..]).prop_map(str::to_string),
        1 => "[A-Za-z0-9]{0,20}",
        1 => "\\PC{0,8}",
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&[" ", "\t", "    \t", "", "  ", ": ", ":"][..])
}

/// xfrm_stat / snmp6: one `Name<ws>value` per line.
fn name_value_file() -> impl Strategy<Value = Vec<u8>> {
    vec((name(), separator(), value(), any::<bool>()), 0..40).prop_map(|lines| {
        let mut s = String::new();
        for (n, sep, v, newline) in lines {
            s.push_str(&format!("{n}{sep}{v}"));
            if newline {
                s.push('\n');
            }
        }
        s.into_bytes()
    })
}

/// snmp / netstat: `Prefix: names` then `Prefix: values`, columns not always matching.
fn table_file() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop::sample::select(
        &[
            "Ip", "Icmp", "Udp", "UdpLite", "TcpExt", "IpExt", "MPTcpExt", "",
        ][..],
    );
    let block = (
        prefix.clone(),
        prefix,
        vec(name(), 0..12),
        vec(value(), 0..14),
        any::<bool>(),
    );
    vec(block, 0..8).prop_map(|blocks| {
        let mut s = String::new();
        for (p, q, names, values, values_first) in blocks {
            let head = format!("{p}: {}\n", names.join(" "));
            let vals = format!("{q}: {}\n", values.join(" "));
            if values_first {
                s.push_str(&vals);
                s.push_str(&head);
            } else {
                s.push_str(&head);
                s.push_str(&vals);
            }
        }
        s.into_bytes()
    })
}

/// /proc/net/dev: two header lines and `iface: 16 numbers` rows.
fn dev_file() -> impl Strategy<Value = Vec<u8>> {
    let row = ("[a-z0-9@:.-]{0,16}", separator(), vec(value(), 0..20));
    vec(row, 0..6).prop_map(|rows| {
        let mut s = String::from(
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets \
             errs drop fifo colls carrier compressed\n",
        );
        for (iface, sep, values) in rows {
            s.push_str(&format!("{iface}{sep} {}\n", values.join(" ")));
        }
        s.into_bytes()
    })
}

/// /proc/net/udp{,6}: a header and socket rows, addresses in hex, fields missing or extra.
fn udp_file() -> impl Strategy<Value = Vec<u8>> {
    let addr = prop_oneof![
        "[0-9A-F]{8}:[0-9A-F]{4}",
        "[0-9A-F]{32}:[0-9A-F]{4}",
        "[0-9A-Fa-z:]{0,40}"
    ];
    let row = (0u32..100_000, addr.clone(), addr, vec(value(), 0..16));
    vec(row, 0..8).prop_map(|rows| {
        let mut s = String::from(
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  \
             timeout inode ref pointer drops\n",
        );
        for (sl, local, remote, rest) in rows {
            s.push_str(&format!("{sl:5}: {local} {remote} {}\n", rest.join(" ")));
        }
        s.into_bytes()
    })
}

#[test]
fn xfrm_stat_never_panics() {
    let seeds = seeds(&["xfrm_stat"]);
    fuzz(
        "proc-xfrm_stat",
        "mutated",
        mutate::text(seeds),
        check_xfrm_stat,
    );
    fuzz(
        "proc-xfrm_stat",
        "built",
        name_value_file(),
        check_xfrm_stat,
    );
}

#[test]
fn snmp_never_panics() {
    fuzz(
        "proc-snmp",
        "mutated",
        mutate::text(seeds(&["snmp"])),
        check_snmp,
    );
    fuzz("proc-snmp", "built", table_file(), check_snmp);
}

#[test]
fn netstat_never_panics() {
    fuzz(
        "proc-netstat",
        "mutated",
        mutate::text(seeds(&["netstat"])),
        check_netstat,
    );
    fuzz("proc-netstat", "built", table_file(), check_netstat);
}

#[test]
fn snmp6_never_panics() {
    fuzz(
        "proc-snmp6",
        "mutated",
        mutate::text(seeds(&["snmp6"])),
        check_snmp6,
    );
    fuzz("proc-snmp6", "built", name_value_file(), check_snmp6);
}

#[test]
fn net_dev_never_panics() {
    fuzz(
        "proc-dev",
        "mutated",
        mutate::text(seeds(&["dev"])),
        check_net_dev,
    );
    fuzz("proc-dev", "built", dev_file(), check_net_dev);
}

#[test]
fn proc_net_udp_never_panics() {
    fuzz(
        "proc-udp",
        "mutated",
        mutate::text(seeds(&["udp", "udp6"])),
        check_udp,
    );
    fuzz("proc-udp", "built", udp_file(), check_udp);
}
