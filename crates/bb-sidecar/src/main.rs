use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use bb_contract::layout::env;
use bb_sidecar::config::DEFAULT_ROUTES;
use bb_sidecar::guard::IpNet;
use bb_sidecar::log::Log;
use bb_sidecar::proxy::DEFAULT_LISTEN;
use bb_sidecar::{RunOptions, health, tls};

/// The bot-bottle sidecar: the bottle's egress proxy and DNS sink.
///
/// Runs as the sidecar container's entry point. Every decision is one JSON line on stdout.
/// Token slot values are read from the env variables the routes name (EGRESS_TOKEN_<n>), the
/// canary from BB_SIDECAR_CANARY; values are never logged.
#[derive(Debug, Parser)]
#[command(
    name = "bb-sidecar",
    version,
    after_help = "Signals (run): SIGHUP reloads the routes file (a bad file keeps the old table) and re-reads the token slots, SIGTERM/SIGINT exit.\n\nExit status: 0 ok, 1 failure (health: not healthy), 2 bad flags."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `run`'s arguments are parsed once at start; boxing them would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the egress proxy and the DNS sink until SIGTERM or SIGINT
    Run(RunArgs),
    /// Exit 0 when the proxy answers GET /healthz with 200 within 2 s, else 1
    Health(HealthArgs),
    /// Hand the running proxy new token values: `EGRESS_TOKEN_<n>=VALUE` lines on stdin (what
    /// `bot-bottle reload` sends through `docker exec -i`); the proxy reloads its routes too
    #[command(
        after_help = "Example:\n  printf 'EGRESS_TOKEN_1=%s\\n' \"$TOKEN\" | docker exec -i bot-bottle-ID-sidecar bb-sidecar set-tokens"
    )]
    SetTokens(SetTokensArgs),
}

#[derive(Debug, Args)]
struct SetTokensArgs {
    /// The proxy's control socket
    #[arg(long, value_name = "FILE", default_value = bb_sidecar::control::CONTROL_SOCKET)]
    socket: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The route table: JSON of the plan's `egress` section
    #[arg(long, value_name = "FILE", env = env::SIDECAR_ROUTES, default_value = DEFAULT_ROUTES)]
    routes: PathBuf,
    /// Address of the HTTP proxy
    #[arg(long, value_name = "ADDR", env = env::SIDECAR_LISTEN, default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Address of the DNS sink (UDP and TCP), or `off`; default: the proxy's address, port 53
    #[arg(long, value_name = "ADDR|off", env = env::SIDECAR_DNS)]
    dns: Option<String>,
    /// The bottle CA certificate (PEM) that signs the intercepting leaf certificates
    #[arg(long, value_name = "FILE", env = env::SIDECAR_CA_CERT, default_value = tls::DEFAULT_CA_CERT)]
    ca_cert: PathBuf,
    /// The bottle CA's private key (PEM)
    #[arg(long, value_name = "FILE", env = env::SIDECAR_CA_KEY, default_value = tls::DEFAULT_CA_KEY)]
    ca_key: PathBuf,
    /// More root certificates (PEM bundle) to trust for upstream TLS, besides the built-in
    /// Mozilla roots (tests)
    #[arg(long, value_name = "FILE", env = env::SIDECAR_EXTRA_ROOTS)]
    extra_roots: Option<PathBuf>,
    /// A network that is never an upstream, even for `private: true` routes (the bottle's own
    /// subnets); repeatable, or comma-separated in the env variable
    #[arg(
        long = "deny-net",
        value_name = "CIDR",
        env = env::SIDECAR_DENY_NETS,
        value_delimiter = ','
    )]
    deny_nets: Vec<IpNet>,
    /// TESTS ONLY: every upstream name resolves to IP (the address checks still apply)
    #[arg(long, value_name = "IP", env = env::SIDECAR_RESOLVE_OVERRIDE)]
    resolve_override: Option<IpAddr>,
    /// Largest request or response body scanned (bytes, or with a KiB, MiB or GiB suffix);
    /// larger scanned bodies are refused (a request body past 1 MiB is already being sent on:
    /// its upstream request is cut)
    #[arg(long, value_name = "SIZE", env = env::SIDECAR_MAX_BODY, default_value = "64MiB", value_parser = parse_size)]
    max_body: u64,
    /// The git gate's configuration: when the file exists, `bb-gitgate serve` (installed next to
    /// this program) runs as a supervised child
    #[arg(
        long,
        value_name = "FILE",
        env = env::SIDECAR_GIT_GATE,
        default_value = "/etc/bot-bottle/git-gate/repos.json"
    )]
    git_gate: PathBuf,
    /// The bottle's supervise folder: when it exists, the supervise MCP server runs on the
    /// proxy's address, port 9100, and files the agent's requests there for the operator
    #[arg(long, value_name = "DIR", env = env::SIDECAR_SUPERVISE, default_value = bb_contract::layout::sidecar::SUPERVISE_DIR)]
    supervise: PathBuf,
    /// How long a request-egress call waits for the operator before it is denied (seconds)
    #[arg(long, value_name = "SECS", env = env::SIDECAR_SUPERVISE_TIMEOUT, default_value_t = bb_sidecar::supervise::DEFAULT_TIMEOUT.as_secs())]
    supervise_timeout: u64,
}

