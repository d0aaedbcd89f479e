//! Libreswan's `whack --status` / `--trafficstatus` and pluto's log, as pluto 4.10 printed them in
//! the vm-tests guests (tests/fixtures/libreswan-4.10-whack-guest/, see its README), parsed and
//! joined with kernel SAs carrying the captured SPIs.

mod common;

use std::path::PathBuf;

use common::*;
use xfrmdiag_ike::libreswan::{normalize_selector, parse_status};
use xfrmdiag_ike::log::failures_from_log;
use xfrmdiag_ike::{join, Flow, TrafficSelector};
use xfrmdiag_inventory::Spi;

const DIR: &str = "libreswan-4.10-whack-guest";

/// Every captured file of one kind (`status`, `trafficstatus`, `log`) whose name contains `what`.
fn captured(what: &str, ext: &str) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(fixture_dir(DIR))
        .expect("the captured whack fixtures are missing")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(what))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no captured {what}*.{ext}");
    out
}

fn side_addrs(path: &std::path::Path) -> (&'static str, &'static str) {
    if path.to_string_lossy().contains("-a.") {
        ("10.99.0.1", "10.99.0.2")
    } else {
        ("10.99.0.2", "10.99.0.1")
    }
}

fn flow() -> Flow {
    Flow {
        src: Some("10.99.0.1".parse().unwrap()),
        dst: "10.99.0.2".parse().unwrap(),
        proto: 17,
        sport: None,
        dport: 5555,
    }
}

#[test]
fn healthy_status_gives_one_installed_child_sa_per_side() {
    for what in ["transport-healthy", "tunnel-healthy"] {
        for (path, text) in captured(what, "status") {
            let (me, peer) = side_addrs(&path);
            let v = parse_status("/run/pluto/pluto.ctl", &text);
            let name = path.display();
            assert_eq!(v.version.as_deref(), Some("Libreswan 4.10"), "{name}");
            assert_eq!(v.ike_sas.len(), 1, "{name}: {:#?}", v.ike_sas);
            let ike = &v.ike_sas[0];
            assert!(ike.established, "{name}");
            assert_eq!(ike.state, "STATE_V2_ESTABLISHED_IKE_SA");
            assert_eq!(ike.version, Some(2));
            assert_eq!(ike.local_host.unwrap().to_string(), me, "{name}");
            assert_eq!(ike.remote_host.unwrap().to_string(), peer, "{name}");
            assert_eq!(
                ike.algorithms.as_deref(),
                Some("AES_CBC_128-HMAC_SHA2_256-MODP2048")
            );
            assert_eq!(ike.child_sas.len(), 1, "{name}");
            let c = &ike.child_sas[0];
            assert!(c.installed, "{name}: {}", c.state);
            assert_eq!(c.state, "STATE_V2_ESTABLISHED_CHILD_SA");
            assert_eq!(c.protocol, "esp");
            let mode = if what.starts_with("tunnel") {
                "tunnel"
            } else {
                "transport"
            };
            assert_eq!(c.mode, mode, "{name}");
            assert_eq!(
                c.algorithms.as_deref(),
                Some("AES_CBC_128-HMAC_SHA2_256_128")
            );
            assert!(c.spi_in.is_some() && c.spi_out.is_some(), "{name}");
            assert_ne!(c.spi_in, c.spi_out);
            assert!(c.rekey_in_secs.is_some() && c.expire_in_secs.is_some());
            // a sends from any UDP port to b's 5555: the selectors mirror each other
            let (local, remote) = if me == "10.99.0.1" {
                ("10.99.0.1/32[udp]", "10.99.0.2/32[udp/5555]")
            } else {
                ("10.99.0.2/32[udp/5555]", "10.99.0.1/32[udp]")
            };
            assert_eq!(c.local_ts[0].text, local, "{name}");
            assert_eq!(c.remote_ts[0].text, remote, "{name}");
            assert!(xfrmdiag_ike::join::child_covers(c, &flow()), "{name}");
            // the configured connection, in the notation the rest of xfrmdiag parses
            let conn = &v.connections[0];
            assert_eq!(conn.name, "host");
            assert_eq!(conn.children[0].mode, mode);
            assert_eq!(conn.children[0].remote_ts, [remote]);
            assert!(TrafficSelector::parse_strongswan(&conn.children[0].remote_ts[0]).is_some());
            assert!(v.failures.is_empty(), "{name}: {:?}", v.failures);
        }
    }
}

