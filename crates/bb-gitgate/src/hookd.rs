//! The hook service: pushes are judged with the rules the gate loaded at its start (or at its
//! last SIGHUP), not with rules each push's hook loads again.
//!
//! `git receive-pack` runs the mirror's pre-receive hook (`bb-gitgate pre-receive`). The hook
//! connects to `serve`'s stream socket ([`Paths::hook_socket`], in the gate's state folder,
//! which only the sidecar sees), sends one [`Request`] line (the repo, the ref updates and
//! git's quarantine environment, [`QUARANTINE_ENV`]), copies every [`Answer::Line`] to the
//! client and exits with the [`Answer::Exit`] status. `serve` judges the push in a thread of
//! its own ([`crate::hooks::pre_receive`]), running git in the repo's mirror with that
//! environment: the pushed objects stay in the quarantine until the hook exits 0. Every path of
//! the environment must lie inside the repo's mirror, or the push is refused.
//!
//! When no service answers (a hook run by hand, a gate without `serve`), the hook judges on its
//! own and loads the rules itself; the verdict is the same.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{GateConfig, Paths};
use crate::detect::Detectors;
use crate::hooks::{self, HookOutput, Judge, PREFIX};
use crate::run::GitRepo;

/// The variables `git receive-pack` sets for its hooks that point at the pushed objects.
pub const QUARANTINE_ENV: &[&str] = &[
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
];

/// What the hook asks: judge these updates of this repo, whose objects this environment holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub repo: String,
    /// The pre-receive input, verbatim.
    pub updates: String,
    /// The [`QUARANTINE_ENV`] variables the hook was given.
    pub env: Vec<(String, String)>,
}

/// One line of the service's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A line for the client (`remote: …`).
    Line(String),
    /// The hook's exit status; the last line.
    Exit(i32),
}

/// The rules as loaded for one rules file: what judges pushes, or why none can be.
struct Loaded {
    rules: Option<PathBuf>,
    detectors: Result<Arc<Detectors>, String>,
}

/// `serve`'s side: the detectors it loaded, and the socket it answers hooks on.
pub struct HookService {
    config_path: PathBuf,
    paths: Paths,
    loaded: RwLock<Arc<Loaded>>,
}

impl HookService {
    /// The service for the gate of `config_path`, judging with what `detectors` holds (the
    /// result of [`hooks::load_detectors`] for `config`).
    pub fn new(
        config_path: PathBuf,
        paths: Paths,
        config: &GateConfig,
        detectors: Result<Arc<Detectors>, String>,
    ) -> Arc<HookService> {
        Arc::new(HookService {
            config_path,
            paths,
            loaded: RwLock::new(Arc::new(Loaded {
                rules: config.rules.clone(),
                detectors,
            })),
        })
    }

    /// New detectors (after a reload).
    pub fn set_detectors(&self, config: &GateConfig, detectors: Result<Arc<Detectors>, String>) {
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Loaded {
            rules: config.rules.clone(),
            detectors,
        });
    }

    /// The detectors for a push under `config`: the loaded ones, unless the config now names
    /// another rules file (then that file, loaded for this push).
    fn detectors_for(&self, config: &GateConfig) -> Result<Arc<Detectors>, String> {
        let loaded = Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner));
        if loaded.rules == config.rules {
            loaded.detectors.clone()
        } else {
            hooks::load_detectors(config).map(Arc::new)
        }
    }

    /// Binds [`Paths::hook_socket`] (only root may connect) and answers hooks from a thread.
    pub fn spawn(self: &Arc<Self>) -> Result<()> {
        let path = self.paths.hook_socket();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let service = Arc::clone(self);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let service = Arc::clone(&service);
                std::thread::spawn(move || service.answer(stream));
            }
        });
        Ok(())
    }

    fn answer(&self, stream: UnixStream) {
        let mut sink = AnswerWriter {
            stream: &stream,
            pending: Vec::new(),
        };
        let status = match read_request(&stream) {
            Ok(request) => self.judge(&request, &mut sink),
            Err(e) => {
                let _ = writeln!(sink, "{PREFIX}: push rejected: {e:#}");
                1
            }
        };
        sink.send(&Answer::Exit(status));
    }

    fn judge(&self, request: &Request, sink: &mut AnswerWriter<'_>) -> i32 {
        let mut out = HookOutput { err: sink };
        let config = match hooks::load_for_hook(&self.config_path) {
            Ok(c) => c,
            Err(msg) => {
                out.line(&msg);
                return 1;
            }
        };
        let mirror = self.paths.mirror(&request.repo);
        let git = match quarantine_in(&mirror, &request.env) {
            Ok(env) => GitRepo::with_env(&mirror, env),
            Err(e) => {
                out.line(&format!("{PREFIX}: push rejected: {e:#}"));
                return 1;
            }
        };
        let judge = Judge {
            git: &git,
            detectors: &|config| self.detectors_for(config),
        };
        hooks::pre_receive(
            &config,
            &self.paths,
            &request.repo,
            &request.updates,
            &judge,
            &mut out,
        )
    }
}

