//! The agent: one Pod running `sleep infinity` (the CLI is started in it later, as compose's
//! agent container), its home on a PersistentVolumeClaim, its only way out the sidecar.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bb_contract::Plan;
use bb_contract::layout::{SIDECAR_ALIASES, agent as in_agent, kube};
use bb_contract::plan::{ResourceLimits, RuntimeName};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, HostAlias, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod, PodDNSConfig,
    PodSecurityContext, PodSpec, ResourceRequirements, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::Ctx;
use crate::config::AGENT_CA_KEY;
use crate::names::{meta, pod_labels};
use crate::options::GVISOR_RUNTIME_CLASS;
use crate::pod::{
    container_security, empty_dir, env_from_secret, env_value, file_mount, init_container, mount,
    pod_security, quantities, resources,
};

/// Where the init container finds the CA certificate and writes the trust bundle.
const CA_DIR: &str = "/var/run/bot-bottle/ca";
const BUNDLE_DIR: &str = "/var/run/bot-bottle/bundle";

/// The agent's environment as compose gives it (`bb_compose::render::agent_environment`):
/// values as they are, secrets (a bare name) from the `agent-env` Secret.
fn environment(plan: &Plan) -> Vec<EnvVar> {
    bb_compose::render::agent_environment(plan)
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((name, value)) => env_value(name, value),
            None => env_from_secret(entry, kube::AGENT_ENV_SECRET, entry),
        })
        .collect()
}

/// The names of the agent's secret variables: the keys of its Secret.
pub(crate) fn secret_names(plan: &Plan) -> Vec<String> {
    bb_compose::render::agent_environment(plan)
        .into_iter()
        .filter(|entry| !entry.contains('='))
        .collect()
}

/// The agent's RuntimeClass: the flag's, else `gvisor` for a plan that chose runsc.
pub fn runtime_class(plan: &Plan, flag: Option<&str>) -> Option<String> {
    match (flag, plan.runtime.name) {
        (Some(name), _) => Some(name.into()),
        (None, RuntimeName::Runsc) => Some(GVISOR_RUNTIME_CLASS.into()),
        (None, RuntimeName::Runc) => None,
    }
}

pub(crate) fn home_claim(ctx: &Ctx) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta(ctx.plan, kube::HOME_CLAIM),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(quantities(&[("storage", &ctx.opts.home_size)])),
                ..Default::default()
            }),
            storage_class_name: ctx.opts.storage_class.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The agent Pod. Its resolver is the sidecar (nothing else answers it) and the sidecar's names
