//! Bottles on Kubernetes (`start --backend kubernetes`). A launch records where it applied the
//! bottle (`state/<id>/kube.json`: namespace, context); `list active`, `stop` and `cleanup`
//! find it on the cluster through that record and kubectl, as they find a compose bottle's
//! containers through the engine.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use bb_contract::layout::{kube, state_files::KUBE};
use bb_contract::plan::KubePlan;
use bb_kube::kubectl::Kubectl;
use bb_kube::options::ApplyArgs;
use serde::{Deserialize, Serialize};

use crate::active::Active;

/// How long `stop` and `cleanup` wait for a deletion.
const WAIT: Duration = Duration::from_secs(120);

/// Where a bottle was applied, and the flags it was applied with (`resume` applies it again
/// with them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub applied: KubePlan,
    pub launch: ApplyArgs,
}

/// Records where the bottle of `state_dir` was applied.
pub fn remember(state_dir: &Path, record: &Record) -> Result<()> {
    let text = serde_json::to_vec_pretty(record)?;
    bb_core::fsx::write_file(&state_dir.join(KUBE), &text, 0o600)
}

/// The record of a bottle launched on Kubernetes, if it was. One that cannot be read is an
/// error: taking it for a Docker bottle would leave its namespace behind.
pub fn record(state_dir: &Path) -> Result<Option<Record>> {
    let path = state_dir.join(KUBE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let record = serde_json::from_slice(&text).map_err(|e| {
        bb_contract::InputError::new(format!(
            "{} is not a Kubernetes bottle's record ({e})",
            path.display()
        ))
        .fix("restore it, or delete the bottle's namespace with kubectl and then the state folder")
    })?;
    Ok(Some(record))
}

/// Where the bottle of `state_dir` was applied, if it was launched on Kubernetes.
pub fn recorded(state_dir: &Path) -> Result<Option<KubePlan>> {
    Ok(record(state_dir)?.map(|r| r.applied))
}

fn kubectl(applied: &KubePlan) -> Result<Kubectl> {
    Kubectl::find(applied.context.clone())
}

/// Stops it and keeps its home (the namespace and the claim stay).
pub fn stop(applied: &KubePlan) -> Result<()> {
    bb_kube::teardown::stop(&kubectl(applied)?, &applied.namespace, WAIT)
        .with_context(|| format!("stopping {} on the cluster", applied.namespace))
}

/// Deletes its pods, then its namespace, its home with it.
pub fn delete(applied: &KubePlan) -> Result<()> {
    bb_kube::teardown::delete_namespace(&kubectl(applied)?, &applied.namespace, WAIT)
}

/// The recorded bottles whose agent Pod runs, as `list active` shows them.
pub fn active(state_root: &Path) -> Vec<Active> {
    let Ok(dirs) = std::fs::read_dir(state_root) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for dir in dirs.flatten() {
        let applied = match recorded(&dir.path()) {
            Ok(Some(applied)) => applied,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("bot-bottle: {e:#}");
                continue;
            }
        };
        let identity = dir.file_name().to_string_lossy().into_owned();
        if let Some(row) = row(&identity, &applied) {
            rows.push(row);
        }
    }
    rows
}

/// One row, from the agent Pod and the sidecar's Deployment; `None` when the pod is not
/// running (or the cluster cannot be asked).
fn row(identity: &str, applied: &KubePlan) -> Option<Active> {
    let kubectl = kubectl(applied).ok()?;
    let pod: serde_json::Value = kubectl
        .run(
            [
                "get",
                "pod",
                kube::AGENT,
                "-n",
                applied.namespace.as_str(),
                "-o",
                "json",
            ],
            None,
            &[],
        )
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())?;
    if pod["status"]["phase"] != "Running" {
        return None;
    }
    let labels = &pod["metadata"]["labels"];
    let started = pod["status"]["startTime"].as_str().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    let runtime = pod["spec"]["runtimeClassName"]
        .as_str()
        .map(|class| format!("kubernetes ({class})"))
        .unwrap_or_else(|| "kubernetes".into());
    Some(Active {
        identity: identity.to_string(),
        label: pod["metadata"]["annotations"][bb_contract::layout::labels::LABEL]
            .as_str()
            .map(str::to_string),
        agent: labels[bb_contract::layout::labels::AGENT]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        uptime_seconds: started
            .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0)),
        runtime,
        sidecar: sidecar_health(&kubectl, &applied.namespace),
        committed: None,
    })
}

fn sidecar_health(kubectl: &Kubectl, namespace: &str) -> String {
    let deployment = kube::sidecar_deployment();
    let ready = kubectl.run(
        [
            "get",
            deployment.as_str(),
            "-n",
            namespace,
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        None,
        &[],
    );
    match ready.as_deref().map(str::trim) {
        Ok("1") => "healthy".into(),
        Ok(_) => "unhealthy".into(),
        Err(_) => "down".into(),
    }
}
