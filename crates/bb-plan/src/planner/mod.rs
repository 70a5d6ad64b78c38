//! Stage 1: manifest + intent -> plan.
//!
//! [`resolve`] reads and merges the manifest (what `bot-bottle info` shows); [`plan`] adds what
//! depends on the host at launch time: every `${VAR}`, token, key file and skill folder must
//! exist, the identity is minted, the runtime probed. Values of host variables are never read
//! here, only their presence: values travel later, through a child process's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bb_contract::InputError;
use bb_contract::plan::{
    self, AgentPlan, BottleRef, EgressPlan, EnvPlan, GitGatePlan, HostEnv, OnMatch, Origin, Plan,
    PromptedEnv, ProviderPlan, RepoPlan, Route, RouteAuth, RuntimeName, SkillPlan, TokenSlot,
    TokenSource, WorkspacePlan,
};
use bb_contract::state::Metadata;
use bb_core::docker::RuntimeProbe;

use crate::manifest::Catalog;

mod checks;
mod identity;
mod runtime;

use crate::manifest::bottle::{At, DlpSpec, EnvValue};
use crate::manifest::repo_url;
use crate::manifest::resolve::{self, Resolved};
use crate::provider;
use checks::check_host;
use identity::check_identity;
pub use identity::{identity_slug, mint_identity};
use runtime::runtime;

/// What the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub agent: Option<String>,
    /// `--bottle` flags; empty means the agent's `bottle`.
    pub bottles: Vec<String>,
    /// `--cwd`: copy the working directory into the agent.
    pub workspace: bool,
    /// `--identity`: reuse an identity (resume).
    pub identity: Option<String>,
    pub label: Option<String>,
    /// `--runtime`: skip the probe.
    pub runtime: Option<RuntimeName>,
    /// `--rebuild`: build the agent image even when its tag exists.
    pub rebuild: bool,
}

/// Reads one host environment variable.
pub type EnvReader = dyn Fn(&str) -> Option<String>;

/// Tries runtime NAME with the first of IMAGES present locally.
pub type RuntimeProber = dyn Fn(&str, &[&str]) -> RuntimeProbe;

/// The host as the planner sees it. Tests build one by hand.
pub struct Host {
    /// bot-bottle's home (`$BOT_BOTTLE_HOME` or `~/.bot-bottle`).
    pub home: PathBuf,
    pub cwd: PathBuf,
    /// The user's home, where `~/.claude/skills` and `~/.codex` live.
    pub user_home: PathBuf,
    /// Reads a host environment variable. Used for presence checks and image overrides only.
    pub env: Box<EnvReader>,
    /// The engine's runtimes, CPUs and memory (`docker info`).
    pub engine: Box<dyn Fn() -> anyhow::Result<bb_core::docker::EngineInfo>>,
    /// Tries a runtime with the first of these images present locally.
    pub probe_runtime: Box<RuntimeProber>,
    /// Receives warnings (skipped files, ignored folders) as soon as they are found.
    pub warn: Box<dyn Fn(&str)>,
}

impl Host {
    /// The real host: process environment, current directory and docker; warnings go to stderr
    /// as `PROGRAM: warning: …`.
    pub fn from_process(program: &'static str) -> anyhow::Result<Host> {
        let home = bb_core::paths::home()?;
        let cwd = std::env::current_dir()
            .map_err(|e| anyhow::anyhow!("reading the working directory: {e}"))?;
        let user_home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| cwd.clone());
        Ok(Host {
            home,
            cwd,
            user_home,
            env: Box::new(|name| std::env::var(name).ok()),
            engine: Box::new(bb_core::docker::engine),
            probe_runtime: Box::new(bb_core::docker::probe_runtime_cached),
            warn: Box::new(move |text| eprintln!("{program}: warning: {text}")),
        })
    }

    fn is_set(&self, name: &str) -> bool {
        (self.env)(name).is_some_and(|v| !v.is_empty())
    }
}

