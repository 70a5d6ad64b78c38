//! The git gate: the agent's identity and the repos behind the gate.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The git gate: identity and the repos behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitGatePlan {
    pub user: GitUser,
    pub repos: Vec<RepoPlan>,
    /// A gitleaks-format TOML rules file (host path) the gate applies on top of its detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
}

/// The agent's git identity, each field with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Sourced>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Sourced>,
}

/// A value and the manifest file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sourced {
    pub value: String,
    /// `bottle:<name>` or `agent:<name>`.
    pub from: String,
}

/// One repository behind the git gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepoPlan {
    pub name: String,
    /// Normalised upstream URL, `ssh://user@host[:port]/path`.
    pub url: String,
    /// The URL exactly as the manifest wrote it (what the agent's git will use).
    pub url_as_written: String,
    pub ssh_user: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    /// Where the SSH private key comes from.
    #[serde(flatten)]
    pub key: RepoKey,
    /// The pinned host key line used as known_hosts.
    pub host_key: String,
    /// Pushes the gate refuses unless the bottle allows them (`git-gate.repos.<name>.allow`).
    #[serde(default)]
    pub allow: PushAllowance,
}

/// Where a repo's SSH private key comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RepoKey {
    /// A host file (`key: {provider: static, path}`), mounted read-only into the sidecar only.
    File { key_path: PathBuf },
    /// What a host command prints (`key: {provider: command, command}`), run at launch without
    /// a shell and given up after `key_timeout_secs`. The key reaches the sidecar only in its
    /// environment ([`crate::layout::env::gate_key`]); the gate holds it in an ssh-agent, never
    /// in a file.
    Command {
        key_command: Vec<String>,
        key_timeout_secs: u32,
    },
}

/// Kinds of push that are refused by default, each allowed per repo by the bottle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushAllowance {
    /// Deleting a branch or tag upstream.
    #[serde(default)]
    pub delete: bool,
    /// Moving a branch or tag to a commit that does not contain its current one.
    #[serde(default)]
    pub force_push: bool,
    /// Changing CI configuration (`.github/workflows/`, `.gitlab-ci.yml`, ...): code that runs
    /// with the repository's own secrets and network.
    #[serde(default)]
    pub ci_config: bool,
    /// Changing `.gitleaksignore`: the fingerprints of findings the secret scan lets through.
    #[serde(default)]
    pub gitleaks_ignore: bool,
}

impl PushAllowance {
    /// The manifest keys under `git-gate.repos.<name>.allow`.
    pub const KEYS: &'static [&'static str] =
        &["delete", "force_push", "ci_config", "gitleaks_ignore"];
}
