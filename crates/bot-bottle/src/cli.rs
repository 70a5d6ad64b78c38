//! The wrapper's command line.

use clap::{Parser, Subcommand, ValueEnum};

use bb_plan::cli::PlanArgs;

/// Run AI coding agents in sandboxed Docker bottles.
///
/// A bottle is a Docker container on an internal network whose only way out is a sidecar the
/// agent cannot touch (egress proxy with allowlist, TLS interception and secret scanning; git
/// gate; DNS sink). Bottles and agents are Markdown files with YAML front matter in
/// ~/.bot-bottle/ ($BOT_BOTTLE_HOME).
#[derive(Debug, Parser)]
#[command(
    name = "bot-bottle",
    version,
    after_help = "Examples:\n  bot-bottle list\n  bot-bottle info fixer\n  bot-bottle start fixer --dry-run\n\nExit status: 2 for usage and manifest errors, 1 for runtime failures."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, confirm, launch an agent in a new bottle, and tear it down when the agent exits
    #[command(
        after_help = "Example:\n  bot-bottle start fixer --dry-run\n  bot-bottle start fixer --dry-run --format json | bb-net"
    )]
    Start(StartArgs),
    /// Show the resolved agent: bottle chain, env names and modes, skills, git identity, routes
    #[command(after_help = "Example:\n  bot-bottle info fixer")]
    Info {
        /// The agent to show
        agent: String,
        /// Resolve with these bottles instead of the agent's own
        #[arg(long = "bottle", value_name = "B")]
        bottles: Vec<String>,
    },
    /// List the available agents (name, source file, bottle)
    #[command(after_help = "Example:\n  bot-bottle list --json")]
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask `launch this agent? [y/N]`
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan (preflight text, or JSON with --format json) and create nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Output of --dry-run
    #[arg(long, value_enum, default_value = "text", requires = "dry_run")]
    pub format: Format,
    /// Run one non-interactive turn (needs --prompt); implies --yes
    #[arg(long, requires = "prompt")]
    pub headless: bool,
    /// The prompt of the headless turn
    #[arg(long, value_name = "TEXT", requires = "headless")]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