/// The manifest resolved for one agent: everything that does not depend on launch time.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub agent_name: String,
    /// `None` when no agent was named (a bottle-only launch).
    pub agent_file: Option<crate::manifest::catalog::AgentEntry>,
    pub prompt: String,
    pub skills: Vec<(At<String>, PathBuf)>,
    pub resolved: Resolved,
    pub provider: ProviderPlan,
    pub env: Vec<(String, At<EnvValue>)>,
    pub egress: EgressPlan,
    /// Manual routes the provider's own route replaced.
    pub replaced_routes: Vec<String>,
    pub git_gate: GitGatePlan,
    /// The bottles that were asked for (the `--bottle` flags, or the agent's `bottle`).
    pub requested_bottles: Vec<String>,
}

/// Reads the manifest for `request` (lazily: only the files it uses).
pub fn resolve(host: &Host, request: &Request) -> anyhow::Result<Resolution> {
    let catalog = Catalog::discover(&host.home, &host.cwd)?;
    catalog.warnings.iter().for_each(|w| (host.warn)(w));
    let (agent_name, agent_file, agent) = match &request.agent {
        Some(name) => {
            let (entry, spec) = catalog.load_agent(name)?;
            if let Some(home_file) = &entry.shadows {
                (host.warn)(&format!(
                    "agent `{name}`: using {} (the working directory's) instead of {}",
                    entry.path.display(),
                    home_file.display()
                ));
            }
            (name.clone(), Some(entry), Some(spec))
        }
        None => {
            let first = request.bottles.first().ok_or_else(|| {
                InputError::new("no agent and no bottle given")
                    .fix("name an AGENT, or pass --bottle NAME")
            })?;
            (first.clone(), None, None)
        }
    };
    let bottles = bottle_names(&catalog, request, agent_file.as_ref(), agent.as_ref())?;
    let resolved = resolve::resolve(
        &catalog,
        &bottles,
        agent.as_ref().map(|a| (agent_name.as_str(), a)),
    )?;
    let mut provider = provider::plan(&resolved.provider, resolved.template(), &*host.env);
    provider.rebuild = request.rebuild;
    let (egress, replaced_routes) = egress(&resolved, &provider, &host.user_home);
    check_env_holds_no_credential(&resolved, &egress, &provider)?;
    let mut env: Vec<(String, At<EnvValue>)> = resolved.env.clone().into_iter().collect();
    // The bottle cannot set these itself (checked above).
    for (name, value) in provider::placeholder_env(&provider) {
        env.push((
            name.to_string(),
            At {
                value: EnvValue::Literal(value.to_string()),
                loc: Default::default(),
            },
        ));
    }
    let skills = agent
        .as_ref()
        .map(|a| {
            a.skills
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        host.user_home.join(".claude/skills").join(&s.value),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let git_gate = git_gate(&resolved);
    Ok(Resolution {
        agent_name,
        agent_file,
        prompt: agent.map(|a| a.prompt).unwrap_or_default(),
        skills,
        resolved,
        provider,
        env,
        egress,
        replaced_routes,
        git_gate,
        requested_bottles: bottles,
    })
}

fn bottle_names(
    catalog: &Catalog,
    request: &Request,
    agent_file: Option<&crate::manifest::catalog::AgentEntry>,
    agent: Option<&crate::manifest::agent::AgentSpec>,
) -> Result<Vec<String>, InputError> {
    if !request.bottles.is_empty() {
        for name in &request.bottles {
            catalog.bottle_path(name).map_err(|e| InputError {
                key: Some(format!("--bottle {name}")),
                ..e
            })?;
        }
        return Ok(request.bottles.clone());
    }
    let (Some(entry), Some(agent)) = (agent_file, agent) else {
        return Ok(Vec::new());
    };
    let Some(bottle) = &agent.bottle else {
        return Err(
            InputError::new(format!("agent `{}` names no bottle", entry.name))
                .in_file(&entry.path)
                .key("bottle")
                .fix("add `bottle: NAME` to the agent, or pass --bottle NAME"),
        );
    };
    catalog.bottle_path(&bottle.value).map_err(|e| {
        bottle
            .loc
            .error("bottle", e.message.clone())
            .fix(e.fix.clone().unwrap_or_default())
    })?;
    Ok(vec![bottle.value.clone()])
}

/// A bottle may not hand the agent a credential the sidecar holds: neither `${VAR}` of a route's
/// or the provider's token, nor its own value for the placeholder variable the provider sets
/// (the real token would then sit in the agent, where injection exists to keep it out).
fn check_env_holds_no_credential(
    resolved: &Resolved,
    egress: &EgressPlan,
    provider: &ProviderPlan,
) -> Result<(), InputError> {
    let placeholders = provider::placeholder_env(provider);
    for (name, value) in &resolved.env {
        let key = format!("env.{name}");
        if let EnvValue::Host(var) = &value.value {
            let slot = egress
                .token_slots
                .iter()
                .find(|s| matches!(&s.source, TokenSource::HostEnv { name } if name == var));
            if let Some(slot) = slot {
                let hosts: Vec<&str> = egress
                    .routes
                    .iter()
                    .filter(|r| r.auth.as_ref().is_some_and(|a| a.slot == slot.slot))
                    .map(|r| r.host.as_str())
                    .collect();
                return Err(value
                    .loc
                    .error(
                        &key,
                        format!(
                            "copies ${var}, the credential the sidecar injects for {}: a route's token never enters the agent",
                            hosts.join(", ")
                        ),
                    )
                    .fix(format!("remove env.{name}; the agent gets a placeholder and the sidecar adds the real token on the way out")));
            }
        }
        if placeholders
            .iter()
            .any(|(placeholder, _)| placeholder == name)
        {
            return Err(value
                .loc
                .error(
                    &key,
                    format!("{name} is the placeholder bot-bottle sets while the sidecar injects the provider's credential"),
                )
                .fix(format!("remove env.{name}")));
        }
    }
    Ok(())
}

/// Final routes (manual ones, then the provider's, which replace a manual route of the same host
/// but keep its `private: true`: an API gateway on a LAN address, or a test fixture) and one
/// token slot per distinct credential source.
fn egress(
    resolved: &Resolved,
    provider: &ProviderPlan,
    user_home: &Path,
) -> (EgressPlan, Vec<String>) {
    let provider_routes = provider::routes(provider, user_home);
    let mut slots: Vec<TokenSlot> = Vec::new();
    let mut slot_for = |source: TokenSource| -> String {
        if let Some(slot) = slots.iter().find(|s| s.source == source) {
            return slot.slot.clone();
        }
        let slot = bb_contract::layout::env::token_slot(slots.len() + 1);
        slots.push(TokenSlot {
            slot: slot.clone(),
            source,
        });
        slot
    };
    let mut routes = Vec::new();
    let mut replaced = Vec::new();
    let mut private_hosts = Vec::new();
    for spec in &resolved.routes {
        if provider_routes.iter().any(|p| p.route.host == spec.host) {
            replaced.push(spec.host.clone());
            if spec.private {
                private_hosts.push(spec.host.clone());
            }
            continue;
        }
        routes.push(Route {
            host: spec.host.clone(),
            auth: spec.auth.as_ref().map(|a| RouteAuth {
                scheme: a.scheme,
                slot: slot_for(a.token.source()),
                port: a.port.unwrap_or(plan::HTTPS_PORT),
            }),
            matches: spec.matches.clone(),
            dlp: DlpSpec::resolve(spec.dlp.as_ref(), OnMatch::Block),
            tls_passthrough: spec.tls_passthrough,
            private: spec.private,
            added_by: None,
            provider_api: None,
            grant: None,
        });
    }
    for p in provider_routes {
        let mut route = p.route;
        route.private = private_hosts.contains(&route.host);
        if let Some(auth) = &mut route.auth {
            auth.slot = slot_for(p.token);
        }
        routes.push(route);
    }
    (
        EgressPlan {
            routes,
            token_slots: slots,
        },
        replaced,
    )
}

fn git_gate(resolved: &Resolved) -> GitGatePlan {
    let repos = resolved
        .repos
        .iter()
        .filter_map(|(name, spec)| {
            let url_text = spec.url.as_ref()?.value.clone();
            let url = repo_url::parse(&url_text).ok()?;
            Some(RepoPlan {
                name: name.clone(),
                url: url.normalised(),
                url_as_written: url_text,
                ssh_user: url.user,
                host: url.host,
                port: url.port,
                path: url.path,
                key: spec.key.as_ref()?.value.clone(),
                host_key: spec.host_key.as_ref()?.value.clone(),
                allow: spec.allow.unwrap_or_default(),
            })
        })
        .collect();
    GitGatePlan {
        user: resolved.git_user.clone(),
        repos,
        rules: resolved.rules.as_ref().map(|r| r.value.clone()),
    }
}

/// A plan and the files `bb-plan` writes for it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    pub metadata: Metadata,
    pub prompt: String,
    pub resolution: Resolution,
}

/// Checks the host for everything the launch will need, then makes the plan.
pub fn plan(host: &Host, request: &Request) -> anyhow::Result<Planned> {
    let resolution = resolve(host, request)?;
    check_host(host, &resolution)?;
    let identity = match &request.identity {
        Some(id) => check_identity(id)?,
        None => mint_identity(&resolution.agent_name),
    };
    let engine = (host.engine)();
    let runtime = runtime(&engine, host, request.runtime, &resolution.provider.image);
    let limits = crate::limits::resolve(&resolution.resolved.limits, engine.as_ref().ok());
    let state_dir = bb_core::paths::state_dir(&host.home, &identity);
    let created_at = now_rfc3339();
    let plan = Plan {
        schema: plan::SCHEMA.to_string(),
        identity: identity.clone(),
        label: request.label.clone(),
        created_at: created_at.clone(),
        agent: AgentPlan {
            name: resolution.agent_name.clone(),
            source: resolution
                .agent_file
                .as_ref()
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            origin: resolution
                .agent_file
                .as_ref()
                .map(|f| f.origin)
                .unwrap_or(Origin::Home),
            shadows: resolution
                .agent_file
                .as_ref()
                .and_then(|f| f.shadows.clone()),
            prompt_file: state_dir.join("agent/prompt.txt"),
            skills: resolution
                .skills
                .iter()
                .map(|(s, path)| SkillPlan {
                    name: s.value.clone(),
                    host_path: path.clone(),
                })
                .collect(),
        },
        bottles: resolution.resolved.chain.clone(),
        provider: resolution.provider.clone(),
        runtime: runtime.clone(),
        limits,
        env: env_plan(&resolution.env, &state_dir),
        egress: resolution.egress.clone(),
        git_gate: resolution.git_gate.clone(),
        state_dir: state_dir.clone(),
        workspace: request.workspace.then(|| WorkspacePlan {
            host_path: host.cwd.clone(),
            container_path: PathBuf::from("/home/node/workspace"),
        }),
        network: None,
        ca: None,
        compose: None,
        kube: None,
        provision: None,
        extra: BTreeMap::new(),
    };
    let metadata = Metadata {
        schema: plan::SCHEMA.to_string(),
        identity: identity.clone(),
        agent: resolution.agent_name.clone(),
        bottles: resolution.requested_bottles.clone(),
        cwd: host.cwd.clone(),
        workspace: plan.workspace.as_ref().map(|w| w.host_path.clone()),
        label: request.label.clone(),
        started_at: created_at,
        compose_project: plan.compose_project(),
        runtime: runtime.name,
    };
    Ok(Planned {
        prompt: resolution.prompt.clone(),
        plan,
        metadata,
        resolution,
    })
}

fn env_plan(env: &[(String, At<EnvValue>)], state_dir: &Path) -> EnvPlan {
    let mut plan = EnvPlan {
        literal_file: state_dir.join("agent/env"),
        ..EnvPlan::default()
    };
    for (name, value) in env {
        match &value.value {
            EnvValue::Literal(text) => {
                plan.literal.insert(name.clone(), text.clone());
            }
            EnvValue::Host(var) => plan.host.push(HostEnv {
                name: name.clone(),
                host_var: var.clone(),
            }),
            EnvValue::Prompt(prompt) => plan.prompted.push(PromptedEnv {
                name: name.clone(),
                prompt: prompt.clone(),
            }),
        }
    }
    plan
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// Names of bottles the plan came from, for display.
pub fn bottle_chain(plan: &[BottleRef]) -> String {
    plan.iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}