/// `1048576`, `512KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all binary).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{s}` is not a size such as 64MiB")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as 64MiB"))?;
    n.checked_mul(1u64 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a size such as 64MiB"))
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The URL to ask
    #[arg(long, env = env::SIDECAR_HEALTH_URL, default_value_t = health::default_url())]
    url: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    bb_contract::error::run_main("bb-sidecar", || {
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
            Command::SetTokens(args) => {
                use std::io::Read;
                let mut message = Vec::new();
                std::io::stdin().read_to_end(&mut message)?;
                let answer = bb_sidecar::control::send(&args.socket, &message)?;
                eprintln!("bb-sidecar: set-tokens: {answer}");
                Ok(())
            }
        }
    })
}

fn run_options(args: RunArgs) -> Result<RunOptions> {
    let listen_ip = args.listen.ip();
    let dns_default = SocketAddr::new(listen_ip, bb_contract::layout::DNS_PORT).to_string();
    let dns = match args.dns.as_deref().unwrap_or(&dns_default) {
        "off" | "none" | "" => None,
        addr => match addr.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => bail!(bb_contract::InputError::new(format!(
                "--dns: `{addr}` is not an address such as 0.0.0.0:53 (or `off`)"
            ))),
        },
    };
    Ok(RunOptions {
        routes: args.routes,
        listen: args.listen,
        dns,
        ca_cert: args.ca_cert,
        ca_key: args.ca_key,
        extra_roots: args.extra_roots,
        deny_nets: args.deny_nets,
        git_gate: args
            .git_gate
            .is_file()
            .then(|| bb_sidecar::gate::GateOptions {
                program: std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(|dir| dir.join("bb-gitgate")))
                    .unwrap_or_else(|| PathBuf::from("bb-gitgate")),
                config: args.git_gate.clone(),
                listen: SocketAddr::new(listen_ip, bb_contract::layout::GIT_GATE_PORT),
            }),
        resolve_override: args.resolve_override,
        max_body: args.max_body,
        control: Some(PathBuf::from(bb_sidecar::control::CONTROL_SOCKET)),
        given_tokens: Default::default(),
        supervise: args
            .supervise
            .is_dir()
            .then(|| bb_sidecar::supervise::SuperviseOptions {
                listen: SocketAddr::new(listen_ip, bb_contract::layout::SUPERVISE_PORT),
                dir: args.supervise.clone(),
                timeout: std::time::Duration::from_secs(args.supervise_timeout.max(1)),
            }),
    })
}
