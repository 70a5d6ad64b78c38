use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Stage 2 of bot-bottle: create the bottle's internal and egress networks.
///
/// Reads the plan on stdin (or --plan), creates `bot-bottle-<id>-internal` (internal, a free
/// subnet, no host address on the bridge) and `bot-bottle-<id>-egress`, and writes the plan with
/// a `network` section on stdout. Running it again on its own output creates nothing new.
#[derive(Debug, Parser)]
#[command(
    name = "bb-net",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n  bb-net rm --plan plan.json\n\nExit status: 0 ok, 2 bad input (plan, flags), 1 runtime failure (docker)."
)]
struct Cli {
    #[command(flatten)]
    quiet: bb_core::progress::QuietArg,
    #[command(subcommand)]
    command: Option<Command>,
    /// Read the plan from FILE instead of stdin
    #[arg(long, global = true, value_name = "FILE")]
    plan: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the networks (the default)
    Create,
    /// Remove the networks (absent ones are fine) and drop the `network` section
    Rm,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main("bb-net", || run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    let mut plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    match cli.command.as_ref().unwrap_or(&Command::Create) {
        Command::Create => {
            let network = bb_net::create(&plan)?;
            bb_core::progress::info(
                "bb-net",
                format_args!(
                    "{} ({}), {}; sidecar at {}",
                    network.internal, network.internal_subnet, network.egress, network.sidecar_ip
                ),
            );
            plan.network = Some(network);
        }
        Command::Rm => {
            bb_net::remove(&plan.identity)?;
            bb_core::progress::info(
                "bb-net",
                format_args!("removed the networks of {}", plan.identity),
            );
            plan.network = None;
        }
    }
    bb_core::stage::write_plan(&plan)
}
