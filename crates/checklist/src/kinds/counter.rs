//! `kind = "counter"`: a counter's delta over a window, or around an earlier check (snapshots
//! taken just before and just after it, in the counter check's namespace).

use std::time::Duration;

use xfrmdiag_counters::{delta, lookup, Change, Snapshot};

use super::{Context, Outcome};
use crate::model::CounterCheck;

/// True when `name` is in the counter catalog (checked while loading the file).
pub fn is_known(name: &str) -> bool {
    lookup(name).is_some()
}

/// Snapshots taken around the check a counter check measures.
#[derive(Debug)]
pub struct Mark {
    before: Result<Snapshot, String>,
    after: Option<Result<Snapshot, String>>,
}

pub fn before(_check: &CounterCheck, ctx: &Context) -> Mark {
    Mark {
        before: Snapshot::take(&ctx.netns).map_err(|e| e.to_string()),
        after: None,
    }
}

pub fn after(mark: &mut Mark, ctx: &Context) {
    mark.after = Some(Snapshot::take(&ctx.netns).map_err(|e| e.to_string()));
}

pub fn evaluate_around(check: &CounterCheck, mark: Mark) -> Outcome {
    let what = format!("around `{}`", check.around.as_deref().unwrap_or_default());
    match (mark.before, mark.after) {
        (Ok(before), Some(Ok(after))) => evaluate(check, &before, &after, &what),
        (Err(e), _) | (_, Some(Err(e))) => {
            Outcome::fail(format!("cannot read counters: {e}"), None)
        }
        (_, None) => Outcome::fail("the check it measures around did not run", None),
    }
}

/// Measures over `window`: two snapshots, `window` apart.
pub fn run(check: &CounterCheck, ctx: &Context) -> Outcome {
    let Some(window) = check.window.as_deref() else {
        return Outcome::fail("needs `window` or `around`", None);
    };
    let duration: Duration = match crate::parse::parse_duration(window) {
        Ok(d) => d,
        Err(e) => return Outcome::fail(e, None),
    };
    let before = match Snapshot::take(&ctx.netns) {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("cannot read counters: {e}"), None),
    };
    std::thread::sleep(duration);
    let after = match Snapshot::take(&ctx.netns) {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("cannot read counters: {e}"), None),
    };
    evaluate(check, &before, &after, &format!("over {window}"))
}

/// Compares the counter's delta between two snapshots with the bounds.
pub fn evaluate(check: &CounterCheck, before: &Snapshot, after: &Snapshot, what: &str) -> Outcome {
    let name = &check.counter;
    if after.get(name).is_none() {
        let meaning = lookup(name).map(|i| i.source).unwrap_or("its source");
        return Outcome::skip(format!(
            "{name} is not shown by this kernel ({meaning} has no such counter here)"
        ));
    }
    let d = delta(before, after);
    let change = d
        .delta
        .get(name.as_str())
        .copied()
        .unwrap_or(Change::Unchanged);
    let events = change.events() as i64;
    let observed = Some(match change {
        Change::Reset { before, after } => {
            format!("{name} reset ({before} -> {after}); at least +{after} since")
        }
        Change::Decreased(n) => format!("{name} -{n} (a gauge)"),
        _ => format!(
            "{name} +{events} {what} (now {})",
            after.get(name).unwrap_or_default()
        ),
    });
    let min = check.min.map_or(0, |m| m.0);
    let bounds = match check.max {
        Some(max) if max.0 == min => format!("exactly {min}"),
        Some(max) => format!("between {min} and {}", max.0),
        None => format!("at least {min}"),
    };
    let ok = events >= min && check.max.is_none_or(|max| events <= max.0);
    let meaning = lookup(name).map(|i| i.meaning).unwrap_or_default();
    if ok {
        Outcome::pass(
            format!("{name} moved by {events} {what}, expected {bounds}"),
            observed,
        )
    } else {
        Outcome::fail(
            format!("{name} moved by {events} {what}, expected {bounds}: {meaning}"),
            observed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Verdict;
    use crate::model::Int;

    fn snap(value: u64, at_ns: u64) -> Snapshot {
        let mut s = Snapshot::empty("t");
        s.taken_at_unix_ns = at_ns;
        s.add_counter("XfrmInNoStates", value);
        s
    }

    fn check(min: Option<i64>, max: Option<i64>) -> CounterCheck {
        CounterCheck {
            counter: "XfrmInNoStates".into(),
            window: Some("1s".into()),
            around: None,
            min: min.map(Int),
            max: max.map(Int),
        }
    }

    #[test]
    fn bounds_on_the_delta() {
        let (a, b) = (snap(10, 0), snap(13, 1_000_000_000));
        assert_eq!(
            evaluate(&check(None, Some(0)), &a, &b, "over 1s").verdict,
            Verdict::Fail
        );
        assert_eq!(
            evaluate(&check(Some(3), Some(3)), &a, &b, "over 1s").verdict,
            Verdict::Pass
        );
        assert_eq!(
            evaluate(&check(Some(4), None), &a, &b, "over 1s").verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn a_reset_counts_what_was_counted_since_and_says_so() {
        let out = evaluate(&check(None, Some(0)), &snap(10, 0), &snap(2, 1), "over 1s");
        assert_eq!(out.verdict, Verdict::Fail);
        assert!(out.observed.unwrap().contains("reset (10 -> 2)"));
    }

    #[test]
    fn a_counter_this_kernel_does_not_show_is_skipped() {
        let mut c = check(None, Some(0));
        c.counter = "XfrmInIptfsError".into();
        let out = evaluate(&c, &snap(0, 0), &snap(0, 1), "over 1s");
        assert_eq!(out.verdict, Verdict::Skip);
    }

    #[test]
    fn catalog_decides_what_is_known() {
        assert!(is_known("XfrmInNoStates"));
        assert!(is_known("Udp.InErrors"));
        assert!(!is_known("XfrmInNoState"));
    }
}
