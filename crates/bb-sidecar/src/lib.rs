//! The bot-bottle sidecar: the egress proxy and the DNS sink of one bottle.
//!
//! - [`config`]: the route table (the plan's `egress` section), host and request matching,
//!   reload;
//! - [`proxy`]: the HTTP forward proxy (`CONNECT` tunnels, plain `http://` forwarding,
//!   introspection at `_egress.local`) and the one request path every request takes;
//! - [`intercept`]: TLS interception inside `CONNECT` (SNI, leaf, HTTP/2 and HTTP/1.1);
//! - [`tls`]: the bottle CA and its leaf cache, the upstream trust store;
//! - [`upstream`]: pooled upstream connections to addresses the guard checked;
//! - [`guard`]: the SSRF guard (address policy, IP forms, the resolver);
//! - [`inspect`]: the DLP hook ([`inspect::Inspector`]) and how its verdicts are applied;
//! - [`secrets`]: token slot values and the canary, in memory only;
//! - [`dns`]: the DNS sink (UDP and TCP), answering REFUSED to every query;
//! - [`log`]: one JSON line per decision or event on stdout;
//! - [`health`]: the client side of the container's health check.
//!
//! [`run`] wires them together with the signals: `SIGHUP` reloads the routes (and re-reads the
//! token slots), `SIGTERM` and `SIGINT` stop the listeners and return.

pub mod coding;
pub mod config;
pub mod control;
pub mod denial;
pub mod dns;
pub mod echo;
pub mod gate;
pub mod guard;
pub mod health;
pub mod inspect;
pub mod intercept;
pub mod log;
pub mod provider_relay;
pub mod proxy;
pub mod request_form;
pub mod secrets;
pub mod supervise;
pub mod tls;
pub mod upstream;
pub mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::{Live, RouteTable, SharedRoutes};
use crate::guard::{AddressPolicy, IpNet, Resolver};
use crate::log::Log;
use crate::proxy::ProxyConfig;
use crate::secrets::Secrets;

/// Tells the servers to stop accepting.
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// Waits for a [`ShutdownTrigger`]; a dropped trigger never fires.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn channel() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// A shutdown that never comes.
    pub fn never() -> Shutdown {
        Shutdown::channel().1
    }

    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What `bb-sidecar run` serves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The routes file (JSON of the plan's `egress` section).
    pub routes: PathBuf,
    /// The proxy's address.
    pub listen: SocketAddr,
    /// The DNS sink's address (UDP and TCP); `None`: no DNS sink.
    pub dns: Option<SocketAddr>,
    /// The bottle CA (PEM certificate and key) that signs the intercepting leaves.
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// More roots to trust upstream (PEM bundle; tests).
    pub extra_roots: Option<PathBuf>,
    /// The bottle's own subnets: never an upstream.
    pub deny_nets: Vec<IpNet>,
    /// The git gate to supervise, when the bottle declares repos.
    pub git_gate: Option<gate::GateOptions>,
    /// Every upstream name resolves to this address (tests, conformance harness).
    pub resolve_override: Option<IpAddr>,
    /// The body cap for scanned bodies.
    pub max_body: u64,
    /// The supervise MCP server, when the bottle's supervise folder is mounted.
    pub supervise: Option<supervise::SuperviseOptions>,
    /// The control socket (`bb-sidecar set-tokens`); `None`: none.
    pub control: Option<PathBuf>,
    /// Token values handed over through the control socket since the start.
    pub given_tokens: control::GivenTokens,
}

impl RunOptions {
    /// The defaults of the flags, for `routes` and `listen`.
    pub fn new(routes: PathBuf, listen: SocketAddr) -> RunOptions {
        RunOptions {
            routes,
            listen,
            dns: None,
            ca_cert: tls::DEFAULT_CA_CERT.into(),
            ca_key: tls::DEFAULT_CA_KEY.into(),
            extra_roots: None,
            deny_nets: Vec::new(),
            git_gate: None,
            resolve_override: None,
            max_body: proxy::DEFAULT_MAX_BODY,
            supervise: None,
            control: None,
            given_tokens: control::GivenTokens::default(),
        }
    }
}

