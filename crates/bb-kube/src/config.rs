//! ConfigMaps (what is not secret: routes, the gate's repos and rules, the CA certificate) and
//! Secrets, rendered without values: a rendered file is something people keep, so `bb-kube
//! apply` fills them on the cluster and no secret value ever appears here.

use std::collections::BTreeMap;

use bb_contract::layout::{agent as in_agent, env, kube, sidecar as in_sidecar};
use bb_contract::{InputError, Plan};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, KeyToPath, Secret, SecretProjection, VolumeProjection,
};

use crate::error::RenderError;
use crate::names::meta;
use crate::options::HostFiles;
use crate::{Ctx, file_name};

/// Keys of the sidecar's ConfigMap: the names of the files they become.
pub const ROUTES_KEY: &str = file_name(in_sidecar::ROUTES);
pub const REPOS_KEY: &str = file_name(in_sidecar::GATE_CONFIG);
pub const GATE_RULES_KEY: &str = file_name(in_sidecar::GATE_RULES);
/// Keys of the CA Secret.
pub const CA_CERT_KEY: &str = file_name(in_sidecar::CA_CERT);
pub const CA_KEY_KEY: &str = file_name(in_sidecar::CA_KEY);
/// Key of the agent's CA ConfigMap.
pub const AGENT_CA_KEY: &str = file_name(in_agent::CA_CERT);

/// Every Secret of the bottle and the keys it must hold.
pub fn secret_keys(plan: &Plan) -> Vec<(&'static str, Vec<String>)> {
    let mut sidecar_env = vec![env::SIDECAR_CANARY.to_string()];
    sidecar_env.extend(plan.egress.token_slots.iter().map(|s| s.slot.clone()));
    let mut secrets = vec![
        (kube::CA_SECRET, vec![CA_CERT_KEY.into(), CA_KEY_KEY.into()]),
        (kube::SIDECAR_ENV_SECRET, sidecar_env),
    ];
    if !plan.git_gate.repos.is_empty() {
        let names = plan.git_gate.repos.iter().map(|r| r.name.clone()).collect();
        secrets.push((kube::GATE_KEYS_SECRET, names));
    }
    secrets.push((kube::AGENT_ENV_SECRET, crate::agent::secret_names(plan)));
    secrets
}

/// Every Secret of the bottle, empty.
pub(crate) fn secrets(plan: &Plan) -> Vec<Secret> {
    secret_keys(plan)
        .into_iter()
        .map(|(name, keys)| empty_secret(plan, name, keys))
        .collect()
}

/// Every Secret of the bottle with its values: `value(secret, key)` gives each (`None`: the
/// key has no value, an error naming it). Only `apply` makes these, for kubectl's stdin.
pub fn filled_secrets(
    plan: &Plan,
    value: impl Fn(&str, &str) -> Option<String>,
) -> Result<Vec<Secret>, String> {
    let mut filled = Vec::new();
    for (name, keys) in secret_keys(plan) {
        let mut data = BTreeMap::new();
        for key in &keys {
            let v =
                value(name, key).ok_or_else(|| format!("no value for {key} of Secret {name}"))?;
            data.insert(key.clone(), v);
        }
        let mut secret = empty_secret(plan, name, keys);
        secret.string_data = Some(data);
        filled.push(secret);
    }
    Ok(filled)
}

/// A Secret with no data, annotated with who fills it and the keys it must hold.
fn empty_secret(plan: &Plan, name: &str, keys: Vec<String>) -> Secret {
    let mut metadata = meta(plan, name);
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(kube::FILLED_BY_ANNOTATION.into(), kube::FILLED_BY.into());
    annotations.insert(kube::SECRET_KEYS_ANNOTATION.into(), keys.join(","));
    Secret {
        metadata,
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The sidecar's configuration and the agent's CA certificate.
pub(crate) fn config_maps(ctx: &Ctx) -> Result<Vec<ConfigMap>, RenderError> {
    let plan = ctx.plan;
    let mut data = BTreeMap::from([(ROUTES_KEY.to_string(), to_json(&plan.egress))]);
    if !plan.git_gate.repos.is_empty() {
        let config = bb_compose::render::gate_config(plan);
        data.insert(REPOS_KEY.into(), to_json(&config));
        if let Some(path) = &plan.git_gate.rules {
            let rules = ctx.opts.files.gate_rules.clone().ok_or(RenderError::MissingFile {
                what: "gate's rules file",
                path: path.display().to_string(),
                fix: "bb-kube render reads it from the plan's git_gate.rules: check that the file exists",
            })?;
            data.insert(GATE_RULES_KEY.into(), rules);
        }
    }
    let agent_ca = BTreeMap::from([(AGENT_CA_KEY.to_string(), ctx.ca_cert.clone())]);
    Ok(vec![
        config_map(plan, kube::SIDECAR_CONFIG, data),
        config_map(plan, kube::AGENT_CA, agent_ca),
    ])
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plan sections serialise")
}

fn config_map(plan: &Plan, name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: meta(plan, name),
        data: Some(data),
        ..Default::default()
    }
}

fn items(files: &[(&str, String)], mode: Option<i32>) -> Vec<KeyToPath> {
    files
        .iter()
        .map(|(key, path)| KeyToPath {
            key: key.to_string(),
            path: path.clone(),
            mode,
        })
        .collect()
}

/// Keys of a ConfigMap as files of a projected volume.
pub(crate) fn projection(
    name: &str,
    files: &[(&str, String)],
    mode: Option<i32>,
) -> VolumeProjection {
    VolumeProjection {
        config_map: Some(ConfigMapProjection {
            name: name.into(),
            items: Some(items(files, mode)),
            optional: Some(false),
        }),
        ..Default::default()
    }
}

/// Keys of a Secret as files of a projected volume.
pub(crate) fn secret_projection(
    name: &str,
    files: &[(&str, String)],
    mode: i32,
) -> VolumeProjection {
    VolumeProjection {
        secret: Some(SecretProjection {
            name: name.into(),
            items: Some(items(files, Some(mode))),
            optional: Some(false),
        }),
        ..Default::default()
    }
}

/// The CA certificate's text, which the caller read from `plan.ca.cert`.
pub(crate) fn ca_cert(plan: &Plan, given: Option<&String>) -> Result<String, RenderError> {
    let ca = plan.ca().map_err(|_| RenderError::MissingStage {
        section: "ca",
        tool: "bb-ca",
    })?;
    given.cloned().ok_or_else(|| RenderError::MissingFile {
        what: "CA certificate",
        path: ca.cert.display().to_string(),
        fix: "bb-kube render reads it from the plan's ca.cert: run bb-ca again if it is gone",
    })
}

/// Reads the host files the plan names: the CA certificate, and the gate's rules merged with
/// their `[extend]` chain (as `bb-compose` writes them). Only where the plan has them.
pub fn read_host_files(plan: &Plan) -> Result<HostFiles, InputError> {
    let ca_cert = match &plan.ca {
        Some(ca) => Some(std::fs::read_to_string(&ca.cert).map_err(|err| {
            InputError::new(format!("cannot read the bottle's CA certificate ({err})"))
                .in_file(&ca.cert)
                .fix("run bb-ca again, then render")
        })?),
        None => None,
    };
    let gate_rules = match &plan.git_gate.rules {
        Some(path) if !plan.git_gate.repos.is_empty() => Some(bb_gitleaks::load(path)?.to_toml()),
        _ => None,
    };
    Ok(HostFiles {
        ca_cert,
        gate_rules,
    })
}
