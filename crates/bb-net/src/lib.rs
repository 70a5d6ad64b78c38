//! Stage 2: the bottle's networks.
//!
//! - `bot-bottle-<id>-internal`: `--internal`, with a subnet chosen free of every host route and
//!   Docker network, and `com.docker.network.bridge.inhibit_ipv4=true` so the bridge has no host
//!   address: on engines before 28 an internal network otherwise lets the agent reach every host
//!   service through the gateway (see docs/engine.md). The sidecar gets the fixed address `.2`.
//! - `bot-bottle-<id>-egress`: a plain bridge, the sidecar's way out.
//!
//! Both carry `bot-bottle.identity=<id>`. Creating is idempotent (an existing network of the
//! same identity is reused) and a failure removes what this call created.

pub mod subnet;

use anyhow::{Context, Result, bail};
use bb_contract::Plan;
use bb_contract::layout::labels::IDENTITY as IDENTITY_LABEL;
use bb_contract::plan::NetworkPlan;
use bb_core::docker;
use bb_core::inspect::NetworkInspect;

use subnet::Ipv4Net;

/// How many free subnets to try when another launch takes the one we picked.
const ATTEMPTS: usize = 8;

pub use bb_contract::layout::names::{
    egress_network as egress_name, internal_network as internal_name,
};

/// Creates (or finds) both networks and returns the plan's `network` section.
pub fn create(plan: &Plan) -> Result<NetworkPlan> {
    let id = &plan.identity;
    let internal = internal_name(id);
    let egress = egress_name(id);
    let mut created = Vec::new();
    let result = (|| -> Result<NetworkPlan> {
        let internal_subnet = match existing(&internal, id)? {
            Some(subnet) => subnet,
            None => {
                let subnet = create_internal(&internal, id)?;
                created.push(internal.clone());
                subnet
            }
        };
        if existing(&egress, id)?.is_none() {
            docker::output(network_create_args(&egress, id, "egress", &[]))?;
            created.push(egress.clone());
        }
        let egress_subnet =
            existing(&egress, id)?.context("the egress network vanished after creation")?;
        let egress_gateway = match gateway(&egress)? {
            Some(gateway) => gateway,
            None => parse_subnet(&egress, &egress_subnet)?.host(1).to_string(),
        };
        let net = parse_subnet(&internal, &internal_subnet)?;
        Ok(NetworkPlan {
            internal: internal.clone(),
            egress: egress.clone(),
            internal_subnet,
            egress_subnet,
            egress_gateway,
            sidecar_ip: net.host(2).to_string(),
        })
    })();
    if result.is_err() {
        for name in created.iter().rev() {
            let _ = docker::output(["network", "rm", name]);
        }
    }
    result
}

/// Removes both networks; absent ones are fine.
pub fn remove(identity: &str) -> Result<()> {
    let mut failures = Vec::new();
    for name in [internal_name(identity), egress_name(identity)] {
        if existing_raw(&name)?.is_none() {
            continue;
        }
        if let Err(err) = docker::output(["network", "rm", &name]) {
            failures.push(format!("{err:#}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}

/// Removes networks by name (`cleanup` also finds them by the name prefix alone); returns what
/// failed.
pub fn remove_named(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| {
            docker::output(["network", "rm", name])
                .err()
                .map(|err| format!("network {name}: {err:#}"))
        })
        .collect()
}

fn network_create_args(name: &str, identity: &str, role: &str, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        "network".to_string(),
        "create".into(),
        "--driver".into(),
        "bridge".into(),
        "--label".into(),
        format!("{IDENTITY_LABEL}={identity}"),
        "--label".into(),
        format!("bot-bottle.network={role}"),
    ];
    args.extend(extra.iter().cloned());
    args.push(name.into());
    args
}

fn create_internal(name: &str, identity: &str) -> Result<String> {
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let taken = taken_subnets()?;
        let subnet = subnet::pick_free(&taken, &mut rand::rng())
            .context("no free /24 is left in 10.213.0.0/16 for the internal network")?;
        let extra = vec![
            "--internal".to_string(),
            "--subnet".into(),
            subnet.to_string(),
            "-o".into(),
            "com.docker.network.bridge.inhibit_ipv4=true".into(),
        ];
        match docker::output(network_create_args(name, identity, "internal", &extra)) {
            Ok(_) => return Ok(subnet.to_string()),
            // Another launch may have taken the subnet between our look and our create; the
            // engine's listing cannot tell, since its network may not be listed yet or may be
            // gone again (a launch that failed). So every failure is retried on another free
            // subnet, and one that persists through every attempt is not a clash.
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("could not create {name}")))
}

fn parse_subnet(network: &str, cidr: &str) -> Result<Ipv4Net> {
    cidr.parse()
        .map_err(|_| anyhow::anyhow!("network {network} has subnet `{cidr}`, not an IPv4 CIDR"))
}

/// The subnet of network `name` when it exists and belongs to `identity`.
fn existing(name: &str, identity: &str) -> Result<Option<String>> {
    let Some(info) = existing_raw(name)? else {
        return Ok(None);
    };
    let owner = info.labels.get(IDENTITY_LABEL).map_or("", String::as_str);
    if owner != identity {
        bail!(
            "network {name} exists but is not labelled {IDENTITY_LABEL}={identity}; remove it or pick another identity"
        );
    }
    let subnet = info
        .subnet()
        .with_context(|| format!("network {name} has no IPv4 subnet"))?;
    Ok(Some(subnet.to_string()))
}

/// The gateway address the engine gave a network, when it reports one.
fn gateway(name: &str) -> Result<Option<String>> {
    Ok(existing_raw(name)?.and_then(|info| info.gateway().map(str::to_string)))
}

fn existing_raw(name: &str) -> Result<Option<NetworkInspect>> {
    let out = docker::raw(["network", "inspect", name])?;
    if !out.status.success() {
        return Ok(None);
    }
    let list: Vec<NetworkInspect> =
        serde_json::from_slice(&out.stdout).context("parsing `docker network inspect`")?;
    Ok(list.into_iter().next())
}

/// Subnets in use: every Docker network's and every host route's.
fn taken_subnets() -> Result<Vec<Ipv4Net>> {
    let mut taken = subnet::host_routes();
    let ids = docker::output(["network", "ls", "-q"])?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec![
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ];
        args.extend(ids);
        // A network removed between `ls` and `inspect` makes inspect fail; its stdout still lists
        // the others.
        let out = docker::raw(&args)?;
        taken.extend(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|s| s.parse::<Ipv4Net>().ok()),
        );
    }
    Ok(taken)
}
