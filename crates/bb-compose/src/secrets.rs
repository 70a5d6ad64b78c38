//! Secret values for one `compose up`: read at the moment of use, held in memory only, and
//! handed to the compose child's environment. They never reach argv, a file, a log or an error.

use std::path::Path;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::layout::env;
use bb_contract::plan::{Plan, RepoKey, RepoPlan, TokenSource};

/// Name/value pairs for the compose child's environment. `Debug` shows names only.
#[derive(Default)]
pub struct Secrets(Vec<(String, String)>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Secrets {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Where prompted values come from: the terminal, or (tests) a function.
pub type Ask<'a> = dyn FnMut(&str) -> Result<String> + 'a;

/// Asks on `/dev/tty` without echo.
pub fn ask_on_tty(question: &str) -> Result<String> {
    rpassword::prompt_password(question).context(
        "reading a prompted value from the terminal (/dev/tty); run interactively, or use a `${VAR}` value instead of `?`",
    )
}

/// Collects every secret the plan names: host-copied env values, prompted values, token slots.
pub fn collect(plan: &Plan, ask: &mut Ask<'_>) -> Result<Secrets> {
    let mut out = Vec::new();
    for host in &plan.env.host {
        let value = std::env::var(&host.host_var).map_err(|_| {
            InputError::new(format!("host variable `{}` is not set", host.host_var))
                .key(format!("env.{}", host.name))
                .fix(format!("export {} before launching", host.host_var))
        })?;
        out.push((host.name.clone(), value));
    }
    for prompted in &plan.env.prompted {
        let question = match &prompted.prompt {
            Some(text) => format!("{text} ({}): ", prompted.name),
            None => format!("{}: ", prompted.name),
        };
        out.push((prompted.name.clone(), ask(&question)?));
    }
    out.extend(tokens(plan)?.0);
    out.extend(repo_keys(plan)?.0);
    let canary = bb_contract::canary::mint_canary();
    out.push((env::AGENT_CANARY.to_string(), canary.clone()));
    out.push((env::SIDECAR_CANARY.to_string(), canary));
    Ok(Secrets(out))
}

/// The value of every token slot of the plan, read from its source now.
pub fn tokens(plan: &Plan) -> Result<Secrets> {
    let mut out = Vec::new();
    for slot in &plan.egress.token_slots {
        let value = match &slot.source {
            TokenSource::HostEnv { name } => std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    InputError::new(format!(
                        "host variable `{name}` (a route token) is not set or empty"
                    ))
                    .key(format!("egress.token_slots.{}", slot.slot))
                    .fix(format!("export {name} before launching"))
                })?,
            TokenSource::CodexAuthFile { path } => codex_token(path)?,
            TokenSource::File { path } => file_token(path, &routes_of(plan, &slot.slot))?,
            TokenSource::Command { argv, timeout_secs } => {
                let timeout = std::time::Duration::from_secs(u64::from(*timeout_secs));
                crate::token_command::run(argv, timeout, &routes_of(plan, &slot.slot))?
            }
        };
        if value.chars().any(char::is_control) {
            return Err(InputError::new(format!(
                "the token for {} holds a line break or another control character",
                routes_of(plan, &slot.slot)
            ))
            .key(format!("egress.token_slots.{}", slot.slot))
            .fix("check what its source holds: a token is one line")
            .into());
        }
        out.push((slot.slot.clone(), value));
    }
    Ok(Secrets(out))
}

/// The SSH key of every repo, read now (a file) or from its command, run now; each under the
/// sidecar variable of its repo ([`env::gate_key`]). No key file is mounted: the engine may be
/// another machine, and the gate holds every key in an agent.
pub fn repo_keys(plan: &Plan) -> Result<Secrets> {
    keys_of(&plan.git_gate.repos)
}

fn keys_of(repos: &[RepoPlan]) -> Result<Secrets> {
    let mut out = Vec::new();
    for repo in repos {
        out.push((env::gate_key(&repo.name), repo_key(repo)?));
    }
    Ok(Secrets(out))
}

/// The key of `repo`, read from its file or its command, run now (ending in a line break, as
/// ssh-add reads it).
pub fn repo_key(repo: &RepoPlan) -> Result<String> {
    let (key_command, key_timeout_secs) = match &repo.key {
        RepoKey::File { key_path } => return key_file(repo, key_path),
        RepoKey::Command {
            key_command,
            key_timeout_secs,
        } => (key_command, key_timeout_secs),
    };
    let of = format!("of repo `{}`", repo.name);
    let purpose = crate::token_command::Purpose::KEY.of(&of);
    let timeout = std::time::Duration::from_secs(u64::from(*key_timeout_secs));
    let key = crate::token_command::run_for(key_command, timeout, &purpose)?;
    if !is_private_key(&key) {
        return Err(InputError::new(format!(
            "the key command of repo `{}` printed no SSH private key",
            repo.name
        ))
        .key(format!("git-gate.repos.{}.key.command", repo.name))
        .fix("it must print the key itself (`-----BEGIN OPENSSH PRIVATE KEY-----` …)")
        .into());
    }
    Ok(format!("{key}\n"))
}