/// Loads the routes and the CA, binds every listener, then serves until `SIGTERM` or
/// `SIGINT`; `SIGHUP` reloads the routes file and the token slots. A routes file, CA or extra
/// roots file that cannot be loaded at start is an error.
pub async fn run(opts: RunOptions, log: Log) -> Result<()> {
    let table = RouteTable::load(&opts.routes)?;
    let route_count = table.routes().len();
    let secrets = Secrets::from_env(&table);
    let missing = secrets.missing(&table);
    let ca = tls::Authority::load(&opts.ca_cert, &opts.ca_key)?;
    let upstream_tls = tls::upstream_config(opts.extra_roots.as_deref())?;
    let routes = SharedRoutes::new(table);
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {} (proxy)", opts.listen))?;
    let dns = match opts.dns {
        Some(addr) => {
            let udp = UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen on udp {addr} (DNS sink)"))?;
            let tcp = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on tcp {addr} (DNS sink)"))?;
            Some((udp, tcp))
        }
        None => None,
    };
    let supervise_listener = match &opts.supervise {
        Some(s) => Some(
            TcpListener::bind(s.listen)
                .await
                .with_context(|| format!("cannot listen on {} (supervise)", s.listen))?,
        ),
        None => None,
    };
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let (trigger, shutdown) = Shutdown::channel();
    let mut cfg = ProxyConfig::new(routes.clone(), log.clone());
    cfg.addresses = AddressPolicy::strict().deny(opts.deny_nets.iter().copied());
    if let Some(ip) = opts.resolve_override {
        cfg.resolver = Resolver::override_all(ip);
    }
    cfg.authority = Some(Arc::new(ca));
    cfg.upstream_tls = Arc::new(upstream_tls);
    cfg.inspector = Live::new(inspect::default_inspector(&secrets));
    redact_log_with(&log, &cfg.inspector.current());
    cfg.secrets = Live::new(Arc::new(secrets));
    cfg.max_body = opts.max_body;
    let queue = opts
        .supervise
        .as_ref()
        .map(|s| Arc::new(supervise::queue::Queue::new(s.dir.clone(), s.timeout)));
    if let (Some(s), Some(queue)) = (&opts.supervise, &queue) {
        cfg.grants = Arc::new(supervise::grants::Grants::kept_in(s.dir.clone()));
        cfg.holds = Some(Arc::new(supervise::holds::Holds::new(
            queue.clone(),
            log.clone(),
        )));
    }
    let cfg = Arc::new(cfg);
    let reloader: Arc<dyn Fn() + Send + Sync> = {
        let (opts, cfg) = (opts.clone(), cfg.clone());
        Arc::new(move || {
            reload(&opts, &cfg);
        })
    };
    if let Some(holds) = &cfg.holds {
        holds.reload_with(reloader.clone());
    }
    if let Some(path) = &opts.control {
        let apply: Arc<dyn Fn() -> bool + Send + Sync> = {
            let (opts, cfg) = (opts.clone(), cfg.clone());
            Arc::new(move || reload(&opts, &cfg))
        };
        tokio::spawn(control::serve(
            path.clone(),
            opts.given_tokens.clone(),
            apply,
            log.clone(),
            shutdown.clone(),
        ));
    }
    let mut tasks = vec![tokio::spawn(proxy::serve(
        listener,
        cfg.clone(),
        shutdown.clone(),
    ))];
    if let Some((udp, tcp)) = dns {
        tasks.push(tokio::spawn(dns::serve_udp(
            udp,
            log.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(dns::serve_tcp(
            tcp,
            log.clone(),
            shutdown.clone(),
        )));
    }
    if let (Some(s), Some(listener), Some(queue)) = (&opts.supervise, supervise_listener, queue) {
        let supervisor = supervise::Supervisor::new(routes.clone(), queue, reloader, log.clone());
        log.event(
            "supervise",
            true,
            &format!(
                "MCP server on http://{}{}, proposals in {}, answers awaited {} s",
                s.listen,
                bb_contract::layout::SUPERVISE_PATH,
                s.dir.display(),
                s.timeout.as_secs()
            ),
        );
        tasks.push(tokio::spawn(supervise::serve(
            listener,
            supervisor,
            shutdown.clone(),
        )));
        tokio::spawn(supervise::grants::prune(
            routes.clone(),
            cfg.grants.clone(),
            log.clone(),
        ));
    }
    let gate_task = opts.git_gate.clone().map(|gate| {
        log.event(
            "git-gate",
            true,
            &format!(
                "supervising {} with {}",
                gate.program.display(),
                gate.config.display()
            ),
        );
        tokio::spawn(gate::supervise(gate, log.clone(), shutdown))
    });
    let dns_text = opts
        .dns
        .map_or_else(|| "off".to_owned(), |a| format!("{a} (udp, tcp)"));
    let nets = if opts.deny_nets.is_empty() {
        "none".to_owned()
    } else {
        opts.deny_nets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    log.event(
        "start",
        true,
        &format!(
            "egress proxy on {}, DNS sink {dns_text}, {route_count} routes from {}, CA {}, denied networks: {nets}, body cap {} bytes, inspector: {}",
            opts.listen,
            opts.routes.display(),
            opts.ca_cert.display(),
            opts.max_body,
            inspect::DEFAULT_INSPECTOR,
        ),
    );
    warn_missing(&log, &missing);
    if let Some(ip) = opts.resolve_override {
        log.event(
            "warning",
            false,
            &format!(
                "--resolve-override is set: every upstream name resolves to {ip} (tests only; the address checks still apply)"
            ),
        );
    }

    let signal_name = loop {
        tokio::select! {
            _ = hangup.recv() => {
                reload(&opts, &cfg);
            }
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
        }
    };
    trigger.shutdown();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    if let Some(task) = gate_task {
        // The gate ends its git services first; it is killed after its grace period.
        let _ = tokio::time::timeout(gate::STOP_GRACE + Duration::from_secs(1), task).await;
    }
    log.event("stop", true, &format!("{signal_name}: stopped"));
    Ok(())
}

/// SIGHUP: the routes file, then the token slots and canary for the table now in force, then
/// a new inspector for those secrets.
/// Reloads the routes file and the secrets; whether the routes file loaded (a bad one keeps
/// the old table).
fn reload(opts: &RunOptions, cfg: &ProxyConfig) -> bool {
    let loaded = config::reload(&opts.routes, &cfg.routes, &cfg.log);
    let table = cfg.routes.current();
    let given = opts
        .given_tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let secrets = Secrets::from_env_and(&table, &given);
    warn_missing(&cfg.log, &secrets.missing(&table));
    let inspector = inspect::default_inspector(&secrets);
    redact_log_with(&cfg.log, &inspector);
    cfg.inspector.replace(inspector);
    cfg.secrets.replace(Arc::new(secrets));
    loaded
}

/// The decision log redacts what `inspector` finds in the fields the agent chose.
fn redact_log_with(log: &Log, inspector: &Arc<dyn inspect::Inspector>) {
    let inspector = Arc::clone(inspector);
    log.set_redactor(Arc::new(move |text: &str, thorough: bool| {
        inspector.secret_in(text, thorough)
    }));
}

/// One event naming the token slots without a value (their routes answer 403).
fn warn_missing(log: &Log, missing: &[String]) {
    if !missing.is_empty() {
        log.event(
            "warning",
            false,
            &format!(
                "token slots without a value (their routes answer 403): {}",
                missing.join(", ")
            ),
        );
    }
}
