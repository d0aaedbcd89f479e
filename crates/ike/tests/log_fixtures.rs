//! The log reader on charon logs captured in the vm-tests guest
//! (tests/fixtures/strongswan-5.9.8-charon-log-guest/README.md).

use std::path::PathBuf;

use xfrmdiag_ike::log::failures_with_peers;
use xfrmdiag_ike::Connection;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/strongswan-5.9.8-charon-log-guest")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scenarios' connection `host` as side a (peer 10.99.0.2) or b (peer 10.99.0.1) loads it.
fn host(side: char) -> Vec<Connection> {
    let (me, peer) = if side == 'a' {
        ("10.99.0.1", "10.99.0.2")
    } else {
        ("10.99.0.2", "10.99.0.1")
    };
    vec![Connection {
        name: "host".into(),
        local_addrs: vec![me.into()],
        remote_addrs: vec![peer.into()],
        version: Some("2".into()),
        children: vec![],
    }]
}

fn latest(scenario: &str, side: char) -> (String, Option<String>, String) {
    let text = fixture(&format!("{scenario}-6.12-{side}.log"));
    let f = failures_with_peers(&text, &host(side));
    let last = f
        .last()
        .unwrap_or_else(|| panic!("{scenario} {side}: no failure"));
    (
        last.reason.clone(),
        last.connection.clone(),
        last.detail.clone(),
    )
}

#[test]
fn proposal_mismatch_initiator_and_responder() {
    let (reason, conn, detail) = latest("ike-swan-proposal-mismatch", 'a');
    assert_eq!(
        (reason.as_str(), conn.as_deref()),
        ("NO_PROPOSAL_CHOSEN", Some("host"))
    );
    assert!(
        detail.contains("received NO_PROPOSAL_CHOSEN notify error"),
        "{detail}"
    );
    // the responder never chose a config: `<1>` lines, tied to `host` by the peer's address
    let (reason, conn, detail) = latest("ike-swan-proposal-mismatch", 'b');
    assert_eq!(
        (reason.as_str(), conn.as_deref()),
        ("NO_PROPOSAL_CHOSEN", Some("host"))
    );
    assert!(
        detail.contains("received proposals unacceptable"),
        "{detail}"
    );
}

#[test]
fn psk_mismatch_initiator_and_responder() {
    let (reason, conn, detail) = latest("ike-swan-psk-mismatch", 'a');
    assert_eq!(
        (reason.as_str(), conn.as_deref()),
        ("AUTHENTICATION_FAILED", Some("host"))
    );
    assert!(
        detail.contains("received AUTHENTICATION_FAILED notify error"),
        "{detail}"
    );
    let (reason, conn, detail) = latest("ike-swan-psk-mismatch", 'b');
    assert_eq!(
        (reason.as_str(), conn.as_deref()),
        ("AUTHENTICATION_FAILED", Some("host"))
    );
    assert!(detail.contains("MAC mismatched"), "{detail}");
}

#[test]
fn no_other_line_of_these_logs_is_taken_for_a_failure() {
    for (scenario, want) in [
        ("ike-swan-proposal-mismatch", "NO_PROPOSAL_CHOSEN"),
        ("ike-swan-psk-mismatch", "AUTHENTICATION_FAILED"),
    ] {
        for side in ['a', 'b'] {
            let text = fixture(&format!("{scenario}-6.12-{side}.log"));
            let f = failures_with_peers(&text, &host(side));
            assert!(
                f.iter().all(|f| f.reason == want),
                "{scenario} {side}: {f:#?}"
            );
        }
    }
}