/// The outbound SPI is listed first (`esp.SPI@PEER`), the inbound one second (`esp.SPI@ME`):
/// on the two sides of one run they are each other's mirror.
#[test]
fn the_two_sides_of_a_run_mirror_each_others_spis() {
    for (path_a, text_a) in captured("healthy", "status") {
        if !path_a.to_string_lossy().contains("-a.") {
            continue;
        }
        let path_b = PathBuf::from(path_a.to_string_lossy().replace("-a.", "-b."));
        let text_b = std::fs::read_to_string(&path_b).unwrap();
        let a = parse_status("/a", &text_a);
        let b = parse_status("/b", &text_b);
        let (_, ca) = a.child_sas().next().unwrap();
        let (_, cb) = b.child_sas().next().unwrap();
        assert_eq!(ca.spi_out, cb.spi_in, "{}", path_a.display());
        assert_eq!(ca.spi_in, cb.spi_out, "{}", path_a.display());
        // a sent, b received: the byte counts say so
        assert!(ca.bytes_out > 0 && cb.bytes_in == ca.bytes_out);
    }
}

#[test]
fn healthy_status_joins_with_the_kernel_sas_of_its_spis() {
    for (path, text) in captured("healthy", "status") {
        let (me, peer) = side_addrs(&path);
        let v = parse_status("/run/pluto/pluto.ctl", &text);
        let (_, c) = v.child_sas().next().unwrap();
        let (Some(Spi(spi_in)), Some(Spi(spi_out))) = (c.spi_in, c.spi_out) else {
            panic!("no SPIs in {}", path.display());
        };
        // pluto 4.10 gives its SAs no reqid in the status: the join goes by SPI
        let sas = [
            kernel_sa(peer, me, spi_in, 16389),
            kernel_sa(me, peer, spi_out, 16389),
        ];
        let r = join(&v, v.clone(), &sas, &[], Some(flow()));
        assert!(
            r.findings.is_empty(),
            "{}: {:#?}",
            path.display(),
            r.findings
        );
        assert_eq!(r.child_sas.len(), 1);
        let j = &r.child_sas[0];
        assert!(j.in_kernel && j.kernel_sa_in.is_some() && j.kernel_sa_out.is_some());
        assert_eq!(j.covers_flow, Some(true));
        // without the kernel SAs the same view is a CHILD_SA missing from the kernel
        let r = join(&v, v.clone(), &[], &[], Some(flow()));
        assert_eq!(r.findings[0].cause, "ike-child-sa-not-in-kernel");
    }
}

#[test]
fn trafficstatus_lists_the_established_child_sa_with_its_bytes() {
    for (path, text) in captured("healthy", "trafficstatus") {
        let v = parse_status("/x", &text);
        let name = path.display();
        let children: Vec<_> = v.child_sas().collect();
        assert_eq!(children.len(), 1, "{name}");
        let (_, c) = children[0];
        assert!(c.installed && c.protocol == "esp", "{name}");
        assert_eq!(c.name, "host");
        assert!(c.bytes_in + c.bytes_out > 0, "{name}");
        // the same numbers as the Traffic: line of --status
        let status = std::fs::read_to_string(path.with_extension("status")).unwrap();
        let s = parse_status("/x", &status);
        let (_, sc) = s.child_sas().next().unwrap();
        assert_eq!((c.bytes_in, c.bytes_out), (sc.bytes_in, sc.bytes_out));
    }
}

/// A refused PSK leaves no state at all in `--status` (pluto deletes it): the connection is
/// there, nothing else, and the reason is only in the log.
#[test]
fn psk_mismatch_status_has_the_connection_and_no_sa() {
    for (path, text) in captured("psk-mismatch", "status") {
        let v = parse_status("/x", &text);
        let name = path.display();
        assert_eq!(v.connections.len(), 1, "{name}");
        assert_eq!(v.child_sas().count(), 0, "{name}");
        assert!(v.ike_sas.iter().all(|i| !i.established), "{name}");
        let r = join(&v, v.clone(), &[], &[], Some(flow()));
        assert_eq!(r.findings.len(), 1, "{name}: {:#?}", r.findings);
        assert_eq!(r.findings[0].cause, "ike-not-established");
        for key in ["vmtests-psk", "PSK \""] {
            assert!(!format!("{v:?}").contains(key), "{name}");
        }
    }
}

