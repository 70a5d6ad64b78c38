//! The git:// front end: what stock `git daemon` did for the gate, without taking anything
//! from the client it does not need. One thread per connection (at most
//! [`MAX_CONNECTIONS`]): the first pkt-line is read within [`INIT_TIMEOUT`] and judged
//! ([`crate::pkt`]: service, `/NAME.git` of a repo in repos.json, `version=N`; `host=` is
//! dropped, never resolved, logged or put on a command line). A fetch refreshes the mirror
//! first, coalesced with the other fetches of the repo ([`crate::flight`]), and is refused with
//! `ERR <line>` when upstream is unreachable; a push contacts nothing: the mirror's
//! pre-receive hook judges it and forwards only a clean push. Then
//! `git upload-pack --strict --timeout=600 -- <mirror>` or `git receive-pack -- <mirror>` runs
//! on the socket, in its own process group, killed with everything it started after
//! [`CONNECTION_TIMEOUT`]. Its stderr is logged line by line, sanitized and with secrets
//! redacted.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bb_contract::log::Rule;
use bb_contract::plan::RepoPlan;

use crate::config::{GateConfig, Paths};
use crate::detect::Detectors;
use crate::events::{Event, Ruling};
use crate::flight::{Flights, Ran};
use crate::groups::{GIT_COMMANDS, Groups};
use crate::hooks::PREFIX;
use crate::mirror::{self, Refreshed, Unreachable};
use crate::pkt::{self, BadRequest, Request, Service};
use crate::run;
use crate::scan::redacted_name;

/// Connections served at once (git daemon's default); more are refused with `ERR`.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a client has to send its first pkt-line.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection may last; then its service and everything it started are killed.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);

/// The front end's limits ([`Limits::default`]: the constants above).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub init_timeout: Duration,
    pub connection_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            init_timeout: INIT_TIMEOUT,
            connection_timeout: CONNECTION_TIMEOUT,
        }
    }
}
/// Lines of a service's stderr logged per connection.
const MAX_STDERR_LINES: usize = 20;

/// The front end's shared state.
pub struct Daemon {
    config_path: PathBuf,
    paths: Paths,
    limits: Limits,
    refreshes: Flights<Result<Refreshed, Unreachable>>,
    active: AtomicUsize,
    /// Process groups of the running services (ended on stop).
    services: Groups,
    /// What redacts secrets in logged service output.
    log_detectors: RwLock<Arc<Detectors>>,
}

