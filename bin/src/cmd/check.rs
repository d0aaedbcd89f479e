//! `xfrmdiag check`: run a TOML checklist (or a built-in one) and report pass/fail/skip per check.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use xfrmdiag_checklist::{builtin, load_file, Progress, Runner, Vars};
use xfrmdiag_report::{checklist as render, junit};

use crate::cli::{Global, Status};
use crate::output;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Format: docs/checklists.md. Examples: examples/*.toml.\n\
Exit status: 0 no check failed, 1 a check failed, 2 invalid checklist or environment error."
)]
pub struct Args {
    /// The checklist file (TOML).
    #[arg(value_name = "FILE", required_unless_present = "builtin")]
    pub file: Option<PathBuf>,
    /// Run a built-in checklist instead of a file (`--builtin --list` lists them).
    #[arg(long, value_name = "NAME", num_args = 0..=1, conflicts_with = "file")]
    pub builtin: Option<Option<String>>,
    /// With --builtin: list the built-in checklists.
    #[arg(long, requires = "builtin")]
    pub list: bool,
    /// Set a checklist variable, overriding its default (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Also write the results as JUnit XML to FILE (for CI servers).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Status> {
    if args.list {
        return list(global);
    }
    let vars = Vars::parse(&args.vars).context("invalid --var")?;
    let checklist = match (&args.builtin, &args.file) {
        (Some(Some(name)), _) => builtin::get(name, &vars)
            .with_context(|| {
                format!("no built-in checklist `{name}`: see `xfrmdiag check --builtin --list`")
            })?
            .context("invalid built-in checklist")?,
        (Some(None), _) => {
            anyhow::bail!("--builtin needs a NAME: see `xfrmdiag check --builtin --list`")
        }
        (None, Some(file)) => load_file(file, &vars).map_err(|e| match e {
            xfrmdiag_checklist::Error::Invalid { .. } => {
                anyhow::anyhow!("invalid checklist: {e}: fix the file (format: docs/checklists.md)")
            }
            other => anyhow::Error::new(other),
        })?,
        (None, None) => anyhow::bail!("give a checklist FILE or --builtin NAME"),
    };

    if let Some(why) = checklist.needs_root(global.netns.is_some()) {
        if !nix::unistd::geteuid().is_root() {
            anyhow::bail!(
                "not root: {why}, which needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run it with sudo"
            );
        }
    }
    let runner = Runner::new(global.netns());
    runner.preflight(&checklist)?;

    let show_progress = !global.json && output::status_line_allowed();
    let report = runner.run(&checklist, |event| {
        if !show_progress {
            return;
        }
        match event {
            Progress::Started { index, total, name } => {
                crate::output::status(format_args!("[{index}/{total}] {name}…"));
            }
            Progress::Finished(_) => crate::output::status(""),
        }
    });

    if let Some(path) = &args.junit {
        std::fs::write(path, junit::checklist(&report))
            .with_context(|| format!("cannot write JUnit XML to {}", path.display()))?;
    }

    let mut stdout = std::io::stdout().lock();
    if global.json {
        writeln!(stdout, "{}", render::json(&report)?)?;
    } else {
        writeln!(stdout, "{}", render::table(&report))?;
        writeln!(
            stdout,
            "{}",
            render::summary_line(&report, output::use_color(global))
        )?;
    }
    Ok(if report.ok {
        Status::Ok
    } else {
        Status::Problem
    })
}

fn list(global: &Global) -> anyhow::Result<Status> {
    let mut stdout = std::io::stdout().lock();
    if global.json {
        let items: Vec<serde_json::Value> = builtin::BUILTINS
            .iter()
            .map(|(name, summary, _)| serde_json::json!({ "name": name, "summary": summary }))
            .collect();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&items)?)?;
    } else {
        for (name, summary, _) in builtin::BUILTINS {
            writeln!(stdout, "{name:<12} {summary}")?;
        }
    }
    Ok(Status::Ok)
}
