//! `xfrmdiag ike` end to end: the real binary against a vici peer in this process (speaking the
//! protocol with constructed charon 5.9.8 messages) and a real namespace's kernel state.
//! Real charon and pluto run in the vm-tests (vm-tests/scenarios/ike-*.scn).

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use xfrmdiag_ike::vici::{self, Message, PacketType, Value};

use crate::util::*;

fn m(entries: Vec<(&str, Value)>) -> Message {
    Message {
        entries: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn st(v: &str) -> Value {
    Value::Str(v.into())
}

/// One IKE_SA `host` with CHILD_SA `flow` (reqid 7, SPIs 0xc1000001/0xc2000002) and a secret
/// the decoder must drop.
fn list_sa() -> Message {
    let child = m(vec![
        ("name", st("flow")),
        ("uniqueid", st("3")),
        ("reqid", st("7")),
        ("state", st("INSTALLED")),
        ("mode", st("TRANSPORT")),
        ("protocol", st("ESP")),
        ("spi-in", st("c1000001")),
        ("spi-out", st("c2000002")),
        ("encr-key", st("00112233445566778899aabbccddeeff")),
        (
            "local-ts",
            Value::List(vec!["10.77.0.1/32[udp/6000]".into()]),
        ),
        (
            "remote-ts",
            Value::List(vec!["10.77.0.2/32[udp/6000]".into()]),
        ),
    ]);
    m(vec![(
        "host",
        Value::Section(m(vec![
            ("uniqueid", st("1")),
            ("state", st("ESTABLISHED")),
            ("local-host", st("10.77.0.1")),
            ("remote-host", st("10.77.0.2")),
            (
                "child-sas",
                Value::Section(m(vec![("flow-3", Value::Section(child))])),
            ),
        ])),
    )])
}

/// Serves clients the way charon does (version, then the two streamed lists) until the test
/// process ends; `auto` probes with a connection of its own, then `ike` reads twice.
fn fake_charon(path: PathBuf) {
    let listener = UnixListener::bind(&path).expect("bind vici socket");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).is_err() {
                    break;
                }
                let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
                if s.read_exact(&mut buf).is_err() {
                    break;
                }
                let p = vici::decode_packet(&buf).expect("xfrmdiag sent valid vici");
                let empty = Message::default();
                let reply: Vec<Vec<u8>> = match (p.kind, p.name.as_deref()) {
                    (PacketType::EventRegister | PacketType::EventUnregister, _) => {
                        vec![vici::encode_packet(PacketType::EventConfirm, None, &empty)]
                    }
                    (PacketType::CmdRequest, Some("version")) => vec![vici::encode_packet(
                        PacketType::CmdResponse,
                        None,
                        &m(vec![("daemon", st("charon")), ("version", st("5.9.8"))]),
                    )],
                    (PacketType::CmdRequest, Some("list-sas")) => vec![
                        vici::encode_packet(PacketType::Event, Some("list-sa"), &list_sa()),
                        vici::encode_packet(PacketType::CmdResponse, None, &empty),
                    ],
                    (PacketType::CmdRequest, _) => {
                        vec![vici::encode_packet(PacketType::CmdResponse, None, &empty)]
                    }
                    _ => vec![],
                };
                for r in reply {
                    if s.write_all(&r).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

#[test]
fn no_daemon_is_one_line_and_exit_2() {
    let sock = std::env::temp_dir().join(format!("xfrmdiag-ike-none-{}.vici", std::process::id()));
    let out = run(&[
        "ike",
        "--ike",
        "strongswan",
        "--socket",
        sock.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no strongswan daemon reachable"), "{err}");
}

#[test]
fn root_ike_joins_the_daemon_with_the_namespaces_kernel() {
    if !can_use_netns("root_ike_joins_the_daemon_with_the_namespaces_kernel") {
        return;
    }
    let ns = ScratchNetns::new("xdike").expect("create namespace");
    // The policies charon would install for reqid 7; the host kernel has no ESP, so the SAs
    // are missing: the daemon says installed, the kernel lacks them.
    ns.ip_batch(
        "xfrm policy add src 10.77.0.1/32 dst 10.77.0.2/32 proto udp dport 6000 dir out tmpl proto esp mode transport reqid 7\n\
         xfrm policy add src 10.77.0.2/32 dst 10.77.0.1/32 proto udp sport 6000 dir in tmpl proto esp mode transport reqid 7\n",
    )
    .expect("add policies");
    let sock = std::env::temp_dir().join(format!("xfrmdiag-ike-{}.vici", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    fake_charon(sock.clone());
    let out = run(&[
        "-n",
        ns.name(),
        "ike",
        "--socket",
        sock.to_str().unwrap(),
        "--json",
    ]);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("00112233445566778899"),
        "key material in the output"
    );
    let v = json(&out);
    assert_eq!(v["daemon"]["version"], "charon 5.9.8");
    let c = &v["child_sas"][0];
    assert_eq!(c["child_sa"], "flow");
    assert_eq!(c["spi_in"], "0xc1000001");
    assert_eq!(c["kernel_policies"].as_array().unwrap().len(), 2, "{c:#}");
    assert!(c.get("kernel_sa_in").is_none());
    assert_eq!(v["findings"][0]["cause"], "ike-child-sa-not-in-kernel");
}
