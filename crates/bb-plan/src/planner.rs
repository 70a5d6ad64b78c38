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
    PromptedEnv, ProviderPlan, RepoPlan, Route, RouteAuth, RuntimeChoice, RuntimeName, RuntimePlan,
    SkillPlan, TokenSlot, TokenSource, WorkspacePlan,
};
use bb_contract::state::Metadata;
use bb_core::docker::RuntimeProbe;

use crate::manifest::Catalog;
use crate::manifest::bottle::{At, DlpSpec, EnvValue};
use crate::manifest::repo_url;
use crate::manifest::resolve::{self, Resolved};
use crate::provider;

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
                slot: slot_for(TokenSource::HostEnv {
                    name: a.token_ref.clone(),
                }),
                port: a.port.unwrap_or(plan::HTTPS_PORT),
            }),
            matches: spec.matches.clone(),
            dlp: DlpSpec::resolve(spec.dlp.as_ref(), OnMatch::Block),
            tls_passthrough: spec.tls_passthrough,
            private: spec.private,
            added_by: None,
            provider_api: None,
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
                key_path: spec.key_path.as_ref()?.value.clone(),
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

/// Everything the launch reads from the host must be there now, so a launch never half-starts.
fn check_host(host: &Host, r: &Resolution) -> Result<(), InputError> {
    for (name, value) in &r.env {
        if let EnvValue::Host(var) = &value.value
            && (host.env)(var).is_none()
        {
            return Err(value
                .loc
                .error(
                    &format!("env.{name}"),
                    format!("host variable `{var}` is not set"),
                )
                .fix(format!(
                    "export {var} before launching, or change env.{name}"
                )));
        }
    }
    if let Some(token) = &r.resolved.provider.auth_token
        && !host.is_set(&token.value)
    {
        return Err(token
            .loc
            .error(
                "agent_provider.auth_token",
                format!(
                    "host variable `{}` (the OAuth token) is not set or empty",
                    token.value
                ),
            )
            .fix(format!(
                "export {} (`claude setup-token` prints one)",
                token.value
            )));
    }
    for route in &r.resolved.routes {
        if let Some(auth) = &route.auth
            && !host.is_set(&auth.token_ref)
            && !r.replaced_routes.contains(&route.host)
        {
            return Err(route
                .loc
                .error(
                    &format!("egress.routes[{}].auth.token_ref", route.index),
                    format!(
                        "host variable `{}` (token for {}) is not set or empty",
                        auth.token_ref, route.host
                    ),
                )
                .fix(format!("export {} before launching", auth.token_ref)));
        }
    }
    if r.provider.forward_host_credentials {
        let file = provider::codex_auth_file(&host.user_home);
        if !file.is_file() {
            let loc = r
                .resolved
                .provider
                .forward_host_credentials
                .as_ref()
                .map(|f| f.loc.clone());
            return Err(loc
                .unwrap_or_default()
                .error(
                    "agent_provider.forward_host_credentials",
                    format!("{} does not exist", file.display()),
                )
                .fix("run `codex login` on the host first"));
        }
    }
    if let Some(dockerfile) = &r.resolved.provider.dockerfile
        && !dockerfile.value.is_file()
    {
        return Err(dockerfile
            .loc
            .error(
                "agent_provider.dockerfile",
                format!("{} does not exist", dockerfile.value.display()),
            )
            .fix("give a path relative to the bottle file, or an absolute one"));
    }
    for (i, (skill, path)) in r.skills.iter().enumerate() {
        if !path.is_dir() {
            return Err(skill
                .loc
                .error(
                    &format!("skills[{i}]"),
                    format!("skill folder {}/ does not exist", path.display()),
                )
                .fix(format!(
                    "create it, or remove `{}` from skills",
                    skill.value
                )));
        }
    }
    if let Some(rules) = &r.resolved.rules
        && !rules.value.is_file()
    {
        return Err(rules
            .loc
            .error("git-gate.rules", format!("rules file {} does not exist", rules.value.display()))
            .fix("give the path of a gitleaks-format TOML file, relative to the bottle file or absolute"));
    }
    for (name, repo) in &r.resolved.repos {
        if let Some(key) = &repo.key_path
            && !key.value.is_file()
        {
            return Err(key
                .loc
                .error(
                    &format!("git-gate.repos.{name}.key.path"),
                    format!("key file {} does not exist", key.value.display()),
                )
                .fix("give the path of the SSH private key for this repo"));
        }
    }
    Ok(())
}

/// An identity given for resume must be a safe Docker name component.
fn check_identity(id: &str) -> Result<String, InputError> {
    let ok = (3..=48).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(id.to_string())
    } else {
        Err(InputError::new(format!("`{id}` is not a bottle identity"))
            .key("--identity")
            .fix("pass an identity as printed by `bot-bottle start`, such as fixer-x7k2p"))
    }
}

/// The identity prefix of an agent: lower-case alphanumerics, anything else a `-`, at most 40
/// characters, `bottle` when nothing is left.
pub fn identity_slug(agent: &str) -> String {
    let slug: String = agent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "bottle".into()
    } else {
        slug.into()
    }
}

/// `<agent slug>-<5 random base36 characters>`.
pub fn mint_identity(agent: &str) -> String {
    use rand::RngExt;
    const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let slug = identity_slug(agent);
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| BASE36[rng.random_range(0..BASE36.len())] as char)
        .collect();
    format!("{slug}-{suffix}")
}

