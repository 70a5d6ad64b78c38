//! The sidecar: a Deployment of one pod (egress proxy, DNS sink, git gate, supervise) and the
//! Service the agent reaches it through. Its secrets are mounted here and nowhere else.

use std::net::Ipv4Addr;

use bb_contract::Plan;
use bb_contract::layout::{
    DNS_PORT, GIT_GATE_PORT, PROXY_PORT, SUPERVISE_PORT, env, kube, sidecar as in_sidecar,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, ExecAction, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ProjectedVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::Ctx;
use crate::config::{self, GATE_RULES_KEY, REPOS_KEY, ROUTES_KEY};
use crate::names::{meta, pod_labels, selector, selector_labels};
use crate::pod::{
    container_security, empty_dir, env_from_secret, env_value, init_container, mount, pod_security,
    quantities, resources,
};

/// One port of the sidecar: the Service's, the pod's, and its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SidecarPort {
    pub name: &'static str,
    pub service_port: u16,
    pub target_port: u16,
    pub protocol: &'static str,
}

/// Every port the agent may use: the proxy, the DNS sink (UDP and TCP; port 53 on the Service,
/// an unprivileged port in the pod), the git gate and supervise.
pub fn ports() -> [SidecarPort; 5] {
    let port = |name, service_port, target_port, protocol| SidecarPort {
        name,
        service_port,
        target_port,
        protocol,
    };
    let dns = kube::SIDECAR_DNS_TARGET_PORT;
    [
        port("proxy", PROXY_PORT, PROXY_PORT, "TCP"),
        port("dns", DNS_PORT, dns, "UDP"),
        port("dns-tcp", DNS_PORT, dns, "TCP"),
        port("git-gate", GIT_GATE_PORT, GIT_GATE_PORT, "TCP"),
        port("supervise", SUPERVISE_PORT, SUPERVISE_PORT, "TCP"),
    ]
}

/// The sidecar's Service; `cluster_ip` `None` lets the cluster choose (what `apply` may do
/// first, to learn the address the agent Pod needs).
pub fn service(plan: &Plan, cluster_ip: Option<Ipv4Addr>) -> Service {
    let ports = ports()
        .iter()
        .map(|p| ServicePort {
            name: Some(p.name.into()),
            port: p.service_port.into(),
            target_port: Some(IntOrString::Int(p.target_port.into())),
            protocol: Some(p.protocol.into()),
            ..Default::default()
        })
        .collect();
    Service {
        metadata: meta(plan, kube::SIDECAR),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: cluster_ip.map(|ip| ip.to_string()),
            selector: Some(selector_labels(plan, kube::SIDECAR)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One replica, replaced rather than rolled (one sidecar per bottle at a time).
pub(crate) fn deployment(ctx: &Ctx) -> Deployment {
    let plan = ctx.plan;
    Deployment {
        metadata: meta(plan, kube::SIDECAR),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            revision_history_limit: Some(1),
            selector: selector(plan, kube::SIDECAR),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(plan, kube::SIDECAR)),
                    ..Default::default()
                }),
                spec: Some(pod_spec(ctx)),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_spec(ctx: &Ctx) -> PodSpec {
    PodSpec {
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            fs_group: Some(kube::SIDECAR_UID),
            ..pod_security(kube::SIDECAR_UID)
        }),
        init_containers: Some(vec![config_container(ctx)]),
        containers: vec![container(ctx)],
        volumes: Some(volumes(ctx.plan)),
        ..Default::default()
    }
}

fn container(ctx: &Ctx) -> Container {
    let ports = ports()
        .iter()
        .map(|p| ContainerPort {
            name: Some(p.name.into()),
            container_port: p.target_port.into(),
            protocol: Some(p.protocol.into()),
            ..Default::default()
        })
        .collect();
    Container {
        name: kube::SIDECAR.into(),
        image: Some(ctx.sidecar_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: Some(environment(ctx)),
        ports: Some(ports),
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec![in_sidecar::SIDECAR_BIN.into(), "health".into()]),
            }),
            period_seconds: Some(5),
            timeout_seconds: Some(2),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        resources: Some(resources(
            quantities(&[("cpu", "100m"), ("memory", "128Mi")]),
            quantities(&[("cpu", "1"), ("memory", "1Gi")]),
        )),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts(ctx.plan)),
        ..Default::default()
    }
}

