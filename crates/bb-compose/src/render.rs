//! The compose file: two services on two external networks, written as JSON (valid YAML) in
//! the compose file format 2.4, which compose v1 and v2 both accept.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bb_contract::Plan;
use bb_contract::gate::GateConfig;
use bb_contract::layout::{
    GATE_ALIAS, GIT_GATE_PORT, PROXY_PORT, SIDECAR_ALIASES, SUPERVISE_ALIAS, agent as in_agent,
    audit, env, labels as label, names, proxy_url, sidecar as in_sidecar,
};
use bb_contract::plan::{ComposePlan, NetworkPlan, ResourceLimits, RuntimeName};
use bb_core::engine_files::FileIn;
use bb_core::fsx;
use serde_json::{Value, json};

/// `BOT_BOTTLE_EXTRA_ROOTS`: a PEM bundle the sidecar trusts for upstreams besides its own store
/// (a private forge's CA, or a test CA).
fn copy_extra_roots(plan: &Plan) -> Result<Option<PathBuf>> {
    let dest = plan.state_dir.join(EXTRA_ROOTS_FILE);
    let Some(source) = std::env::var_os("BOT_BOTTLE_EXTRA_ROOTS").filter(|v| !v.is_empty()) else {
        // A resume without the variable: the sidecar must not get an earlier launch's roots.
        let _ = std::fs::remove_file(&dest);
        return Ok(None);
    };
    let pem = std::fs::read(&source).map_err(|e| {
        anyhow::anyhow!(
            "reading BOT_BOTTLE_EXTRA_ROOTS {}: {e}",
            PathBuf::from(&source).display()
        )
    })?;
    fsx::write_file(&dest, &pem, 0o644)?;
    Ok(Some(dest))
}

/// The gate's configuration (`bb-gitgate serve --config`): the repos, the identity, and the
/// rules file as the sidecar sees it. Written only when the bottle declares repos.
fn write_gate_config(plan: &Plan) -> Result<()> {
    if plan.git_gate.repos.is_empty() {
        return Ok(());
    }
    let config = gate_config(plan);
    fsx::write_file(
        &gate_config_file(plan),
        serde_json::to_string_pretty(&config)?.as_bytes(),
        0o644,
    )?;
    write_gate_rules(plan)
}

/// `repos.json` of a bottle's gate: the plan's repos, the rules where the sidecar sees them,
/// every key in the gate's environment (held by an agent), whatever runs the bottle.
pub fn gate_config(plan: &Plan) -> GateConfig {
    GateConfig {
        repos: plan.git_gate.repos.clone(),
        user: plan.git_gate.user.clone(),
        rules: plan
            .git_gate
            .rules
            .as_ref()
            .map(|_| in_sidecar::GATE_RULES.into()),
        key_dir: in_sidecar::GATE_KEY_DIR.into(),
        agent_keys: true,
    }
}

/// The bottle's rules file with its `[extend]` chain merged into one file, so the sidecar needs
/// no other file of the host (`bb-plan` already refused a file gitleaks would reject; one
/// changed since is refused here the same way).
fn write_gate_rules(plan: &Plan) -> Result<()> {
    let Some(source) = &plan.git_gate.rules else {
        return Ok(());
    };
    let config = bb_gitleaks::load(source)?;
    fsx::write_file(&gate_rules_file(plan), config.to_toml().as_bytes(), 0o644)
}

/// The merged rules in the state folder.
fn gate_rules_file(plan: &Plan) -> PathBuf {
    plan.state_dir.join("git-gate/rules.toml")
}

/// `repos.json` in the state folder.
fn gate_config_file(plan: &Plan) -> PathBuf {
    plan.state_dir.join(bb_contract::state::GATE_CONFIG_FILE)
}

