//! The bare mirrors: creation with the pre-receive hook, and the refresh from upstream before
//! every fetch (coalesced by the front end, [`crate::flight`]). A push does not refresh: it is
//! judged against the mirror's refs as they are (stale refs only make the scanned range larger).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bb_contract::plan::RepoPlan;

use crate::config::{GateConfig, Paths};
use crate::run::Git;
use crate::ssh;

/// Timeout of a local git command.
pub const LOCAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Timeout of a git command that talks to upstream (`BB_GITGATE_UPSTREAM_TIMEOUT`, seconds).
pub fn upstream_timeout() -> Duration {
    crate::run::timeout_from_env(
        bb_contract::layout::env::GATE_UPSTREAM_TIMEOUT,
        Duration::from_secs(120),
    )
}

/// Quotes for the hook scripts.
fn q(path: &Path) -> String {
    ssh::sh_quote(&path.to_string_lossy())
}

/// Writes `path` with mode 0755 (atomically).
fn write_script(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Creates (idempotently) the bare mirror of `repo` with remote `origin` = the upstream URL and
/// the pre-receive hook. `origin` has no fetch refspec: the refresh names its refspecs, and a
/// push from inside the pre-receive hook (where ref updates are forbidden) must not try to
/// update remote-tracking refs.
pub fn ensure(paths: &Paths, repo: &RepoPlan, exe: &Path, config: &Path) -> Result<PathBuf> {
    let dir = paths.mirror(&repo.name);
    std::fs::create_dir_all(paths.mirrors())?;
    if !dir.join("HEAD").is_file() {
        Git::new(None)
            .args(["init", "--quiet", "--bare", "--"])
            .arg(&dir)
            .ok(LOCAL_TIMEOUT)?;
    }
    let set = |key: &str, value: &str| -> Result<()> {
        Git::new(Some(&dir))
            .args(["config", key, value])
            .ok(LOCAL_TIMEOUT)
            .map(drop)
    };
    set("remote.origin.url", &repo.url)?;
    let _ = Git::new(Some(&dir))
        .args(["config", "--unset-all", "remote.origin.fetch"])
        .run(LOCAL_TIMEOUT);
    set("receive.fsckObjects", "true")?;
    set("receive.denyNonFastForwards", "false")?;
    set("receive.denyDeletes", "false")?;
    set("receive.shallowUpdate", "false")?;
    set("core.logAllRefUpdates", "false")?;
    set("gc.autoDetach", "false")?;
    set("uploadpack.allowTipSHA1InWant", "false")?;
    set("core.hooksPath", &dir.join("hooks").to_string_lossy())?;
    std::fs::create_dir_all(dir.join("hooks"))?;
    write_script(
        &dir.join("hooks/pre-receive"),
        &format!(
            "#!/bin/sh\n# Written by bb-gitgate serve: scan the pushed range, then forward it upstream.\nexec {} pre-receive --config={} --root={} --repo={}\n",
            q(exe),
            q(config),
            q(&paths.root),
            ssh::sh_quote(&repo.name)
        ),
    )?;
    Ok(dir)
}

/// An exclusive lock on one mirror (held while it is refreshed or a push is forwarded).
pub fn lock(paths: &Paths, name: &str) -> Result<File> {
    let path = paths.lock(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Upstream could not be reached (or refused us): the fetch must be denied.
#[derive(Debug, Clone)]
pub struct Unreachable {
    pub reason: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The most telling line of an ssh/git failure, made safe for a one-line message.
pub fn reason_from_stderr(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let telling = [
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "No ED25519 host key is known",
        "host key for",
        "Permission denied",
        "Connection refused",
        "Connection timed out",
        "timed out",
        "Could not resolve hostname",
        "No route to host",
        "Network is unreachable",
        "Connection closed",
        "does not appear to be a git repository",
        "Load key",
        "ssh:",
    ];
    let pick = telling
        .iter()
        .find_map(|t| lines.iter().find(|l| l.contains(t)))
        .or(lines.last())
        .copied()
        .unwrap_or("no message");
    let clean: String = pick
        .trim_start_matches("fatal: ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    clean
}

/// Upstream's refs: `HEAD`'s target and the heads and tags with their object ids.
#[derive(Debug, Default, PartialEq)]
pub struct RemoteRefs {
    pub head: Option<String>,
    pub refs: BTreeMap<String, String>,
}

/// Parses `git ls-remote --symref` output.
pub fn parse_ls_remote(text: &str) -> RemoteRefs {
    let mut out = RemoteRefs::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ref: ") {
            if let Some((target, name)) = rest.split_once('\t')
                && name == "HEAD"
            {
                out.head = Some(target.to_string());
            }
            continue;
        }
        if let Some((oid, name)) = line.split_once('\t')
            && (name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
            && !name.ends_with("^{}")
        {
            out.refs.insert(name.to_string(), oid.to_string());
        }
    }
    out
}

fn local_refs(dir: &Path) -> Result<BTreeMap<String, String>> {
    let text = Git::new(Some(dir))
        .args([
            "for-each-ref",
            "--format=%(objectname)\t%(refname)",
            "refs/heads",
            "refs/tags",
        ])
        .ok(LOCAL_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(oid, name)| (name.to_string(), oid.to_string()))
        .collect())
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refreshed {
    /// Upstream had nothing new.
    UpToDate,
    /// Refs were fetched (and pruned).
    Fetched,
}

/// Brings the mirror up to date with upstream: all branches and tags, pruned, and `HEAD` on
/// upstream's default branch. Anything that stops us from seeing upstream is [`Unreachable`].
pub fn refresh(
    paths: &Paths,
    config: &GateConfig,
    repo: &RepoPlan,
) -> Result<Refreshed, Unreachable> {
    let unreachable = |reason: String| Unreachable { reason };
    let dir = paths.mirror(&repo.name);
    let env = ssh::upstream_env(paths, config, repo).map_err(|e| unreachable(format!("{e:#}")))?;
    let _guard = lock(paths, &repo.name).map_err(|e| unreachable(format!("{e:#}")))?;
    let timeout = upstream_timeout();
    let remote = |args: &[&str]| {
        Git::new(Some(&dir))
            .args(args)
            .envs(&env)
            .env_remove(ssh::UPSTREAM_ENV_REMOVE)
            .run(timeout)
            .map_err(|e| unreachable(format!("{e:#}")))
            .and_then(|out| {
                if out.timed_out() {
                    Err(unreachable(format!(
                        "no answer within {} s",
                        timeout.as_secs()
                    )))
                } else if !out.success() {
                    Err(unreachable(reason_from_stderr(&out.stderr_str())))
                } else {
                    Ok(out)
                }
            })
    };
    let listed = remote(&["ls-remote", "--symref", "origin"])?;
    let upstream = parse_ls_remote(&listed.stdout_str());
    let local = local_refs(&dir).map_err(|e| unreachable(format!("{e:#}")))?;
    let result = if local == upstream.refs {
        Refreshed::UpToDate
    } else {
        remote(&[
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--update-head-ok",
            "origin",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ])?;
        Refreshed::Fetched
    };
    if let Some(head) = upstream.head.filter(|h| h.starts_with("refs/heads/")) {
        let current = Git::new(Some(&dir))
            .args(["symbolic-ref", "-q", "HEAD"])
            .ok(LOCAL_TIMEOUT)
            .map(|o| String::from_utf8_lossy(&o).trim().to_string())
            .unwrap_or_default();
        if current != head {
            Git::new(Some(&dir))
                .args(["symbolic-ref", "HEAD", &head])
                .ok(LOCAL_TIMEOUT)
                .map_err(|e| unreachable(format!("{e:#}")))?;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ls_remote_symref() {
        let text = "ref: refs/heads/trunk\tHEAD\n\
                    1111111111111111111111111111111111111111\tHEAD\n\
                    1111111111111111111111111111111111111111\trefs/heads/trunk\n\
                    2222222222222222222222222222222222222222\trefs/tags/v1\n\
                    3333333333333333333333333333333333333333\trefs/tags/v1^{}\n\
                    4444444444444444444444444444444444444444\trefs/pull/1/head\n";
        let refs = parse_ls_remote(text);
        assert_eq!(refs.head.as_deref(), Some("refs/heads/trunk"));
        assert_eq!(refs.refs.len(), 2);
        assert_eq!(
            refs.refs["refs/tags/v1"],
            "2222222222222222222222222222222222222222"
        );
    }

    #[test]
    fn reasons_pick_the_telling_line() {
        let err = "@@@@@@@@\nHost key verification failed.\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n";
        assert_eq!(reason_from_stderr(err), "Host key verification failed.");
        assert_eq!(
            reason_from_stderr(
                "ssh: connect to host up port 2222: Connection refused\r\nfatal: Could not read"
            ),
            "ssh: connect to host up port 2222: Connection refused"
        );
        assert_eq!(reason_from_stderr(""), "no message");
    }
}
