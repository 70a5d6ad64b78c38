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
    /// Starts an agent for every repo of `config` whose key is in the gate's environment (one
    /// not started yet, see [`uses_agent`]), loaded with that key. Returns the repos that
    /// failed and why; their pushes and fetches fail closed.
    pub fn start_missing(&mut self, config: &GateConfig, paths: &Paths) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        // An agent that died is started again.
        self.0
            .retain_mut(|(_, child)| matches!(child.try_wait(), Ok(None)));
        for repo in config.repos.iter().filter(|r| uses_agent(config, r)) {
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

/// Whether the repo's key is held by an agent: it came from a command, or the gate runs in a
/// bottle, where every key is in its environment.
pub fn uses_agent(config: &GateConfig, repo: &RepoPlan) -> bool {
    config.agent_keys || matches!(repo.key, RepoKey::Command { .. })
}

/// The agent's socket of repo `name`: named by a digest of the name, since a socket's path is
/// limited to 107 bytes and a repo name may be 100.
pub fn socket(paths: &Paths, name: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(name.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    paths.ssh_dir().join(format!("agent-{digest}.sock"))
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

/// Replaces the key the running agent of `name` holds with `key`: the new key is added first
/// and the old one removed after, so a fetch meanwhile finds one of them.
pub fn load(paths: &Paths, name: &str, key: &str) -> Result<()> {
    let sock = socket(paths, name);
    if !sock.exists() {
        bail!("repo `{name}` has no key agent (its key is not held by an agent)");
    }
    let held = String::from_utf8(ssh_add(&sock, &["-L"], None).unwrap_or_default())?;
    ssh_add(&sock, &["-q", "-"], Some(key.as_bytes()))
        .with_context(|| format!("the key of repo `{name}` is not a key ssh-add accepts"))?;
    let now = String::from_utf8(ssh_add(&sock, &["-L"], None)?)?;
    let path = public_key(paths, name);
    // The one key added: in the agent now, and not held before (unless it was the same key).
    let added = now
        .lines()
        .find(|l| !held.lines().any(|h| same_key(h, l)))
        .or_else(|| now.lines().next())
        .context("the agent holds no key")?
        .to_owned();
    write_public(&path, &added)?;
    for old in held.lines().filter(|h| !same_key(h, &added)) {
        let old_path = path.with_extension("old.pub");
        write_public(&old_path, old)?;
        let removed = ssh_add_path(&sock, &["-q", "-d"], &old_path);
        let _ = std::fs::remove_file(&old_path);
        removed?;
    }
    Ok(())
}

/// Whether two public key lines are the same key (type and base64; comments aside).
fn same_key(a: &str, b: &str) -> bool {
    a.split_whitespace()
        .take(2)
        .eq(b.split_whitespace().take(2))
}

fn write_public(path: &Path, line: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{line}\n"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn ssh_add_path(sock: &Path, args: &[&str], path: &Path) -> Result<()> {
    let mut all: Vec<&str> = args.to_vec();
    let path = path.to_string_lossy();
    all.push(&path);
    ssh_add(sock, &all, None).map(|_| ())
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

/// `cmd` without the keys' variables: only `serve` reads them, at its start.
pub fn without_keys(mut cmd: Command) -> Command {
    remove_keys(&mut cmd);
    cmd
}

/// Removes the keys' variables from what `cmd` will run with (every program the gate starts:
/// git, its hooks and ssh have no use for them).
pub fn remove_keys(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(env::GATE_KEY_PREFIX))
        {
            cmd.env_remove(name);
        }
    }
}

/// `bb-gitgate set-keys`: one JSON object `{"<repo>": "<key>", …}` on stdin; each key replaces
/// the one its repo's agent holds.
pub fn set_keys(paths: &Paths, input: &str) -> Result<Vec<String>> {
    let keys: std::collections::BTreeMap<String, String> = serde_json::from_str(input)
        .context("set-keys reads one JSON object of repo names to keys")?;
    if let Some(bad) = keys.keys().find(|n| !bb_contract::repo::is_repo_name(n)) {
        bail!("`{bad}` is not a repo name");
    }
    for (name, key) in &keys {
        load(paths, name, key)?;
    }
    Ok(keys.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_path_fits_whatever_the_repo_name() {
        let paths = Paths::new(Path::new(bb_contract::layout::sidecar::GATE_ROOT)).unwrap();
        let long = "r".repeat(100);
        let sock = socket(&paths, &long);
        assert!(sock.as_os_str().len() < 100, "{}", sock.display());
        assert_ne!(socket(&paths, "a"), socket(&paths, "b"));
    }

    #[test]
    fn set_keys_takes_repo_names_only() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path()).unwrap();
        let err = set_keys(&paths, r#"{"../../etc/x": "k"}"#).unwrap_err();
        assert!(err.to_string().contains("is not a repo name"), "{err}");
        let err = set_keys(&paths, r#"{"shop": "k"}"#).unwrap_err();
        assert!(err.to_string().contains("has no key agent"), "{err}");
        assert!(set_keys(&paths, "not json").is_err());
    }

    #[test]
    fn keys_are_the_same_whatever_their_comments() {
        assert!(same_key("ssh-ed25519 AAAA a@b", "ssh-ed25519 AAAA"));
        assert!(!same_key("ssh-ed25519 AAAA", "ssh-ed25519 BBBB"));
    }
}