/// The files the sidecar reads, as the launcher wrote them in the state folder, named under
/// [`in_sidecar::CONFIG_DIR`]: the routes, the CA (its key 0600), extra roots, and the gate's
/// config and rules. `bb-compose up` puts them into the created container through the engine.
pub fn sidecar_files(plan: &Plan) -> Result<Vec<FileIn>> {
    let mut files = Vec::new();
    let ca = plan.ca()?;
    let mut from_state = vec![
        (
            plan.state_dir.join(bb_contract::state::ROUTES_FILE),
            in_sidecar::ROUTES,
        ),
        (ca.cert.clone(), in_sidecar::CA_CERT),
        (ca.key.clone(), in_sidecar::CA_KEY),
    ];
    let extra_roots = plan.state_dir.join(EXTRA_ROOTS_FILE);
    if extra_roots.is_file() {
        from_state.push((extra_roots, in_sidecar::EXTRA_ROOTS));
    }
    if !plan.git_gate.repos.is_empty() {
        from_state.push((gate_config_file(plan), in_sidecar::GATE_CONFIG));
        if plan.git_gate.rules.is_some() {
            from_state.push((gate_rules_file(plan), in_sidecar::GATE_RULES));
        }
    }
    for (host, inside) in from_state {
        files.push(FileIn::read(&host, in_sidecar::in_config(inside))?);
    }
    Ok(files)
}

/// `BOT_BOTTLE_EXTRA_ROOTS`' copy in the state folder.
const EXTRA_ROOTS_FILE: &str = "egress/extra-roots.pem";

/// `BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE`: for tests and the conformance harness only, every
/// upstream name resolves to this address (the sidecar's address guard still applies).
fn resolve_override() -> Option<String> {
    knob("BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE")
}

/// `BOT_BOTTLE_SIDECAR_EXTRA_NETWORK`: an existing network the sidecar joins besides its own two
/// (never the agent): an operator's model gateway, or the scripted model API of the tests, at an
/// address known before the launch. Routes to addresses there need `private: true`.
fn extra_network() -> Option<String> {
    knob("BOT_BOTTLE_SIDECAR_EXTRA_NETWORK")
}

/// `BOT_BOTTLE_SIDECAR_LISTEN_ALL=1`: TESTS ONLY (the conformance harness drives the proxy from
/// the host, through the egress network): the sidecar's services also answer there. Never set it
/// for a real bottle: a container on the egress network could then use the injected tokens.
fn listen_everywhere() -> bool {
    knob("BOT_BOTTLE_SIDECAR_LISTEN_ALL").is_some_and(|v| v == "1")
}

/// `BOT_BOTTLE_SIDECAR_DNS`: TESTS ONLY, the resolver the sidecar's own lookups go to (the
/// escape suite records there every name a sidecar resolves).
fn sidecar_dns() -> Option<String> {
    knob("BOT_BOTTLE_SIDECAR_DNS")
}

