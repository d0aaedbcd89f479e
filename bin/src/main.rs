//! The `xfrmdiag` command: argument handling and glue only. The work lives in the crates.

mod cli;
mod cmd;
mod output;

use std::process::ExitCode;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli: Cli = output::parse_cli();
    let global = cli.global.clone();
    let result = match cli.command {
        Command::Sa(args) => cmd::sa::run(&global, args),
        Command::Policy(args) => cmd::policy::run(&global, args),
        Command::Info(args) => cmd::info::run(&global, args),
        Command::Monitor(args) => cmd::monitor::run(&global, args),
        Command::Counters(args) => cmd::counters::run(&global, args),
        Command::Watch(args) => cmd::watch::run(&global, args),
        Command::Trace(args) => cmd::trace::run(&global, args),
        // A diagnosis from half the evidence would be a wrong answer: refuse it up front.
        Command::Diagnose(args) => {
            output::require_net_admin("diagnose").and_then(|()| cmd::diagnose::run(&global, *args))
        }
        Command::Analyze(args) => cmd::analyze::run(&global, args),
        Command::Compare(args) => cmd::compare::run(&global, args),
        Command::Demo(args) => cmd::demo::run(&global, args),
        Command::Check(args) => cmd::check::run(&global, args),
        Command::Ike(args) => cmd::ike::run(&global, args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::completions::run_man(args),
    };
    match result {
        Ok(status) => status.into(),
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::print_error(&err);
            cli::Status::Error.into()
        }
    }
}
