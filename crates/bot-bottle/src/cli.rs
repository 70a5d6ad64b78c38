//! The wrapper's command line.

use clap::{Args, Parser, Subcommand, ValueEnum};

use bb_plan::cli::PlanArgs;

/// Run AI coding agents in sandboxed Docker bottles.
///
/// A bottle is a Docker container on an internal network whose only way out is a sidecar the
/// agent cannot touch (egress proxy with allowlist, TLS interception and secret scanning; git
/// gate; DNS sink). Bottles and agents are Markdown files with YAML front matter in
/// ~/.bot-bottle/ ($BOT_BOTTLE_HOME).
#[derive(Debug, Parser)]
#[command(
    name = "bot-bottle",
    version,
    after_help = "Examples:\n  bot-bottle init\n  bot-bottle list\n  bot-bottle info fixer\n  bot-bottle start fixer --dry-run\n  bot-bottle list active\n  bot-bottle logs fixer-a1b2c -f\n\nExit status: 2 for usage and manifest errors, 1 for runtime failures, the agent's own status\nfor start and resume once the agent ran."
)]
pub struct Cli {
    #[command(flatten)]
    pub quiet: bb_core::progress::QuietArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, confirm, launch an agent in a new bottle, and tear it down when the agent exits
    #[command(
        after_help = "Example:\n  bot-bottle start fixer --dry-run\n  bot-bottle start fixer --dry-run --json | bb-net"
    )]
    Start(StartArgs),
    /// Show the resolved agent: bottle chain, env names and modes, skills, git identity, routes
    #[command(after_help = "Example:\n  bot-bottle info fixer")]
    Info {
        /// The agent to show
        agent: String,
        /// Resolve with these bottles instead of the agent's own
        #[arg(long = "bottle", value_name = "B")]
        bottles: Vec<String>,
    },
    /// Continue a kept bottle: same agent, bottles, workspace, label and identity
    #[command(
        after_help = "Example:\n  bot-bottle resume fixer-a1b2c\n\nThe state folder is kept after a non-zero exit, a crash or an interrupt (or with .preserve)."
    )]
    Resume {
        /// The bottle's identity (printed at launch; `ls ~/.bot-bottle/state`)
        identity: String,
        /// Do not ask `launch this agent? [y/N]`
        #[arg(long, short = 'y')]
        yes: bool,
        /// Run one non-interactive turn instead of attaching; implies --yes
        #[arg(long, value_name = "TEXT")]
        prompt: Option<String>,
        /// Show what would be restored (home volume, image, workspace) and start nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Make a running bottle read its bottle files' routes and its tokens again (variables,
    /// files, commands), without a restart; what supervise granted is kept
    #[command(after_help = "Example:\n  bot-bottle reload fixer-a1b2c")]
    Reload {
        /// The bottle's identity (`bot-bottle list active`)
        identity: String,
    },
    /// List the available agents (name, source file, bottle), or the running bottles
    #[command(after_help = "Examples:\n  bot-bottle list --json\n  bot-bottle list active")]
    List {
        /// `active`: the running bottles (identity, label, agent, uptime, runtime, sidecar health),
        /// then the kept ones (resumable: age, home volume size)
        #[arg(value_parser = ["active"])]
        what: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Snapshot a running bottle's agent container to an image that `resume` starts from
    #[command(
        after_help = "Example:\n  bot-bottle commit fixer-a1b2c --tag fixer-tools:1\n\nThe home (conversation, workspace) stays on the bottle's volume; environment values are\ncommitted empty."
    )]
    Commit {
        /// The bottle's identity (see `bot-bottle list active`)
        identity: String,
        /// The image tag (default bot-bottle-snapshot:IDENTITY)
        #[arg(long)]
        tag: Option<String>,
    },
    /// Tear a running bottle down from another terminal (logs dumped, state kept)
    #[command(after_help = "Example:\n  bot-bottle stop fixer-a1b2c")]
    Stop {
        /// The bottle's identity (see `bot-bottle list active`)
        identity: String,
    },
    /// A bottle's audit stream (decisions of its proxy, DNS sink, git gate and supervise), one readable line each
    #[command(
        after_help = "Examples:\n  bot-bottle logs fixer-a1b2c -f\n  bot-bottle logs fixer-a1b2c --refused\n  bot-bottle logs --all --follow --json | jq 'select(.verdict == \"block\")'\n\nA refusal names the rule that decided and the bottle key that would allow it (or says that nothing may). The stream is kept in the state folder (audit.jsonl) when the bottle is torn down; docs/audit.md describes every field."
    )]
    Logs {
        /// The bottle's identity (see `bot-bottle list active`)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        identity: Option<String>,
        /// Every running bottle's stream, merged in time order
        #[arg(long)]
        all: bool,
        /// Keep printing new lines
        #[arg(long, short = 'f')]
        follow: bool,
        /// The JSON lines (each with its `bottle`)
        #[arg(long)]
        json: bool,
        /// Only refusals, each with the bottle key that would allow it
        #[arg(long)]
        refused: bool,
    },
    /// Remove every container and network of any bottle and state folders without .preserve
    #[command(
        after_help = "Example:\n  bot-bottle cleanup\n\nLists what it found and asks once; --yes removes without asking."
    )]
    Cleanup {
        /// Do not ask
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// The operator's queue of every bottle's requests for more access: approve, edit then
    /// approve, reject with a reason
    #[command(
        after_help = "Examples:\n  bot-bottle supervise\n  bot-bottle supervise --once --json\n  bot-bottle supervise --approve 3f2a9c1e\n  bot-bottle supervise --reject 3f2a9c1e --reason 'use the package mirror'\n\nAn agent asks through the request-egress tool of its bottle's MCP server and waits for the\nanswer (2 minutes by default); an approval adds the route to the bottle's live table at once.\nIDs may be shortened to any unique prefix of 4 characters or more."
    )]
    Supervise(SuperviseArgs),
    /// Write a commented starter bottle and agent to ~/.bot-bottle/ (never overwrites)
    #[command(after_help = "Example:\n  bot-bottle init && bot-bottle start starter")]
    Init,
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  bot-bottle completions bash > ~/.local/share/bash-completion/completions/bot-bottle\n  bot-bottle completions zsh > ~/.zfunc/_bot-bottle\n  bot-bottle completions fish > ~/.config/fish/completions/bot-bottle.fish"
    )]
    Completions {
        /// bash, zsh or fish
        shell: Shell,
    },
    /// Write man pages (bot-bottle.1 and one per command) into a folder
    #[command(after_help = "Example:\n  bot-bottle man-pages ~/.local/share/man/man1")]
    ManPages {
        /// The folder to write into (created if missing)
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// Print the pending requests and exit
    #[arg(long, conflicts_with_all = ["approve", "reject"])]
    pub once: bool,
    /// JSON instead of text (the pending requests, or the decision)
    #[arg(long)]
    pub json: bool,
    /// Approve this request (its id or a unique prefix)
    #[arg(long, value_name = "ID", conflicts_with = "reject")]
    pub approve: Option<String>,
    /// Grant this route instead of the one asked for: a JSON file, `-` for stdin
    #[arg(long, value_name = "FILE", requires = "approve")]
    pub route: Option<std::path::PathBuf>,
    /// How long the approval lasts: `life` (the bottle's), `once` (one request) or minutes
    /// such as `30m`. Default: `life` for a requested route, `once` for a held request (`life`
    /// releases its rule on the route for the bottle's life)
    #[arg(long, value_name = "SCOPE", requires = "approve", value_parser = bb_supervise::Scope::parse)]
    pub grant: Option<bb_supervise::Scope>,
    /// Also write the approved route into the bottle file whose routes are in force, after
    /// showing the change as a diff and asking (only with `--grant life`)
    #[arg(long, requires = "approve")]
    pub save: bool,
    /// Do not ask before writing the bottle file (with --save)
    #[arg(long, short = 'y', requires = "save")]
    pub yes: bool,
    /// Reject this request (its id or a unique prefix)
    #[arg(long, value_name = "ID", requires = "reason")]
    pub reject: Option<String>,
    /// Why it is rejected (the agent is told)
    #[arg(long, value_name = "TEXT", requires = "reject")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask `launch this agent? [y/N]`
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan (preflight text, or JSON with --json) and create nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as JSON (for piping into bb-net)
    #[arg(long, requires = "dry_run", conflicts_with = "format")]
    pub json: bool,
    /// Output of --dry-run (`--format json` is `--json`)
    #[arg(long, value_enum, default_value = "text", requires = "dry_run")]
    pub format: Format,
    /// Run one non-interactive turn (needs --prompt); implies --yes
    #[arg(long, requires = "prompt")]
    pub headless: bool,
    /// The prompt of the headless turn
    #[arg(long, value_name = "TEXT", requires = "headless")]
    pub prompt: Option<String>,
    /// Where the bottle runs: the Docker engine (DOCKER_HOST or the current context, local or
    /// remote), or a Kubernetes cluster through kubectl (docs/kubernetes.md)
    #[arg(long, value_enum, default_value = "docker")]
    pub backend: Backend,
    #[command(flatten, next_help_heading = "With --backend kubernetes")]
    pub kube: bb_kube::options::ApplyArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Docker,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
