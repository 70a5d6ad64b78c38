//! The two programs git runs for the gate: git daemon's access hook (refresh before every
//! fetch, fail closed) and each mirror's pre-receive hook (scan, then forward upstream).

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::config::{GateConfig, Paths};
use crate::detect::{Detectors, known_secret_vars};
use crate::events::Event;
use crate::mirror::{self, Refreshed};
use crate::rules::Rules;
use crate::run::Git;
use crate::scan::{self, Update};
use crate::ssh;

/// Prefix of every line the gate shows the agent.
pub const PREFIX: &str = "bot-bottle git-gate";

/// Findings shown in full; more are counted.
const MAX_SHOWN: usize = 50;

/// The access hook's verdict: allowed, or denied with the one line git daemon shows the client
/// (`--informative-errors`: `fatal: remote error: <line>: <path>`).
#[derive(Debug, PartialEq)]
pub enum Access {
    Allow,
    Deny(String),
}

/// `bb-gitgate access-hook SERVICE PATH HOST CANON_HOST IP PORT`, as git daemon calls it.
/// git daemon reads the hook's stdout and, when it exits non-zero, sends its first line to the
/// client; stderr is discarded.
pub fn access(config: &GateConfig, paths: &Paths, service: &str, path: &str) -> Access {
    let Some(name) = paths.repo_of(path) else {
        return Access::Deny(format!("{PREFIX}: no such repository behind this gate"));
    };
    let Some(repo) = config.repo(&name) else {
        let e = Event::new("access", false, Some(&name), "unknown repo");
        e.send(paths);
        return Access::Deny(format!("{PREFIX}: no repository `{name}` behind this gate"));
    };
    match service {
        // Allowed: the scan and the forward happen in pre-receive. The refresh first (nothing
        // of the push has arrived yet) keeps "commits no existing ref reaches" relative to
        // upstream's current refs, also after the gate's state was lost; when upstream is
        // unreachable the forward will say so.
        "receive-pack" => {
            if let Err(e) = mirror::refresh(paths, config, repo) {
                Event::new(
                    "refresh",
                    false,
                    Some(&name),
                    format!("before a push: upstream unreachable ({e})"),
                )
                .send(paths);
            }
            Access::Allow
        }
        "upload-pack" => match mirror::refresh(paths, config, repo) {
            Ok(how) => {
                let what = match how {
                    Refreshed::UpToDate => "mirror up to date",
                    Refreshed::Fetched => "mirror refreshed from upstream",
                };
                Event::new("fetch", true, Some(&name), what).send(paths);
                Access::Allow
            }
            Err(e) => {
                let line = format!(
                    "{PREFIX}: upstream {}:{} is unreachable ({}); refusing to serve a stale mirror",
                    repo.host, repo.port, e.reason
                );
                Event::new("fetch", false, Some(&name), &line).send(paths);
                Access::Deny(line)
            }
        },
        other => Access::Deny(format!("{PREFIX}: service {other} is not offered")),
    }
}

/// Output of the pre-receive hook (everything goes to the client as `remote:` lines).
pub struct HookOutput<'a> {
    pub err: &'a mut dyn Write,
}

impl HookOutput<'_> {
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.err, "{text}");
    }
}

