//! `cargo xtask`: the project's own tooling in Rust; the scripts under `scripts/` are thin
//! entry points into it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod conformance;
mod images;

/// bot-bottle's own tooling (what `scripts/` runs).
#[derive(Debug, Parser)]
#[command(name = "xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // about and help: on `conformance::Args`.
    EgressConformance(conformance::Args),
    // about and help: on `images::Args`.
    Images(images::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::EgressConformance(args) => conformance::main(args),
        Command::Images(args) => images::main(args),
    }
}