/// What compose gives the sidecar (`bb-compose`'s `document`), with the cluster's differences:
/// every service listens on the pod's every address (only the agent's pod may connect, by
/// NetworkPolicy), the DNS sink on an unprivileged port, and the refused networks are the
/// cluster's pod and service ranges. Secret values come from Secrets, by name.
fn environment(ctx: &Ctx) -> Vec<EnvVar> {
    let plan = ctx.plan;
    let any = Ipv4Addr::UNSPECIFIED;
    let local = Ipv4Addr::LOCALHOST;
    let mut vars = vec![
        env_value(env::SIDECAR_ROUTES, in_sidecar::ROUTES),
        env_value(env::SIDECAR_CA_CERT, in_sidecar::CA_CERT),
        env_value(env::SIDECAR_CA_KEY, in_sidecar::CA_KEY),
        env_value(
            env::SIDECAR_DENY_NETS,
            &format!("{},{}", ctx.opts.pod_cidr, ctx.opts.service_cidr),
        ),
        env_value(env::SIDECAR_LISTEN, &format!("{any}:{PROXY_PORT}")),
        env_value(
            env::SIDECAR_DNS,
            &format!("{any}:{}", kube::SIDECAR_DNS_TARGET_PORT),
        ),
        env_value(
            env::SIDECAR_HEALTH_URL,
            &format!("http://{local}:{PROXY_PORT}/healthz"),
        ),
        env_value(env::GATE_HEALTH_ADDR, &format!("{local}:{GIT_GATE_PORT}")),
        env_from_secret(
            env::SIDECAR_CANARY,
            kube::SIDECAR_ENV_SECRET,
            env::SIDECAR_CANARY,
        ),
    ];
    for slot in &plan.egress.token_slots {
        vars.push(env_from_secret(
            &slot.slot,
            kube::SIDECAR_ENV_SECRET,
            &slot.slot,
        ));
    }
    // Every repo's key, from a file or a command alike: the gate holds it in an agent.
    for repo in &plan.git_gate.repos {
        vars.push(env_from_secret(
            &env::gate_key(&repo.name),
            kube::GATE_KEYS_SECRET,
            &repo.name,
        ));
    }
    vars
}

/// The source files of the configuration: read-only, readable by the pod's group only.
const SOURCE_MODE: i32 = 0o440;

/// Where the init container finds the configuration (the ConfigMap and the CA Secret).
const CONFIG_SOURCE: &str = "/var/run/bot-bottle/config";

/// The configuration as compose's sidecar has it: a writable folder at
/// [`in_sidecar::CONFIG_DIR`] (in memory: the CA key never reaches the node's disk), filled at
/// each start of the pod from the ConfigMap and the CA Secret, which `reload` and `supervise`
/// update in place through `kubectl exec` as they do through the engine.
fn volumes(plan: &Plan) -> Vec<Volume> {
    let mut volumes = vec![
        empty_dir("tmp", "64Mi", true),
        empty_dir("config", "16Mi", true),
        projected("config-source", config_sources(plan)),
        empty_dir("supervise", "64Mi", false),
    ];
    if !plan.git_gate.repos.is_empty() {
        volumes.push(empty_dir("gate-root", "4Gi", false));
    }
    volumes
}

/// Every file of the configuration, named as under [`in_sidecar::CONFIG_DIR`].
fn config_sources(plan: &Plan) -> Vec<VolumeProjection> {
    let mut files = vec![(
        ROUTES_KEY,
        in_sidecar::in_config(in_sidecar::ROUTES).to_string(),
    )];
    if !plan.git_gate.repos.is_empty() {
        files.push((
            REPOS_KEY,
            in_sidecar::in_config(in_sidecar::GATE_CONFIG).to_string(),
        ));
        if plan.git_gate.rules.is_some() {
            files.push((
                GATE_RULES_KEY,
                in_sidecar::in_config(in_sidecar::GATE_RULES).to_string(),
            ));
        }
    }
    let ca = [
        (
            config::CA_CERT_KEY,
            in_sidecar::in_config(in_sidecar::CA_CERT).to_string(),
        ),
        (
            config::CA_KEY_KEY,
            in_sidecar::in_config(in_sidecar::CA_KEY).to_string(),
        ),
    ];
    vec![
        config::projection(kube::SIDECAR_CONFIG, &files, Some(SOURCE_MODE)),
        config::secret_projection(kube::CA_SECRET, &ca, SOURCE_MODE),
    ]
}

/// Copies the configuration into the writable folder, private to the sidecar's user (the
/// `*` leaves out the projected volume's own `..data` links).
fn config_container(ctx: &Ctx) -> Container {
    let script = format!(
        "set -e; umask 077; for f in {CONFIG_SOURCE}/*; do cp -RL \"$f\" {}/; done",
        in_sidecar::CONFIG_DIR
    );
    init_container(
        "config",
        &ctx.sidecar_image,
        script,
        vec![
            mount("config-source", CONFIG_SOURCE, true),
            mount("config", in_sidecar::CONFIG_DIR, false),
        ],
    )
}

fn projected(name: &str, sources: Vec<VolumeProjection>) -> Volume {
    Volume {
        name: name.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            default_mode: Some(0o444),
        }),
        ..Default::default()
    }
}

fn mounts(plan: &Plan) -> Vec<VolumeMount> {
    let mut mounts = vec![
        mount("tmp", "/tmp", false),
        mount("config", in_sidecar::CONFIG_DIR, false),
        mount("supervise", in_sidecar::SUPERVISE_DIR, false),
    ];
    if !plan.git_gate.repos.is_empty() {
        mounts.push(mount("gate-root", in_sidecar::GATE_ROOT, false));
    }
    mounts
}
