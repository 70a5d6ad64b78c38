//! What the engine holds of bottles: containers and networks found by the identity label (and,
//! for cleanup, by the `bot-bottle-` name prefix), grouped per identity. Shared by `list active`,
//! `stop`, `logs`, `resume` and `cleanup`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use bb_contract::layout::labels::IDENTITY as IDENTITY_LABEL;
use bb_core::docker;
use bb_core::inspect::ContainerInspect;

/// Prefix of every container and network bot-bottle names.
pub use bb_contract::layout::names::PREFIX as NAME_PREFIX;

/// One container of a bottle, from `docker inspect`.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub identity: Option<String>,
    pub role: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    pub started_at: String,
    pub runtime: String,
}

impl Container {
    fn from_inspect(c: ContainerInspect) -> Container {
        let labels = c.config.labels;
        Container {
            name: c.name.trim_start_matches('/').to_string(),
            identity: labels.get(IDENTITY_LABEL).cloned(),
            role: labels.get(bb_contract::layout::labels::ROLE).cloned(),
            running: c.state.running,
            started_at: c.state.started_at,
            runtime: c.host_config.runtime,
            labels,
        }
    }
}

/// Every container (running or not) with the identity label or the name prefix.
pub fn containers() -> Result<Vec<Container>> {
    let mut ids = lines(docker::output([
        "ps",
        "-aq",
        "--filter",
        &format!("label={IDENTITY_LABEL}"),
    ])?);
    ids.extend(lines(docker::output([
        "ps",
        "-aq",
        "--filter",
        &format!("name=^/?{NAME_PREFIX}"),
    ])?));
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect".to_string()];
    args.extend(ids);
    // A container removed since `ps` makes inspect exit 1 ("No such object") while it still
    // prints the others: keep those.
    let out = docker::raw(&args)?;
    let list: Vec<ContainerInspect> = match serde_json::from_slice(&out.stdout) {
        Ok(list) => list,
        Err(_) if out.status.success() => bail!("reading `docker inspect`: not JSON"),
        Err(_) => bail!("{}", docker::failure("docker", &os_args(&args), &out)),
    };
    Ok(list.into_iter().map(Container::from_inspect).collect())
}

/// Every network with the identity label or the name prefix: (name, identity label).
pub fn networks() -> Result<Vec<(String, Option<String>)>> {
    let out = docker::output([
        "network",
        "ls",
        "--format",
        &format!("{{{{.Name}}}}\t{{{{.Label \"{IDENTITY_LABEL}\"}}}}"),
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (name, identity) = l.split_once('\t').unwrap_or((l, ""));
            let identity = (!identity.is_empty()).then(|| identity.to_string());
            (identity.is_some() || name.starts_with(NAME_PREFIX))
                .then(|| (name.to_string(), identity))
        })
        .collect())
}

fn os_args(args: &[String]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

fn lines(text: String) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The containers and networks of one identity.
#[derive(Debug, Default)]
pub struct Bottle {
    pub containers: Vec<Container>,
    pub networks: Vec<String>,
}

impl Bottle {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty()
    }

    pub fn role(&self, role: &str) -> Option<&Container> {
        self.containers
            .iter()
            .find(|c| c.role.as_deref() == Some(role))
    }
}

/// The containers and networks labelled with `identity`.
pub fn of_identity(identity: &str) -> Result<Bottle> {
    let same = |id: &Option<String>| id.as_deref() == Some(identity);
    Ok(Bottle {
        containers: containers()?
            .into_iter()
            .filter(|c| same(&c.identity))
            .collect(),
        networks: networks()?
            .into_iter()
            .filter(|(_, id)| same(id))
            .map(|(name, _)| name)
            .collect(),
    })
}

/// Removes containers (with their anonymous volumes) then networks, through the stages' own
/// functions; returns what failed.
pub fn remove(containers: &[String], networks: &[String]) -> Vec<String> {
    let mut failures = bb_compose::remove_named_containers(containers);
    failures.extend(bb_net::remove_named(networks));
    failures
}

/// The logs of each container of `bottle`, as compose would print them (`name | line`).
pub fn dump_logs(bottle: &Bottle) -> Vec<u8> {
    let mut text = Vec::new();
    for c in &bottle.containers {
        if let Ok(out) = docker::raw(["logs", "--timestamps", &c.name]) {
            for stream in [&out.stdout, &out.stderr] {
                for line in String::from_utf8_lossy(stream).lines() {
                    text.extend_from_slice(format!("{} | {line}\n", c.name).as_bytes());
                }
            }
        }
    }
    text
}

/// The state folder of `identity` under bot-bottle's home.
pub fn state_dir(identity: &str) -> Result<PathBuf> {
    Ok(bb_core::paths::state_dir(
        &bb_core::paths::home()?,
        identity,
    ))
}

/// Whether the `bot-bottle start`/`resume` process that owns `state` is alive: its pid is in
/// `wrapper.pid` and that process is a bot-bottle.
pub fn wrapper_pid(state: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(state.join(WRAPPER_PID))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("bot-bottle")
        .then_some(pid)
}

/// The file in the state folder holding the owning wrapper's pid.
pub const WRAPPER_PID: &str = "wrapper.pid";
