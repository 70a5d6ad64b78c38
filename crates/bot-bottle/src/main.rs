use std::process::ExitCode;

use clap::Parser;

use bot_bottle::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    let mut status = 0;
    let code = bb_contract::error::run_main("bot-bottle", || match &cli.command {
        Command::Start(args) => {
            status = bot_bottle::start::run(args)?;
            Ok(())
        }
        Command::Reload { identity } => bot_bottle::reload::run(identity),
        Command::Resume {
            identity,
            yes,
            prompt,
            dry_run,
        } => {
            let args = bot_bottle::resume::ResumeArgs {
                identity: identity.clone(),
                yes: *yes,
                prompt: prompt.clone(),
                dry_run: *dry_run,
            };
            status = bot_bottle::resume::run(&args)?;
            Ok(())
        }
        Command::Info { agent, bottles } => bot_bottle::info::run(agent, bottles),
        Command::List { what: None, json } => bot_bottle::list::run(*json),
        Command::List {
            what: Some(_),
            json,
        } => bot_bottle::active::run(*json),
        Command::Stop { identity } => bot_bottle::stop::run(identity),
        Command::Commit { identity, tag } => bot_bottle::commit::run(identity, tag.as_deref()),
        Command::Logs {
            identity,
            all,
            follow,
            json,
            refused,
        } => bot_bottle::logs::run(&bot_bottle::logs::Options {
            identity: identity.clone(),
            all: *all,
            follow: *follow,
            json: *json,
            refused: *refused,
        }),
        Command::Cleanup { yes } => bot_bottle::cleanup::run(*yes),
        Command::Supervise(args) => bot_bottle::supervise::run(args),
        Command::Init => bot_bottle::init::run(),
        Command::Completions { shell } => bot_bottle::docs::completions(*shell),
        Command::ManPages { dir } => bot_bottle::docs::man_pages(dir),
    });
    if code == ExitCode::SUCCESS {
        ExitCode::from(status.clamp(0, 255) as u8)
    } else {
        code
    }
}
