//! Parsers for the per-namespace counter files under `/proc/<pid>/net/`.
//!
//! Every parser takes the file's text and never fails as a whole: a malformed, truncated or
//! non-numeric line is skipped, the rest is still read, and the problem is described once in
//! [`Parsed::problems`]. Names come out in the flat namespace the rest of xfrmdiag uses:
//! - `xfrm_stat`: as the kernel writes them (`XfrmInTmplMismatch`);
//! - `snmp`, `netstat`: `Group.Name` (`Udp.InErrors`, `TcpExt.IPReversePathFilter`);
//! - `snmp6`: as written (`Udp6InErrors`);
//! - `dev`: `dev:<interface>:<field>` with the kernel's `rtnl_link_stats64` field names.
//!
//! Why not the `procfs` crate: its `Snmp`/`Snmp6` are fixed structs (unknown or newer counters are
//! dropped, one odd line fails the whole file) and it has nothing for `xfrm_stat`. The tests use it
//! as an independent oracle for the values of the common counters.

/// At most this many problems are listed per file; the rest are summarised in one line.
const MAX_PROBLEMS_PER_FILE: usize = 8;

/// What a parser found: counters in file order, and what was wrong with the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub counters: Vec<(String, u64)>,
    pub problems: Vec<String>,
}

impl Parsed {
    fn push(&mut self, name: String, value: u64) {
        self.counters.push((name, value));
    }
}

/// Collects problems for one file, keeping the first few and counting the rest.
struct Problems<'a> {
    file: &'a str,
    listed: Vec<String>,
    more: usize,
}

impl<'a> Problems<'a> {
    fn new(file: &'a str) -> Self {
        Problems {
            file,
            listed: Vec::new(),
            more: 0,
        }
    }

    fn add(&mut self, line_no: usize, what: impl std::fmt::Display) {
        if self.listed.len() < MAX_PROBLEMS_PER_FILE {
            self.listed
                .push(format!("{} line {line_no}: {what}", self.file));
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed.push(format!(
                "{}: {} more malformed lines skipped",
                self.file, self.more
            ));
        }
        self.listed
    }
}

/// Shortens a line for a problem message, on a character boundary.
fn excerpt(line: &str) -> String {
    const MAX: usize = 60;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &line[..cut]),
        None => format!("{line:?}"),
    }
}

/// Parses one counter value. Counters are unsigned; a negative number is a gauge such as
/// `Tcp.MaxConn -1` ("no limit"), which is a number but not a counter, so it is skipped quietly.
enum Value {
    Counter(u64),
    Negative,
    NotANumber,
}

fn value(text: &str) -> Value {
    if let Ok(v) = text.parse::<u64>() {
        Value::Counter(v)
    } else if text.parse::<i64>().is_ok() {
        Value::Negative
    } else {
        Value::NotANumber
    }
}

/// A counter name as the kernel could have written it: printable ASCII without spaces or `:`.
fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b':' && b != b'"')
}

/// Parses `Name value` lines: `/proc/net/xfrm_stat` and `/proc/net/snmp6`.
///
/// The kernel writes these with `seq_printf("%-24s\t%lu\n")` (xfrm_proc.c) and
/// `seq_printf("%-32s\t%lu\n")` (ipv6/proc.c): a name, whitespace, an unsigned number.
pub fn parse_name_value(file: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut problems = Problems::new(file);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let mut fields = line.split_whitespace();
        let (Some(name), Some(raw)) = (fields.next(), fields.next()) else {
            if !line.trim().is_empty() {
                problems.add(line_no, format_args!("no value in {}", excerpt(line)));
            }
            continue;
        };
        if fields.next().is_some() {
            problems.add(line_no, format_args!("extra fields in {}", excerpt(line)));
            continue;
        }
        if !plausible_name(name) {
            problems.add(
                line_no,
                format_args!("odd counter name in {}", excerpt(line)),
            );
            continue;
        }
        match value(raw) {
            Value::Counter(v) => parsed.push(name.to_string(), v),
            Value::Negative => {}
            Value::NotANumber => problems.add(
                line_no,
                format_args!("value of {name} is not a number: {}", excerpt(raw)),
            ),
        }
    }
    parsed.problems = problems.finish();
    parsed
}

/// Parses `/proc/net/xfrm_stat` (net/xfrm/xfrm_proc.c).
pub fn parse_xfrm_stat(text: &str) -> Parsed {
    parse_name_value("xfrm_stat", text)
}

/// Parses `/proc/net/snmp6` (net/ipv6/proc.c).
pub fn parse_snmp6(text: &str) -> Parsed {
    parse_name_value("snmp6", text)
}

/// Parses `/proc/net/snmp` (net/ipv4/proc.c): pairs of lines, `Group: Name Name …` then
/// `Group: value value …`. Names become `Group.Name`.
pub fn parse_snmp(text: &str) -> Parsed {
    parse_header_value_pairs("snmp", text)
}

