//! The gate's configuration (`repos.json`) and the folders it works in.
//!
//! `repos.json` is the serde form of the plan's `git_gate` section ([`bb_contract::plan::GitGatePlan`])
//! plus two keys of the gate's own: `rules` (a gitleaks-format TOML file inside the container)
//! and `key_dir` (where the repos' SSH keys are mounted, one file per repo name).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::layout::sidecar;

pub use bb_contract::gate::GateConfig;

/// Default place of `repos.json` inside the sidecar.
pub const DEFAULT_CONFIG: &str = sidecar::GATE_CONFIG;
/// Default state folder (mirrors, known_hosts files, locks, the events socket).
pub const DEFAULT_ROOT: &str = sidecar::GATE_ROOT;

/// Reads and checks `repos.json`.
pub fn load(path: &Path) -> Result<GateConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(format!("cannot read the git gate config: {e}")).in_file(path)
    })?;
    let config: GateConfig = serde_json::from_str(&text).map_err(|e| {
        InputError::new(format!("not a git gate config: {e}"))
            .in_file(path)
            .at_line(e.line())
    })?;
    config.validate().map_err(|e| e.in_file(path))?;
    Ok(config)
}

/// The folders under the gate's root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    /// The root, made absolute (the hooks get absolute paths).
    pub fn new(root: &Path) -> Result<Paths> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .context("current directory")?
                .join(root)
        };
        Ok(Paths { root })
    }

    pub fn mirrors(&self) -> PathBuf {
        self.root.join("mirrors")
    }
    pub fn mirror(&self, name: &str) -> PathBuf {
        self.mirrors().join(format!("{name}.git"))
    }
    pub fn ssh_dir(&self) -> PathBuf {
        self.root.join("ssh")
    }
    pub fn known_hosts(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(format!("{name}.known_hosts"))
    }
    /// A private copy of a key whose mounted file has modes ssh refuses.
    pub fn key_copy(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(format!("{name}.key"))
    }
    pub fn lock(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }
    /// The stream socket on which hooks ask `serve` to judge a push ([`crate::hookd`]).
    pub fn hook_socket(&self) -> PathBuf {
        self.root.join("run").join("hooks.sock")
    }
    /// The datagram socket on which hooks send their log lines to `serve`.
    pub fn events_socket(&self) -> PathBuf {
        self.root.join("run").join("events.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::plan::{GitUser, RepoPlan};
    use bb_contract::repo::is_repo_name as valid_name;

    fn repo(name: &str) -> RepoPlan {
        RepoPlan {
            name: name.into(),
            url: "ssh://git@up:2222/srv/shop.git".into(),
            url_as_written: "ssh://git@up:2222/srv/shop.git".into(),
            ssh_user: "git".into(),
            host: "up".into(),
            port: 2222,
            path: "/srv/shop.git".into(),
            key: bb_contract::plan::RepoKey::File {
                key_path: "/home/u/.ssh/k".into(),
            },
            host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq".into(),
            allow: Default::default(),
        }
    }

    #[test]
    fn loads_the_plan_section_with_defaults() {
        let json = serde_json::json!({
            "user": {"name": {"value": "Bot", "from": "bottle:x"}},
            "repos": [repo("shop")],
        });
        let cfg: GateConfig = serde_json::from_value(json).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.key_dir, PathBuf::from(sidecar::GATE_KEY_DIR));
        assert_eq!(cfg.rules, None);
        assert_eq!(
            cfg.key_path(&cfg.repos[0]),
            PathBuf::from("/etc/bot-bottle/git-gate/keys/shop")
        );
    }

    #[test]
    fn rejects_bad_names_and_duplicates() {
        for bad in ["", ".x", "-x", "a/b", "a b", "x.git", ".."] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name("shop-2.web_x"));
        let cfg = GateConfig {
            repos: vec![repo("a"), repo("a")],
            user: GitUser::default(),
            rules: None,
            key_dir: "/k".into(),
            agent_keys: false,
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("twice"));
        let mut r = repo("a");
        r.host_key = "ssh-ed25519 AAAA\nevil.example ssh-ed25519 AAAA".into();
        let cfg = GateConfig {
            repos: vec![r],
            ..cfg
        };
        assert!(cfg.validate().is_err());
    }
}