/// are host aliases of the sidecar Service's address, so it needs no cluster DNS at all.
pub(crate) fn pod(ctx: &Ctx, sidecar_ip: Ipv4Addr) -> Pod {
    let plan = ctx.plan;
    let mut metadata = meta(plan, kube::AGENT);
    metadata.labels = Some(pod_labels(plan, kube::AGENT));
    let ip = sidecar_ip.to_string();
    Pod {
        metadata,
        spec: Some(PodSpec {
            runtime_class_name: runtime_class(plan, ctx.opts.runtime_class.as_deref()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            // The pause process is PID 1 and reaps what exits (compose's `init: true`).
            share_process_namespace: Some(true),
            restart_policy: Some("Never".into()),
            dns_policy: Some("None".into()),
            dns_config: Some(PodDNSConfig {
                nameservers: Some(vec![ip.clone()]),
                ..Default::default()
            }),
            host_aliases: Some(vec![HostAlias {
                ip,
                hostnames: Some(SIDECAR_ALIASES.iter().map(|a| a.to_string()).collect()),
            }]),
            security_context: Some(PodSecurityContext {
                fs_group: Some(in_agent::UID),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                ..pod_security(in_agent::UID)
            }),
            init_containers: Some(vec![ca_bundle_container(plan)]),
            containers: vec![agent_container(plan)],
            volumes: Some(volumes()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Builds the trust bundle (the image's, and the bottle CA) as the agent's user: what
/// `bb-provision` does as root in a compose bottle, which a restricted pod cannot.
fn ca_bundle_container(plan: &Plan) -> Container {
    let script = format!(
        "set -e; cat {} {CA_DIR}/{AGENT_CA_KEY} > {BUNDLE_DIR}/{}",
        in_agent::CA_BUNDLE,
        crate::file_name(in_agent::CA_BUNDLE)
    );
    init_container(
        "ca-bundle",
        &plan.provider.image,
        script,
        vec![
            mount("agent-ca", CA_DIR, true),
            mount("ca-bundle", BUNDLE_DIR, false),
        ],
    )
}

fn agent_container(plan: &Plan) -> Container {
    Container {
        name: kube::AGENT.into(),
        image: Some(plan.provider.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["sleep".into(), "infinity".into()]),
        working_dir: Some(in_agent::HOME.into()),
        env: Some(environment(plan)),
        resources: Some(limits(&plan.limits)),
        security_context: Some(container_security()),
        volume_mounts: Some(agent_mounts()),
        ..Default::default()
    }
}

/// The root is read-only: what the agent's user may write in the image is its home, `/tmp`
/// and `/var/tmp`, each a volume here.
fn agent_mounts() -> Vec<VolumeMount> {
    vec![
        mount("home", in_agent::HOME, false),
        mount("tmp", "/tmp", false),
        mount("var-tmp", "/var/tmp", false),
        file_mount("agent-ca", AGENT_CA_KEY, in_agent::CA_CERT),
        file_mount(
            "ca-bundle",
            crate::file_name(in_agent::CA_BUNDLE),
            in_agent::CA_BUNDLE,
        ),
    ]
}

fn volumes() -> Vec<Volume> {
    vec![
        Volume {
            name: "home".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: kube::HOME_CLAIM.into(),
                read_only: None,
            }),
            ..Default::default()
        },
        empty_dir("tmp", "4Gi", false),
        empty_dir("var-tmp", "4Gi", false),
        Volume {
            name: "agent-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: kube::AGENT_CA.into(),
                default_mode: Some(0o444),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        },
        empty_dir("ca-bundle", "16Mi", false),
    ]
}

/// Memory and CPUs from the plan as limits (a zero sets none; processes have no per-pod
/// limit in the Pod API); requests stay small so a bottle schedules on a busy node.
fn limits(limits: &ResourceLimits) -> ResourceRequirements {
    let mut max = BTreeMap::new();
    let mut min = quantities(&[("cpu", "100m"), ("memory", "256Mi")]);
    if limits.memory_bytes > 0 {
        let memory = bytes(limits.memory_bytes);
        max.insert("memory".to_string(), memory.clone());
        if limits.memory_bytes < 256 << 20 {
            min.insert("memory".into(), memory);
        }
    }
    if limits.cpus > 0.0 {
        let millis = (limits.cpus * 1000.0).round().max(1.0) as u64;
        let cpu = if millis.is_multiple_of(1000) {
            (millis / 1000).to_string()
        } else {
            format!("{millis}m")
        };
        max.insert("cpu".to_string(), Quantity(cpu.clone()));
        if millis < 100 {
            min.insert("cpu".into(), Quantity(cpu));
        }
    }
    resources(min, max)
}

/// Bytes as the largest binary unit that divides them (`8Gi` rather than `8589934592`).
fn bytes(n: u64) -> Quantity {
    let unit = [("Gi", 30), ("Mi", 20), ("Ki", 10)]
        .into_iter()
        .find(|(_, shift)| n.is_multiple_of(1 << shift));
    Quantity(match unit {
        Some((suffix, shift)) => format!("{}{suffix}", n >> shift),
        None => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits_of(memory_bytes: u64, cpus: f64) -> ResourceRequirements {
        limits(&ResourceLimits {
            processes: 4096,
            memory_bytes,
            cpus,
            set_by_bottle: Vec::new(),
        })
    }

    fn get(map: &Option<BTreeMap<String, Quantity>>, key: &str) -> Option<String> {
        map.as_ref()?.get(key).map(|q| q.0.clone())
    }

    #[test]
    fn limits_follow_the_plan_and_zero_sets_none() {
        let r = limits_of(8 << 30, 1.5);
        assert_eq!(get(&r.limits, "memory").as_deref(), Some("8Gi"));
        assert_eq!(bytes(1536 << 20).0, "1536Mi");
        assert_eq!(bytes(1000).0, "1000");
        assert_eq!(get(&r.limits, "cpu").as_deref(), Some("1500m"));
        assert_eq!(get(&r.requests, "cpu").as_deref(), Some("100m"));
        let r = limits_of(0, 0.0);
        assert_eq!(r.limits, Some(BTreeMap::new()));
        assert_eq!(get(&limits_of(0, 3.0).limits, "cpu").as_deref(), Some("3"));
    }

    #[test]
    fn requests_never_exceed_limits() {
        let r = limits_of(64 << 20, 0.05);
        assert_eq!(get(&r.requests, "memory"), get(&r.limits, "memory"));
        assert_eq!(get(&r.requests, "cpu").as_deref(), Some("50m"));
    }
}