/// Parses `/proc/net/netstat` (`TcpExt:`, `IpExt:`, `MPTcpExt:` …): same layout as snmp.
pub fn parse_netstat(text: &str) -> Parsed {
    parse_header_value_pairs("netstat", text)
}

/// Splits `Group: rest` into the group and the rest.
fn group_of(line: &str) -> Option<(&str, &str)> {
    let (group, rest) = line.split_once(':')?;
    let group = group.trim();
    plausible_name(group).then_some((group, rest))
}

fn parse_header_value_pairs(file: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut problems = Problems::new(file);
    // The header waiting for its value line: (line number, group, names).
    let mut header: Option<(usize, &str, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some((group, rest)) = group_of(line) else {
            problems.add(
                line_no,
                format_args!("no 'Group:' prefix in {}", excerpt(line)),
            );
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // A header is the line whose first field is not a number; the kernel never writes a
        // group with no fields.
        let is_values = fields
            .first()
            .is_some_and(|f| f.starts_with(|c: char| c.is_ascii_digit() || c == '-'));
        match (header.take(), is_values) {
            (Some((_, head_group, names)), true) if head_group == group => {
                if names.len() != fields.len() {
                    problems.add(
                        line_no,
                        format_args!(
                            "{group} has {} names but {} values (kept the first {})",
                            names.len(),
                            fields.len(),
                            names.len().min(fields.len())
                        ),
                    );
                }
                for (name, raw) in names.iter().zip(&fields) {
                    match value(raw) {
                        Value::Counter(v) => parsed.push(format!("{group}.{name}"), v),
                        Value::Negative => {}
                        Value::NotANumber => problems.add(
                            line_no,
                            format_args!(
                                "value of {group}.{name} is not a number: {}",
                                excerpt(raw)
                            ),
                        ),
                    }
                }
            }
            (pending, true) => {
                if let Some((head_line, head_group, _)) = pending {
                    problems.add(
                        head_line,
                        format_args!("header for {head_group} has no value line"),
                    );
                }
                problems.add(
                    line_no,
                    format_args!("values for {group} without a header line"),
                );
            }
            (pending, false) => {
                if let Some((head_line, head_group, _)) = pending {
                    problems.add(
                        head_line,
                        format_args!("header for {head_group} has no value line"),
                    );
                }
                if fields.is_empty() {
                    problems.add(line_no, format_args!("{group} has no counter names"));
                    continue;
                }
                if let Some(bad) = fields.iter().find(|f| !plausible_name(f)) {
                    problems.add(
                        line_no,
                        format_args!("odd counter name {} in {group}", excerpt(bad)),
                    );
                    continue;
                }
                header = Some((line_no, group, fields));
            }
        }
    }
    if let Some((head_line, head_group, _)) = header {
        problems.add(
            head_line,
            format_args!("header for {head_group} has no value line (file truncated?)"),
        );
    }
    parsed.problems = problems.finish();
    parsed
}

/// The `/proc/net/dev` columns, named like the kernel's `struct rtnl_link_stats64` fields
/// (net/core/net-procfs.c `dev_seq_printf_stats` prints them in this order).
const DEV_FIELDS: [&str; 16] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "rx_fifo_errors",
    "rx_frame_errors",
    "rx_compressed",
    "multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
    "tx_fifo_errors",
    "collisions",
    "tx_carrier_errors",
    "tx_compressed",
];

