use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use bb_sidecar::config::DEFAULT_ROUTES;
use bb_sidecar::log::Log;
use bb_sidecar::proxy::DEFAULT_LISTEN;
use bb_sidecar::{RunOptions, health};

/// The bot-bottle sidecar: the bottle's egress proxy and DNS sink.
///
/// Runs as the sidecar container's entry point. Every decision is one JSON line on stdout.
#[derive(Debug, Parser)]
#[command(
    name = "bb-sidecar",
    version,
    after_help = "Signals (run): SIGHUP reloads the routes file (a bad file keeps the old table), SIGTERM/SIGINT exit.\n\nExit status: 0 ok, 1 failure (health: not healthy), 2 bad flags."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the egress proxy and the DNS sink until SIGTERM or SIGINT
    Run(RunArgs),
    /// Exit 0 when the proxy answers GET /healthz with 200 within 2 s, else 1
    Health(HealthArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The route table: JSON of the plan's `egress` section
    #[arg(long, value_name = "FILE", env = "BB_SIDECAR_ROUTES", default_value = DEFAULT_ROUTES)]
    routes: PathBuf,
    /// Address of the HTTP proxy
    #[arg(long, value_name = "ADDR", env = "BB_SIDECAR_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Address of the DNS sink (UDP and TCP), or `off`
    #[arg(
        long,
        value_name = "ADDR|off",
        env = "BB_SIDECAR_DNS",
        default_value = "0.0.0.0:53"
    )]
    dns: String,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The URL to ask
    #[arg(long, env = "BB_SIDECAR_HEALTH_URL", default_value = health::DEFAULT_URL)]
    url: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    bb_core::error::run_main("bb-sidecar", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        match cli.command {
            Command::Run(args) => {
                let opts = run_options(args)?;
                runtime.block_on(bb_sidecar::run(opts, Log::stdout()))
            }
            Command::Health(args) => runtime.block_on(health::check(&args.url, health::TIMEOUT)),
        }
    })
}

fn run_options(args: RunArgs) -> Result<RunOptions> {
    let dns = match args.dns.as_str() {
        "off" | "none" | "" => None,
        addr => match addr.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => bail!(bb_core::InputError::new(format!(
                "--dns: `{addr}` is not an address such as 0.0.0.0:53 (or `off`)"
            ))),
        },
    };
    Ok(RunOptions {
        routes: args.routes,
        listen: args.listen,
        dns,
    })
}