/// One of the [`MAX_CONNECTIONS`] slots, given back on drop.
struct Slot(Arc<Daemon>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads from the socket until a deadline (a slow client cannot stretch the init timeout).
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

impl Daemon {
    pub fn new(
        config_path: PathBuf,
        paths: Paths,
        limits: Limits,
        log_detectors: Arc<Detectors>,
    ) -> Arc<Daemon> {
        Arc::new(Daemon {
            config_path,
            paths,
            limits,
            refreshes: Flights::default(),
            active: AtomicUsize::new(0),
            services: Groups::new(),
            log_detectors: RwLock::new(log_detectors),
        })
    }

    /// New detectors for the logs (after a reload).
    pub fn set_log_detectors(&self, detectors: Arc<Detectors>) {
        *self
            .log_detectors
            .write()
            .unwrap_or_else(PoisonError::into_inner) = detectors;
    }

    fn detectors(&self) -> Arc<Detectors> {
        Arc::clone(
            &self
                .log_detectors
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Accepts connections from a thread, until the process ends.
    pub fn spawn_acceptor(self: &Arc<Self>, listener: TcpListener) -> Result<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("git-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(stream) => me.admit(stream),
                        Err(e) => {
                            Event::new("accept", false, None, e.to_string()).print();
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
            .context("starting the accept thread")?;
        Ok(())
    }

    /// Serves a connection from its own thread, or refuses it when all slots are taken.
    fn admit(self: &Arc<Self>, mut stream: TcpStream) {
        let Ok(peer) = stream.peer_addr() else { return };
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.limits.max_connections {
            self.active.fetch_sub(1, Ordering::SeqCst);
            // Answered from the accept thread: no waiting for the client here.
            let msg = "too many connections; try again";
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = pkt::send_err(&mut stream, &format!("{PREFIX}: {msg}"));
            Event::new("request", false, None, format!("{peer}: {msg}")).print();
            return;
        }
        let slot = Slot(Arc::clone(self));
        let spawned = std::thread::Builder::new()
            .name("git-conn".into())
            .spawn(move || {
                let daemon = Arc::clone(&slot.0);
                daemon.handle(stream, peer);
                drop(slot);
            });
        if let Err(e) = spawned {
            Event::new("accept", false, None, format!("no thread for {peer}: {e}")).print();
        }
    }

    /// Sends `ERR <PREFIX>: <message>`, writes the refusal line and closes the connection. The
    /// agent chose the repo name and much of the message: the line holds them redacted.
    fn refuse(&self, stream: &mut TcpStream, refused: Refused<'_>, msg: &str) {
        let line = format!("{PREFIX}: {msg}");
        let _ = pkt::send_err(stream, &line);
        let Refused {
            peer,
            rule,
            action,
            repo,
        } = refused;
        let detectors = self.detectors();
        let shown = |text: &str| redacted_name(&detectors, text.as_bytes(), "");
        let repo = repo.map(shown);
        Ruling::on(action, repo.as_deref(), None)
            .refuse(rule, format!("{peer}: {}", shown(msg)))
            .print();
        drain_and_close(stream);
    }

    fn handle(&self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nonblocking(false);
        let request = pkt::read_request(&mut DeadlineReader {
            stream: &stream,
            deadline: Instant::now() + self.limits.init_timeout,
        });
        let req = match request {
            Ok(r) => r,
            Err(BadRequest::Closed) => return,
            Err(e) => {
                let refused = Refused::new(peer, Rule::BadRequest, None, None);
                return self.refuse(&mut stream, refused, &e.to_string());
            }
        };
        let action = Some(req.service.action());
        let failure = |repo| Refused::new(peer, Rule::GateFailure, action, repo);
        if let Err(e) = stream.set_read_timeout(None) {
            return self.refuse(&mut stream, failure(None), &format!("socket: {e}"));
        }
        let config = match crate::config::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("the gate's config cannot be read ({e:#})");
                return self.refuse(&mut stream, failure(None), &msg);
            }
        };
        let Some(repo) = config.repo(&req.repo) else {
            let msg = format!("no repository `{}` behind this gate", req.repo);
            let refused = Refused::new(peer, Rule::UnknownRepo, action, Some(&req.repo));
            return self.refuse(&mut stream, refused, &msg);
        };
        if req.service == Service::UploadPack
            && let Err(msg) = self.refresh(&config, repo)
        {
            return self.refuse(&mut stream, failure(Some(&repo.name)), &msg);
        }
        self.run_service(stream, peer, repo, &req);
    }

    /// Refreshes the mirror before a fetch (a refresh that started after this fetch arrived,
    /// maybe another fetch's); the refusal line when upstream is unreachable.
    fn refresh(&self, config: &GateConfig, repo: &RepoPlan) -> Result<(), String> {
        let flight = self.refreshes.get(&repo.name);
        let (result, ran) = flight.run(|| mirror::refresh(&self.paths, config, repo));
        let shared = if ran == Ran::Shared {
            " (shared refresh)"
        } else {
            ""
        };
        match result {
            Ok(how) => {
                let what = match how {
                    Refreshed::UpToDate => "mirror up to date",
                    Refreshed::Fetched => "mirror refreshed from upstream",
                };
                Event::new("fetch", true, Some(&repo.name), format!("{what}{shared}")).print();
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "upstream {}:{} is unreachable ({}); refusing to serve a stale mirror",
                    repo.host, repo.port, e.reason
                );
                Event::new("fetch", false, Some(&repo.name), format!("{msg}{shared}")).print();
                Err(msg)
            }
        }
    }

    /// `git upload-pack` or `git receive-pack` on the socket, in its own process group.
    fn spawn(
        &self,
        stream: &TcpStream,
        peer: SocketAddr,
        repo: &RepoPlan,
        req: &Request,
    ) -> io::Result<Child> {
        let mut cmd = Command::new("git");
        crate::agent::remove_keys(&mut cmd);
        cmd.arg(req.service.subcommand());
        if req.service == Service::UploadPack {
            cmd.arg("--strict").arg(format!(
                "--timeout={}",
                self.limits.connection_timeout.as_secs()
            ));
        }
        cmd.arg("--").arg(self.paths.mirror(&repo.name));
        cmd.env_remove("GIT_PROTOCOL");
        if let Some(version) = &req.protocol {
            cmd.env("GIT_PROTOCOL", version);
        }
        cmd.env("REMOTE_ADDR", peer.ip().to_string())
            .env("REMOTE_PORT", peer.port().to_string())
            .stdin(Stdio::from(OwnedFd::from(stream.try_clone()?)))
            .stdout(Stdio::from(OwnedFd::from(stream.try_clone()?)))
            .stderr(Stdio::piped())
            .process_group(0);
        cmd.spawn()
    }

    fn run_service(&self, mut stream: TcpStream, peer: SocketAddr, repo: &RepoPlan, req: &Request) {
        let mut child = match self.spawn(&stream, peer, repo, req) {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot start git {}: {e}", req.service.subcommand());
                let action = Some(req.service.action());
                let refused = Refused::new(peer, Rule::GateFailure, action, Some(&repo.name));
                return self.refuse(&mut stream, refused, &msg);
            }
        };
        let pid = child.id();
        let listed = self.services.list(pid);
        let logger = child.stderr.take().map(|err| {
            let (detectors, name) = (self.detectors(), repo.name.clone());
            let service = req.service.subcommand();
            std::thread::spawn(move || log_stderr(err, &detectors, &name, service))
        });
        let timeout = self.limits.connection_timeout;
        let status = wait_until(&mut child, Instant::now() + timeout);
        // Whatever the service left running (or all of it, at the deadline) goes with it.
        run::kill_group(pid);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            let msg = format!(
                "{peer}: git {} killed after {} s",
                req.service.subcommand(),
                timeout.as_secs()
            );
            Event::new("service", false, Some(&repo.name), msg).print();
        }
        let _ = stream.shutdown(Shutdown::Both);
        drop(listed);
        if let Some(t) = logger {
            let _ = t.join();
        }
    }

    /// Ends every running service and every git command this process runs (the mirror
    /// refreshes): SIGTERM to each process group, SIGKILL after 2 s.
    pub fn stop(&self) {
        Groups::end(&[&self.services, &GIT_COMMANDS], Duration::from_secs(2));
    }
}

