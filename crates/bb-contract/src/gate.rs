//! `repos.json`: the git gate's configuration, written by `bb-compose` from the plan's
//! `git_gate` section and read by `bb-gitgate serve` inside the sidecar.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::InputError;
use crate::layout::sidecar;
use crate::plan::{GitUser, RepoPlan};
use crate::repo::{REPO_NAME_RULE, is_repo_name, is_ssh_host, parse_host_key};

/// The content of `repos.json`: the plan's `git_gate` section plus two keys of the gate's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "bot-bottle git gate config")]
pub struct GateConfig {
    pub repos: Vec<RepoPlan>,
    /// The agent's git identity (not used by the gate; kept so the file is the plan's section).
    #[serde(default)]
    pub user: GitUser,
    /// A gitleaks-format rules file applied to every push, in addition to the shared detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
    /// Folder of the repos' SSH private keys (`<key_dir>/<repo name>`).
    #[serde(default = "default_key_dir")]
    pub key_dir: PathBuf,
    /// Every repo's key is in the gate's environment ([`crate::layout::env::gate_key`]) and
    /// held by an agent, whatever its source: a bottle's sidecar has no key file (bb-compose
    /// reads key files on the launcher, so the engine may be another machine).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_keys: bool,
}

fn default_key_dir() -> PathBuf {
    PathBuf::from(sidecar::GATE_KEY_DIR)
}

impl GateConfig {
    /// Names usable as file names, no duplicates, hosts and pinned host keys ssh accepts, ssh
    /// URLs: the same rules the planner applies.
    pub fn validate(&self) -> Result<(), InputError> {
        let mut seen = std::collections::BTreeSet::new();
        for repo in &self.repos {
            if !is_repo_name(&repo.name) {
                return Err(
                    InputError::new(format!("repo name `{}` is not usable", repo.name))
                        .key("repos")
                        .fix(REPO_NAME_RULE),
                );
            }
            if !seen.insert(repo.name.as_str()) {
                return Err(
                    InputError::new(format!("repo `{}` is declared twice", repo.name)).key("repos"),
                );
            }
            let key = format!("repos.{}", repo.name);
            if !is_ssh_host(&repo.host) {
                return Err(InputError::new(format!(
                    "host `{}` is not a host name or address",
                    repo.host
                ))
                .key(format!("{key}.host")));
            }
            parse_host_key(&repo.host_key).map_err(|e| {
                InputError::new(e.to_string())
                    .key(format!("{key}.host_key"))
                    .fix(e.fix())
            })?;
            if !repo.url.starts_with("ssh://") {
                return Err(InputError::new(format!(
                    "upstream URL `{}` is not an ssh:// URL",
                    repo.url
                ))
                .key(format!("{key}.url")));
            }
        }
        Ok(())
    }

    pub fn repo(&self, name: &str) -> Option<&RepoPlan> {
        self.repos.iter().find(|r| r.name == name)
    }

    /// The SSH private key of a repo inside the container.
    pub fn key_path(&self, repo: &RepoPlan) -> PathBuf {
        self.key_dir.join(&repo.name)
    }
}
