use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use bb_contract::layout::{GIT_GATE_PORT, env};
use bb_gitgate::config::{DEFAULT_CONFIG, DEFAULT_ROOT};
use bb_gitgate::hookd;
use bb_gitgate::hooks;

/// The bottle's git gate (runs inside the sidecar container).
///
/// `serve` runs a git:// front end on port 9418 in front of one bare mirror per repo of
/// repos.json. Fetches refresh the mirror from upstream first and fail when upstream is
/// unreachable; pushes are judged (only branches and tags; deletions, forced updates and CI
/// changes only when the bottle allows them; no secret in content or names) and forwarded
/// upstream over SSH only when nothing is refused. `pre-receive` is what git runs in each
/// mirror; the others are tools.
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
    #[arg(long, value_name = "FILE", env = env::GATE_CONFIG, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The gate's state folder (mirrors, known_hosts files, locks)
    #[arg(long, value_name = "DIR", env = env::GATE_ROOT, default_value = DEFAULT_ROOT)]
    root: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Set up the mirrors and serve git:// until SIGTERM
    Serve {
        #[command(flatten)]
        at: Where,
        /// Address the git:// front end listens on
        #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], GIT_GATE_PORT)))]
        listen: SocketAddr,
    },
    /// A mirror's pre-receive hook: judge the pushed updates, then forward them upstream
    PreReceive {
        #[command(flatten)]
        at: Where,
        /// The repo's name in the config
        #[arg(long)]
        repo: String,
    },
    /// Load a gitleaks-format rules file with its [extend] chain as gitleaks does and list its
    /// rules; a file gitleaks would reject is an error (exit 2) naming the file and key
    CheckRules {
        file: PathBuf,
        /// Print the merged config (extends resolved) as one gitleaks file instead
        #[arg(long)]
        merged: bool,
    },
    /// Replace the keys the gate's agents hold (repos whose key comes from a command): one
    /// JSON object `{"<repo>": "<private key>"}` on stdin, never in argv
    SetKeys {
        #[command(flatten)]
        at: Where,
    },
    /// Exit 0 when the gate accepts connections
    Health {
        /// The gate's address (a bottle's sidecar sets it: the gate listens on the internal
        /// network's address only)
        #[arg(long, env = env::GATE_HEALTH_ADDR, default_value_t = SocketAddr::from(([127, 0, 0, 1], GIT_GATE_PORT)))]
        addr: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::PreReceive { at, repo } => {
            let mut input = String::new();
            let mut stderr = std::io::stderr();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("{}: push rejected: reading the updates: {e}", hooks::PREFIX);
                return ExitCode::from(1);
            }
            let code = hookd::run_hook(&at.config, &at.root, &repo, &input, &mut stderr);
            ExitCode::from(code as u8)
        }
        cmd => bb_contract::error::run_main("bb-gitgate", || run(cmd)),
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Serve { at, listen } => bb_gitgate::serve::serve(&bb_gitgate::serve::ServeOptions {
            config: at.config,
            root: at.root,
            listen,
        }),
        Cmd::CheckRules { file, merged } => {
            let config = bb_gitleaks::load_compiled(&file)?;
            for warning in &config.warnings {
                eprintln!("bb-gitgate: warning: {warning}");
            }
            if merged {
                print!("{}", config.to_toml());
                return Ok(());
            }
            for rule in &config.rules.rules {
                println!("{}", rule.id);
            }
            let off = config.rules.disabled_builtins();
            if !off.is_empty() {
                let names: Vec<&str> = off.iter().map(String::as_str).collect();
                println!("built-in rules disabled: {}", names.join(", "));
            }
            eprintln!("bb-gitgate: {} rule(s) loaded", config.rules.rules.len());
            Ok(())
        }
        Cmd::Health { addr } => bb_gitgate::serve::health(addr),
        Cmd::SetKeys { at } => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let paths = bb_gitgate::config::Paths::new(&at.root)?;
            let repos = bb_gitgate::agent::set_keys(&paths, &input)?;
            eprintln!("bb-gitgate: keys replaced for [{}]", repos.join(", "));
            Ok(())
        }
        Cmd::PreReceive { .. } => unreachable!("handled in main"),
    }
}
