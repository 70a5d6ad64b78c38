//! `bb-gitgate serve`: set up the mirrors and hooks, then run the git:// front end
//! ([`crate::daemon`]) until SIGTERM or SIGINT, which also end the services and the mirror
//! refreshes still running (each process group gets SIGTERM, SIGKILL after 2 s).
//! SIGHUP re-reads the config and the rules and sets up repos that were added (the front end
//! and the hook service read the config on every connection; the rules are loaded once, at the
//! start and at each SIGHUP, and judge every push: [`crate::hookd`]).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::agent::Agents;
use crate::config::{GateConfig, Paths};
use crate::daemon::{Daemon, Limits};
use crate::detect::{Detectors, known_secret_vars};
use crate::events::Event;
use crate::hookd::HookService;
use crate::{hooks, mirror, ssh};

pub struct ServeOptions {
    pub config: PathBuf,
    pub root: PathBuf,
    pub listen: SocketAddr,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

/// Mirrors, known_hosts files and hooks for every repo of the config; checks the rules file.
/// Problems that only make some requests fail (a missing key, a broken rule) are logged, not
/// fatal: the hooks fail closed on them.
pub fn setup(
    config_path: &Path,
    paths: &Paths,
    exe: &Path,
    agents: &mut Agents,
) -> Result<GateConfig> {
    let config = crate::config::load(config_path)?;
    std::fs::create_dir_all(paths.mirrors())
        .with_context(|| format!("creating {}", paths.mirrors().display()))?;
    for (repo, why) in agents.start_missing(&config, paths) {
        Event::new("setup", false, Some(&repo), why).print();
    }
    for repo in &config.repos {
        ssh::write_known_hosts(paths, repo)?;
        mirror::ensure(paths, repo, exe, config_path)
            .with_context(|| format!("setting up the mirror of {}", repo.name))?;
        if let Err(e) = ssh::usable_key(paths, &config, repo) {
            Event::new("setup", false, Some(&repo.name), format!("{e:#}")).print();
        }
    }
    if let Some(file) = &config.rules {
        match bb_gitleaks::load_compiled(file) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    Event::new("rules", true, None, format!("warning: {warning}")).print();
                }
                Event::new(
                    "rules",
                    true,
                    None,
                    format!(
                        "{} rule(s) loaded from {}",
                        loaded.rules.rules.len(),
                        file.display()
                    ),
                )
                .print();
            }
            Err(e) => Event::new(
                "rules",
                false,
                None,
                format!("{e}; every push is rejected until it is fixed"),
            )
            .print(),
        }
    }
    Ok(config)
}

/// The detectors that judge pushes (or why none can), and those that redact secrets in the
/// front end's logs: the same, or the known secrets alone when the rules are unusable.
fn detectors(config: &GateConfig) -> (Result<Arc<Detectors>, String>, Arc<Detectors>) {
    let judge = hooks::load_detectors(config).map(Arc::new);
    let log = judge
        .clone()
        .unwrap_or_else(|_| Arc::new(Detectors::new(known_secret_vars(), None)));
    (judge, log)
}

/// Runs until SIGTERM/SIGINT.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("locating bb-gitgate")?;
    let config_path = absolute(&opts.config)?;
    std::fs::create_dir_all(&opts.root)
        .with_context(|| format!("creating {}", opts.root.display()))?;
    let paths = Paths::new(&opts.root.canonicalize()?)?;
    let mut agents = Agents::default();
    let config = setup(&config_path, &paths, &exe, &mut agents)?;
    crate::events::relay(&paths).context("binding the events socket")?;
    let listener =
        TcpListener::bind(opts.listen).with_context(|| format!("listening on {}", opts.listen))?;

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))?;

    let (judge, log) = detectors(&config);
    let hooks = HookService::new(config_path.clone(), paths.clone(), &config, judge);
    hooks.spawn().context("binding the hook socket")?;
    let daemon = Daemon::new(config_path.clone(), paths.clone(), Limits::default(), log);
    daemon.spawn_acceptor(listener)?;
    let names: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
    Event::new(
        "start",
        true,
        None,
        format!(
            "git:// front end on {} for repos [{}]",
            opts.listen,
            names.join(", ")
        ),
    )
    .print();

    while !stop.load(Ordering::Relaxed) {
        if reload.swap(false, Ordering::Relaxed) {
            match setup(&config_path, &paths, &exe, &mut agents) {
                Ok(c) => {
                    let (judge, log) = detectors(&c);
                    hooks.set_detectors(&c, judge);
                    daemon.set_log_detectors(log);
                    Event::new("reload", true, None, format!("{} repo(s)", c.repos.len())).print();
                }
                Err(e) => Event::new("reload", false, None, format!("{e:#}")).print(),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
    Event::new("stop", true, None, "stopped").print();
    Ok(())
}

/// `bb-gitgate health`: the front end accepts connections.
pub fn health(addr: SocketAddr) -> Result<()> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("git gate not listening on {addr}"))?;
    Ok(())
}