/// The pre-receive hook of mirror `repo`: scan exactly the pushed range; on any finding reject
/// the whole push before upstream is contacted; else forward the updates upstream over SSH and
/// let the gate's refs move only when upstream took them. Returns the exit status.
pub fn pre_receive(
    config: &GateConfig,
    paths: &Paths,
    repo_name: &str,
    input: &str,
    out: &mut HookOutput<'_>,
) -> i32 {
    let reject = |out: &mut HookOutput<'_>, msg: &str| {
        out.line(&format!("{PREFIX}: push rejected: {msg}"));
        Event::new("push", false, Some(repo_name), msg).send(paths);
        1
    };
    let Some(repo) = config.repo(repo_name) else {
        return reject(
            out,
            &format!("no repository `{repo_name}` behind this gate"),
        );
    };
    let updates = match scan::parse_updates(input) {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => return 0,
        Err(e) => return reject(out, &format!("{e:#}")),
    };
    let rules = match &config.rules {
        None => None,
        Some(file) => match Rules::load(file) {
            Ok(r) => Some(r),
            Err(e) => {
                return reject(
                    out,
                    &format!(
                        "the gate's rules file cannot be used ({e:#}); nothing was sent upstream"
                    ),
                );
            }
        },
    };
    let detectors = Detectors::new(known_secret_vars(), rules);
    let (findings, stats) = match scan::scan_push(None, &updates, &["--all".into()], &detectors) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                out,
                &format!("the secret scan failed ({e:#}); nothing was sent upstream"),
            );
        }
    };
    if !findings.is_empty() {
        out.line(&format!(
            "{PREFIX}: push rejected: {} possible secret(s) in the pushed commits; nothing was sent upstream",
            findings.len()
        ));
        for f in findings.iter().take(MAX_SHOWN) {
            out.line(&format!("{PREFIX}:   {}", f.render()));
        }
        if findings.len() > MAX_SHOWN {
            out.line(&format!(
                "{PREFIX}:   ... and {} more",
                findings.len() - MAX_SHOWN
            ));
        }
        out.line(&format!(
            "{PREFIX}: remove them from the history (for example `git rebase -i`, or amend) and push again"
        ));
        let summary: Vec<String> = findings
            .iter()
            .take(MAX_SHOWN)
            .map(|f| {
                format!(
                    "{}:{} {} {}",
                    f.path,
                    f.line,
                    f.rule,
                    scan::short(&f.commit)
                )
            })
            .collect();
        Event::new(
            "push",
            false,
            Some(repo_name),
            format!(
                "rejected: {} finding(s): {}",
                findings.len(),
                summary.join("; ")
            ),
        )
        .send(paths);
        return 1;
    }
    match forward(config, paths, repo, &updates) {
        Ok(fwd) => {
            for line in fwd.output.lines() {
                out.line(line);
            }
            if fwd.ok {
                Event::new(
                    "push",
                    true,
                    Some(repo_name),
                    format!(
                        "forwarded {} ref update(s), {} new commit(s) scanned",
                        updates.len(),
                        stats.commits
                    ),
                )
                .send(paths);
                0
            } else {
                reject(
                    out,
                    &format!(
                        "forwarding to upstream {}:{} failed ({}); the gate's refs were not moved",
                        repo.host, repo.port, fwd.reason
                    ),
                )
            }
        }
        Err(e) => reject(out, &format!("{e:#}; the gate's refs were not moved")),
    }
}

/// What forwarding did.
pub struct Forwarded {
    pub ok: bool,
    /// git push's own output, verbatim.
    pub output: String,
    pub reason: String,
}

/// The `git push` arguments that replay `updates` upstream: `new:ref` for a fast-forward or a
/// new ref, `+new:ref` otherwise, `:ref` for a deletion; a lease on the old value for every
/// forced update and deletion, so a ref that moved upstream meanwhile is not overwritten.
pub fn push_args(updates: &[Update], is_ff: impl Fn(&Update) -> bool) -> Vec<String> {
    let mut leases = Vec::new();
    let mut specs = Vec::new();
    for u in updates {
        if u.is_delete() {
            leases.push(format!("--force-with-lease={}:{}", u.refname, u.old));
            specs.push(format!(":{}", u.refname));
        } else if u.is_create() || is_ff(u) {
            specs.push(format!("{}:{}", u.new, u.refname));
        } else {
            leases.push(format!("--force-with-lease={}:{}", u.refname, u.old));
            specs.push(format!("+{}:{}", u.new, u.refname));
        }
    }
    let mut args = vec!["push".to_string(), "--no-verify".into()];
    if updates.len() > 1 {
        args.push("--atomic".into());
    }
    args.extend(leases);
    args.push("origin".into());
    args.extend(specs);
    args
}

