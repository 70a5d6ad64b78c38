use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// Stage 3 of bot-bottle: mint the bottle's certificate authority.
///
/// Reads the plan on stdin (or --plan), writes state/<id>/egress/ca.pem (0644) and ca-key.pem
/// (0600), an ECDSA P-256 CA valid for 30 days, and adds a `ca` section (paths and SHA-256
/// fingerprint) to the plan on stdout. A CA that is still valid is reused. Its inverse is
/// removing the state folder.
#[derive(Debug, Parser)]
#[command(
    name = "bb-ca",
    version,
    after_help = "Example:\n  bb-plan fixer | bb-net | bb-ca | bb-compose up | bb-provision | bb-exec\n  bb-ca --plan plan.json | jq .ca.fingerprint_sha256\n\nExit status: 0 ok, 2 bad input (plan, flags), 1 runtime failure."
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
    bb_contract::error::run_main("bb-ca", || run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    let mut plan = bb_core::stage::read_plan(cli.plan.as_deref())?;
    let ca = bb_ca::ensure(&plan)?;
    bb_core::progress::info(
        "bb-ca",
        format_args!(
            "CA {} (SHA-256 {})",
            ca.cert.display(),
            ca.fingerprint_sha256
        ),
    );
    plan.ca = Some(ca);
    bb_core::stage::write_plan(&plan)
}
