//! `bb-kube apply` and `delete`: a bottle made and removed on a cluster through `kubectl`,
//! the same stage contract as `bb-compose up` and `down` (the plan in, the plan with its
//! `kube` section out; a failed apply removes what it made).
//!
//! The agent Pod needs the sidecar Service's ClusterIP (its resolver and its names for the
//! sidecar), which the cluster assigns: apply creates the namespace and the Service first,
//! reads the address, then renders and applies every object with it. Secrets are filled here,
//! their values only on kubectl's stdin.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result};
use bb_contract::layout::kube;
use bb_contract::plan::KubePlan;
use bb_contract::{InputError, Plan};

use crate::kubectl::Kubectl;
use crate::options::Options;
use crate::{List, Object, config, names, sidecar, teardown};

/// The values of the bottle's Secrets, read by the caller from the launcher.
pub struct Values {
    /// Variables by name: token slots, host-copied and prompted values, the canary, and the
    /// gate's keys under [`bb_contract::layout::env::gate_key`].
    pub vars: Vec<(String, String)>,
    /// The bottle CA's certificate and key (PEM).
    pub ca_cert: String,
    pub ca_key: String,
}

impl Values {
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The value of `key` of the Secret `secret`.
    fn lookup(&self, secret: &str, key: &str) -> Option<String> {
        match secret {
            kube::CA_SECRET if key == config::CA_CERT_KEY => Some(self.ca_cert.clone()),
            kube::CA_SECRET if key == config::CA_KEY_KEY => Some(self.ca_key.clone()),
            kube::GATE_KEYS_SECRET => self.var(&bb_contract::layout::env::gate_key(key)),
            _ => self.var(key),
        }
    }

    /// Every value, to scrub from a message.
    fn all(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.vars.iter().map(|(_, v)| v.as_str()).collect();
        all.push(&self.ca_key);
        all
    }
}

/// How long apply waits, by default, for the sidecar and the agent to be ready (`--wait`).
pub const DEFAULT_WAIT_SECS: u64 = 300;

/// Where the bottle of `plan` goes, before it is made (`applied: false`, no address yet).
pub fn planned(plan: &Plan, kubectl: &Kubectl) -> KubePlan {
    KubePlan {
        namespace: names::namespace(&plan.identity),
        context: kubectl.context.clone(),
        sidecar_ip: String::new(),
        applied: false,
    }
}

/// Makes the bottle of `plan` on the cluster and waits until its sidecar and agent are ready.
/// On failure what apply made is removed before the error returns: the whole namespace when
/// apply created it, else (a resumed bottle) everything but its home.
pub fn apply(
    plan: &Plan,
    opts: &Options,
    kubectl: &Kubectl,
    values: &Values,
    wait: Duration,
) -> Result<KubePlan> {
    let namespace = names::namespace(&plan.identity);
    bb_compose::render::launcher_side(plan)?;
    let kept_home = teardown::namespace_exists(kubectl, &namespace)?;
    let result = make(plan, opts, kubectl, values, wait, &namespace);
    if result.is_err() {
        let _ = match kept_home {
            true => teardown::stop(kubectl, &namespace, wait),
            false => teardown::delete_namespace(kubectl, &namespace, wait),
        };
    }
    result
}

fn make(
    plan: &Plan,
    opts: &Options,
    kubectl: &Kubectl,
    values: &Values,
    wait: Duration,
    namespace: &str,
) -> Result<KubePlan> {
    let secrets = values.all();
    let first = List::new(vec![
        Object::Namespace(crate::namespace(plan)),
        Object::Service(sidecar::service(plan, None)),
    ]);
    kubectl
        .apply(first.to_json().as_bytes(), &secrets)
        .context("creating the namespace and the sidecar's Service")?;
    let sidecar_ip = assigned_ip(kubectl, namespace, opts)?;
    let opts = Options {
        sidecar_ip: Some(sidecar_ip),
        ..opts.clone()
    };
    let objects = with_values(crate::render(plan, &opts)?, plan, values)?;
    kubectl
        .apply(List::new(objects).to_json().as_bytes(), &secrets)
        .context("applying the bottle's objects")?;
    ready(kubectl, namespace, wait)?;
    Ok(KubePlan {
        sidecar_ip: sidecar_ip.to_string(),
        applied: true,
        ..planned(plan, kubectl)
    })
}

