use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use bb_plan::cli::PlanArgs;
use bb_plan::{Host, planner, state};

/// Stage 1 of bot-bottle: resolve the manifest into a launch plan (JSON on stdout).
///
/// Reads ~/.bot-bottle/bottles/*.md, ~/.bot-bottle/agents/*.md and ./.bot-bottle/agents/*.md
/// ($BOT_BOTTLE_HOME replaces ~/.bot-bottle), checks that every host variable, token, key file
/// and skill folder the launch needs exists, and writes the bottle's state folder
/// (~/.bot-bottle/state/<identity>/: metadata.json, agent/prompt.txt, agent/env).
/// No Docker resource is created; the only engine call is the runsc probe (skip it with
/// --runtime). The plan holds names of secrets, never their values.
#[derive(Debug, Parser)]
#[command(
    name = "bb-plan",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n  bb-plan fixer --bottle shop --label 'issue 42' > plan.json\n\nExit status: 0 ok, 2 bad input (manifest, flags), 1 runtime failure."
)]
struct Cli {
    #[command(flatten)]
    quiet: bb_core::progress::QuietArg,
    #[command(flatten)]
    plan: PlanArgs,
    /// Reuse this identity (resume) instead of minting a new one
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// Print the JSON Schema of the plan and exit
    #[arg(long, exclusive = true)]
    schema: bool,
    /// Write the plan here instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main("bb-plan", || run(cli))
}

fn run(cli: Cli) -> Result<()> {
    if cli.schema {
        println!(
            "{}",
            serde_json::to_string_pretty(&bb_contract::plan::json_schema())?
        );
        return Ok(());
    }
    let host = Host::from_process("bb-plan")?;
    let planned = planner::plan(&host, &cli.plan.request(cli.identity))?;
    state::write(&planned)?;
    bb_core::progress::info(
        "bb-plan",
        format_args!(
            "planned {} (state {})",
            planned.plan.identity,
            planned.plan.state_dir.display()
        ),
    );
    match cli.output {
        Some(path) => bb_core::fsx::write_file(
            &path,
            format!("{}\n", bb_core::stage::render_plan(&planned.plan, true)).as_bytes(),
            0o600,
        ),
        None => bb_core::stage::write_plan(&planned.plan),
    }
}