/// Ends our side, then reads (for at most a second) what the client already sent: closing a
/// socket with unread input resets the connection, which can make the client lose the `ERR`.
fn drain_and_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut reader = DeadlineReader {
        stream,
        deadline: Instant::now() + Duration::from_secs(1),
    };
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match reader.read(&mut sink) {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// Waits for the child, up to `deadline` (`None`: still running then, or unwaitable).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_millis(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {}
            _ => return None,
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Logs a service's stderr: at most [`MAX_STDERR_LINES`] lines, each sanitized with secrets
/// redacted (git may echo ref names and paths the agent chose); the rest is read and dropped.
fn log_stderr(err: ChildStderr, detectors: &Detectors, repo: &str, service: &str) {
    let mut reader = BufReader::new(err);
    let mut line = Vec::new();
    let mut logged = 0;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() || logged >= MAX_STDERR_LINES {
            continue;
        }
        logged += 1;
        let shown = redacted_name(detectors, &text[..text.len().min(1000)], "");
        Event::new(
            "service",
            false,
            Some(repo),
            format!("git {service}: {shown}"),
        )
        .print();
    }
}

/// Who was refused, by which rule, doing what, on which repo.
struct Refused<'a> {
    peer: SocketAddr,
    rule: Rule,
    action: Option<&'a str>,
    repo: Option<&'a str>,
}

impl<'a> Refused<'a> {
    fn new(
        peer: SocketAddr,
        rule: Rule,
        action: Option<&'a str>,
        repo: Option<&'a str>,
    ) -> Refused<'a> {
        Refused {
            peer,
            rule,
            action,
            repo,
        }
    }
}

#[cfg(test)]
mod tests;