/// The rendered objects with each empty Secret replaced by its filled one.
fn with_values(objects: Vec<Object>, plan: &Plan, values: &Values) -> Result<Vec<Object>> {
    let filled = config::filled_secrets(plan, |secret, key| values.lookup(secret, key))
        .map_err(|missing| anyhow::anyhow!("{missing} (bb-kube apply reads every value first)"))?;
    Ok(objects
        .into_iter()
        .map(|object| match object {
            Object::Secret(empty) => Object::Secret(
                filled
                    .iter()
                    .find(|s| s.metadata.name == empty.metadata.name)
                    .cloned()
                    .unwrap_or(empty),
            ),
            other => other,
        })
        .collect())
}

/// The sidecar Service's ClusterIP, which must lie in the service range the policies and the
/// sidecar's guard refuse (a wrong `--service-cidr` would leave the cluster's services open).
fn assigned_ip(kubectl: &Kubectl, namespace: &str, opts: &Options) -> Result<Ipv4Addr> {
    let text = kubectl.run(
        [
            "get",
            "service",
            kube::SIDECAR,
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        None,
        &[],
    )?;
    let ip: Ipv4Addr = text.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "the sidecar's Service has no IPv4 ClusterIP (`{}`): bot-bottle needs an IPv4 service network",
            text.trim()
        )
    })?;
    if !opts.service_cidr.contains(ip) {
        return Err(InputError::new(format!(
            "the cluster gave the sidecar's Service {ip}, outside --service-cidr {}",
            opts.service_cidr
        ))
        .fix("pass the cluster's service range (kubeadm and kind: 10.96.0.0/12, k3s: 10.43.0.0/16): the policies and the sidecar refuse it")
        .into());
    }
    Ok(ip)
}

/// Waits for the sidecar's rollout and the agent Pod's readiness.
fn ready(kubectl: &Kubectl, namespace: &str, wait: Duration) -> Result<()> {
    let timeout = teardown::timeout(wait);
    let deployment = kube::sidecar_deployment();
    kubectl
        .run(
            [
                "rollout",
                "status",
                deployment.as_str(),
                "-n",
                namespace,
                timeout.as_str(),
            ],
            None,
            &[],
        )
        .context("waiting for the sidecar")?;
    let pod = format!("pod/{}", kube::AGENT);
    kubectl
        .run(
            [
                "wait",
                "--for=condition=Ready",
                pod.as_str(),
                "-n",
                namespace,
                timeout.as_str(),
            ],
            None,
            &[],
        )
        .context("waiting for the agent")?;
    Ok(())
}

/// The values apply needs, read on the launcher: every variable the plan names (host
/// variables, prompts, token sources, key files and commands, a new canary) and the CA.
pub fn read_values(plan: &Plan, ask: &mut bb_compose::secrets::Ask<'_>) -> Result<Values> {
    let ca = plan.ca()?;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let collected = bb_compose::secrets::collect(plan, ask)?;
    Ok(Values {
        vars: collected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ca_cert: read(&ca.cert)?,
        ca_key: read(&ca.key)?,
    })
}

/// A plan without a `kube` section that says it was applied: what `exec` and `delete` need.
pub fn applied(plan: &Plan) -> Result<&KubePlan, InputError> {
    plan.kube.as_ref().filter(|k| k.applied).ok_or_else(|| {
        InputError::new("the plan has no applied `kube` section")
            .key("kube")
            .fix("run bb-kube apply first")
    })
}
