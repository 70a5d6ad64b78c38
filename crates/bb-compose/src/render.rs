//! The compose file: two services on two external networks, written as JSON (valid YAML) in
//! the compose file format 2.4, which compose v1 and v2 both accept.

use std::path::{Path, PathBuf};

use anyhow::Result;
use bb_core::Plan;
use bb_core::docker::{AGENT_HOME, IDENTITY_LABEL, ROLE_LABEL, home_volume};
use bb_core::fsx;
use bb_core::layout::{GIT_GATE_PORT, PROXY_PORT};
use bb_core::plan::{ComposePlan, NetworkPlan, ResourceLimits, RuntimeName};
use serde_json::{Value, json};

/// Where the agent finds the bottle CA once `bb-provision` installed it.
pub const AGENT_CA_PATH: &str = "/usr/local/share/ca-certificates/bot-bottle.crt";
/// The system bundle `update-ca-certificates` rebuilds with the bottle CA in it.
pub const AGENT_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the sidecar sees `state/<id>/egress/`.
pub const SIDECAR_EGRESS_DIR: &str = "/etc/bot-bottle/egress";
/// The proxy's address as the agent names it.
pub const PROXY_URL: &str = "http://egress:9099";

/// The agent's canary variable: a honeytoken whose value the sidecar blocks wherever it appears.
pub const CANARY_AGENT_VAR: &str = "BOT_BOTTLE_CANARY";
/// The sidecar's variable holding the same value.
pub const CANARY_SIDECAR_VAR: &str = "BB_SIDECAR_CANARY";

/// `BOT_BOTTLE_EXTRA_ROOTS`: a PEM bundle the sidecar trusts for upstreams besides its own store
/// (a private forge's CA, or a test CA).
fn copy_extra_roots(plan: &Plan) -> Result<Option<PathBuf>> {
    let Some(source) = std::env::var_os("BOT_BOTTLE_EXTRA_ROOTS").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let pem = std::fs::read(&source).map_err(|e| {
        anyhow::anyhow!(
            "reading BOT_BOTTLE_EXTRA_ROOTS {}: {e}",
            PathBuf::from(&source).display()
        )
    })?;
    let dest = plan.state_dir.join("egress/extra-roots.pem");
    fsx::write_file(&dest, &pem, 0o644)?;
    Ok(Some(dest))
}

/// Where the sidecar finds the git gate's configuration, keys and rules.
pub const SIDECAR_GATE_DIR: &str = "/etc/bot-bottle/git-gate";

/// The gate's configuration (`bb-gitgate serve --config`): the repos, the identity, and the
/// rules file as the sidecar sees it. Written only when the bottle declares repos.
fn write_gate_config(plan: &Plan) -> Result<()> {
    if plan.git_gate.repos.is_empty() {
        return Ok(());
    }
    let config = json!({
        "repos": plan.git_gate.repos,
        "user": plan.git_gate.user,
        "rules": plan.git_gate.rules.as_ref().map(|_| format!("{SIDECAR_GATE_DIR}/rules.toml")),
        "key_dir": format!("{SIDECAR_GATE_DIR}/keys"),
    });
    let path = plan.state_dir.join("git-gate/repos.json");
    fsx::write_file(
        &path,
        serde_json::to_string_pretty(&config)?.as_bytes(),
        0o644,
    )
}

/// The sidecar's mounts for the gate: its config, each repo's key and the rules, read-only.
fn gate_volumes(plan: &Plan) -> Vec<String> {
    if plan.git_gate.repos.is_empty() {
        return Vec::new();
    }
    let mut volumes = vec![format!(
        "{}:{SIDECAR_GATE_DIR}/repos.json:ro",
        plan.state_dir.join("git-gate/repos.json").display()
    )];
    for repo in &plan.git_gate.repos {
        volumes.push(format!(
            "{}:{SIDECAR_GATE_DIR}/keys/{}:ro",
            repo.key_path.display(),
            repo.name
        ));
    }
    if let Some(rules) = &plan.git_gate.rules {
        volumes.push(format!(
            "{}:{SIDECAR_GATE_DIR}/rules.toml:ro",
            rules.display()
        ));
    }
    // The mirrors: an anonymous volume, removed by `down --volumes`.
    volumes.push("/var/lib/bot-bottle/git-gate".into());
    volumes
}

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

pub fn agent_container(identity: &str) -> String {
    format!("bot-bottle-{identity}-agent")
}

pub fn sidecar_container(identity: &str) -> String {
    format!("bot-bottle-{identity}-sidecar")
}

/// Writes the compose file and the sidecar's routes file; returns the plan's `compose` section.
pub fn render(plan: &Plan) -> Result<ComposePlan> {
    let network = plan.network()?;
    plan.ca()?;
    let compose = ComposePlan {
        project: plan.compose_project(),
        file: compose_file(plan),
        agent_container: agent_container(&plan.identity),
        sidecar_container: sidecar_container(&plan.identity),
        sidecar_image: crate::images::sidecar_image()?,
        up: false,
    };
    let routes = serde_json::to_vec_pretty(&plan.egress)?;
    fsx::write_file(&plan.state_dir.join("egress/routes.json"), &routes, 0o644)?;
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
        IDENTITY_LABEL: plan.identity,
        ROLE_LABEL: role,
        "bot-bottle.agent": plan.agent.name,
        "bot-bottle.runtime": plan.runtime.name.as_str(),
    });
    if let Some(label) = &plan.label {
        labels["bot-bottle.label"] = json!(label);
    }
    labels
}

