//! `extends` chains, multi-bottle merges and the post-merge checks.
//!
//! Merge rules (the child, or the later bottle, overlays): `env` per key; `git-gate.user` per
//! field; `git-gate.repos` per repo, field by field; `egress` replaced whole when declared;
//! `agent_provider` per field. The agent's `git-gate.user` overlays the result per field.

use std::collections::BTreeMap;

use bb_contract::InputError;
use bb_contract::plan::{BottleRef, GitUser, Sourced, Template};

use super::Catalog;
use super::agent::AgentSpec;
use super::bottle::{At, BottleSpec, EnvValue, ProviderSpec, RepoSpec, RouteSpec, UserSpec};

/// The merged bottle(s) an agent runs in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// Every bottle that contributed, in merge order (root of the first chain first).
    pub chain: Vec<BottleRef>,
    pub env: BTreeMap<String, At<EnvValue>>,
    pub provider: ProviderSpec,
    pub git_user: GitUser,
    pub repos: BTreeMap<String, RepoSpec>,
    pub rules: Option<At<std::path::PathBuf>>,
    pub routes: Vec<RouteSpec>,
    pub limits: super::limits::LimitsSpec,
}

impl Resolved {
    pub fn template(&self) -> Template {
        self.provider
            .template
            .as_ref()
            .map(|t| t.value)
            .unwrap_or(Template::Claude)
    }
}

/// One bottle's content with the user fields labelled by origin.
#[derive(Debug, Default)]
struct Layer {
    spec: BottleSpec,
    user_from: BTreeMap<&'static str, String>,
}

/// Resolves `bottles` left to right, each through its `extends` chain, then overlays the agent.
pub fn resolve(
    catalog: &Catalog,
    bottles: &[String],
    agent: Option<(&str, &AgentSpec)>,
) -> Result<Resolved, InputError> {
    let mut merged = Layer::default();
    let mut chain = Vec::new();
    for name in bottles {
        for (path, bottle_name, spec) in extends_chain(catalog, name)? {
            if !chain.iter().any(|b: &BottleRef| b.name == bottle_name) {
                chain.push(BottleRef {
                    name: bottle_name.clone(),
                    source: path,
                });
            }
            overlay(&mut merged, spec, &format!("bottle:{bottle_name}"));
        }
    }
    let mut git_user = GitUser::default();
    apply_user(&mut git_user, &merged.spec.user, &merged.user_from);
    if let Some((agent_name, agent)) = agent {
        let from = format!("agent:{agent_name}");
        let labels = BTreeMap::from([("name", from.clone()), ("email", from)]);
        apply_user(&mut git_user, &agent.user, &labels);
    }
    let spec = merged.spec;
    let resolved = Resolved {
        chain,
        env: spec.env,
        provider: spec.provider,
        git_user,
        repos: spec.repos,
        rules: spec.rules,
        routes: spec.routes.unwrap_or_default(),
        limits: spec.limits,
    };
    check_provider(&resolved)?;
    check_repos(&resolved)?;
    Ok(resolved)
}

/// The bottle file whose `egress.routes` are in force when `bottles` are resolved (the last
/// layer that declares them), and the last layer of all (where routes would go when none
/// declares any).
pub fn routes_source(
    catalog: &Catalog,
    bottles: &[String],
) -> Result<(Option<std::path::PathBuf>, std::path::PathBuf), InputError> {
    let mut source = None;
    let mut last = None;
    for name in bottles {
        for (path, _, spec) in extends_chain(catalog, name)? {
            if spec.routes.is_some() {
                source = Some(path.clone());
            }
            last = Some(path);
        }
    }
    let last =
        last.ok_or_else(|| InputError::new("the bottle was launched with no bottle file"))?;
    Ok((source, last))
}

/// The bottle `name` and its ancestors, root first.
fn extends_chain(
    catalog: &Catalog,
    name: &str,
) -> Result<Vec<(std::path::PathBuf, String, BottleSpec)>, InputError> {
    let mut chain: Vec<(std::path::PathBuf, String, BottleSpec)> = Vec::new();
    let mut current = name.to_string();
    loop {
        let (path, spec) = catalog
            .load_bottle(&current)
            .map_err(|err| with_chain(err, &chain, &current))?;
        let parent = spec.extends.clone();
        chain.push((path, current.clone(), spec));
        let Some(parent) = parent else { break };
        if parent.value == current {
            return Err(parent
                .loc
                .error("extends", format!("bottle `{current}` extends itself"))
                .fix("remove `extends` or name another bottle"));
        }
        if chain.iter().any(|(_, n, _)| *n == parent.value) {
            let names: Vec<&str> = chain.iter().map(|(_, n, _)| n.as_str()).collect();
            return Err(parent
                .loc
                .error(
                    "extends",
                    format!("extends cycle: {} -> {}", names.join(" -> "), parent.value),
                )
                .fix("break the cycle by removing one `extends`"));
        }
        if let Err(missing) = catalog.bottle_path(&parent.value) {
            let names: Vec<&str> = chain.iter().map(|(_, n, _)| n.as_str()).collect();
            let mut err = parent.loc.error(
                "extends",
                format!(
                    "parent bottle `{}` not found (chain: {} -> {})",
                    parent.value,
                    names.join(" -> "),
                    parent.value
                ),
            );
            err.fix = missing.fix;
            return Err(err);
        }
        current = parent.value;
    }
    chain.reverse();
    Ok(chain)
}