fn read_request(stream: &UnixStream) -> Result<Request> {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .context("reading the hook's request")?;
    serde_json::from_str(&line).context("the hook's request is not one")
}

/// The quarantine environment, each of its paths checked to lie inside `mirror` (after
/// resolving links): git run with it reads objects of this repo only.
fn quarantine_in(mirror: &Path, env: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let root = mirror
        .canonicalize()
        .with_context(|| format!("no mirror at {}", mirror.display()))?;
    let mut checked = Vec::new();
    for (name, value) in env {
        anyhow::ensure!(
            QUARANTINE_ENV.contains(&name.as_str()),
            "the hook sent {name}, which is no quarantine variable"
        );
        for part in value.split(':').filter(|p| !p.is_empty()) {
            let inside = Path::new(part)
                .canonicalize()
                .is_ok_and(|p| p.starts_with(&root));
            anyhow::ensure!(inside, "{name} points outside the repo's mirror");
        }
        checked.push((name.clone(), value.clone()));
    }
    Ok(checked)
}

/// Turns the hook output's lines into [`Answer::Line`]s on the socket.
struct AnswerWriter<'a> {
    stream: &'a UnixStream,
    pending: Vec<u8>,
}

impl AnswerWriter<'_> {
    fn send(&mut self, answer: &Answer) {
        if let Ok(mut text) = serde_json::to_vec(answer) {
            text.push(b'\n');
            let _ = (&mut &*self.stream).write_all(&text);
        }
    }
}

impl Write for AnswerWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            self.send(&Answer::Line(text));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `bb-gitgate pre-receive`: the service's verdict, or the hook's own when no service answers.
/// Returns the exit status; every line for the client goes to `err`.
pub fn run_hook(config: &Path, root: &Path, repo: &str, updates: &str, err: &mut dyn Write) -> i32 {
    let paths = match Paths::new(root) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "{PREFIX}: {e:#}");
            return 1;
        }
    };
    if let Some(status) = ask(&paths, repo, updates, err) {
        return status;
    }
    let config = match hooks::load_for_hook(config) {
        Ok(c) => c,
        Err(msg) => {
            let _ = writeln!(err, "{msg}");
            return 1;
        }
    };
    let judge = Judge {
        git: &GitRepo::of_env(),
        detectors: &|config| hooks::load_detectors(config).map(Arc::new),
    };
    hooks::pre_receive(
        &config,
        &paths,
        repo,
        updates,
        &judge,
        &mut HookOutput { err },
    )
}

/// The hook's side: asks the service to judge the push. `None` when no service answers (then
/// the hook judges on its own); else the exit status, the answer's lines written to `out`.
pub fn ask(paths: &Paths, repo: &str, updates: &str, out: &mut dyn Write) -> Option<i32> {
    let stream = UnixStream::connect(paths.hook_socket()).ok()?;
    let cwd = std::env::current_dir().ok()?;
    let env = QUARANTINE_ENV
        .iter()
        .filter_map(|name| {
            Some((
                name.to_string(),
                absolute_paths(&cwd, &std::env::var(name).ok()?),
            ))
        })
        .collect();
    let request = Request {
        repo: repo.to_string(),
        updates: updates.to_string(),
        env,
    };
    Some(relay_answer(&stream, &request, out))
}

/// A `:`-separated list of paths with each relative one made absolute (git may hand its hooks
/// paths relative to the repository, which the service does not run in).
fn absolute_paths(cwd: &Path, value: &str) -> String {
    value
        .split(':')
        .map(|p| {
            if p.is_empty() || Path::new(p).is_absolute() {
                p.to_string()
            } else {
                cwd.join(p).display().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

fn relay_answer(stream: &UnixStream, request: &Request, out: &mut dyn Write) -> i32 {
    let ended = |out: &mut dyn Write, why: &str| {
        let _ = writeln!(
            out,
            "{PREFIX}: push rejected: the gate's hook service {why}"
        );
        1
    };
    let Ok(mut line) = serde_json::to_vec(request) else {
        return ended(out, "could not be asked");
    };
    line.push(b'\n');
    if (&mut &*stream).write_all(&line).is_err() {
        return ended(out, "could not be asked");
    }
    for text in BufReader::new(stream).lines() {
        match text.map(|t| serde_json::from_str::<Answer>(&t)) {
            Ok(Ok(Answer::Line(l))) => {
                let _ = writeln!(out, "{l}");
            }
            // Only 0 lets git go on; anything else is a refusal (a status over 255 would wrap).
            Ok(Ok(Answer::Exit(status))) => return i32::from(status != 0),
            _ => return ended(out, "sent no verdict"),
        }
    }
    ended(out, "ended without a verdict")
}

#[cfg(test)]
mod tests;
