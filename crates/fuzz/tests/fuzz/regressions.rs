//! Every input that once made a decoder panic, replayed through its target: one folder per
//! target under tests/fixtures/fuzz-regressions/, any file name.

use crate::engine::regressions_dir;

/// A target's check: decode the input, panic only on a bug.
type Check = fn(&[u8]);

/// Target name (the folder) and its check.
const TARGETS: &[(&str, Check)] = &[
    ("netlink-sa", crate::netlink::check_sas),
    ("netlink-policy", crate::netlink::check_policies),
    ("netlink-event", crate::netlink::check_events),
    ("proc-xfrm_stat", crate::procfs::check_xfrm_stat),
    ("proc-snmp", crate::procfs::check_snmp),
    ("proc-netstat", crate::procfs::check_netstat),
    ("proc-snmp6", crate::procfs::check_snmp6),
    ("proc-dev", crate::procfs::check_net_dev),
    ("proc-udp", crate::procfs::check_udp),
    ("trace", crate::trace::check_trace),
    ("kallsyms", crate::trace::check_kallsyms),
    ("checklist", crate::checklist::check),
    ("evidence", crate::evidence::check),
];

#[test]
fn saved_crashes_do_not_panic_any_more() {
    let dir = regressions_dir();
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures/fuzz-regressions exists") {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let (_, check) = TARGETS
            .iter()
            .find(|(t, _)| *t == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target of that name", folder.display()));
        let mut files: Vec<_> = std::fs::read_dir(&folder).unwrap().flatten().collect();
        files.sort_by_key(|e| e.path());
        for file in files {
            let input = std::fs::read(file.path()).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(outcome.is_ok(), "{} panics again", file.path().display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved fuzz crashes, no panic");
}
