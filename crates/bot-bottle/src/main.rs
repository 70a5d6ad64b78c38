use std::process::ExitCode;

use clap::Parser;

use bot_bottle::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    bb_core::error::run_main("bot-bottle", || match &cli.command {
        Command::Start(args) => bot_bottle::start::run(args),
        Command::Info { agent, bottles } => bot_bottle::info::run(agent, bottles),
        Command::List { json } => bot_bottle::list::run(*json),
    })
}
