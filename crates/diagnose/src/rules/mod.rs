//! Causes as rules: every cause is one [`Rule`] in one family file, and the engine applies them
//! all the same way (crate::engine).
//!
//! A rule says which signals *name* its cause (each signal is named by one rule only: that is the
//! cause `counters`, `watch`, `trace` and `diagnose` all show for it), which signals it *refines*
//! (a signal another rule names, or several causes share, that this cause explains better when
//! its judge agrees), which only *support* it, which causes it *excludes* on the same side, an
//! optional *judge* for configuration reasoning, and its texts. Confidence follows from the kinds
//! of signal found ([`crate::Confidence::of`]); ranking from [`CauseId`]'s declaration order.

use crate::cause::CauseId;
use crate::evidence::SideEvidence;
use crate::facts::Facts;
use crate::finding::EvidenceItem;

mod gateway;
mod ike;
mod mtu;
mod outcome;
mod policy;
mod receiver;
mod sa;
mod sender;
mod tunnel;

pub(crate) use outcome::{delivered, unexplained};

/// The rule table: one line per family. A new family is a new file plus one line here.
pub const FAMILIES: &[(&str, &[Rule])] = &[
    ("outcome", outcome::RULES),
    ("sender", sender::RULES),
    ("sa", sa::RULES),
    ("policy", policy::RULES),
    ("gateway", gateway::RULES),
    ("tunnel", tunnel::RULES),
    ("mtu", mtu::RULES),
    ("ike", ike::RULES),
    ("receiver", receiver::RULES),
];

/// One cause: what names it, what supports it, what it rules out, how to fix it.
#[derive(Debug)]
pub struct Rule {
    pub cause: CauseId,
    /// What happened, in a few words.
    pub title: &'static str,
    /// The fault that produces it, and what the kernel was measured to do (docs/causes.md).
    pub fault: &'static str,
    /// What the evidence looks like, in words (docs/causes.md).
    pub evidence: &'static str,
    /// The default summary of a finding (a judge may say more).
    pub summary: &'static str,
    /// What to do about it.
    pub remedy: &'static str,
    /// Signals whose meaning is this cause.
    pub names: &'static [Signal],
    /// Signals other causes share that this one reads more precisely, when its judge agrees.
    pub refines: &'static [Signal],
    /// Signals that corroborate a finding but name nothing alone.
    pub supports: &'static [Signal],
    /// Causes a finding of this one replaces on the same side (when at least as sure).
    pub excludes: &'static [CauseId],
    /// Configuration reasoning: adds context, corroborates, or rejects the reading.
    pub judge: Option<Judge>,
    /// The flow is fine (exit 0).
    pub healthy: bool,
    /// Only `compare` (two hosts' SAs side by side) can name it.
    pub compare_only: bool,
    /// A finding means the flow should have been protected and was not: when the datagrams
    /// arrived anyway they arrived in clear, so it outranks `delivered` (clear text is never
    /// healthy).
    pub clear_text: bool,
    /// Shown next to `delivered` without making a delivered flow unhealthy.
    pub warns_when_delivered: bool,
}

/// Decides whether a candidate finding stands; may add evidence or change its summary.
pub type Judge = fn(&Facts, &SideEvidence, &mut Candidate) -> bool;

impl Rule {
    /// A rule with no signals, for the defaults of the family tables.
    pub const fn new(cause: CauseId) -> Rule {
        Rule {
            cause,
            title: "",
            fault: "",
            evidence: "",
            summary: "",
            remedy: "",
            names: &[],
            refines: &[],
            supports: &[],
            excludes: &[],
            judge: None,
            healthy: false,
            compare_only: false,
            clear_text: false,
            warns_when_delivered: false,
        }
    }
}

