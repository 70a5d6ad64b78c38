use std::process::ExitCode;

use clap::Parser;

use bot_bottle::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut status = 0;
    let code = bb_core::error::run_main("bot-bottle", || match &cli.command {
        Command::Start(args) => {
            status = bot_bottle::start::run(args)?;
            Ok(())
        }
        Command::Info { agent, bottles } => bot_bottle::info::run(agent, bottles),
        Command::List { json } => bot_bottle::list::run(*json),
    });
    if code == ExitCode::SUCCESS {
        ExitCode::from(status.clamp(0, 255) as u8)
    } else {
        code
    }
}
