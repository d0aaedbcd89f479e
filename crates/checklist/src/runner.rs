//! Running a checklist: every check in order, each in its namespace, results collected.

use std::collections::HashMap;
use std::time::Instant;

use xfrmdiag_netns::Netns;

use crate::kinds::counter::Mark;
use crate::kinds::{self, Context, Outcome, Verdict};
use crate::model::{Check, Checklist, Severity, Spec};
use crate::result::{CheckResult, RunReport, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Netns(#[from] xfrmdiag_netns::Error),
}

/// What a run reports while it goes, for a status line.
#[derive(Debug)]
pub enum Progress<'a> {
    Started {
        index: usize,
        total: usize,
        name: &'a str,
    },
    Finished(&'a CheckResult),
}

/// Where a run looks: the default namespace (`-n`), and the filesystem roots.
#[derive(Debug, Clone)]
pub struct Runner {
    pub base: Context,
}

impl Runner {
    pub fn new(netns: Netns) -> Runner {
        Runner {
            base: Context::system(netns),
        }
    }

    /// Checks every namespace the checklist names exists, before anything runs.
    pub fn preflight(&self, checklist: &Checklist) -> Result<(), Error> {
        self.base.netns.check()?;
        for check in &checklist.checks {
            if let Some(name) = &check.netns {
                Netns::Named(name.clone()).check()?;
            }
        }
        Ok(())
    }

    /// Runs every check in order; `progress` hears when each starts and how it ended.
    pub fn run(&self, checklist: &Checklist, mut progress: impl FnMut(Progress<'_>)) -> RunReport {
        let started = Instant::now();
        let mut results = Vec::new();
        // Counter checks with `around`: which check each one measures (validated to be earlier).
        let watchers: Vec<(usize, usize)> = checklist
            .checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.spec {
                Spec::Counter(counter) => counter.around.as_ref().and_then(|target| {
                    checklist.checks[..i]
                        .iter()
                        .position(|t| &t.name == target)
                        .map(|t| (i, t))
                }),
                _ => None,
            })
            .collect();
        let mut marks: HashMap<usize, Mark> = HashMap::new();
        for (i, check) in checklist.checks.iter().enumerate() {
            let ctx = self.context_for(check);
            // Snapshots for counters that measure around this check, as close to it as possible.
            let watching: Vec<usize> = watchers
                .iter()
                .filter(|(_, target)| *target == i)
                .map(|(watcher, _)| *watcher)
                .collect();
            for &w in &watching {
                let wctx = self.context_for(&checklist.checks[w]);
                if let Spec::Counter(c) = &checklist.checks[w].spec {
                    marks.insert(w, kinds::counter::before(c, &wctx));
                }
            }
            progress(Progress::Started {
                index: i + 1,
                total: checklist.checks.len(),
                name: &check.name,
            });
            let t = Instant::now();
            let outcome = match &check.spec {
                Spec::Counter(c) if c.around.is_some() => match marks.remove(&i) {
                    Some(mark) => kinds::counter::evaluate_around(c, mark),
                    None => Outcome::fail("the check it measures around did not run", None),
                },
                _ => self.run_one(check, &ctx),
            };
            for &w in &watching {
                if let Some(mark) = marks.get_mut(&w) {
                    let wctx = self.context_for(&checklist.checks[w]);
                    kinds::counter::after(mark, &wctx);
                }
            }
            let status = match (outcome.verdict, check.severity) {
                (Verdict::Pass, _) => Status::Pass,
                (Verdict::Skip, _) => Status::Skip,
                (Verdict::Fail, Severity::Error) => Status::Fail,
                (Verdict::Fail, Severity::Warning) => Status::Warn,
            };
            let result = CheckResult {
                index: i + 1,
                name: check.name.clone(),
                kind: check.spec.kind().to_string(),
                netns: ctx.netns.display_name().to_string(),
                status,
                severity: check.severity,
                reason: outcome.reason,
                observed: outcome.observed,
                line: check.line,
                duration_ms: t.elapsed().as_millis() as u64,
            };
            progress(Progress::Finished(&result));
            results.push(result);
        }
        let summary = RunReport::summarize(&results);
        RunReport {
            checklist: checklist.name.clone(),
            source: checklist.source.clone(),
            netns: self.base.netns.display_name().to_string(),
            ok: summary.fail == 0,
            summary,
            results,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    fn context_for(&self, check: &Check) -> Context {
        let mut ctx = self.base.clone();
        if let Some(name) = &check.netns {
            ctx.netns = Netns::Named(name.clone());
        }
        ctx
    }
}

impl Runner {
    fn run_one(&self, check: &Check, ctx: &Context) -> Outcome {
        match &check.spec {
            Spec::Sysctl(c) => kinds::sysctl::run(c, ctx),
            Spec::Socket(c) => kinds::socket::run(c, ctx),
            Spec::ModuleOrFeature(c) => kinds::feature::run(c, ctx),
            Spec::DefaultPolicy(c) => kinds::default_policy::run(c, ctx),
            Spec::Sa(c) => kinds::sa::run(c, ctx),
            Spec::SaSeqHeadroom(c) => kinds::sa_seq_headroom::run(c, ctx),
            Spec::SaLifetime(c) => kinds::sa_lifetime::run(c, ctx),
            Spec::Policy(c) => kinds::policy::run(c, ctx),
            Spec::Counter(c) => kinds::counter::run(c, ctx),
            Spec::TraceCapability(c) => kinds::trace::run(c, ctx),
            Spec::Diagnose(c) => kinds::diagnose::run(c, ctx),
            Spec::IkeConnection(c) => kinds::ike_connection::run(c, ctx),
        }
    }
}