/// A key file's content, as it is: one ssh-add refuses fails that repo closed in the gate,
/// like a key file ssh refuses did when it was mounted.
fn key_file(repo: &RepoPlan, path: &Path) -> Result<String> {
    let mut key = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(format!(
            "the key file of repo `{}` cannot be read: {}: {e}",
            repo.name,
            path.display()
        ))
        .key(format!("git-gate.repos.{}.key.path", repo.name))
        .fix("point it at a readable SSH private key file (UTF-8 PEM)")
    })?;
    if !key.ends_with('\n') {
        key.push('\n');
    }
    Ok(key)
}

/// Whether `text` is one PEM private key (OpenSSH's own format, or PKCS#1/#8).
fn is_private_key(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("-----BEGIN ")
        && text.ends_with("PRIVATE KEY-----")
        && text
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("PRIVATE KEY-----"))
}

/// The hosts whose routes take the token of `slot`, for a message.
fn routes_of(plan: &Plan, slot: &str) -> String {
    let hosts: Vec<&str> = plan
        .egress
        .routes
        .iter()
        .filter(|r| r.auth.as_ref().is_some_and(|a| a.slot == slot))
        .map(|r| r.host.as_str())
        .collect();
    hosts.join(", ")
}

/// A token kept in a file: its contents without one final line break.
fn file_token(path: &Path, routes: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(format!("cannot read the token for {routes}: {e}"))
            .in_file(path)
            .fix("check the route's `token_file`")
    })?;
    let token = crate::token_command::strip_line_end(&text);
    if token.trim().is_empty() {
        return Err(InputError::new(format!("the token for {routes} is empty"))
            .in_file(path)
            .fix("write the token into the file, or change the route's `token_file`")
            .into());
    }
    Ok(token.to_string())
}

/// The access token in Codex's `auth.json` (`tokens.access_token`, or `OPENAI_API_KEY`).
fn codex_token(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        InputError::new("is not JSON")
            .in_file(path)
            .fix("run `codex login` again")
    })?;
    json["tokens"]["access_token"]
        .as_str()
        .or_else(|| json["OPENAI_API_KEY"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            InputError::new("holds no access token")
                .in_file(path)
                .fix("run `codex login` on the host")
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfake\n-----END OPENSSH PRIVATE KEY-----";

    fn repo(name: &str, key: RepoKey) -> RepoPlan {
        RepoPlan {
            name: name.into(),
            url: "ssh://git@h/x.git".into(),
            url_as_written: "git@h:x.git".into(),
            ssh_user: "git".into(),
            host: "h".into(),
            port: 22,
            path: "/x.git".into(),
            key,
            host_key: "ssh-ed25519 AAAA".into(),
            allow: Default::default(),
        }
    }

    /// A key command: `sh SCRIPT deploy`. The script is read by sh, not executed itself: a
    /// file just written can be `ETXTBSY` to exec while another test thread forks.
    fn command(dir: &Path, body: &str, timeout_secs: u32) -> RepoKey {
        let path = dir.join("vault");
        std::fs::write(&path, format!("{body}\n")).unwrap();
        RepoKey::Command {
            key_command: vec![
                "sh".into(),
                path.to_string_lossy().into_owned(),
                "deploy".into(),
            ],
            key_timeout_secs: timeout_secs,
        }
    }

    #[test]
    fn every_repos_key_is_read_whole_under_its_repos_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let printed = command(
            tmp.path(),
            &format!("[ \"$1\" = deploy ] && printf '%s\\n' '{KEY}'"),
            5,
        );
        let key_path = tmp.path().join("deploy-key");
        std::fs::write(&key_path, KEY).unwrap();
        let file = RepoKey::File { key_path };
        let keys = keys_of(&[repo("shop-app", printed), repo("docs", file)]).unwrap();
        let all: Vec<(&str, &str)> = keys.iter().collect();
        assert_eq!(all.len(), 2, "a key file is read too: nothing is mounted");
        assert_eq!(all[0].0, env::gate_key("shop-app"));
        assert_eq!(all[0].1, format!("{KEY}\n"));
        assert_eq!(all[1].0, env::gate_key("docs"));
        assert_eq!(all[1].1, format!("{KEY}\n"), "ends in a line break");
        let missing = RepoKey::File {
            key_path: tmp.path().join("nope"),
        };
        let err = keys_of(&[repo("docs", missing)]).unwrap_err().to_string();
        assert!(err.contains("git-gate.repos.docs.key.path"), "{err}");
        assert!(
            !format!("{keys:?}").contains("PRIVATE"),
            "Debug shows names only"
        );
    }

    #[test]
    fn a_key_command_that_prints_no_key_or_hangs_is_one_error_without_the_output() {
        let tmp = tempfile::tempdir().unwrap();
        let token = command(tmp.path(), "printf 'not-a-key-5d1e\\n'", 5);
        let err = keys_of(&[repo("shop", token)]).unwrap_err().to_string();
        assert!(
            err.contains("the key command of repo `shop` printed no SSH private key"),
            "{err}"
        );
        assert!(!err.contains("not-a-key-5d1e"), "{err}");
        let hangs = command(tmp.path(), "sleep 30", 1);
        let err = keys_of(&[repo("shop", hangs)]).unwrap_err().to_string();
        assert!(err.contains("key command"), "{err}");
        assert!(
            err.contains("of repo `shop` did not finish within 1 s (raise `key.timeout`)"),
            "{err}"
        );
    }
}
