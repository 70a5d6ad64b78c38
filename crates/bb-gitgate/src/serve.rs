//! `bb-gitgate serve`: set up the mirrors and hooks, then run stock `git daemon` as a
//! supervised child (restarted and logged when it dies) until SIGTERM or SIGINT. SIGHUP re-reads
//! the config and sets up repos that were added (the hooks read the config on every call).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;

use crate::config::{GateConfig, Paths};
use crate::events::Event;
use crate::mirror;
use crate::rules::Rules;
use crate::ssh;

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
pub fn setup(config_path: &Path, paths: &Paths, exe: &Path) -> Result<GateConfig> {
    let config = GateConfig::load(config_path)?;
    std::fs::create_dir_all(paths.mirrors())
        .with_context(|| format!("creating {}", paths.mirrors().display()))?;
    mirror::install_access_hook(paths, exe, config_path)?;
    for repo in &config.repos {
        ssh::write_known_hosts(paths, repo)?;
        mirror::ensure(paths, repo, exe, config_path)
            .with_context(|| format!("setting up the mirror of {}", repo.name))?;
        if let Err(e) = ssh::usable_key(paths, &config, repo) {
            Event::new("setup", false, Some(&repo.name), format!("{e:#}")).print();
        }
    }
    if let Some(file) = &config.rules {
        match Rules::load(file) {
            Ok(rules) => {
                for s in &rules.skipped {
                    Event::new(
                        "rules",
                        false,
                        None,
                        format!("rule `{}` skipped: {}", s.id, s.reason),
                    )
                    .print();
                }
                Event::new(
                    "rules",
                    true,
                    None,
                    format!(
                        "{} rule(s) loaded from {}, {} skipped",
                        rules.rules.len(),
                        file.display(),
                        rules.skipped.len()
                    ),
                )
                .print();
            }
            Err(e) => Event::new(
                "rules",
                false,
                None,
                format!("{e:#}; every push is rejected until it is fixed"),
            )
            .print(),
        }
    }
    Ok(config)
}

fn spawn_daemon(paths: &Paths, listen: SocketAddr, config: &Path) -> Result<Child> {
    let mut cmd = Command::new("git");
    cmd.arg("daemon")
        .arg("--reuseaddr")
        .arg("--export-all")
        .arg(format!("--base-path={}", paths.mirrors().display()))
        .arg("--enable=receive-pack")
        .arg("--informative-errors")
        .arg(format!("--access-hook={}", paths.access_hook().display()))
        .arg(format!("--listen={}", listen.ip()))
        .arg(format!("--port={}", listen.port()))
        .arg("--log-destination=stderr")
        .arg("--init-timeout=30")
        .arg("--timeout=600")
        .arg("--max-connections=32")
        .arg(paths.mirrors())
        .env("BB_GITGATE_CONFIG", config)
        .env("BB_GITGATE_ROOT", &paths.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0);
    cmd.spawn().context("starting git daemon")
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
    let config = setup(&config_path, &paths, &exe)?;
    crate::events::relay(&paths).context("binding the events socket")?;

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))?;

    let names: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
    Event::new(
        "start",
        true,
        None,
        format!(
            "git daemon on {} for repos [{}]",
            opts.listen,
            names.join(", ")
        ),
    )
    .print();

    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let mut child = match spawn_daemon(&paths, opts.listen, &config_path) {
            Ok(c) => c,
            Err(e) => {
                Event::new(
                    "restart",
                    false,
                    None,
                    format!("{e:#}; retrying in {} s", backoff.as_secs()),
                )
                .print();
                if sleep_unless(&stop, backoff) {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let status = loop {
            if stop.load(Ordering::Relaxed) {
                break None;
            }
            if reload.swap(false, Ordering::Relaxed) {
                match setup(&config_path, &paths, &exe) {
                    Ok(c) => Event::new("reload", true, None, format!("{} repo(s)", c.repos.len()))
                        .print(),
                    Err(e) => Event::new("reload", false, None, format!("{e:#}")).print(),
                }
            }
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => {
                    Event::new(
                        "restart",
                        false,
                        None,
                        format!("waiting for git daemon: {e}"),
                    )
                    .print();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        let Some(status) = status else {
            stop_daemon(&mut child);
            break;
        };
        // Whatever the daemon left running (its connection handlers) goes with it.
        crate::run::kill_group(child.id());
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        Event::new(
            "restart",
            false,
            None,
            format!(
                "git daemon exited ({status}); restarting in {} s",
                backoff.as_secs()
            ),
        )
        .print();
        if sleep_unless(&stop, backoff) {
            break;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    Event::new("stop", true, None, "stopped").print();
    Ok(())
}

/// Sleeps, returning early (true) when `stop` is set.
fn sleep_unless(stop: &AtomicBool, total: Duration) -> bool {
    let end = Instant::now() + total;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.load(Ordering::Relaxed)
}

fn stop_daemon(child: &mut Child) {
    crate::run::signal_group(child.id(), rustix::process::Signal::TERM);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            crate::run::kill_group(child.id());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::run::kill_group(child.id());
    let _ = child.wait();
}

/// `bb-gitgate health`: the daemon accepts connections.
pub fn health(addr: SocketAddr) -> Result<()> {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("git gate not listening on {addr}"))?;
    Ok(())
}
