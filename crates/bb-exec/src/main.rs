use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// Stage 6 of bot-bottle: run the agent command in its bottle and exit with its status.
///
/// Reads the plan of a provisioned bottle on stdin (or --plan) and runs the provider command as
/// `node` in the agent container, with a TTY when stdin is one, with the permission-bypass flag
/// and the prompt file. --headless --prompt TEXT runs one non-interactive turn. When the plan
/// comes from a pipe, the TTY is reopened from /dev/tty.
#[derive(Debug, Parser)]
#[command(
    name = "bb-exec",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n  bb-exec --plan plan.json --headless --prompt 'run the tests'\n\nExit status: the agent's; 2 bad input (plan, flags), 1 runtime failure (docker)."
)]
struct Cli {
    #[command(flatten)]
    quiet: bb_core::progress::QuietArg,
    /// Read the plan from FILE instead of stdin
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    #[command(flatten)]
    turn: bb_exec::TurnArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main_with_status("bb-exec", || run(&cli))
}

fn run(cli: &Cli) -> Result<i32> {
    let plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    bb_exec::run(&plan, &cli.turn)
}
