//! Each mirror's pre-receive hook (`bb-gitgate pre-receive`, run by `git receive-pack`): judge
//! the push (the ref and CI policy of [`crate::policy`], the secret scan of [`crate::scan`])
//! and, only when nothing is refused, forward it upstream. Nothing contacts upstream before
//! the verdict: a refused push makes no connection at all. The hook asks `serve` to judge
//! ([`crate::hookd`]: with the rules loaded once, at the gate's start) and judges on its own only
//! when no service answers.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use bb_contract::log::Rule;
use bb_contract::plan::RepoPlan;
use bb_gitleaks::ignore::Ignores;

use crate::config::{GateConfig, Paths};
use crate::detect::{Detectors, known_secret_vars};
use crate::events::Ruling;
use crate::mirror;
use crate::policy::{self, UpdateKind};
use crate::run::{GitRepo, RAW_OBJECTS_ENV};
use crate::scan::{self, Finding, Update};
use crate::ssh;

/// Prefix of every line the gate shows the agent.
pub const PREFIX: &str = "bot-bottle git-gate";

/// Findings shown in full; more are counted.
const MAX_SHOWN: usize = 50;

/// Output of the pre-receive hook (everything goes to the client as `remote:` lines).
pub struct HookOutput<'a> {
    pub err: &'a mut dyn Write,
}

impl HookOutput<'_> {
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.err, "{text}");
    }
}

/// The shared detectors plus the config's gitleaks rules, or the one-line reason they cannot
/// be used (the push is then refused).
pub fn load_detectors(config: &GateConfig) -> Result<Detectors, String> {
    let rules = match &config.rules {
        None => None,
        Some(file) => Some(
            bb_gitleaks::load(file)
                .map_err(|e| {
                    format!("the gate's rules file cannot be used ({e}); nothing was sent upstream")
                })?
                .rules,
        ),
    };
    Ok(Detectors::new(known_secret_vars(), rules))
}

/// Whether commit `old` is contained in `new` (false when git cannot tell, e.g. for objects
/// that are not commits: such an update counts as forced).
fn is_ancestor(git: &GitRepo, old: &str, new: &str) -> bool {
    git.raw_objects()
        .args(["merge-base", "--is-ancestor", old, new])
        .run(mirror::LOCAL_TIMEOUT)
        .is_ok_and(|o| o.success())
}

/// Everything wrong with a push: the policy refusals and the secret findings.
struct Verdict {
    refusals: Vec<policy::Refusal>,
    findings: Vec<Finding>,
    commits: usize,
}

/// Judges the updates: ref policy, secret scan (content and names), CI policy.
fn judge(
    git: &GitRepo,
    repo: &RepoPlan,
    updates: &[Update],
    kinds: &[UpdateKind],
    detectors: &Detectors,
) -> Result<Verdict> {
    let ref_shown = |name: &str| scan::redacted_name(detectors, name.as_bytes(), "");
    let mut refusals = policy::check_updates(repo, updates, kinds, ref_shown);
    let scanned = scan::scan_push(git, updates, &["--all".into()], detectors)?;
    let path_shown = |p: &[u8]| scan::redacted_name(detectors, p, &String::from_utf8_lossy(p));
    refusals.extend(policy::path_refusals(repo, &scanned.changes, path_shown));
    let ignores = pushed_ignores(git, updates);
    Ok(Verdict {
        refusals,
        findings: scanned
            .findings
            .into_iter()
            .filter(|f| !is_ignored(&ignores, f))
            .collect(),
        commits: scanned.stats.commits,
    })
}

/// The `.gitleaksignore` of each updated ref as it stood before the push (its old commit; the
/// default branch for a new ref): upstream's file, never one the push brings. The agent writes
/// the pushed objects, and a tree or tag it pushes carries a file as easily as a commit does;
/// a change to the file upstream needs the bottle's `allow.gitleaks_ignore`
/// ([`policy::path_refusals`]). A file that cannot be read lets nothing through.
fn pushed_ignores(git: &GitRepo, updates: &[Update]) -> Ignores {
    let mut all = Ignores::default();
    for u in updates.iter().filter(|u| !u.is_delete()) {
        let before = if u.is_create() {
            "HEAD"
        } else {
            u.old.as_str()
        };
        let spec = format!("{before}:{}", bb_gitleaks::ignore::FILE);
        if let Ok(text) = git
            .raw_objects()
            .args(["cat-file", "blob", &spec])
            .ok(mirror::LOCAL_TIMEOUT)
        {
            all.extend(Ignores::parse(&String::from_utf8_lossy(&text)));
        }
    }
    all
}