/// A kernel signal a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A counter that only this fault moves, on the side it moved on (`sa:*:field` for per-SA
    /// counters).
    Counter(&'static str),
    /// A counter the kernel also moves for faults with no rule of their own.
    SharedCounter(&'static str),
    /// `sendto` failed with this errno.
    Errno(&'static str),
    /// `skb:kfree_skb` with this reason (`*` any) in this function (`*` anywhere). System wide.
    Drop(&'static str, &'static str),
    /// An `xfrm_audit_*` function ran (function tracer). System wide.
    Audit(&'static str),
    /// An XFRM netlink event of this kind (`expire` means a hard expiry).
    Event(&'static str),
    /// `ip route get` of the flow's destination gives this route type.
    Route(&'static str),
    /// The device the flow's route uses counts this statistic (`dev:DEV:NAME`).
    RouteDevice(&'static str),
    /// The application's socket (`--observe`) counted drops.
    SocketDrops,
    /// An nftables drop/reject rule's counter moved.
    FirewallRule,
    /// Configuration alone: the judge decides.
    Config(&'static str),
}

/// Kinds of signal: two different kinds that agree corroborate each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Counter,
    Errno,
    Trace,
    Event,
    Route,
    Socket,
    Firewall,
    Config,
}

impl Signal {
    pub fn kind(self) -> Kind {
        match self {
            Signal::Counter(_) | Signal::SharedCounter(_) | Signal::RouteDevice(_) => Kind::Counter,
            Signal::Errno(_) => Kind::Errno,
            Signal::Drop(..) | Signal::Audit(_) => Kind::Trace,
            Signal::Event(_) => Kind::Event,
            Signal::Route(_) => Kind::Route,
            Signal::SocketDrops => Kind::Socket,
            Signal::FirewallRule => Kind::Firewall,
            Signal::Config(_) => Kind::Config,
        }
    }

    /// Whether the signal, when it names a cause, names it alone on its side.
    pub fn exclusive(self) -> bool {
        matches!(
            self,
            Signal::Counter(_)
                | Signal::Errno(_)
                | Signal::Route(_)
                | Signal::RouteDevice(_)
                | Signal::SocketDrops
        )
    }

    /// A counter name this signal matches (`sa:*:integrity_failed` matches every SA's).
    pub fn matches_counter(self, name: &str) -> bool {
        let pattern = match self {
            Signal::Counter(p) | Signal::SharedCounter(p) => p,
            _ => return false,
        };
        match pattern.split_once('*') {
            Some((head, tail)) => {
                name.len() >= head.len() + tail.len()
                    && name.starts_with(head)
                    && name.ends_with(tail)
            }
            None => name == pattern,
        }
    }

    pub fn matches_drop(self, reason: &str, symbol: &str) -> bool {
        match self {
            Signal::Drop(r, at) => (r == "*" || r == reason) && (at == "*" || at == symbol),
            _ => false,
        }
    }
}

/// A finding under construction: the rule's signals found on one side.
#[derive(Debug)]
pub struct Candidate {
    pub cause: CauseId,
    /// The side it sits on; a judge may clear it (a router that is not a side).
    pub side: Option<String>,
    pub summary: String,
    pub evidence: Vec<EvidenceItem>,
    /// The signals found, each with whether it named the cause alone.
    pub hits: Vec<(Signal, bool)>,
    /// Kinds of signal found, including what a judge corroborated.
    pub kinds: Vec<Kind>,
    /// The judge says the reading is plausible only.
    pub plausible_only: bool,
}

impl Candidate {
    pub fn has(&self, signal: Signal) -> bool {
        self.hits.iter().any(|(s, _)| *s == signal)
    }

    /// Only trace signals were found (no counter, errno, event on a side).
    pub fn trace_only(&self) -> bool {
        self.hits.iter().all(|(s, _)| s.kind() == Kind::Trace)
    }

    /// Evidence that explains the finding without being a second signal.
    pub fn context(&mut self, items: impl IntoIterator<Item = EvidenceItem>) {
        for i in items {
            if !self.evidence.contains(&i) {
                self.evidence.push(i);
            }
        }
    }

    /// Evidence of another kind that agrees: counts towards the confidence rule.
    pub fn corroborate(&mut self, kind: Kind, items: Vec<EvidenceItem>) {
        if !items.is_empty() && !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self.context(items);
    }

    /// The signal also counts other traffic here: it no longer names the cause alone.
    pub fn not_exclusive(&mut self) {
        for h in &mut self.hits {
            h.1 = false;
        }
    }
}

/// The rule of `cause`.
pub fn rule(cause: CauseId) -> &'static Rule {
    all()
        .find(|r| r.cause == cause)
        .expect("every CauseId has a rule (tested)")
}

/// Every rule, family by family.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    FAMILIES.iter().flat_map(|(_, rules)| rules.iter())
}

/// The family file a cause's rule is in (`crates/diagnose/src/rules/FAMILY.rs`).
pub fn family(cause: CauseId) -> &'static str {
    FAMILIES
        .iter()
        .find(|(_, rules)| rules.iter().any(|r| r.cause == cause))
        .map(|(f, _)| *f)
        .unwrap_or_default()
}

/// The cause a counter names, as every command shows it.
pub fn cause_of_counter(name: &str) -> Option<CauseId> {
    all()
        .find(|r| r.names.iter().any(|s| s.matches_counter(name)))
        .map(|r| r.cause)
}

/// The cause an `xfrm_audit_*` function names.
pub fn cause_of_audit(function: &str) -> Option<CauseId> {
    all()
        .find(|r| {
            r.names
                .iter()
                .any(|s| matches!(s, Signal::Audit(f) if *f == function))
        })
        .map(|r| r.cause)
}

/// The cause a drop reason at a location (`symbol+0xoff`) names.
pub fn cause_of_drop(reason: &str, location: &str) -> Option<CauseId> {
    let symbol = location.split('+').next().unwrap_or_default();
    all()
        .find(|r| r.names.iter().any(|s| s.matches_drop(reason, symbol)))
        .map(|r| r.cause)
}

/// The cause a `sendto` errno names on its own (EPERM and EINVAL name none: several share them).
pub fn cause_of_errno(errno: &str) -> Option<CauseId> {
    all()
        .find(|r| {
            r.names
                .iter()
                .any(|s| matches!(s, Signal::Errno(e) if *e == errno))
        })
        .map(|r| r.cause)
}
