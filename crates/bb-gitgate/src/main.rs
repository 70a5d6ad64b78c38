use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use bb_gitgate::config::{DEFAULT_CONFIG, DEFAULT_ROOT, Paths};
use bb_gitgate::hooks::{self, Access, HookOutput};

/// The bottle's git gate (runs inside the sidecar container).
///
/// `serve` runs git daemon on port 9418 in front of one bare mirror per repo of repos.json.
/// Fetches refresh the mirror from upstream first and fail when upstream is unreachable;
/// pushes are scanned for secrets and forwarded upstream over SSH only when clean. The other
/// subcommands are what git daemon and git run (access-hook, pre-receive) and tools.
#[derive(Debug, Parser)]
#[command(
    name = "bb-gitgate",
    version,
    after_help = "Example:\n  bb-gitgate serve --config /etc/bot-bottle/git-gate/repos.json --root /var/lib/bot-bottle/git-gate\n  bb-gitgate check-rules gitleaks.toml\n\nEnvironment: EGRESS_TOKEN_* and BB_SIDECAR_CANARY values are known secrets for the push scan;\nBB_GITGATE_UPSTREAM_TIMEOUT (seconds, default 120) bounds every git command that talks to upstream.\n\nExit status: 0 ok, 2 bad input (config, flags), 1 runtime failure or denied."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Args)]
struct Where {
    /// The gate's config (repos, rules, key_dir)
    #[arg(long, value_name = "FILE", env = "BB_GITGATE_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The gate's state folder (mirrors, known_hosts files, hook wrappers)
    #[arg(long, value_name = "DIR", env = "BB_GITGATE_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Set up the mirrors and run git daemon, supervised, until SIGTERM
    Serve {
        #[command(flatten)]
        at: Where,
        /// Address git daemon listens on
        #[arg(long, default_value = "0.0.0.0:9418")]
        listen: SocketAddr,
    },
    /// git daemon's --access-hook: refresh the mirror before a fetch; deny when upstream is unreachable
    AccessHook {
        #[command(flatten)]
        at: Where,
        /// upload-pack, receive-pack or upload-archive
        service: String,
        /// The repository path git daemon resolved
        path: String,
        /// Host name, canonical host name, IP address and port of the client (ignored)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// A mirror's pre-receive hook: scan the pushed range, then forward it upstream
    PreReceive {
        #[command(flatten)]
        at: Where,
        /// The repo's name in the config
        #[arg(long)]
        repo: String,
    },
    /// Load a gitleaks-format rules file and list the rules that would be skipped
    CheckRules { file: PathBuf },
    /// Exit 0 when the gate accepts connections
    Health {
        #[arg(long, default_value = "127.0.0.1:9418")]
        addr: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::AccessHook {
            at,
            service,
            path,
            rest: _,
        } => {
            let verdict = match (hooks::load_for_hook(&at.config), Paths::new(&at.root)) {
                (Ok(config), Ok(paths)) => hooks::access(&config, &paths, &service, &path),
                (Err(msg), _) => Access::Deny(msg),
                (_, Err(e)) => Access::Deny(format!("{}: {e:#}", hooks::PREFIX)),
            };
            match verdict {
                Access::Allow => ExitCode::SUCCESS,
                Access::Deny(line) => {
                    // git daemon shows the first line of stdout to the client.
                    println!("{line}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::PreReceive { at, repo } => {
            let mut input = String::new();
            let mut stderr = std::io::stderr();
            let mut out = HookOutput { err: &mut stderr };
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("{}: push rejected: reading the updates: {e}", hooks::PREFIX);
                return ExitCode::from(1);
            }
            let code = match (hooks::load_for_hook(&at.config), Paths::new(&at.root)) {
                (Ok(config), Ok(paths)) => {
                    hooks::pre_receive(&config, &paths, &repo, &input, &mut out)
                }
                (Err(msg), _) => {
                    eprintln!("{msg}");
                    1
                }
                (_, Err(e)) => {
                    eprintln!("{}: {e:#}", hooks::PREFIX);
                    1
                }
            };
            ExitCode::from(code as u8)
        }
        cmd => bb_core::error::run_main("bb-gitgate", || run(cmd)),
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Serve { at, listen } => bb_gitgate::serve::serve(&bb_gitgate::serve::ServeOptions {
            config: at.config,
            root: at.root,
            listen,
        }),
        Cmd::CheckRules { file } => {
            let rules = bb_gitgate::rules::Rules::load(&file)?;
            for s in &rules.skipped {
                println!("skipped {}: {}", s.id, s.reason);
            }
            println!(
                "{} rule(s) loaded, {} skipped",
                rules.rules.len(),
                rules.skipped.len()
            );
            Ok(())
        }
        Cmd::Health { addr } => bb_gitgate::serve::health(addr),
        Cmd::AccessHook { .. } | Cmd::PreReceive { .. } => unreachable!("handled in main"),
    }
}
