//! The join of the daemon's CHILD_SAs with kernel SAs, and the four IKE findings.

mod common;

use common::*;
use xfrmdiag_ike::join::{
    CHILD_SA_NOT_IN_KERNEL, KERNEL_SA_WITHOUT_IKE, NOT_ESTABLISHED, TS_MISMATCH,
};
use xfrmdiag_ike::strongswan::view_from_messages;
use xfrmdiag_ike::vici::Message;
use xfrmdiag_ike::{join, DaemonView, Flow};

fn view(state: &str, local_ts: &str, remote_ts: &str) -> DaemonView {
    view_from_messages(
        "/run/test.vici",
        &Message::default(),
        &[list_sa_event(
            "host", "flow", state, "c1000001", "c2000002", local_ts, remote_ts,
        )],
        &[list_conn_event("host", "flow")],
    )
}

fn causes(r: &xfrmdiag_ike::IkeReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.cause.as_str()).collect()
}

fn flow(port: u16) -> Flow {
    Flow {
        src: Some("10.0.0.1".parse().unwrap()),
        dst: "10.0.0.2".parse().unwrap(),
        proto: 17,
        sport: None,
        dport: port,
    }
}

#[test]
fn healthy_child_sa_is_matched_to_both_kernel_sas() {
    let v = view(
        "INSTALLED",
        "10.0.0.1/32[udp/6000]",
        "10.0.0.2/32[udp/6000]",
    );
    let sas = [
        kernel_sa("10.0.0.2", "10.0.0.1", 0xc1000001, 1),
        kernel_sa("10.0.0.1", "10.0.0.2", 0xc2000002, 1),
    ];
    let r = join(&v.clone(), v, &sas, &[], Some(flow(6000)));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let c = &r.child_sas[0];
    assert_eq!(c.kernel_sa_in.as_ref().unwrap().dst.to_string(), "10.0.0.1");
    assert_eq!(
        c.kernel_sa_out.as_ref().unwrap().dst.to_string(),
        "10.0.0.2"
    );
    assert_eq!(c.covers_flow, Some(true));
    assert_eq!(
        r.daemon.ike_sas[0].algorithms.as_deref(),
        Some("AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519")
    );
}

#[test]
fn installed_child_sa_missing_from_the_kernel() {
    let v = view("INSTALLED", "10.0.0.1/32", "10.0.0.2/32");
    let sas = [kernel_sa("10.0.0.1", "10.0.0.2", 0xc2000002, 1)];
    let r = join(&v.clone(), v, &sas, &[], None);
    assert_eq!(causes(&r), [CHILD_SA_NOT_IN_KERNEL]);
    assert!(
        r.findings[0].summary.contains("inbound SPI 0xc1000001"),
        "{}",
        r.findings[0].summary
    );
}

#[test]
fn a_child_sa_installed_between_the_two_reads_is_not_a_finding() {
    // rekey in flight: the first read did not know the new CHILD_SA yet
    let before = view("INSTALLING", "10.0.0.1/32", "10.0.0.2/32");
    let after = view("INSTALLED", "10.0.0.1/32", "10.0.0.2/32");
    let r = join(&before, after, &[], &[], None);
    assert!(
        !causes(&r).contains(&CHILD_SA_NOT_IN_KERNEL),
        "{:?}",
        causes(&r)
    );
}

#[test]
fn kernel_sa_no_daemon_owns() {
    let v = view("INSTALLED", "10.0.0.1/32", "10.0.0.2/32");
    let sas = [
        kernel_sa("10.0.0.2", "10.0.0.1", 0xc1000001, 1),
        kernel_sa("10.0.0.1", "10.0.0.2", 0xc2000002, 1),
        kernel_sa("10.0.0.1", "10.0.0.2", 0xdead0001, 7),
    ];
    let r = join(&v.clone(), v, &sas, &[], None);
    assert_eq!(causes(&r), [KERNEL_SA_WITHOUT_IKE]);
    assert_eq!(r.kernel_sas_without_ike[0].spi.0, 0xdead0001);
}

#[test]
fn selectors_that_exclude_the_flow() {
    let v = view(
        "INSTALLED",
        "10.0.0.1/32[udp/7000]",
        "10.0.0.2/32[udp/7000]",
    );
    let sas = [
        kernel_sa("10.0.0.2", "10.0.0.1", 0xc1000001, 1),
        kernel_sa("10.0.0.1", "10.0.0.2", 0xc2000002, 1),
    ];
    let r = join(&v.clone(), v, &sas, &[], Some(flow(6000)));
    assert_eq!(causes(&r), [TS_MISMATCH]);
    assert!(r.findings[0].evidence[0].contains("udp/7000"));
    assert!(
        r.findings[0].summary.contains("exclude the flow"),
        "{}",
        r.findings[0].summary
    );
    // the reverse flow (receiver side) is covered the same way
    let v = view("INSTALLED", "10.0.0.2/32[udp/6000]", "10.0.0.1/32[udp]");
    let r = join(&v.clone(), v, &sas, &[], Some(flow(6000)));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn a_child_sa_with_another_peer_only_is_no_child_sa_for_the_flow() {
    // up, but between other addresses: nothing was negotiated for the flow at all
    let v = view("INSTALLED", "10.0.0.1/32", "10.5.0.0/16");
    let sas = [
        kernel_sa("10.5.0.1", "10.0.0.1", 0xc1000001, 1),
        kernel_sa("10.0.0.1", "10.5.0.1", 0xc2000002, 1),
    ];
    let r = join(&v.clone(), v, &sas, &[], Some(flow(6000)));
    assert_eq!(causes(&r), [NOT_ESTABLISHED]);
}

#[test]
fn no_child_sa_names_the_daemons_reason() {
    let mut v = view_from_messages(
        "/run/test.vici",
        &Message::default(),
        &[],
        &[list_conn_event("host", "flow")],
    );
    v.failures = xfrmdiag_ike::log::failures_from_log(
        "09[IKE] <host|1> received AUTHENTICATION_FAILED notify error\n",
    );
    let r = join(&v.clone(), v.clone(), &[], &[], None);
    assert_eq!(causes(&r), [NOT_ESTABLISHED]);
    assert_eq!(
        r.findings[0].reason.as_deref(),
        Some("AUTHENTICATION_FAILED")
    );
    assert_eq!(r.findings[0].connection.as_deref(), Some("host"));
    let r = join(&v.clone(), v, &[], &[], Some(flow(6000)));
    assert_eq!(causes(&r), [NOT_ESTABLISHED]);
}
