//! The saved-evidence format is a contract: evidence written by an earlier release must still be
//! read by `analyze`, to the verdict it had (tests/fixtures/6.18-evidence-v1/README).

use crate::util::*;

#[test]
fn analyze_reads_evidence_saved_in_format_1() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/6.18-evidence-v1/policy-template-mismatch.json"
    );
    let out = run(&["analyze", file, "--json"]);
    let v = json(&out);
    assert_eq!(v["verdict"], "policy-template-mismatch", "{v:#}");
    assert_eq!(v["findings"][0]["confidence"], "certain", "{v:#}");
    let evidence = v["findings"][0]["evidence"].to_string();
    for needle in [
        "XfrmInTmplMismatch +5",
        "XFRM_POLICY at udp_queue_rcv_one_skb",
    ] {
        assert!(evidence.contains(needle), "lacks {needle}: {v:#}");
    }
    assert_eq!(out.status.code(), Some(1));
    let human = stdout(&run(&["analyze", file]));
    assert!(
        human.starts_with("VERDICT policy-template-mismatch "),
        "{human}"
    );
}
