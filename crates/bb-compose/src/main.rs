use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Stage 4 of bot-bottle: the bottle's compose project (agent + sidecar).
///
/// `render` writes state/<id>/docker-compose.yml (secrets only as bare names) and the sidecar's
/// routes file; `up` also builds missing images, starts the project with secret values in the
/// compose process's environment only (host variables read now, `?` values asked on the
/// terminal), and waits for the sidecar to be healthy; `down` removes it; `logs` writes
/// state/<id>/compose.log. Compose runs as `docker compose` when the plugin exists, else
/// `docker-compose`.
#[derive(Debug, Parser)]
#[command(
    name = "bb-compose",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n  bb-compose down --home --plan plan.json\n\nExit status: 0 ok, 2 bad input (plan, flags), 1 runtime failure (docker)."
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
    /// Write the compose file (needs bb-net and bb-ca first)
    Render,
    /// Render, build missing images, start, wait for the sidecar
    Up,
    /// Build the plan's agent and sidecar images when missing (nothing is started; needs only
    /// bb-plan first): `bb-plan fixer | bb-compose build`
    Build,
    /// Remove the project's containers (the agent's home volume stays, for a resume)
    Down {
        /// Also remove the agent's home volume: its conversation and workspace (the launcher
        /// does this on a clean exit)
        #[arg(long)]
        home: bool,
    },
    /// Write the project's logs to state/<id>/compose.log
    Logs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main("bb-compose", || run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    use bb_core::progress::info;
    let mut plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    match cli.command {
        Command::Render => {
            let compose = bb_compose::render(&plan)?;
            info(
                "bb-compose",
                format_args!("wrote {}", compose.file.display()),
            );
            plan.compose = Some(compose);
        }
        Command::Up => {
            let secrets =
                bb_compose::secrets::collect(&plan, &mut bb_compose::secrets::ask_on_tty)?;
            let compose = bb_compose::up(&plan, &secrets)?;
            plan.compose = Some(compose);
        }
        Command::Build => {
            bb_images::launch::ensure_agent_image(&plan)?;
            let sidecar = bb_images::launch::sidecar_image()?;
            bb_images::launch::ensure_sidecar_image(&sidecar)?;
            info(
                "bb-compose",
                format_args!("images ready: {} and {sidecar}", plan.provider.image),
            );
        }
        Command::Down { home } => {
            bb_compose::down(&plan)?;
            if home {
                bb_compose::remove_home_volume(&plan.identity)?;
            }
            info(
                "bb-compose",
                format_args!("{} is down", plan.compose_project()),
            );
            if let Some(compose) = &mut plan.compose {
                compose.up = false;
            }
        }
        Command::Logs => {
            let path = bb_compose::logs(&plan)?;
            info("bb-compose", format_args!("wrote {}", path.display()));
        }
    }
    bb_core::stage::write_plan(&plan)
}