/// A set, non-empty environment variable read at render time.
fn knob(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn compose_file(plan: &Plan) -> PathBuf {
    plan.state_dir.join("docker-compose.yml")
}

/// Writes the compose file and the sidecar's routes file; returns the plan's `compose` section.
pub fn render(plan: &Plan) -> Result<ComposePlan> {
    let network = plan.network()?;
    plan.ca()?;
    let compose = ComposePlan {
        project: plan.compose_project(),
        file: compose_file(plan),
        agent_container: names::agent_container(&plan.identity),
        sidecar_container: names::sidecar_container(&plan.identity),
        sidecar_image: bb_images::launch::sidecar_image()?,
        up: false,
    };
    launcher_side(plan)?;
    let extra_roots = copy_extra_roots(plan)?;
    write_gate_config(plan)?;
    let mut doc = document(plan, &compose, network, extra_roots.as_deref());
    escape_dollars(&mut doc);
    fsx::write_file(
        &compose.file,
        serde_json::to_string_pretty(&doc)?.as_bytes(),
        0o600,
    )?;
    Ok(compose)
}

fn labels(plan: &Plan, role: &str) -> Value {
    let mut labels = json!({
        label::IDENTITY: plan.identity,
        label::ROLE: role,
        label::AGENT: plan.agent.name,
        label::RUNTIME: plan.runtime.name.as_str(),
    });
    if let Some(text) = &plan.label {
        labels[label::LABEL] = json!(text);
    }
    labels
}

/// The agent's environment: `NAME=VALUE` for values, a bare `NAME` for a secret whose value
/// comes at launch (`bb-kube` renders the same list for its agent Pod).
pub fn agent_environment(plan: &Plan) -> Vec<String> {
    let mut vars = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        vars.push(format!("{name}={}", proxy_url()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        vars.push(format!(
            "{name}=localhost,127.0.0.1,{GATE_ALIAS},{SUPERVISE_ALIAS}"
        ));
    }
    vars.push(format!("NODE_EXTRA_CA_CERTS={}", in_agent::CA_CERT));
    vars.push(format!("SSL_CERT_FILE={}", in_agent::CA_BUNDLE));
    vars.push(format!("REQUESTS_CA_BUNDLE={}", in_agent::CA_BUNDLE));
    vars.push(format!("{}={}", env::AGENT_IDENTITY, plan.identity));
    for (name, value) in bb_core::agent_cli::quiet_env(plan.provider.template) {
        vars.push(format!("{name}={value}"));
    }
    vars.push(env::AGENT_CANARY.to_string());
    for (name, value) in &plan.env.literal {
        vars.push(format!("{name}={value}"));
    }
    // Secrets: bare names, the values come from compose's own environment at `up`.
    vars.extend(plan.env.host.iter().map(|h| h.name.clone()));
    vars.extend(plan.env.prompted.iter().map(|p| p.name.clone()));
    vars
}

fn document(
    plan: &Plan,
    compose: &ComposePlan,
    network: &NetworkPlan,
    extra_roots: Option<&Path>,
) -> Value {
    let (sidecar_ip, internal, egress) = (&network.sidecar_ip, &network.internal, &network.egress);
    let mut agent = json!({
        "image": plan.provider.image,
        "container_name": compose.agent_container,
        "command": ["sleep", "infinity"],
        "init": true,
        "working_dir": in_agent::HOME,
        "environment": agent_environment(plan),
        "dns": [sidecar_ip],
        "networks": {"internal": {}},
        "volumes": [format!("home:{}", in_agent::HOME)],
        "labels": labels(plan, label::AGENT_ROLE),
        "cap_drop": ["NET_RAW", "MKNOD"],
        "security_opt": ["no-new-privileges:true"],
        "depends_on": ["sidecar"],
    });
    if plan.runtime.name == RuntimeName::Runsc {
        agent["runtime"] = json!("runsc");
    }
    apply_limits(&mut agent, &plan.limits);
    let mut sidecar_env: Vec<String> = vec![
        format!("{}={}", env::SIDECAR_ROUTES, in_sidecar::ROUTES),
        format!("{}={}", env::SIDECAR_CA_CERT, in_sidecar::CA_CERT),
        format!("{}={}", env::SIDECAR_CA_KEY, in_sidecar::CA_KEY),
        // The agent's own network, and the host's address on the egress bridge. Other addresses
        // on the egress network (an operator's fixture, a LAN service) need `private: true`.
        format!(
            "{}={},{}/32",
            env::SIDECAR_DENY_NETS,
            network.internal_subnet,
            network.egress_gateway
        ),
        // The canary's value comes from compose's environment, like every secret.
        env::SIDECAR_CANARY.to_string(),
    ];
    sidecar_env.extend(listen_environment(sidecar_ip));
    if extra_roots.is_some() {
        sidecar_env.push(format!(
            "{}={}",
            env::SIDECAR_EXTRA_ROOTS,
            in_sidecar::EXTRA_ROOTS
        ));
    }
    if let Some(ip) = resolve_override() {
        sidecar_env.push(format!("{}={ip}", env::SIDECAR_RESOLVE_OVERRIDE));
    }
    sidecar_env.extend(plan.egress.token_slots.iter().map(|s| s.slot.clone()));
    // Every repo's key, as a bare name: the value (read from its file or command at `up`)
    // comes from compose's environment.
    sidecar_env.extend(plan.git_gate.repos.iter().map(|r| env::gate_key(&r.name)));
    let sidecar = json!({
        "image": compose.sidecar_image,
        "container_name": compose.sidecar_container,
        "init": true,
        "restart": "on-failure",
        "environment": sidecar_env,
        "volumes": sidecar_volumes(plan),
        "networks": {
            "internal": {"ipv4_address": sidecar_ip, "aliases": SIDECAR_ALIASES},
            "egress": {},
        },
        "healthcheck": {
            "test": ["CMD", in_sidecar::SIDECAR_BIN, "health"],
            "interval": "5s",
            "timeout": "2s",
            "retries": 3,
        },
        "labels": labels(plan, label::SIDECAR_ROLE),
        "cap_drop": ["NET_RAW", "MKNOD"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": true,
        "tmpfs": ["/tmp"],
        // The audit stream while the bottle runs: capped and rotated by the engine, copied
        // into the state folder at teardown.
        "logging": {
            "driver": "json-file",
            "options": {"max-size": audit::ENGINE_MAX_SIZE, "max-file": audit::ENGINE_MAX_FILES},
        },
    });
    let mut doc = json!({
        "version": "2.4",
        "services": {"agent": agent, "sidecar": sidecar},
        "networks": {
            "internal": {"external": true, "name": internal},
            "egress": {"external": true, "name": egress},
        },
        // Made by `up` and removed by the launcher on a clean exit or by `cleanup`: external,
        // so that `down --volumes` (which removes the gate's mirrors) leaves it.
        "volumes": {"home": {"external": true, "name": names::home_volume(&plan.identity)}},
    });
    if let Some(dns) = sidecar_dns() {
        doc["services"]["sidecar"]["dns"] = json!([dns]);
    }
    if let Some(extra) = extra_network() {
        doc["services"]["sidecar"]["networks"]["extra"] = json!({});
        doc["networks"]["extra"] = json!({"external": true, "name": extra});
    }
    doc
}

/// Every service of the sidecar binds its address on the internal network only: the DNS sink
/// and the git gate follow the proxy's address.
fn listen_environment(sidecar_ip: &str) -> Vec<String> {
    let bind = if listen_everywhere() {
        "0.0.0.0"
    } else {
        sidecar_ip
    };
    vec![
        format!("{}={bind}:{PROXY_PORT}", env::SIDECAR_LISTEN),
        format!(
            "{}=http://{sidecar_ip}:{PROXY_PORT}/healthz",
            env::SIDECAR_HEALTH_URL
        ),
        format!("{}={sidecar_ip}:{GIT_GATE_PORT}", env::GATE_HEALTH_ADDR),
    ]
}

/// Processes, memory (swap included) and CPUs; a zero (a plan from before limits) sets nothing.
/// IPv6 is switched off: the bottle's networks are IPv4 only, and an address family nobody
/// checks is a door nobody watches.
fn apply_limits(agent: &mut Value, limits: &ResourceLimits) {
    agent["pids_limit"] = json!(limits.processes);
    if limits.memory_bytes > 0 {
        agent["mem_limit"] = json!(limits.memory_bytes);
        agent["memswap_limit"] = json!(limits.memory_bytes);
    }
    if limits.cpus > 0.0 {
        agent["cpus"] = json!(limits.cpus);
    }
    agent["sysctls"] = json!({
        "net.ipv6.conf.all.disable_ipv6": "1",
        "net.ipv6.conf.default.disable_ipv6": "1",
        "net.ipv6.conf.lo.disable_ipv6": "1",
    });
}

/// Anonymous volumes (removed by `down --volumes`), none from the launcher's filesystem: the
/// configuration, filled through the engine before start; the supervise folder (proposals
/// out, decisions in, carried to and from the launcher's state folder through the engine);
/// the gate's mirrors.
fn sidecar_volumes(plan: &Plan) -> Vec<String> {
    let mut volumes = vec![
        in_sidecar::CONFIG_DIR.to_string(),
        in_sidecar::SUPERVISE_DIR.to_string(),
    ];
    if !plan.git_gate.repos.is_empty() {
        volumes.push(in_sidecar::GATE_ROOT.into());
    }
    volumes
}

/// The launcher's side of the sidecar's files, which `reload` and `supervise` work on and carry
/// into the sidecar: the routes file and the supervise folders (whatever runs the bottle).
pub fn launcher_side(plan: &Plan) -> Result<()> {
    let routes = serde_json::to_vec_pretty(&plan.egress)?;
    let file = plan.state_dir.join(bb_contract::state::ROUTES_FILE);
    if let Some(dir) = file.parent() {
        fsx::create_private_dir(dir)?;
    }
    fsx::write_file(&file, &routes, 0o644)?;
    supervise_folders(plan)
}

/// The supervise folder's parts on the launcher.
fn supervise_folders(plan: &Plan) -> Result<()> {
    use bb_contract::supervise::{DECISIONS, PROPOSALS, USED};
    let dir = plan.state_dir.join(bb_contract::state::SUPERVISE_DIR);
    for sub in [PROPOSALS, DECISIONS, USED] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    Ok(())
}

/// Compose interpolates `$` in every string; a literal `$` is written `$$`.
fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        Value::Object(map) => map.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_escaped_everywhere() {
        let mut v = json!({"a": ["x=$HOME", {"b": "${X}"}], "c": 1});
        escape_dollars(&mut v);
        assert_eq!(v, json!({"a": ["x=$$HOME", {"b": "$${X}"}], "c": 1}));
    }
}