/// The Child SA refused, the IKE SA up: `--status` shows only the IKE SA.
#[test]
fn proposal_mismatch_status_has_the_ike_sa_and_no_child_sa() {
    for (path, text) in captured("proposal-mismatch", "status") {
        let v = parse_status("/x", &text);
        let name = path.display();
        assert_eq!(v.child_sas().count(), 0, "{name}");
        assert!(v.ike_sas.iter().any(|i| i.established), "{name}");
        let r = join(&v, v.clone(), &[], &[], Some(flow()));
        assert_eq!(r.findings[0].cause, "ike-not-established", "{name}");
    }
}

/// pluto's log lines for the two failures, on the initiator (a) and the responder (b).
#[test]
fn pluto_logs_give_the_reason() {
    for (what, reason) in [
        ("psk-mismatch", "AUTHENTICATION_FAILED"),
        ("proposal-mismatch", "NO_PROPOSAL_CHOSEN"),
    ] {
        for (path, text) in captured(what, "log") {
            let f = failures_from_log(&text);
            let name = path.display();
            assert!(!f.is_empty(), "{name}");
            assert!(f.iter().all(|f| f.reason == reason), "{name}: {f:#?}");
            assert!(f.iter().all(|f| f.connection.as_deref() == Some("host")));
        }
    }
    for (path, text) in captured("healthy", "log") {
        assert!(failures_from_log(&text).is_empty(), "{}", path.display());
    }
}

#[test]
fn selectors_are_given_in_strongswans_notation() {
    for (libreswan, strongswan) in [
        ("10.99.0.1/32:UDP/0-65535", "10.99.0.1/32[udp]"),
        ("10.99.0.2/32:UDP/5555", "10.99.0.2/32[udp/5555]"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.0/24:0/0", "10.0.0.0/24"),
        ("fd00::1/128:TCP/1000-2000", "fd00::1/128[tcp/1000-2000]"),
    ] {
        assert_eq!(normalize_selector(libreswan), strongswan);
        assert!(TrafficSelector::parse_strongswan(strongswan).is_some());
    }
    let ts = xfrmdiag_ike::libreswan::parse_selector("fd00::1/128:TCP/1000-2000").unwrap();
    assert_eq!((ts.proto, ts.ports), (Some(6), Some((1000, 2000))));
}

/// What pluto installed, as `ip xfrm state` showed it in the same run (key lines left out): the
/// SPIs `--status` gives are exactly the kernel's, with the SA to the peer as the outbound one.
#[test]
fn status_spis_are_the_kernels_spis() {
    for (path, kernel) in captured("healthy", "kernel") {
        let status = std::fs::read_to_string(path.with_extension("status")).unwrap();
        let v = parse_status("/x", &status);
        let (_, c) = v.child_sas().next().unwrap();
        let (me, peer) = side_addrs(&path);
        // "src A dst B\n\tproto esp spi 0x… reqid … mode …"
        let lines: Vec<&str> = kernel.lines().collect();
        let mut sas = Vec::new();
        for w in lines.windows(2) {
            if let (Some(addrs), Some(spi)) = (
                w[0].strip_prefix("src "),
                w[1].trim().strip_prefix("proto esp spi 0x"),
            ) {
                let dst = addrs.split_whitespace().nth(2).unwrap().to_string();
                let spi = u32::from_str_radix(spi.split_whitespace().next().unwrap(), 16).unwrap();
                sas.push((dst, spi));
            }
        }
        assert_eq!(sas.len(), 2, "{}", path.display());
        for (dst, spi) in sas {
            let want = if dst == me { c.spi_in } else { c.spi_out };
            assert_eq!(Some(Spi(spi)), want, "{} dst {dst}", path.display());
            assert!(dst == me || dst == peer);
        }
        // ESN SAs, and the ICMPv6 neighbour-discovery bypass policies pluto adds
        assert!(kernel.contains("flag esn") || kernel.contains(" esn"));
        assert!(kernel.contains("proto ipv6-icmp type 135"));
    }
}
