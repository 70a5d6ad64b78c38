//! The sections the stages add: workspace, network, CA, compose or kube, provision.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The host folder copied into the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspacePlan {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
}

/// The bottle's two networks (stage 2, `bb-net`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkPlan {
    /// `bot-bottle-<id>-internal`: `--internal`, no host address on the bridge.
    pub internal: String,
    /// `bot-bottle-<id>-egress`: the sidecar's way out.
    pub egress: String,
    /// The internal network's subnet (CIDR), chosen free of host routes and other networks.
    pub internal_subnet: String,
    /// The egress network's subnet (CIDR), as the engine assigned it.
    pub egress_subnet: String,
    /// The host's address on the egress bridge (the sidecar must never connect to it).
    pub egress_gateway: String,
    /// The sidecar's fixed address on the internal network (the agent's DNS server).
    pub sidecar_ip: String,
}

/// The bottle's certificate authority (stage 3, `bb-ca`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaPlan {
    /// `state/<id>/egress/ca.pem` (0644).
    pub cert: PathBuf,
    /// `state/<id>/egress/ca-key.pem` (0600).
    pub key: PathBuf,
    /// SHA-256 of the certificate's DER, as colon-separated hex.
    pub fingerprint_sha256: String,
    /// RFC 3339 end of validity.
    pub not_after: String,
}

/// The compose project (stage 4, `bb-compose`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComposePlan {
    /// `bot-bottle-<id>`.
    pub project: String,
    /// `state/<id>/docker-compose.yml`.
    pub file: PathBuf,
    pub agent_container: String,
    pub sidecar_container: String,
    pub sidecar_image: String,
    /// Set once `up` succeeded.
    #[serde(default)]
    pub up: bool,
}

/// The bottle on a Kubernetes cluster (`bb-kube apply`), instead of a compose project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KubePlan {
    /// `bb-<identity>`: everything of the bottle lives in it.
    pub namespace: String,
    /// The kubectl context it was applied with (`None`: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The sidecar Service's ClusterIP (the agent's DNS server); empty until applied.
    pub sidecar_ip: String,
    /// Set once `apply` succeeded (the sidecar rolled out, the agent ready).
    #[serde(default)]
    pub applied: bool,
}

/// What `bb-provision` put into the agent container (paths inside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionPlan {
    pub ca_cert: PathBuf,
    pub prompt_file: PathBuf,
    pub skills: Vec<PathBuf>,
    pub gitconfig: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<PathBuf>,
    /// The agent CLI's own configuration files (no first-run dialogs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_config: Vec<PathBuf>,
}
