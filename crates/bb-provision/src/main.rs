use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// Stage 5 of bot-bottle: put the CA, prompt, skills, git config and workspace into the agent.
///
/// Reads the plan on stdin (or --plan) of a bottle that is up, and copies through `docker exec`
/// and `docker cp` only: the bottle CA into the trust store, the prompt to
/// /home/node/.bot-bottle-prompt.txt (0600, owned by node), skills to
/// /home/node/.claude/skills/<name>/, ~/.gitconfig with the identity and every repo rewritten to
/// git://git-gate/<repo>.git, and the workspace to /home/node/workspace when planned. Adds a
/// `provision` section to the plan on stdout. Running it again rewrites the same files.
#[derive(Debug, Parser)]
#[command(
    name = "bb-provision",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n\nExit status: 0 ok, 2 bad input (plan, flags), 1 runtime failure (docker)."
)]
struct Cli {
    #[command(flatten)]
    quiet: bb_core::progress::QuietArg,
    /// Read the plan from FILE instead of stdin
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main("bb-provision", || run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    let mut plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    let provision = bb_provision::provision(&plan)?;
    bb_core::progress::info(
        "bb-provision",
        format_args!(
            "CA, prompt, {} skill(s), ~/.gitconfig{} in {}",
            provision.skills.len(),
            if provision.workspace.is_some() {
                ", workspace"
            } else {
                ""
            },
            plan.compose_up()?.agent_container
        ),
    );
    plan.provision = Some(provision);
    bb_core::stage::write_plan(&plan)
}
