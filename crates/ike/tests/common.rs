//! Shared builders for the crate's tests: vici messages shaped like charon 5.9.8's, and kernel
//! SAs decoded from the repository's netlink fixture.

#![allow(dead_code)]

use std::path::PathBuf;

use xfrmdiag_ike::vici::{Message, Value};
use xfrmdiag_inventory::{Sa, Spi};

pub fn msg(entries: Vec<(&str, Value)>) -> Message {
    Message {
        entries: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

pub fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

pub fn l(items: &[&str]) -> Value {
    Value::List(items.iter().map(|i| i.to_string()).collect())
}

/// A `list-sa` event as charon 5.9.8 sends it (constructed: the field set of
/// src/libcharon/plugins/vici/vici_query.c), with one CHILD_SA.
pub fn list_sa_event(
    conn: &str,
    child: &str,
    state: &str,
    spi_in: &str,
    spi_out: &str,
    local_ts: &str,
    remote_ts: &str,
) -> Message {
    let child_sa = msg(vec![
        ("name", s(child)),
        ("uniqueid", s("1")),
        ("reqid", s("1")),
        ("state", s(state)),
        ("mode", s("TRANSPORT")),
        ("protocol", s("ESP")),
        ("spi-in", s(spi_in)),
        ("spi-out", s(spi_out)),
        ("encr-alg", s("AES_CBC")),
        ("encr-keysize", s("128")),
        ("integ-alg", s("HMAC_SHA2_256_128")),
        ("bytes-in", s("840")),
        ("packets-in", s("10")),
        ("use-in", s("1")),
        ("bytes-out", s("840")),
        ("packets-out", s("10")),
        ("use-out", s("1")),
        ("rekey-time", s("3300")),
        ("life-time", s("3580")),
        ("install-time", s("20")),
        ("local-ts", l(&[local_ts])),
        ("remote-ts", l(&[remote_ts])),
    ]);
    let ike = msg(vec![
        ("uniqueid", s("1")),
        ("version", s("2")),
        ("state", s("ESTABLISHED")),
        ("local-host", s("10.0.0.1")),
        ("local-port", s("500")),
        ("local-id", s("10.0.0.1")),
        ("remote-host", s("10.0.0.2")),
        ("remote-port", s("500")),
        ("remote-id", s("10.0.0.2")),
        ("initiator", s("yes")),
        ("initiator-spi", s("1a2b3c4d5e6f7081")),
        ("responder-spi", s("8171615141312111")),
        ("encr-alg", s("AES_CBC")),
        ("encr-keysize", s("128")),
        ("integ-alg", s("HMAC_SHA2_256_128")),
        ("prf-alg", s("PRF_HMAC_SHA2_256")),
        ("dh-group", s("CURVE_25519")),
        ("established", s("21")),
        ("rekey-time", s("13000")),
        (
            "child-sas",
            Value::Section(msg(vec![(&format!("{child}-1"), Value::Section(child_sa))])),
        ),
    ]);
    msg(vec![(conn, Value::Section(ike))])
}

pub fn list_conn_event(conn: &str, child: &str) -> Message {
    msg(vec![(
        conn,
        Value::Section(msg(vec![
            ("local_addrs", l(&["10.0.0.1"])),
            ("remote_addrs", l(&["10.0.0.2"])),
            ("version", s("IKEv2")),
            (
                "children",
                Value::Section(msg(vec![(
                    child,
                    Value::Section(msg(vec![
                        ("mode", s("TRANSPORT")),
                        ("local-ts", l(&["dynamic[udp/6000]"])),
                        ("remote-ts", l(&["dynamic[udp/6000]"])),
                    ])),
                )])),
            ),
        ])),
    )])
}

pub fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// A real decoded kernel SA (from the repository's netlink fixture), given another SPI,
/// addresses and reqid.
pub fn kernel_sa(src: &str, dst: &str, spi: u32, reqid: u32) -> Sa {
    let bytes = std::fs::read(fixture_dir("emitted-netlink-sa-keys").join("getsa-dump.bin"))
        .expect("inventory fixture");
    let mut sa = xfrmdiag_inventory::sas_from_netlink_bytes(&bytes).unwrap()[0].clone();
    sa.src = src.parse().unwrap();
    sa.dst = dst.parse().unwrap();
    sa.spi = Spi(spi);
    sa.reqid = reqid;
    sa
}