/// Whether `.gitleaksignore` lists a finding under every rule that found it. A known secret
/// (this bottle's token, the canary) is never let through, nor a finding in a name or in a
/// commit or tag object (`(commit message)`: no file).
fn is_ignored(ignores: &Ignores, f: &Finding) -> bool {
    if ignores.is_empty() || f.line == 0 || f.path.starts_with('(') {
        return false;
    }
    f.rule.split(", ").all(|rule| match rule.split_once(':') {
        Some(("gitleaks" | "token_patterns", id)) => ignores.lists(&f.commit, &f.path, id, f.line),
        _ => false,
    })
}

/// Tells the agent (and the log: one refusal line per rule) why the push was refused.
fn report(out: &mut HookOutput<'_>, paths: &Paths, repo: &RepoPlan, verdict: &Verdict) {
    let findings = &verdict.findings;
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
    }
    for (_, r) in &verdict.refusals {
        out.line(&format!("{PREFIX}: push rejected: {r}"));
    }
    if findings.is_empty() {
        out.line(&format!("{PREFIX}: nothing was sent upstream"));
    }
    let ruling = || Ruling::on(Some("push"), Some(&repo.name), Some(&repo.host));
    if !findings.is_empty() {
        let shown: Vec<String> = findings
            .iter()
            .take(MAX_SHOWN)
            .map(|f| {
                let at = if f.line == 0 {
                    f.path.clone()
                } else {
                    format!("{}:{}", f.path, f.line)
                };
                format!("{at} {} {}", f.rule, scan::short(&f.commit))
            })
            .collect();
        let reason = format!(
            "{} possible secret(s) in the pushed commits: {}",
            findings.len(),
            shown.join("; ")
        );
        ruling().refuse(Rule::SecretInPush, reason).send(paths);
    }
    let mut rules: Vec<Rule> = Vec::new();
    for (rule, _) in &verdict.refusals {
        if !rules.contains(rule) {
            rules.push(*rule);
        }
    }
    for rule in rules {
        let lines: Vec<&str> = verdict
            .refusals
            .iter()
            .filter(|(r, _)| *r == rule)
            .take(MAX_SHOWN)
            .map(|(_, line)| line.as_str())
            .collect();
        ruling().refuse(rule, lines.join("; ")).send(paths);
    }
}

/// What judges a push: the repository with the pushed objects, and where the detectors come
/// from (loaded by the hook itself, or the ones the gate loaded at its start).
pub struct Judge<'a> {
    pub git: &'a GitRepo,
    pub detectors: &'a dyn Fn(&GateConfig) -> Result<Arc<Detectors>, String>,
}