fn agent_environment(plan: &Plan) -> Vec<String> {
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push(format!("{name}={PROXY_URL}"));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push(format!("{name}=localhost,127.0.0.1,git-gate,supervise"));
    }
    env.push(format!("NODE_EXTRA_CA_CERTS={AGENT_CA_PATH}"));
    env.push(format!("SSL_CERT_FILE={AGENT_CA_BUNDLE}"));
    env.push(format!("REQUESTS_CA_BUNDLE={AGENT_CA_BUNDLE}"));
    env.push(format!("BOT_BOTTLE_IDENTITY={}", plan.identity));
    for (name, value) in bb_core::agent_cli::quiet_env(plan.provider.template) {
        env.push(format!("{name}={value}"));
    }
    env.push(CANARY_AGENT_VAR.to_string());
    for (name, value) in &plan.env.literal {
        env.push(format!("{name}={value}"));
    }
    // Secrets: bare names, the values come from compose's own environment at `up`.
    env.extend(plan.env.host.iter().map(|h| h.name.clone()));
    env.extend(plan.env.prompted.iter().map(|p| p.name.clone()));
    env
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
        "working_dir": "/home/node",
        "environment": agent_environment(plan),
        "dns": [sidecar_ip],
        "networks": {"internal": {}},
        "volumes": [format!("home:{AGENT_HOME}")],
        "labels": labels(plan, "agent"),
        "cap_drop": ["NET_RAW", "MKNOD"],
        "security_opt": ["no-new-privileges:true"],
        "depends_on": ["sidecar"],
    });
    if plan.runtime.name == RuntimeName::Runsc {
        agent["runtime"] = json!("runsc");
    }
    apply_limits(&mut agent, &plan.limits);
    let mut sidecar_env: Vec<String> = vec![
        format!("BB_SIDECAR_ROUTES={SIDECAR_EGRESS_DIR}/routes.json"),
        format!("BB_SIDECAR_CA_CERT={SIDECAR_EGRESS_DIR}/ca.pem"),
        format!("BB_SIDECAR_CA_KEY={SIDECAR_EGRESS_DIR}/ca-key.pem"),
        // The agent's own network, and the host's address on the egress bridge. Other addresses
        // on the egress network (an operator's fixture, a LAN service) need `private: true`.
        format!(
            "BB_SIDECAR_DENY_NETS={},{}/32",
            network.internal_subnet, network.egress_gateway
        ),
        // The canary's value comes from compose's environment, like every secret.
        CANARY_SIDECAR_VAR.to_string(),
    ];
    sidecar_env.extend(listen_environment(sidecar_ip));
    if extra_roots.is_some() {
        sidecar_env.push(format!(
            "BB_SIDECAR_EXTRA_ROOTS={SIDECAR_EGRESS_DIR}/extra-roots.pem"
        ));
    }
    if let Some(ip) = resolve_override() {
        sidecar_env.push(format!("BB_SIDECAR_RESOLVE_OVERRIDE={ip}"));
    }
    sidecar_env.extend(plan.egress.token_slots.iter().map(|s| s.slot.clone()));
    let sidecar = json!({
        "image": compose.sidecar_image,
        "container_name": compose.sidecar_container,
        "init": true,
        "restart": "on-failure",
        "environment": sidecar_env,
        "volumes": sidecar_volumes(plan),
        "networks": {
            "internal": {"ipv4_address": sidecar_ip, "aliases": ["egress", "git-gate", "supervise"]},
            "egress": {},
        },
        "healthcheck": {
            "test": ["CMD", "/usr/local/bin/bb-sidecar", "health"],
            "interval": "5s",
            "timeout": "2s",
            "retries": 3,
        },
        "labels": labels(plan, "sidecar"),
        "cap_drop": ["NET_RAW", "MKNOD"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": true,
        "tmpfs": ["/tmp"],
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
        "volumes": {"home": {"external": true, "name": home_volume(&plan.identity)}},
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
        format!("BB_SIDECAR_LISTEN={bind}:{PROXY_PORT}"),
        format!("BB_SIDECAR_HEALTH_URL=http://{sidecar_ip}:{PROXY_PORT}/healthz"),
        format!("BB_GITGATE_HEALTH_ADDR={sidecar_ip}:{GIT_GATE_PORT}"),
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

fn sidecar_volumes(plan: &Plan) -> Vec<String> {
    let mut volumes = vec![format!(
        "{}:{SIDECAR_EGRESS_DIR}:ro",
        plan.state_dir.join("egress").display()
    )];
    volumes.extend(gate_volumes(plan));
    volumes
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