/// The sidecar image a runsc probe can fall back to (built from the base, has `true`).
const PROBE_FALLBACK_IMAGE: &str = "bot-bottle-sidecar:latest";

/// runsc when the engine has it registered and a container actually works under it (on some
/// kernels it needs runtime arguments to start at all, and old versions fail common syscalls);
/// runc otherwise, with the reason.
fn runtime(
    engine: &anyhow::Result<bb_core::docker::EngineInfo>,
    host: &Host,
    flag: Option<RuntimeName>,
    agent_image: &str,
) -> RuntimePlan {
    if let Some(name) = flag {
        // Forced, but still tried: a runtime the agent cannot work under is said so up front.
        let note = match name {
            RuntimeName::Runsc => {
                match (host.probe_runtime)("runsc", &[agent_image, PROBE_FALLBACK_IMAGE]) {
                    RuntimeProbe::Fails(why) => Some(format!(
                        "UNUSABLE here: a test container could not `stat /` under runsc ({why}); the agent will fail ordinary file operations"
                    )),
                    RuntimeProbe::Works | RuntimeProbe::NoImage => None,
                }
            }
            RuntimeName::Runc => None,
        };
        return RuntimePlan {
            name,
            chosen_by: RuntimeChoice::Flag,
            note,
        };
    }
    let runc = |note: String| RuntimePlan {
        name: RuntimeName::Runc,
        chosen_by: RuntimeChoice::Probe,
        note: Some(note),
    };
    match engine.as_ref().map(|e| &e.runtimes) {
        Ok(list) if list.iter().any(|r| r == "runsc") => {
            match (host.probe_runtime)("runsc", &[agent_image, PROBE_FALLBACK_IMAGE]) {
                RuntimeProbe::Works => RuntimePlan {
                    name: RuntimeName::Runsc,
                    chosen_by: RuntimeChoice::Probe,
                    note: None,
                },
                RuntimeProbe::Fails(why) => runc(format!(
                    "runsc (gVisor) is registered but a test container (`stat /`) failed under it: {why}; using runc"
                )),
                RuntimeProbe::NoImage => runc(format!(
                    "runsc (gVisor) is registered but could not be tried yet (neither {agent_image} nor {PROBE_FALLBACK_IMAGE} is built); using runc, pass --runtime runsc to force it"
                )),
            }
        }
        Ok(_) => runc("the engine has no runsc (gVisor) runtime registered".into()),
        Err(err) => runc(format!("could not ask the engine for runtimes: {err:#}")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(registered: &[&str], probe: RuntimeProbe) -> Host {
        let registered: Vec<String> = registered.iter().map(|s| s.to_string()).collect();
        Host {
            home: PathBuf::from("/nonexistent"),
            cwd: PathBuf::from("/nonexistent"),
            user_home: PathBuf::from("/nonexistent"),
            env: Box::new(|_| None),
            engine: Box::new(move || {
                Ok(bb_core::docker::EngineInfo {
                    runtimes: registered.clone(),
                    cpus: 4,
                    memory: 8 << 30,
                })
            }),
            probe_runtime: Box::new(move |runtime, images| {
                assert_eq!(runtime, "runsc");
                assert_eq!(images, ["agent:img", PROBE_FALLBACK_IMAGE]);
                probe.clone()
            }),
            warn: Box::new(|_| {}),
        }
    }

    fn runtime_of(host: &Host, flag: Option<RuntimeName>, image: &str) -> RuntimePlan {
        runtime(&(host.engine)(), host, flag, image)
    }

    #[test]
    fn runsc_is_chosen_only_when_a_container_works_under_it() {
        let plan = runtime_of(
            &host(&["runc", "runsc"], RuntimeProbe::Works),
            None,
            "agent:img",
        );
        assert_eq!((plan.name, plan.note), (RuntimeName::Runsc, None));

        let failing = RuntimeProbe::Fails("cannot run with network enabled".into());
        let plan = runtime_of(&host(&["runc", "runsc"], failing), None, "agent:img");
        assert_eq!(plan.name, RuntimeName::Runc);
        let note = plan.note.unwrap();
        assert!(
            note.contains("failed under it: cannot run with network enabled; using runc"),
            "{note}"
        );

        let plan = runtime_of(
            &host(&["runc", "runsc"], RuntimeProbe::NoImage),
            None,
            "agent:img",
        );
        assert_eq!(plan.name, RuntimeName::Runc);
        assert!(
            plan.note
                .unwrap()
                .contains("pass --runtime runsc to force it")
        );

        let plan = runtime_of(&host(&["runc"], RuntimeProbe::Works), None, "agent:img");
        assert_eq!(plan.name, RuntimeName::Runc);
        assert!(plan.note.unwrap().contains("no runsc"));

        let plan = runtime_of(
            &host(&["runc"], RuntimeProbe::Works),
            Some(RuntimeName::Runsc),
            "agent:img",
        );
        assert_eq!(
            (plan.name, plan.chosen_by),
            (RuntimeName::Runsc, RuntimeChoice::Flag)
        );
        assert_eq!(plan.note, None);

        let failing = RuntimeProbe::Fails("stat: Invalid argument".into());
        let plan = runtime_of(
            &host(&["runc", "runsc"], failing),
            Some(RuntimeName::Runsc),
            "agent:img",
        );
        assert_eq!(plan.name, RuntimeName::Runsc);
        assert!(plan.note.unwrap().contains("UNUSABLE"));
    }
}
