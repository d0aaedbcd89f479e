//! Trace text (trace_pipe lines of the function, function_graph and event tracers, stack
//! frames, lost-event notes) through the parser, kallsyms symbolization and the drop summary;
//! and /proc/kallsyms text. Real captures mutated, and lines built from the formats' parts.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::engine::{fixture, fuzz};
use crate::mutate;

const TRACES: &[&str] = &[
    "linux-6.1-trace-constructed-icvfail-lost/trace.txt",
    "linux-6.1-trace-icvfail-function/trace.txt",
    "linux-6.1-trace-notfound-function/trace.txt",
    "linux-6.12-trace-constructed-notfound-graph/trace.txt",
    "linux-6.12-trace-icvfail-graph/trace.txt",
    "linux-6.12-trace-notfound-graph/trace.txt",
    "linux-6.18-trace-nosocket-events/trace.txt",
    "linux-6.18-trace-xfrm-policy-events/trace.txt",
];

fn kallsyms() -> &'static xfrmdiag_trace::Kallsyms {
    static K: std::sync::OnceLock<xfrmdiag_trace::Kallsyms> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let text = fixture("linux-6.1-trace-icvfail-function/kallsyms");
        xfrmdiag_trace::Kallsyms::parse(&String::from_utf8_lossy(&text))
    })
}

pub fn check_trace(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut parsed = xfrmdiag_trace::parse(&text);
    xfrmdiag_trace::summary::symbolize_events(&mut parsed.events, kallsyms());
    let _ = xfrmdiag_trace::summary::summarize(&parsed.events, &Default::default());
    // The streaming path the capture takes: settled events leave as lines arrive.
    let mut parser = xfrmdiag_trace::TraceParser::default();
    let mut settled = Vec::new();
    for line in text.lines() {
        parser.feed_line(line);
        settled.extend(parser.take_settled_events());
    }
    settled.extend(parser.finish().events);
    let _ = serde_json::to_string(&settled).expect("events serialize");
}

pub fn check_kallsyms(bytes: &[u8]) {
    let k = xfrmdiag_trace::Kallsyms::parse(&String::from_utf8_lossy(bytes));
    for address in [0, 1, u64::MAX, 0xffff_ffff_8100_0000, 0xffff_ffff_c000_0000] {
        let _ = k.resolve(address);
    }
}

fn comm() -> impl Strategy<Value = String> {
    prop_oneof!["<\\.\\.\\.>", "[a-z/0-9:_-]{0,16}", "\\PC{0,8}"]
}

fn function() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["xfrm_input", "xfrm_lookup_with_ifid", "esp_input",
            "udp_queue_rcv_one_skb", "__xfrm_policy_check", "ip6_mc_input"][..]).prop_map(str::to_string),
        1 => "[a-z_.0-9]{0,24}",
    ]
}

fn location() -> impl Strategy<Value = String> {
    prop_oneof![
        (function(), any::<u16>(), any::<u16>())
            .prop_map(|(f, o, s)| format!("{f}+0x{o:x}/0x{s:x}")),
        any::<u64>().prop_map(|a| format!("0x{a:x}")),
        "[0-9a-fx+/]{0,20}",
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9a-f.x-]{0,12}"
    ]
}

/// `comm-pid [cpu] flags secs.usecs: ` as the event and function tracers start a line.
fn head() -> impl Strategy<Value = String> {
    (
        comm(),
        number(),
        0u32..1000,
        "[.a-zA-Z0-9]{0,6}",
        number(),
        number(),
    )
        .prop_map(|(c, pid, cpu, flags, s, us)| format!("{c}-{pid} [{cpu:03}] {flags} {s}.{us}: "))
}

/// One trace_pipe line of any of the formats the parser reads.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        (head(), number(), number(), location(), "[A-Z_]{0,20}").prop_map(|(h, skb, proto, loc, reason)| {
            format!("{h}kfree_skb: skbaddr={skb} rx_sk=0 protocol={proto} location={loc} reason: {reason}")
        }),
        (head(), "[a-z_]{0,12}", "[a-z-]{0,8}", number()).prop_map(|(h, ev, dev, n)| {
            format!("{h}{ev}: dev={dev} skbaddr={n} len={n}")
        }),
        (head(), function(), function()).prop_map(|(h, f, p)| format!("{h}{f} <-{p}")),
        (number(), 0u32..64, comm(), number(), "[ +!#*@$]{0,2}", number(), function(), "[{};]{0,2}")
            .prop_map(|(t, cpu, c, pid, mark, d, f, end)| {
                format!("{t} | {cpu}) {c}-{pid} | {mark} {d} us | {f}(){end}")
            }),
        (0u32..64, "[ }]{0,3}", "[/*a-z ]{0,20}").prop_map(|(cpu, b, c)| format!(" {cpu})  {b} {c}")),
        function().prop_map(|f| format!(" => {f}")),
        location().prop_map(|l| format!(" => {l}")),
        (0u32..64, number()).prop_map(|(cpu, n)| format!("CPU:{cpu} [LOST {n} EVENTS]")),
        "#[ A-Za-z|/:-]{0,40}",
        head().prop_map(|h| format!("{h}<stack trace>")),
        "\\PC{0,40}",
    ]
}

fn built() -> impl Strategy<Value = Vec<u8>> {
    vec(line(), 0..24).prop_map(|lines| lines.join("\n").into_bytes())
}

fn kallsyms_line() -> impl Strategy<Value = String> {
    (
        any::<u64>(),
        "[tTdDbBrRwWaAuUvV?]{0,2}",
        function(),
        "( \\[[a-z_]{0,8}\\])?",
    )
        .prop_map(|(a, kind, name, module)| format!("{a:016x} {kind} {name}{module}"))
}

#[test]
fn trace_text_never_panics() {
    let seeds = TRACES.iter().map(|p| fixture(p)).collect();
    fuzz("trace", "mutated", mutate::text(seeds), check_trace);
    fuzz("trace", "built", built(), check_trace);
}

#[test]
fn kallsyms_never_panics() {
    let seeds = vec![
        fixture("linux-6.1-trace-icvfail-function/kallsyms"),
        fixture("linux-6.1-trace-notfound-function/kallsyms"),
    ];
    fuzz("kallsyms", "mutated", mutate::text(seeds), check_kallsyms);
    let built = vec(kallsyms_line(), 0..30).prop_map(|l| l.join("\n").into_bytes());
    fuzz("kallsyms", "built", built, check_kallsyms);
}