/// Parses `/proc/net/dev` into `dev:<interface>:<field>` counters.
///
/// `/proc/net/dev` is per network namespace (unlike `/sys/class/net`, which follows the mount
/// namespace), so it shows the target namespace's interfaces when read from inside it.
pub fn parse_net_dev(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut problems = Problems::new("dev");
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        // Two header lines: "Inter-|   Receive …" and " face |bytes    packets …".
        if line.contains('|') || line.trim().is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            problems.add(
                line_no,
                format_args!("no 'interface:' in {}", excerpt(line)),
            );
            continue;
        };
        let name = name.trim();
        if !plausible_name(name) {
            problems.add(
                line_no,
                format_args!("odd interface name in {}", excerpt(line)),
            );
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() != DEV_FIELDS.len() {
            problems.add(
                line_no,
                format_args!(
                    "{name} has {} columns, expected {} (kept the first {})",
                    fields.len(),
                    DEV_FIELDS.len(),
                    fields.len().min(DEV_FIELDS.len())
                ),
            );
        }
        for (field, raw) in DEV_FIELDS.iter().zip(&fields) {
            match value(raw) {
                Value::Counter(v) => parsed.push(format!("dev:{name}:{field}"), v),
                Value::Negative | Value::NotANumber => problems.add(
                    line_no,
                    format_args!("{field} of {name} is not a counter: {}", excerpt(raw)),
                ),
            }
        }
    }
    parsed.problems = problems.finish();
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(p: &Parsed, name: &str) -> Option<u64> {
        p.counters.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    #[test]
    fn xfrm_stat_as_the_kernel_writes_it() {
        let p = parse_xfrm_stat("XfrmInError             \t0\nXfrmInTmplMismatch      \t7\n");
        assert_eq!(p.problems, Vec::<String>::new());
        assert_eq!(get(&p, "XfrmInTmplMismatch"), Some(7));
        assert_eq!(p.counters.len(), 2);
    }

    #[test]
    fn non_number_is_reported_and_the_rest_kept() {
        let p = parse_xfrm_stat("XfrmInError\tx1\nXfrmInNoStates\t3\nXfrmOutPolBlock\n");
        assert_eq!(get(&p, "XfrmInNoStates"), Some(3));
        assert_eq!(p.counters.len(), 1);
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert!(p.problems[0].contains("XfrmInError is not a number"));
        assert!(p.problems[1].contains("line 3"));
    }

    #[test]
    fn snmp_pairs_become_group_dot_name() {
        let text = "Ip: Forwarding DefaultTTL InDiscards\nIp: 1 64 5\n\
                    Tcp: RtoAlgorithm MaxConn CurrEstab\nTcp: 1 -1 2\n\
                    Udp: InDatagrams NoPorts InErrors\nUdp: 10 2 3\n";
        let p = parse_snmp(text);
        assert_eq!(p.problems, Vec::<String>::new());
        assert_eq!(get(&p, "Ip.InDiscards"), Some(5));
        assert_eq!(get(&p, "Udp.InErrors"), Some(3));
        // Tcp.MaxConn is -1 ("no limit"): a number, not a counter, skipped quietly.
        assert_eq!(get(&p, "Tcp.MaxConn"), None);
        assert_eq!(get(&p, "Tcp.CurrEstab"), Some(2));
    }

    #[test]
    fn snmp_truncated_after_a_header() {
        let p = parse_snmp("Udp: InDatagrams InErrors\nUdp: 1 2\nIcmp: InMsgs InErrors\n");
        assert_eq!(get(&p, "Udp.InErrors"), Some(2));
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].contains("truncated"), "{:?}", p.problems);
    }

    #[test]
    fn snmp_short_value_line_keeps_what_matches() {
        let p = parse_snmp("Udp: InDatagrams NoPorts InErrors\nUdp: 1 2\n");
        assert_eq!(get(&p, "Udp.NoPorts"), Some(2));
        assert_eq!(get(&p, "Udp.InErrors"), None);
        assert!(p.problems[0].contains("3 names but 2 values"));
    }

    #[test]
    fn snmp_mismatched_groups() {
        let p = parse_snmp("Udp: InDatagrams\nTcp: 5\nIp: InDiscards\nIp: 4\n");
        assert_eq!(get(&p, "Ip.InDiscards"), Some(4));
        assert_eq!(p.counters.len(), 1);
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    }

    #[test]
    fn net_dev_fields() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
 lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n  \
 eth0: 57289450    3225    0    7    0     0          0         0   193871    2001    0    1    0     0       0          0\n";
        let p = parse_net_dev(text);
        assert_eq!(p.problems, Vec::<String>::new());
        assert_eq!(get(&p, "dev:eth0:rx_dropped"), Some(7));
        assert_eq!(get(&p, "dev:eth0:tx_dropped"), Some(1));
        assert_eq!(get(&p, "dev:lo:rx_packets"), Some(29));
        assert_eq!(p.counters.len(), 32);
    }

    #[test]
    fn many_bad_lines_are_summarised() {
        let text = "bad\n".repeat(20);
        let p = parse_xfrm_stat(&text);
        assert_eq!(p.problems.len(), MAX_PROBLEMS_PER_FILE + 1);
        assert!(p.problems.last().unwrap().contains("12 more"));
    }

    /// The `procfs` crate parses the same text independently: the values must agree.
    #[test]
    fn agrees_with_procfs_on_the_live_files() {
        use procfs::FromRead;
        let Ok(snmp_text) = std::fs::read_to_string("/proc/self/net/snmp") else {
            xfrmdiag_testkit::skip(
                "agrees_with_procfs_on_the_live_files",
                "no /proc/self/net/snmp",
            );
            return;
        };
        let ours = parse_snmp(&snmp_text);
        let theirs = procfs::net::Snmp::from_read(snmp_text.as_bytes()).expect("procfs parses");
        assert_eq!(get(&ours, "Udp.InErrors"), Some(theirs.udp_in_errors));
        assert_eq!(get(&ours, "Udp.NoPorts"), Some(theirs.udp_no_ports));
        assert_eq!(
            get(&ours, "Udp.RcvbufErrors"),
            Some(theirs.udp_rcvbuf_errors)
        );
        assert_eq!(get(&ours, "Ip.InDiscards"), Some(theirs.ip_in_discards));
        assert!(ours.problems.is_empty(), "{:?}", ours.problems);
    }
}
