//! vici decoding on whole messages: constructed ones shaped like charon 5.9.8's, and every
//! message captured from a real charon under tests/fixtures/*-vici-*/ (see their README).

mod common;

use common::*;
use xfrmdiag_ike::strongswan::{all_strings, view_from_messages};
use xfrmdiag_ike::vici::{self, Message, PacketType, Value};

#[test]
fn constructed_list_sa_decodes_into_the_view() {
    let event = list_sa_event(
        "host",
        "flow",
        "INSTALLED",
        "c1000001",
        "c2000002",
        "10.0.0.1/32[udp/6000]",
        "10.0.0.2/32[17/6000]",
    );
    let bytes = vici::encode_packet(PacketType::Event, Some("list-sa"), &event);
    let p = vici::decode_packet(&bytes[4..]).unwrap();
    let v = view_from_messages("/x", &Message::default(), &[p.message], &[]);
    let ike = &v.ike_sas[0];
    assert_eq!(ike.name, "host");
    assert!(ike.established);
    assert_eq!(ike.local_host.unwrap().to_string(), "10.0.0.1");
    let c = &ike.child_sas[0];
    assert_eq!(
        (c.name.as_str(), c.mode.as_str(), c.protocol.as_str()),
        ("flow", "transport", "esp")
    );
    assert_eq!(c.spi_in.unwrap().to_string(), "0xc1000001");
    assert_eq!(c.reqid, Some(1));
    assert_eq!(c.remote_ts[0].ports, Some((6000, 6000)));
    assert_eq!(c.remote_ts[0].proto, Some(17));
    assert_eq!((c.bytes_in, c.packets_out), (840, 10));
}

#[test]
fn keys_in_a_list_sa_never_reach_the_view() {
    let mut event = list_sa_event(
        "host",
        "flow",
        "INSTALLED",
        "c1000001",
        "c2000002",
        "10.0.0.1/32",
        "10.0.0.2/32",
    );
    // as a build with key export would add them
    let Value::Section(ike) = &mut event.entries[0].1 else {
        panic!()
    };
    ike.push_str("sk-ei", "0123456789abcdef0123456789abcdef");
    ike.entries.push((
        "keys".into(),
        Value::Section(msg(vec![(
            "encr-key-in",
            s("fedcba9876543210fedcba9876543210"),
        )])),
    ));
    let bytes = vici::encode_packet(PacketType::Event, Some("list-sa"), &event);
    let p = vici::decode_packet(&bytes[4..]).unwrap();
    let text = all_strings(&p.message).join(" ");
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(!text.contains("fedcba98"), "{text}");
    let v = view_from_messages("/x", &Message::default(), &[p.message], &[]);
    let json = serde_json::to_string(&v).unwrap();
    assert!(!json.contains("0123456789abcdef") && !json.contains("fedcba98"));
}

/// Every captured stream: `NAME.vici` holds length-prefixed vici packets as charon sent them
/// (re-encoded after decoding, so the secret filter has run).
#[test]
fn captured_streams_decode() {
    let root = fixture_dir("");
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if !dir.file_name().to_string_lossy().contains("-vici-") {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if f.path().extension().is_none_or(|e| e != "vici") {
                continue;
            }
            let bytes = std::fs::read(f.path()).unwrap();
            let mut pos = 0;
            let mut events = Vec::new();
            while pos < bytes.len() {
                let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
                let p = vici::decode_packet(&bytes[pos + 4..pos + 4 + len])
                    .unwrap_or_else(|e| panic!("{}: {e}", f.path().display()));
                if p.name.as_deref() == Some("list-sa") {
                    events.push(p.message);
                }
                pos += 4 + len;
            }
            let v = view_from_messages("/x", &Message::default(), &events, &[]);
            assert_eq!(v.child_sas().count(), 1, "{}", f.path().display());
            for (ike, c) in v.child_sas() {
                assert!(ike.established && c.installed, "{}", f.path().display());
                assert_eq!(c.reqid, Some(1));
                assert_eq!(
                    c.remote_ts[0].ports,
                    Some((5555, 5555)),
                    "{:?}",
                    c.remote_ts
                );
                assert!(
                    c.spi_in.is_some() && c.spi_out.is_some(),
                    "{}",
                    f.path().display()
                );
            }
            seen += 1;
        }
    }
    eprintln!("{seen} captured vici streams decoded");
    assert!(seen >= 4, "the captured fixtures are missing");
}