fn is_fast_forward(u: &Update) -> bool {
    Git::new(None)
        .args(["merge-base", "--is-ancestor", &u.old, &u.new])
        .run(mirror::LOCAL_TIMEOUT)
        .map(|o| o.success())
        .unwrap_or(false)
}

/// Pushes the updates upstream (from inside the hook: the new objects are in the quarantine
/// that the hook's environment points git at).
pub fn forward(
    config: &GateConfig,
    paths: &Paths,
    repo: &bb_core::plan::RepoPlan,
    updates: &[Update],
) -> Result<Forwarded> {
    let env = ssh::upstream_env(paths, config, repo)?;
    let _guard = mirror::lock(paths, &repo.name)?;
    let timeout = mirror::upstream_timeout();
    let args = push_args(updates, is_fast_forward);
    let out = Git::new(None)
        .args(&args)
        .envs(&env)
        .env_remove(ssh::UPSTREAM_ENV_REMOVE)
        .run(timeout)?;
    let mut output = out.stderr_str();
    output.push_str(&out.stdout_str());
    let reason = if out.timed_out() {
        format!(
            "no answer from {}:{} within {} s",
            repo.host,
            repo.port,
            timeout.as_secs()
        )
    } else if out.success() {
        String::new()
    } else {
        mirror::reason_from_stderr(&out.stderr_str())
    };
    Ok(Forwarded {
        ok: out.success(),
        output,
        reason,
    })
}

/// Loads the config for a hook, or explains in one line why not.
pub fn load_for_hook(config: &Path) -> Result<GateConfig, String> {
    GateConfig::load(config)
        .map_err(|e| format!("{PREFIX}: the gate's config cannot be read ({e:#})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(old: &str, new: &str, r: &str) -> Update {
        let fill = |c: &str| c.repeat(40);
        Update {
            old: fill(old),
            new: fill(new),
            refname: r.into(),
        }
    }

    #[test]
    fn push_args_replay_each_update() {
        let updates = [
            u("0", "a", "refs/heads/new"),
            u("b", "c", "refs/heads/ff"),
            u("d", "e", "refs/heads/forced"),
            u("f", "0", "refs/heads/gone"),
        ];
        let args = push_args(&updates, |x| x.refname == "refs/heads/ff");
        let a40 = "a".repeat(40);
        let c40 = "c".repeat(40);
        let e40 = "e".repeat(40);
        assert_eq!(
            args,
            vec![
                "push".to_string(),
                "--no-verify".into(),
                "--atomic".into(),
                format!("--force-with-lease=refs/heads/forced:{}", "d".repeat(40)),
                format!("--force-with-lease=refs/heads/gone:{}", "f".repeat(40)),
                "origin".into(),
                format!("{a40}:refs/heads/new"),
                format!("{c40}:refs/heads/ff"),
                format!("+{e40}:refs/heads/forced"),
                ":refs/heads/gone".into(),
            ]
        );
        let one = push_args(&updates[..1], |_| true);
        assert!(!one.contains(&"--atomic".to_string()));
    }

    #[test]
    fn access_denies_unknown_paths_and_services() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path()).unwrap();
        let config = GateConfig {
            repos: vec![],
            user: Default::default(),
            rules: None,
            key_dir: dir.path().join("keys"),
        };
        std::fs::create_dir_all(paths.mirror("x")).unwrap();
        let p = paths.mirror("x");
        match access(&config, &paths, "upload-pack", p.to_str().unwrap()) {
            Access::Deny(m) => assert!(m.contains("no repository `x`"), "{m}"),
            Access::Allow => panic!("allowed"),
        }
        assert!(matches!(
            access(&config, &paths, "upload-pack", "/etc/passwd"),
            Access::Deny(_)
        ));
    }
}
