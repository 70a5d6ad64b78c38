//! Taking a bottle down on the cluster, its walls last. Deleting a namespace removes its
//! NetworkPolicies at once while its pods still run out their grace period: a process the
//! agent left behind would have that long without walls. So the pods go first (and are waited
//! for), the policies after, the namespace last.

use std::time::Duration;

use anyhow::Result;
use bb_contract::Plan;
use bb_contract::layout::kube;

use crate::kubectl::Kubectl;
use crate::names;

/// The workloads: the sidecar's Deployment (its pods deleted with it; deleting its pod first
/// would have its ReplicaSet start another) and the agent's Pod.
pub const WORKLOADS: &str = "deployment,pod";
/// What is left once no pod runs, but the home's claim: the policies go with it.
pub const AFTER_WORKLOADS: &str = "service,secret,configmap,networkpolicy";

/// Stops the bottle and keeps its home: every object of it but the namespace and the agent
/// home's claim is deleted (what `bot-bottle` does when a launch keeps its state, as compose
/// keeps the home volume). Applying again makes the rest anew.
pub fn stop(kubectl: &Kubectl, namespace: &str, wait: Duration) -> Result<()> {
    delete_labelled(kubectl, namespace, WORKLOADS, wait)?;
    delete_labelled(kubectl, namespace, AFTER_WORKLOADS, wait)
}

/// Removes the bottle of `plan`: its pods, then its namespace and everything in it (its
/// home's claim too). A namespace already gone is no error.
pub fn delete(plan: &Plan, kubectl: &Kubectl, wait: Duration) -> Result<()> {
    let namespace = match &plan.kube {
        Some(k) => k.namespace.clone(),
        None => names::namespace(&plan.identity),
    };
    delete_namespace(kubectl, &namespace, wait)
}

/// Deletes the pods of `namespace`, then the namespace.
pub fn delete_namespace(kubectl: &Kubectl, namespace: &str, wait: Duration) -> Result<()> {
    if !namespace_exists(kubectl, namespace)? {
        return Ok(());
    }
    delete_labelled(kubectl, namespace, WORKLOADS, wait)?;
    let name = format!("namespace/{namespace}");
    let timeout = timeout(wait);
    kubectl.run(
        [
            "delete",
            name.as_str(),
            "--ignore-not-found",
            "--wait=true",
            timeout.as_str(),
        ],
        None,
        &[],
    )?;
    Ok(())
}

/// Whether `namespace` exists.
pub fn namespace_exists(kubectl: &Kubectl, namespace: &str) -> Result<bool> {
    let name = format!("namespace/{namespace}");
    let found = kubectl.run(
        ["get", name.as_str(), "--ignore-not-found", "-o", "name"],
        None,
        &[],
    )?;
    Ok(!found.trim().is_empty())
}

/// Deletes the objects of `kinds` that bb-kube made in `namespace`, waiting until they are
/// gone (a Deployment's pods with it: foreground).
fn delete_labelled(kubectl: &Kubectl, namespace: &str, kinds: &str, wait: Duration) -> Result<()> {
    let managed = format!("{}={}", kube::MANAGED_BY_LABEL, kube::MANAGED_BY);
    let timeout = timeout(wait);
    kubectl.run(
        [
            "delete",
            kinds,
            "-n",
            namespace,
            "-l",
            managed.as_str(),
            "--ignore-not-found",
            "--cascade=foreground",
            "--wait=true",
            timeout.as_str(),
        ],
        None,
        &[],
    )?;
    Ok(())
}

/// kubectl's `--timeout` of `wait`.
pub(crate) fn timeout(wait: Duration) -> String {
    format!("--timeout={}s", wait.as_secs())
}
