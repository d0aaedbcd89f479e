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
    serve_charon(path, Some(list_sa()), None);
}

/// A charon with the given `list-sa` and `list-conn` events (None: no IKE_SA / no connection).
fn serve_charon(path: PathBuf, sas: Option<Message>, conns: Option<Message>) {
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
                    (PacketType::CmdRequest, Some("list-sas")) => sas
                        .iter()
                        .map(|m| vici::encode_packet(PacketType::Event, Some("list-sa"), m))
                        .chain([vici::encode_packet(PacketType::CmdResponse, None, &empty)])
                        .collect(),
                    (PacketType::CmdRequest, Some("list-conns")) => conns
                        .iter()
                        .map(|m| vici::encode_packet(PacketType::Event, Some("list-conn"), m))
                        .chain([vici::encode_packet(PacketType::CmdResponse, None, &empty)])
                        .collect(),
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

/// `--ike auto` with a socket that is not charon's (it drops a vici request, as pluto does)
/// reads it as Libreswan's: through whack, which this host lacks, so one line and exit 2 that
/// name Libreswan.
#[test]
fn auto_takes_a_socket_that_drops_vici_for_plutos() {
    let sock = std::env::temp_dir().join(format!("xfrmdiag-ike-pluto-{}.ctl", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).expect("bind");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
    });
    let out = run(&["ike", "--socket", sock.to_str().unwrap()]);
    let _ = std::fs::remove_file(&sock);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("libreswan"), "{err}");
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

/// Connection `host` between `local` and `remote` whose child `flow` covers everything between
/// the two addresses (`dynamic` selectors).
fn list_conn(local: &str, remote: &str) -> Message {
    let child = m(vec![
        ("mode", st("TRANSPORT")),
        ("local-ts", Value::List(vec!["dynamic".into()])),
        ("remote-ts", Value::List(vec!["dynamic".into()])),
    ]);
    m(vec![(
        "host",
        Value::Section(m(vec![
            ("local_addrs", Value::List(vec![local.into()])),
            ("remote_addrs", Value::List(vec![remote.into()])),
            ("version", st("IKEv2")),
            (
                "children",
                Value::Section(m(vec![("flow", Value::Section(child))])),
            ),
        ])),
    )])
}

