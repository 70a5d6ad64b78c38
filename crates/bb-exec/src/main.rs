use std::io::IsTerminal;
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
    /// Run one non-interactive turn (needs --prompt)
    #[arg(long, requires = "prompt")]
    headless: bool,
    /// The prompt of the headless turn
    #[arg(long, value_name = "TEXT", requires = "headless")]
    prompt: Option<String>,
    /// Continue the previous conversation (the provider's resume flag)
    #[arg(long)]
    resume: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    let mut status = 0;
    let code = bb_contract::error::run_main("bb-exec", || {
        status = run(&cli)?;
        Ok(())
    });
    if code == ExitCode::SUCCESS {
        ExitCode::from(status as u8)
    } else {
        code
    }
}

fn run(cli: &Cli) -> Result<i32> {
    let plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    plan.provision.as_ref().ok_or_else(|| {
        bb_contract::InputError::new("the plan has no `provision` section")
            .key("provision")
            .fix("run bb-provision first")
    })?;
    let interactive = cli.prompt.is_none();
    let stdin_is_tty = std::io::stdin().is_terminal();
    // In `… | bb-exec` stdin is the plan pipe; the agent gets the terminal instead.
    let stdin_from_tty = interactive && !stdin_is_tty && std::fs::File::open("/dev/tty").is_ok();
    let options = bb_exec::Options {
        headless: cli.prompt.clone(),
        resume: cli.resume,
        tty: interactive && (stdin_is_tty || stdin_from_tty),
        stdin_from_tty,
    };
    let mut child = bb_exec::spawn(&plan, &options)?;
    Ok(bb_exec::exit_code(child.wait()?))
}