/// Adds the chain walked so far to an error raised while loading one of its bottles.
fn with_chain(
    mut err: InputError,
    chain: &[(std::path::PathBuf, String, BottleSpec)],
    current: &str,
) -> InputError {
    if !chain.is_empty() {
        let names: Vec<&str> = chain.iter().map(|(_, n, _)| n.as_str()).collect();
        err.message = format!(
            "{} (chain: {} -> {current})",
            err.message,
            names.join(" -> ")
        );
    }
    err
}

fn overlay(base: &mut Layer, top: BottleSpec, label: &str) {
    let spec = &mut base.spec;
    spec.env.extend(top.env);
    let p = top.provider;
    merge_field(&mut spec.provider.template, p.template);
    merge_field(&mut spec.provider.dockerfile, p.dockerfile);
    merge_field(&mut spec.provider.remote_fetch, p.remote_fetch);
    merge_field(&mut spec.provider.auth_token, p.auth_token);
    merge_field(&mut spec.provider.api_key, p.api_key);
    merge_field(
        &mut spec.provider.forward_host_credentials,
        p.forward_host_credentials,
    );
    merge_field(&mut spec.provider.startup_args, p.startup_args);
    if top.user.name.is_some() {
        base.user_from.insert("name", label.to_string());
    }
    if top.user.email.is_some() {
        base.user_from.insert("email", label.to_string());
    }
    merge_field(&mut spec.user.name, top.user.name);
    merge_field(&mut spec.user.email, top.user.email);
    for (name, repo) in top.repos {
        let entry = spec.repos.entry(name).or_default();
        merge_field(&mut entry.url, repo.url);
        merge_field(&mut entry.key, repo.key);
        merge_field(&mut entry.host_key, repo.host_key);
        merge_field(&mut entry.allow, repo.allow);
        entry.loc = repo.loc;
    }
    merge_field(&mut spec.rules, top.rules);
    spec.limits.overlay(top.limits);
    if top.routes.is_some() {
        spec.routes = top.routes;
    }
}

fn merge_field<T>(base: &mut Option<T>, top: Option<T>) {
    if top.is_some() {
        *base = top;
    }
}

fn apply_user(user: &mut GitUser, spec: &UserSpec, from: &BTreeMap<&'static str, String>) {
    let sourced = |field: &Option<At<String>>, key: &str| {
        field.as_ref().map(|v| Sourced {
            value: v.value.clone(),
            from: from.get(key).cloned().unwrap_or_default(),
        })
    };
    if let Some(name) = sourced(&spec.name, "name") {
        user.name = Some(name);
    }
    if let Some(email) = sourced(&spec.email, "email") {
        user.email = Some(email);
    }
}

fn check_provider(resolved: &Resolved) -> Result<(), InputError> {
    let p = &resolved.provider;
    let template_note = match &p.template {
        Some(t) => format!(
            "template `{}` set in {}",
            t.value.as_str(),
            bb_contract::error::display_path(&t.loc.file)
        ),
        None => "the default template `claude`".to_string(),
    };
    match resolved.template() {
        Template::Codex => {
            if let (Some(key), Some(forward)) = (
                &p.api_key,
                p.forward_host_credentials.as_ref().filter(|f| f.value),
            ) {
                return Err(forward
                    .loc
                    .error(
                        "agent_provider.forward_host_credentials",
                        format!(
                            "both api_key (`{}`) and forward_host_credentials are set: Codex logs in with one of them",
                            key.value
                        ),
                    )
                    .fix("keep `api_key` for an OpenAI API key or `forward_host_credentials: true` for your ChatGPT login"));
            }
            if let Some(token) = &p.auth_token {
                return Err(token
                    .loc
                    .error(
                        "agent_provider.auth_token",
                        format!("auth_token is for claude, but this bottle uses {template_note}"),
                    )
                    .fix(
                        "for codex use `api_key: HOST_VAR` or `forward_host_credentials: true`, or set `template: claude`",
                    ));
            }
        }
        Template::Claude => {
            if let (Some(token), Some(key)) = (&p.auth_token, &p.api_key) {
                return Err(key
                    .loc
                    .error(
                        "agent_provider.api_key",
                        format!(
                            "both auth_token (`{}`) and api_key are set: Claude Code logs in with one of them",
                            token.value
                        ),
                    )
                    .fix("keep `auth_token` for a Claude subscription (OAuth token) or `api_key` for an Anthropic API key"));
            }
            if let Some(forward) = p.forward_host_credentials.as_ref().filter(|f| f.value) {
                return Err(forward
                    .loc
                    .error(
                        "agent_provider.forward_host_credentials",
                        format!("forward_host_credentials is for codex, but this bottle uses {template_note}"),
                    )
                    .fix("for claude use `auth_token: HOST_VAR`, or set `template: codex`"));
            }
        }
    }
    Ok(())
}

fn check_repos(resolved: &Resolved) -> Result<(), InputError> {
    for (name, repo) in &resolved.repos {
        let missing = [
            (
                "url",
                repo.url.is_none(),
                "give the upstream, `ssh://git@host/path.git`",
            ),
            (
                "key",
                repo.key.is_none(),
                "give `key: {provider: static, path: ~/.ssh/deploy_key}`",
            ),
            (
                "host_key",
                repo.host_key.is_none(),
                "pin the server's public key (`ssh-keyscan HOST`); there is no trust on first use",
            ),
        ];
        if let Some((key, _, fix)) = missing.into_iter().find(|(_, absent, _)| *absent) {
            return Err(repo
                .loc
                .error(
                    &format!("git-gate.repos.{name}"),
                    format!("missing `{key}`"),
                )
                .fix(fix));
        }
    }
    Ok(())
}
