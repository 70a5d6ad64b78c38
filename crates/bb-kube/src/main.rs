use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use bb_contract::{InputError, Plan};
use bb_kube::kubectl::Kubectl;
use bb_kube::options::{ApplyArgs, Format, KubectlArgs, RenderArgs};
use clap::{Parser, Subcommand};

/// A bottle on Kubernetes, the same plan as on Docker.
///
/// `render` prints the bottle's objects as one `v1` List: its namespace (Pod Security
/// `restricted`), NetworkPolicies that let the agent reach only the sidecar, the sidecar's
/// Deployment and Service, the agent Pod (gVisor's RuntimeClass for a runsc plan), the agent
/// home's claim, ConfigMaps, and Secrets WITHOUT values (nothing secret is ever printed).
/// `apply` makes them on the cluster through kubectl, the Secrets filled on kubectl's stdin,
/// waits for the sidecar and the agent, and prints the plan with its `kube` section; a failed
/// apply deletes the namespace again. `delete` removes the namespace (the agent's home with
/// it); `exec` runs the agent like bb-exec. Needs the plan's `ca` section (bb-ca).
#[derive(Debug, Parser)]
#[command(
    name = "bb-kube",
    version,
    after_help = "Examples:\n  bb-plan fixer --runtime runsc | bb-ca | bb-kube render --sidecar-ip 10.96.0.200 --sidecar-image registry.example/bot-bottle-sidecar:1 > bottle.json\n  bb-plan fixer | bb-ca | bb-kube apply --sidecar-image registry.example/bot-bottle-sidecar:1 | bb-provision | bb-kube exec\n  bb-kube delete --plan plan.json\n\nExit status: 0 ok (exec: the agent's), 2 bad input (plan, flags), 1 runtime failure (kubectl)."
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
    /// Make the bottle on the cluster, wait until it is ready, print the plan
    Apply(ApplyArgs),
    /// Delete the bottle's namespace and everything in it, print the plan
    Delete(KubectlArgs),
    /// Run the agent in its pod (as bb-exec does in a container)
    Exec(bb_exec::TurnArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main_with_status("bb-kube", || run(&cli))
}

fn run(cli: &Cli) -> Result<i32> {
    let plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    match &cli.command {
        Command::Render(args) => render(&plan, args).map(|()| 0),
        Command::Apply(args) => apply(plan, args).map(|()| 0),
        Command::Delete(args) => delete(plan, args).map(|()| 0),
        Command::Exec(args) => exec(&plan, args),
    }
}

fn render(plan: &Plan, args: &RenderArgs) -> Result<()> {
    let mut opts = args.options().map_err(InputError::from)?;
    opts.files = bb_kube::config::read_host_files(plan)?;
    let objects = bb_kube::render(plan, &opts).map_err(InputError::from)?;
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

fn apply(mut plan: Plan, args: &ApplyArgs) -> Result<()> {
    let mut opts = args.cluster.options().map_err(InputError::from)?;
    opts.files = bb_kube::config::read_host_files(&plan)?;
    let kubectl = Kubectl::pinned(args.kubectl.context.clone())?;
    let values = bb_kube::apply::read_values(&plan, &mut bb_compose::secrets::ask_on_tty)?;
    let step = bb_core::progress::Step::start(
        "bb-kube",
        format!(
            "applying namespace {}",
            bb_kube::names::namespace(&plan.identity)
        ),
    );
    let wait = Duration::from_secs(args.kubectl.wait);
    let kube = bb_kube::apply::apply(&plan, &opts, &kubectl, &values, wait)?;
    step.finish(format!(
        "{} is ready (sidecar at {})",
        kube.namespace, kube.sidecar_ip
    ));
    plan.kube = Some(kube);
    bb_core::stage::write_plan(&plan)
}

fn delete(mut plan: Plan, args: &KubectlArgs) -> Result<()> {
    let context = args
        .context
        .clone()
        .or_else(|| plan.kube.as_ref().and_then(|k| k.context.clone()));
    let kubectl = Kubectl::find(context)?;
    bb_kube::teardown::delete(&plan, &kubectl, Duration::from_secs(args.wait))?;
    if let Some(kube) = plan.kube.as_mut() {
        kube.applied = false;
    }
    bb_core::stage::write_plan(&plan)
}

fn exec(plan: &Plan, turn: &bb_exec::TurnArgs) -> Result<i32> {
    bb_kube::apply::applied(plan)?;
    bb_exec::run(plan, turn)
}
