//! Closing the window early: once every test datagram is accounted for — received by the
//! listener, or counted by a drop counter in the namespace of the side that dropped it — waiting
//! longer cannot change the evidence, so the run stops waiting.
//!
//! Only counters attribute a drop to a side: `skb:kfree_skb` is system wide, so a trace event
//! alone never closes the window. A side's count of drops is the largest increase among its
//! packet-drop counters (one dropped datagram moves several: `XfrmInTmplMismatch` and
//! `Udp.InErrors` both count the same one), never their sum, so the count can fall short
//! (then the window runs its full length, as without this) but not run ahead.

use std::time::{Duration, Instant};

use xfrmdiag_counters::{Kind, Snapshot};
use xfrmdiag_evidence::Traffic;
use xfrmdiag_netns::Netns;

use crate::{Running, TestPlan};

/// How often the drop counters are read during the window (the /proc files of one namespace
/// take about 1 ms). The first read is at once: the test datagrams were sent before the wait.
const POLL: Duration = Duration::from_millis(25);

/// Counter families that count a UDP datagram dropped on its way in or out; ICMP and TCP
/// counters move for other traffic and are never counted.
const FAMILIES: &[&str] = &["Xfrm", "Ip.", "IpExt.", "Ip6", "Udp.", "Udp6"];

/// Watches the drop counters of every namespace taking part while the listener waits.
pub(crate) struct EarlyStop {
    /// Each distinct namespace with its counters before the send.
    sides: Vec<(Netns, Snapshot)>,
    /// Datagrams the kernel accepted from the test sender (`sendto` succeeded).
    sent: u32,
    next_poll: Instant,
    /// (received, dropped) at the previous poll: the window closes only when an accounted
    /// state holds for two polls in a row, so a flow still arriving is waited for.
    last: Option<(u32, u32)>,
}

/// Why the window closed early, for the caller to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounted {
    pub sent: u32,
    pub received: u32,
    /// Datagrams counted by drop counters (the largest increase on each side, summed).
    pub dropped: u32,
}

/// The early stop for this run: only for datagrams this run sent itself (their count is known)
/// and only when every side's counters were read before the send.
pub(crate) fn for_run(plan: &TestPlan, running: &[Running]) -> Option<EarlyStop> {
    if plan.full_window {
        return None;
    }
    let sent = running
        .iter()
        .map(|r| match &r.evidence.traffic {
            Some(Traffic::Send(s)) => Some(s.sent),
            Some(_) => None,
            None => Some(0),
        })
        .sum::<Option<u32>>()?;
    let sides = running
        .iter()
        .map(|r| Some((r.plan.netns.clone(), r.counters_before.clone()?)))
        .collect::<Option<Vec<_>>>()?;
    EarlyStop::new(sides, sent)
}

impl EarlyStop {
    /// `None` when nothing was sent: with nothing to account for, the window runs out.
    pub(crate) fn new(sides: Vec<(Netns, Snapshot)>, sent: u32) -> Option<EarlyStop> {
        if sent == 0 || sides.is_empty() {
            return None;
        }
        let mut distinct: Vec<(Netns, Snapshot)> = Vec::new();
        for (ns, before) in sides {
            if !distinct.iter().any(|(seen, _)| *seen == ns) {
                distinct.push((ns, before));
            }
        }
        Some(EarlyStop {
            sides: distinct,
            sent,
            next_poll: Instant::now(),
            last: None,
        })
    }

    /// Called between the listener's reads with what it has received so far; `Some` once
    /// every datagram has been accounted for on two polls in a row.
    pub(crate) fn check(&mut self, received: u32) -> Option<Accounted> {
        if Instant::now() < self.next_poll {
            return None;
        }
        self.next_poll = Instant::now() + POLL;
        let dropped = self.dropped()?;
        let now = (received, dropped);
        let stable = self.last == Some(now);
        self.last = Some(now);
        (stable && received.saturating_add(dropped) >= self.sent).then_some(Accounted {
            sent: self.sent,
            received,
            dropped,
        })
    }

    /// Drops counted so far on every side; `None` when a side's counters cannot be read.
    fn dropped(&self) -> Option<u32> {
        let mut total = 0u64;
        for (ns, before) in &self.sides {
            // The /proc files only: per-SA counters are not drop counters.
            let after = ns
                .run(|| Snapshot::take_from(Netns::proc_net_dir(), ""))
                .ok()?
                .ok()?;
            total += drops_between(before, &after);
        }
        Some(total.min(u32::MAX as u64) as u32)
    }
}

/// The largest increase among the packet-drop counters read in both snapshots.
pub(crate) fn drops_between(before: &Snapshot, after: &Snapshot) -> u64 {
    after
        .counters
        .iter()
        .filter(|(name, _)| is_drop_counter(name))
        .filter_map(|(name, a)| Some(a.saturating_sub(before.get(name)?)))
        .max()
        .unwrap_or(0)
}

fn is_drop_counter(name: &str) -> bool {
    FAMILIES.iter().any(|f| name.starts_with(f))
        && xfrmdiag_counters::catalog::kind_of(name) == Kind::Error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(counters: &[(&str, u64)]) -> Snapshot {
        let mut s = Snapshot::empty("t");
        for (n, v) in counters {
            s.add_counter(*n, *v);
        }
        s
    }

    #[test]
    fn one_datagram_moving_two_counters_counts_once() {
        let before = snapshot(&[("XfrmInTmplMismatch", 1), ("Udp.InErrors", 7)]);
        let after = snapshot(&[("XfrmInTmplMismatch", 6), ("Udp.InErrors", 12)]);
        assert_eq!(drops_between(&before, &after), 5);
    }

    #[test]
    fn traffic_and_icmp_counters_are_not_drops() {
        let before = snapshot(&[("Udp.InDatagrams", 0), ("Icmp.InErrors", 0)]);
        let after = snapshot(&[("Udp.InDatagrams", 5), ("Icmp.InErrors", 5)]);
        assert_eq!(drops_between(&before, &after), 0);
    }

    #[test]
    fn a_counter_missing_before_is_not_counted() {
        let after = snapshot(&[("XfrmInNoPols", 9)]);
        assert_eq!(drops_between(&snapshot(&[]), &after), 0);
    }

    #[test]
    fn nothing_sent_never_stops_early() {
        assert!(EarlyStop::new(vec![(Netns::Current, snapshot(&[]))], 0).is_none());
    }
}
