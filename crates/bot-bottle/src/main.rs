use std::process::ExitCode;

use clap::Parser;

use bot_bottle::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.quiet.apply();
    bb_contract::error::run_main_with_status("bot-bottle", || run(&cli.command))
}

/// Runs one command; the status is the agent's for `start` and `resume`.
fn run(command: &Command) -> anyhow::Result<i32> {
    let done = |result: anyhow::Result<()>| result.map(|()| 0);
    match command {
        Command::Start(args) => bot_bottle::start::run(args),
        Command::Reload { identity } => done(bot_bottle::reload::run(identity)),
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
            bot_bottle::resume::run(&args)
        }
        Command::Info { agent, bottles } => done(bot_bottle::info::run(agent, bottles)),
        Command::List { what: None, json } => done(bot_bottle::list::run(*json)),
        Command::List {
            what: Some(_),
            json,
        } => done(bot_bottle::active::run(*json)),
        Command::Stop { identity } => done(bot_bottle::stop::run(identity)),
        Command::Commit { identity, tag } => {
            done(bot_bottle::commit::run(identity, tag.as_deref()))
        }
        Command::Logs {
            identity,
            all,
            follow,
            json,
            refused,
        } => done(bot_bottle::logs::run(&bot_bottle::logs::Options {
            identity: identity.clone(),
            all: *all,
            follow: *follow,
            json: *json,
            refused: *refused,
        })),
        Command::Cleanup { yes } => done(bot_bottle::cleanup::run(*yes)),
        Command::Supervise(args) => done(bot_bottle::supervise::run(args)),
        Command::Init => done(bot_bottle::init::run()),
        Command::Completions { shell } => done(bot_bottle::docs::completions(*shell)),
        Command::ManPages { dir } => done(bot_bottle::docs::man_pages(dir)),
    }
}