/// The pre-receive hook of mirror `repo`: judge exactly the pushed updates; on any refusal or
/// finding reject the whole push before upstream is contacted; else forward the updates
/// upstream over SSH and let the gate's refs move only when upstream took them. Returns the
/// exit status.
pub fn pre_receive(
    config: &GateConfig,
    paths: &Paths,
    repo_name: &str,
    input: &str,
    judge_with: &Judge<'_>,
    out: &mut HookOutput<'_>,
) -> i32 {
    let git = judge_with.git;
    let host = config.repo(repo_name).map(|r| r.host.as_str());
    let reject_by = |rule: Rule, out: &mut HookOutput<'_>, msg: &str| {
        out.line(&format!("{PREFIX}: push rejected: {msg}"));
        Ruling::on(Some("push"), Some(repo_name), host)
            .refuse(rule, msg)
            .send(paths);
        1
    };
    let reject = |out: &mut HookOutput<'_>, msg: &str| reject_by(Rule::GateFailure, out, msg);
    let Some(repo) = config.repo(repo_name) else {
        let msg = format!("no repository `{repo_name}` behind this gate");
        return reject_by(Rule::UnknownRepo, out, &msg);
    };
    let updates = match scan::parse_updates(input) {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => return 0,
        Err(e) => return reject(out, &format!("{e:#}")),
    };
    let detectors = match (judge_with.detectors)(config) {
        Ok(d) => d,
        Err(msg) => return reject(out, &msg),
    };
    let kinds: Vec<UpdateKind> = updates
        .iter()
        .map(|u| policy::classify(u, |old, new| is_ancestor(git, old, new)))
        .collect();
    let verdict = match judge(git, repo, &updates, &kinds, &detectors) {
        Ok(v) => v,
        Err(e) => {
            let msg = scan::redacted_name(&detectors, format!("{e:#}").as_bytes(), "");
            return reject(
                out,
                &format!("the secret scan failed ({msg}); nothing was sent upstream"),
            );
        }
    };
    if !verdict.findings.is_empty() || !verdict.refusals.is_empty() {
        report(out, paths, repo, &verdict);
        return 1;
    }
    match forward(git, config, paths, repo, &updates, &kinds) {
        Ok(fwd) if fwd.ok => {
            for line in fwd.output.lines() {
                out.line(line);
            }
            Ruling::on(Some("push"), Some(repo_name), Some(&repo.host))
                .allow(format!(
                    "forwarded {} ref update(s), {} new commit(s) scanned",
                    updates.len(),
                    verdict.commits
                ))
                .send(paths);
            0
        }
        Ok(fwd) => {
            for line in fwd.output.lines() {
                out.line(line);
            }
            reject(
                out,
                &format!(
                    "forwarding to upstream {}:{} failed ({}); the gate's refs were not moved",
                    repo.host, repo.port, fwd.reason
                ),
            )
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

/// The `git push` arguments that replay `updates` upstream: `new:ref` for a new ref or a
/// fast-forward, `+new:ref` only for an update judged [`UpdateKind::Forced`] (which the policy
/// let through only with `allow.force_push`), `:ref` for a deletion; a lease on the old value
/// for every forced update and deletion, so a ref that moved upstream meanwhile is not
/// overwritten. Every value is a ref name or object id after `=` or in a refspec, never a
/// separate word that could read as an option.
pub fn push_args(updates: &[Update], kinds: &[UpdateKind]) -> Vec<String> {
    let mut leases = Vec::new();
    let mut specs = Vec::new();
    for (u, kind) in updates.iter().zip(kinds) {
        match kind {
            UpdateKind::Delete => {
                leases.push(format!("--force-with-lease={}:{}", u.refname, u.old));
                specs.push(format!(":{}", u.refname));
            }
            UpdateKind::Create | UpdateKind::FastForward => {
                specs.push(format!("{}:{}", u.new, u.refname));
            }
            UpdateKind::Forced => {
                leases.push(format!("--force-with-lease={}:{}", u.refname, u.old));
                specs.push(format!("+{}:{}", u.new, u.refname));
            }
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

/// Pushes the updates upstream (from inside the hook: the new objects are in the quarantine
/// that the hook's environment points git at).
pub fn forward(
    git: &GitRepo,
    config: &GateConfig,
    paths: &Paths,
    repo: &RepoPlan,
    updates: &[Update],
    kinds: &[UpdateKind],
) -> Result<Forwarded> {
    let mut env = ssh::upstream_env(paths, config, repo)?;
    env.extend(
        RAW_OBJECTS_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let _guard = mirror::lock(paths, &repo.name)?;
    let timeout = mirror::upstream_timeout();
    let args = push_args(updates, kinds);
    let out = git
        .git()
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
    crate::config::load(config)
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
        let kinds = [
            UpdateKind::Create,
            UpdateKind::FastForward,
            UpdateKind::Forced,
            UpdateKind::Delete,
        ];
        let args = push_args(&updates, &kinds);
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
        let one = push_args(&updates[..1], &kinds[..1]);
        assert!(!one.contains(&"--atomic".to_string()));
    }
}
