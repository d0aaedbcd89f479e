//! One module per check kind: each reads what it needs and returns an [`Outcome`].

use std::path::PathBuf;

use xfrmdiag_netns::Netns;

pub mod counter;
pub mod default_policy;
pub mod diagnose;
pub mod feature;
pub mod ike_connection;
pub mod policy;
pub mod sa;
pub mod sa_lifetime;
pub mod sa_seq_headroom;
pub mod socket;
pub mod sysctl;
pub mod trace;

/// Where a check looks: its namespace and the roots of the files it reads.
#[derive(Debug, Clone)]
pub struct Context {
    pub netns: Netns,
    /// `/proc`, or a fixture tree in tests.
    pub proc_root: PathBuf,
    /// `/sys`.
    pub sys_root: PathBuf,
    /// `/lib/modules`.
    pub modules_root: PathBuf,
}

impl Context {
    pub fn system(netns: Netns) -> Context {
        Context {
            netns,
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            modules_root: PathBuf::from("/lib/modules"),
        }
    }
}

/// Pass, fail or skip, before severity turns a fail into a warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

/// What a check found: the verdict, why, and what it saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub reason: String,
    pub observed: Option<String>,
}

impl Outcome {
    pub fn pass(reason: impl Into<String>, observed: Option<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Pass,
            reason: reason.into(),
            observed,
        }
    }

    pub fn fail(reason: impl Into<String>, observed: Option<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Fail,
            reason: reason.into(),
            observed,
        }
    }

    pub fn skip(reason: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Skip,
            reason: reason.into(),
            observed: None,
        }
    }

    /// The check's reader is not part of this build yet.
    pub fn not_available(what: &str) -> Outcome {
        Outcome::skip(format!("not available in this build ({what})"))
    }

    /// Passes when `ok`, fails otherwise.
    pub fn check(ok: bool, reason: impl Into<String>, observed: Option<String>) -> Outcome {
        if ok {
            Outcome::pass(reason, observed)
        } else {
            Outcome::fail(reason, observed)
        }
    }
}

/// Runs `work` in the check's namespace; a namespace that cannot be entered fails the check.
pub fn in_netns<T, F>(ctx: &Context, work: F) -> Result<T, Outcome>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    ctx.netns
        .run(work)
        .map_err(|e| Outcome::fail(format!("cannot work in the namespace: {e}"), None))
}
