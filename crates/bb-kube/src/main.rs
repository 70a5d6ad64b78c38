use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_kube::options::{Format, RenderArgs};
use clap::{Parser, Subcommand};

/// A bottle on Kubernetes.
///
/// `render` prints the bottle's objects as one `v1` List: its namespace (Pod Security
/// `restricted`), NetworkPolicies that let the agent reach only the sidecar, the sidecar's
/// Deployment and Service, the agent Pod (gVisor's RuntimeClass for a runsc plan), the agent
/// home's claim, ConfigMaps, and Secrets WITHOUT values (`bb-kube apply` fills them; nothing
/// secret is ever printed). Needs the plan's `ca` section (bb-ca) and a sidecar image.
#[derive(Debug, Parser)]
#[command(
    name = "bb-kube",
    version,
    after_help = "Example:\n  bb-plan fixer --runtime runsc | bb-ca | bb-kube render --sidecar-ip 10.96.0.200 --sidecar-image registry.example/bot-bottle-sidecar:1 > bottle.json\n\nExit status: 0 ok, 2 bad input (plan, flags), 1 runtime failure."
)]
struct Cli {
    #[command(flatten)]
    quiet: bb_core::progress::QuietArg,
    #[command(subcommand)]
    command: Command,
    /// Read the plan from FILE instead of stdin
    #[arg(long, global = true, value_name = "FILE")]
    plan: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the bottle's Kubernetes objects (JSON, or YAML with --format yaml) on stdout
    Render(RenderArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main("bb-kube", || run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    let Command::Render(args) = &cli.command;
    let mut opts = args.options().map_err(InputError::from)?;
    let plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    opts.files = bb_kube::config::read_host_files(&plan)?;
    let objects = bb_kube::render(&plan, &opts).map_err(InputError::from)?;
    let count = objects.len();
    let list = bb_kube::List::new(objects);
    let text = match args.format {
        Format::Json => list.to_json(),
        Format::Yaml => list.to_yaml(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end()).context("writing the objects to stdout")?;
    bb_core::progress::info(
        "bb-kube",
        format_args!(
            "{count} objects for namespace {}",
            bb_kube::names::namespace(&plan.identity)
        ),
    );
    Ok(())
}