#[test]
fn root_diagnose_flow_delivered_in_clear_under_an_ike_connection_is_a_finding() {
    if !can_use_netns("root_diagnose_flow_delivered_in_clear_under_an_ike_connection_is_a_finding")
    {
        return;
    }
    let pair = VethPair::new("xd-ikediag").expect("veth pair");
    let sock = std::env::temp_dir().join(format!("xfrmdiag-ikediag-{}.vici", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    // Configured to protect the flow, never established: no IKE_SA, no CHILD_SA, no kernel SA.
    serve_charon(
        sock.clone(),
        None,
        Some(list_conn(&pair.a_v4.to_string(), &pair.b_v4.to_string())),
    );
    let evidence =
        std::env::temp_dir().join(format!("xfrmdiag-ikediag-{}.json", std::process::id()));
    let dst = format!("udp:{}:5123", pair.b_v4);
    let diagnose = |extra: &[&str]| {
        let mut args = vec![
            "-n",
            pair.a.name(),
            "diagnose",
            "--send",
            &dst,
            "--peer-netns",
            pair.b.name(),
            "--count",
            "3",
            "--window",
            "2s",
            "--no-trace",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = diagnose(&[
        "--ike-socket",
        sock.to_str().unwrap(),
        "--save-evidence",
        evidence.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&sock);
    let saved = std::fs::read_to_string(&evidence).unwrap_or_default();
    let _ = std::fs::remove_file(&evidence);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}\n{}", stderr(&out));
    assert_eq!(v["verdict"], "ike-not-established", "{v:#}");
    assert_eq!(v["received"], 3, "the datagrams arrived (in clear): {v:#}");
    let summary = v["findings"][0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("host/flow") && summary.contains("in clear"),
        "{summary}"
    );
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("evidence saved");
    let ike = &saved["sides"][0]["ike"];
    assert_eq!(ike["daemon"], "strongswan", "{saved:#}");
    assert_eq!(ike["connections"][0]["children"][0]["covers_flow"], true);
    assert!(
        saved["sides"][1].get("ike").is_none(),
        "the peer has no daemon given"
    );

    // The same flow without reading the daemon: delivered, exit 0.
    let out = diagnose(&["--ike", "none"]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}\n{}", stderr(&out));
    assert_eq!(v["verdict"], "delivered");
}

#[test]
fn root_diagnose_explicit_ike_without_a_daemon_is_a_hole_not_an_error() {
    if !can_use_netns("root_diagnose_explicit_ike_without_a_daemon_is_a_hole_not_an_error") {
        return;
    }
    let pair = VethPair::new("xd-ikehole").expect("veth pair");
    let sock = std::env::temp_dir().join(format!("xfrmdiag-ikehole-{}.vici", std::process::id()));
    let evidence =
        std::env::temp_dir().join(format!("xfrmdiag-ikehole-{}.json", std::process::id()));
    let dst = format!("udp:{}:5124", pair.b_v4);
    let out = run(&[
        "-n",
        pair.a.name(),
        "diagnose",
        "--send",
        &dst,
        "--peer-netns",
        pair.b.name(),
        "--count",
        "2",
        "--window",
        "2s",
        "--no-trace",
        "--json",
        "--ike",
        "strongswan",
        "--ike-socket",
        sock.to_str().unwrap(),
        "--save-evidence",
        evidence.to_str().unwrap(),
    ]);
    let saved = std::fs::read_to_string(&evidence).unwrap_or_default();
    let _ = std::fs::remove_file(&evidence);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("evidence saved");
    let holes = saved["sides"][0]["holes"].to_string();
    assert!(
        holes.contains("IKE daemon: no strongswan daemon reachable"),
        "{holes}"
    );
    assert!(saved["sides"][0].get("ike").is_none());
}

#[test]
fn compare_lines_up_both_daemons_child_sas_with_both_kernels() {
    use xfrmdiag_diagnose::evidence::*;
    // Host A's outbound SPI is B's inbound one; B's kernel lost it, B's daemon still lists it.
    let host = |name: &str, spis: (&str, &str), kernel: &[&str]| EvidenceFile {
        xfrmdiag_evidence: EVIDENCE_VERSION,
        sides: vec![SideEvidence {
            namespace: name.into(),
            inventory: Some(Inventory {
                sas: Some(
                    kernel
                        .iter()
                        .map(|spi| Sa {
                            spi: spi.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ike: Some(IkeView {
                daemon: "strongswan".into(),
                ike_sas: vec![IkeSaInfo {
                    name: "host".into(),
                    state: "ESTABLISHED".into(),
                    established: true,
                    child_sas: vec![ChildSaInfo {
                        name: "flow".into(),
                        state: "INSTALLED".into(),
                        installed: true,
                        spi_in: Some(spis.0.into()),
                        spi_out: Some(spis.1.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let a = host(
        "hostA",
        ("0xc1000001", "0xc2000002"),
        &["0xc1000001", "0xc2000002"],
    );
    let b = host("hostB", ("0xc2000002", "0xc1000001"), &["0xc1000001"]);
    let dir = std::env::temp_dir().join(format!("xfrmdiag-ikecmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pa, pb) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&pa, serde_json::to_string(&a).unwrap()).unwrap();
    std::fs::write(&pb, serde_json::to_string(&b).unwrap()).unwrap();
    let out = run(&[
        "compare",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--json",
    ]);
    let human = run(&["compare", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let v = json(&out);
    let checks: Vec<String> = v["ike_checks"]
        .as_array()
        .expect("ike_checks")
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        checks.iter().any(
            |l| l.starts_with("differs: hostA's CHILD_SA host/flow out 0xc2000002")
                && l.contains("hostB's daemon has it as host/flow in")
                && l.contains("only hostA's kernel holds it")
        ),
        "{checks:#?}"
    );
    assert!(
        checks
            .iter()
            .any(|l| l.starts_with("ok: hostB's CHILD_SA host/flow out 0xc1000001")),
        "{checks:#?}"
    );
    assert!(
        stdout(&human).contains("IKE CHILD_SAs"),
        "{}",
        stdout(&human)
    );
}

/// A fake charon per side and each daemon's log: the reason comes from the logs, and the
/// receiver's daemon counts for a flow that arrives in clear (its local selectors cover it).
#[test]
fn root_diagnose_reads_the_daemons_logs_and_judges_the_receiver_too() {
    if !can_use_netns("root_diagnose_reads_the_daemons_logs_and_judges_the_receiver_too") {
        return;
    }
    let pair = VethPair::new("xd-ikelog").expect("veth pair");
    let (a, b) = (pair.a_v4.to_string(), pair.b_v4.to_string());
    let tmp = |what: &str| {
        std::env::temp_dir().join(format!("xfrmdiag-ikelog-{}-{what}", std::process::id()))
    };
    let (sock_a, sock_b, log_b) = (tmp("a.vici"), tmp("b.vici"), tmp("b.log"));
    let evidence = tmp("evidence.json");
    for p in [&sock_a, &sock_b] {
        let _ = std::fs::remove_file(p);
    }
    // a's daemon has no connection for the flow; b's does, and its log says why it is down
    // (lines as charon 5.9.8 writes them; a key dump of log level 4 that must never show)
    serve_charon(sock_a.clone(), None, None);
    serve_charon(sock_b.clone(), None, Some(list_conn(&b, &a)));
    std::fs::write(
        &log_b,
        format!(
            "10[IKE] <1> {a} is initiating an IKE_SA\n\
             10[IKE] <host|1> Sk_ai secret => 32 bytes @ 0x7f3a1c000b70\n\
             10[IKE] <host|1>    0: C0 FF EE 15 C0 FF EE 15 C0 FF EE 15 C0 FF EE 15  ................\n\
             10[IKE] <host|1> tried 1 shared key for '{b}' - '{a}', but MAC mismatched\n"
        ),
    )
    .expect("write log");
    let dst = format!("udp:{b}:5125");
    let out = run(&[
        "-n",
        pair.a.name(),
        "diagnose",
        "--send",
        &dst,
        "--peer-netns",
        pair.b.name(),
        "--count",
        "3",
        "--window",
        "2s",
        "--no-trace",
        "--json",
        "--ike-socket",
        sock_a.to_str().unwrap(),
        "--peer-ike-socket",
        sock_b.to_str().unwrap(),
        "--peer-ike-log",
        log_b.to_str().unwrap(),
        "--save-evidence",
        evidence.to_str().unwrap(),
    ]);
    let saved = std::fs::read_to_string(&evidence).unwrap_or_default();
    for p in [&sock_a, &sock_b, &log_b, &evidence] {
        let _ = std::fs::remove_file(p);
    }
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}\n{}", stderr(&out));
    assert_eq!(v["verdict"], "ike-not-established", "{v:#}");
    let f = &v["findings"][0];
    let summary = f["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("the daemon's log says AUTHENTICATION_FAILED")
            && summary.contains("in clear"),
        "{summary}"
    );
    assert!(f.to_string().contains("MAC mismatched"), "{f:#}");
    let all = format!("{v}{saved}");
    assert!(
        !all.contains("C0 FF EE") && !all.contains("Sk_ai"),
        "a key dump line shows"
    );
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("evidence saved");
    let receiver = &saved["sides"][1]["ike"];
    assert_eq!(receiver["log"], log_b.to_str().unwrap(), "{saved:#}");
    assert_eq!(
        receiver["connections"][0]["children"][0]["covers_flow"],
        true
    );
    assert_eq!(receiver["failures"][0]["connection"], "host");

    // A log that cannot be read costs the reason, not the daemon's view: a hole says so.
    serve_charon(sock_a.clone(), None, None);
    serve_charon(sock_b.clone(), None, Some(list_conn(&b, &a)));
    let out = run(&[
        "-n",
        pair.a.name(),
        "diagnose",
        "--send",
        &dst,
        "--peer-netns",
        pair.b.name(),
        "--count",
        "2",
        "--window",
        "1s",
        "--no-trace",
        "--ike-socket",
        sock_a.to_str().unwrap(),
        "--peer-ike-socket",
        sock_b.to_str().unwrap(),
        "--peer-ike-log",
        log_b.to_str().unwrap(),
        "--save-evidence",
        evidence.to_str().unwrap(),
    ]);
    let saved = std::fs::read_to_string(&evidence).unwrap_or_default();
    for p in [&sock_a, &sock_b, &evidence] {
        let _ = std::fs::remove_file(p);
    }
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("evidence saved");
    let receiver = &saved["sides"][1];
    assert!(receiver["ike"]["connections"][0].is_object(), "{saved:#}");
    assert!(
        receiver["holes"]
            .to_string()
            .contains("IKE daemon log: cannot read the daemon's log"),
        "{saved:#}"
    );
}

/// `--ike auto` (the default) with `-n NS` and no daemon anywhere: the run is as before, with no
/// IKE view, no IKE hole and no IKE finding.
#[test]
fn root_diagnose_ike_auto_in_a_namespace_without_a_daemon_is_as_before() {
    if !can_use_netns("root_diagnose_ike_auto_in_a_namespace_without_a_daemon_is_as_before") {
        return;
    }
    let pair = VethPair::new("xd-ikeauto").expect("veth pair");
    let evidence =
        std::env::temp_dir().join(format!("xfrmdiag-ikeauto-{}.json", std::process::id()));
    let dst = format!("udp:{}:5126", pair.b_v4);
    let out = run(&[
        "-n",
        pair.a.name(),
        "diagnose",
        "--send",
        &dst,
        "--peer-netns",
        pair.b.name(),
        "--count",
        "2",
        "--window",
        "2s",
        "--no-trace",
        "--ike",
        "auto",
        "--json",
        "--save-evidence",
        evidence.to_str().unwrap(),
    ]);
    let saved = std::fs::read_to_string(&evidence).unwrap_or_default();
    let _ = std::fs::remove_file(&evidence);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}\n{}", stderr(&out));
    assert_eq!(v["verdict"], "delivered", "{v:#}");
    let text = v.to_string();
    assert!(!text.contains("IKE") && !text.contains("\"ike"), "{v:#}");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("evidence saved");
    for side in saved["sides"].as_array().expect("sides") {
        assert!(side.get("ike").is_none(), "{side:#}");
        assert!(!side["holes"].to_string().contains("IKE"), "{side:#}");
    }
}
