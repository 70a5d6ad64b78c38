//! Keys that reach the gate in its environment (a repo's `key: {provider: command}`): each is
//! held by an ssh-agent of its own and never written to a file. ssh reaches it through the
//! agent's socket, held to that one key by its public half (the only file: a public key).
//! `serve` starts the agents from its environment; `bb-gitgate set-keys` (what `bot-bottle
//! reload` runs in the sidecar) replaces the keys they hold.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bb_contract::layout::env;
use bb_contract::plan::{RepoKey, RepoPlan};

use crate::config::{GateConfig, Paths};

/// How long an agent may take to open its socket.
const START: Duration = Duration::from_secs(5);

/// The agents of this `serve`: stopped when dropped.
#[derive(Default)]
pub struct Agents(Vec<(String, Child)>);

impl Drop for Agents {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Agents {
    /// Starts an agent for every repo of `config` whose key comes from a command (one not
    /// started yet), loaded with the key from the gate's environment. Returns the repos that
    /// failed and why; their pushes and fetches fail closed.
    pub fn start_missing(&mut self, config: &GateConfig, paths: &Paths) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for repo in config.repos.iter().filter(|r| uses_agent(r)) {
            if self.0.iter().any(|(name, _)| *name == repo.name) {
                continue;
            }
            let var = env::gate_key(&repo.name);
            let started = std::env::var(&var)
                .ok()
                .filter(|k| !k.trim().is_empty())
                .with_context(|| {
                    format!(
                        "the key of repo `{}` is not in the gate's environment ({var})",
                        repo.name
                    )
                })
                .and_then(|key| start(paths, &repo.name, &key));
            match started {
                Ok(child) => self.0.push((repo.name.clone(), child)),
                Err(e) => failed.push((repo.name.clone(), format!("{e:#}"))),
            }
        }
        failed
    }
}

/// Whether the repo's key is held by an agent (it came from a command).
pub fn uses_agent(repo: &RepoPlan) -> bool {
    matches!(repo.key, RepoKey::Command { .. })
}

/// The agent's socket of repo `name`.
pub fn socket(paths: &Paths, name: &str) -> PathBuf {
    paths.ssh_dir().join(format!("{name}.agent"))
}

/// The public half of the key the agent of `name` holds (what ssh picks it by).
pub fn public_key(paths: &Paths, name: &str) -> PathBuf {
    paths.ssh_dir().join(format!("{name}.pub"))
}

/// Starts the agent of `name` and loads `key` into it.
fn start(paths: &Paths, name: &str, key: &str) -> Result<Child> {
    let sock = socket(paths, name);
    std::fs::create_dir_all(paths.ssh_dir())?;
    let _ = std::fs::remove_file(&sock);
    let mut child = without_keys(Command::new("ssh-agent"))
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting ssh-agent")?;
    let deadline = Instant::now() + START;
    while !sock.exists() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("ssh-agent for repo `{name}` did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(e) = load(paths, name, key) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// Replaces the key the running agent of `name` holds with `key`.
pub fn load(paths: &Paths, name: &str, key: &str) -> Result<()> {
    let sock = socket(paths, name);
    if !sock.exists() {
        bail!("repo `{name}` has no key agent (its key is not from a command)");
    }
    let _ = ssh_add(&sock, &["-D"], None);
    ssh_add(&sock, &["-q", "-"], Some(key.as_bytes()))
        .with_context(|| format!("the key of repo `{name}` is not a key ssh-add accepts"))?;
    let public = ssh_add(&sock, &["-L"], None)?;
    let path = public_key(paths, name);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, public).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// Runs `ssh-add` against the agent at `sock`; its stdout. Never shows what it was given.
fn ssh_add(sock: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut child = without_keys(Command::new("ssh-add"))
        .args(args)
        .env("SSH_AUTH_SOCK", sock)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running ssh-add")?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).context("writing to ssh-add")?;
    }
    let out = child.wait_with_output().context("running ssh-add")?;
    if !out.status.success() {
        bail!("ssh-add {} failed ({})", args.join(" "), out.status);
    }
    Ok(out.stdout)
}

/// `cmd` without the keys' variables: nothing the agent runs needs them.
fn without_keys(mut cmd: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(env::GATE_KEY_PREFIX))
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// `bb-gitgate set-keys`: one JSON object `{"<repo>": "<key>", …}` on stdin; each key replaces
/// the one its repo's agent holds.
pub fn set_keys(paths: &Paths, input: &str) -> Result<Vec<String>> {
    let keys: std::collections::BTreeMap<String, String> = serde_json::from_str(input)
        .context("set-keys reads one JSON object of repo names to keys")?;
    for (name, key) in &keys {
        load(paths, name, key)?;
    }
    Ok(keys.into_keys().collect())
}
