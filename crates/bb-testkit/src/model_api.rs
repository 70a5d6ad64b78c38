//! A world for tests that run the real agent CLIs: a test network holding the scripted model
//! API (`images/fixture/model_api.py`, behind TLS from a test CA, for the real API host names)
//! and an sshd git upstream (`git.test`). The sidecar joins that network
//! (`BOT_BOTTLE_SIDECAR_EXTRA_NETWORK`) and resolves every upstream name to the model API
//! (`BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE`), so no name is ever looked up outside and no
//! connection can go anywhere but to the fixture. Everything is removed when dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{DockerCleanup, Fixture, docker_exec, docker_ok, start_git_upstream, text, wait_for};

/// The API host names the fixture's certificate covers.
pub const API_HOSTS: &[&str] = &["api.anthropic.com", "api.openai.com", "chatgpt.com"];

/// The git upstream's URL as the bottle declares it.
pub const UPSTREAM_URL: &str = "ssh://git@git.test:2222/srv/git/shop.git";

pub struct ModelWorld {
    pub f: Fixture,
    pub slug: String,
    pub network: String,
    pub model: String,
    pub git: String,
    pub model_ip: String,
    pub ca: PathBuf,
    pub host_key: String,
    _cleanup: DockerCleanup,
}

impl ModelWorld {
    /// Starts the fixtures for agents named `slug…`, the model API answering `turns`.
    pub fn new(slug: &str, turns: &[Value]) -> ModelWorld {
        let f = Fixture::new();
        let cleanup = DockerCleanup::new(slug);
        let certs = f.path("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let ca = crate::test_certs(&certs, API_HOSTS);
        let network = format!("bot-bottle-{slug}-apinet");
        let git = format!("bot-bottle-{slug}-git");
        let git_net = format!("bot-bottle-{slug}-gitnet");
        let host_key = start_git_upstream(&f, &git, &git_net, &f.path("user/.ssh/deploy"));
        docker_ok(&[
            "network",
            "create",
            "--label",
            "bot-bottle.test=1",
            &network,
        ]);
        docker_ok(&["network", "connect", "--alias", "git.test", &network, &git]);
        let script = f.write(
            "script/script.json",
            &serde_json::to_string(&json!({ "turns": turns })).unwrap(),
        );
        let model = format!("bot-bottle-{slug}-model");
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &model,
            "--label",
            "bot-bottle.test=model-api",
            "--network",
            &network,
            "-e",
            "FIXTURE_TLS_CERT=/certs/leaf.pem",
            "-e",
            "FIXTURE_TLS_KEY=/certs/leaf.key",
            "-v",
            &format!("{}:/certs:ro", certs.display()),
            "-v",
            &format!("{}:/fixture:ro", script.parent().unwrap().display()),
            "--entrypoint",
            "python3",
            "bot-bottle-fixture:latest",
            "-u",
            "/usr/local/bin/model_api.py",
        ]);
        let model_ip = docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            &model,
        ]);
        let listening = wait_for(Duration::from_secs(30), || {
            docker_exec(&model, "root", "nc -z 127.0.0.1 443")
                .status
                .success()
                .then_some(())
        });
        assert!(
            listening.is_some(),
            "the model API did not start: {}",
            docker_ok(&["logs", &model])
        );
        ModelWorld {
            f,
            slug: slug.to_string(),
            network,
            model,
            git,
            model_ip,
            ca,
            host_key,
            _cleanup: cleanup,
        }
    }

    /// The environment of a launch against this world (add the CLI's credential variables).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "BOT_BOTTLE_BASE_IMAGE".into(),
                "bot-bottle-base:local".into(),
            ),
            ("BOT_BOTTLE_CACHE".into(), cache_dir().display().to_string()),
            (
                "BOT_BOTTLE_EXTRA_ROOTS".into(),
                self.ca.display().to_string(),
            ),
            (
                "BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE".into(),
                self.model_ip.clone(),
            ),
            (
                "BOT_BOTTLE_SIDECAR_EXTRA_NETWORK".into(),
                self.network.clone(),
            ),
        ]
    }

    /// The git-gate section of a bottle pushing to this world's upstream.
    pub fn git_gate_yaml(&self) -> String {
        format!(
            "git-gate:\n  user: {{name: Real Agent, email: agent@example.org}}\n  repos:\n    shop:\n      url: {UPSTREAM_URL}\n      key: {{provider: static, path: ~/.ssh/deploy}}\n      host_key: \"{}\"\n",
            self.host_key
        )
    }

    /// Every request the model API received, in order (turn events left out).
    pub fn requests(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|v| v.get("event").is_none())
            .collect()
    }

    /// The turns the model API handed out.
    pub fn turns_taken(&self) -> usize {
        self.log()
            .iter()
            .filter(|v| v.get("event").is_some_and(|e| e == "turn"))
            .count()
    }

    fn log(&self) -> Vec<Value> {
        let out = docker_exec(
            &self.model,
            "root",
            "cat /tmp/model-requests.jsonl 2>/dev/null",
        );
        text(&out)
            .0
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The subjects of the upstream's `main`, newest first.
    pub fn upstream_log(&self) -> String {
        text(&docker_exec(
            &self.git,
            "git",
            "git -C /srv/git/shop.git log --format='%s%n%b' main",
        ))
        .0
    }

    /// Every file of every commit on every branch of the upstream, concatenated.
    pub fn upstream_contents(&self) -> String {
        text(&docker_exec(
            &self.git,
            "git",
            "cd /srv/git/shop.git && for c in $(git rev-list --all); do git ls-tree -r --name-only $c | while read p; do git show $c:\"$p\"; done; done",
        ))
        .0
    }
}

/// The download cache the tests share (wheels are large): `target/bot-bottle-cache`.
pub fn cache_dir() -> PathBuf {
    let dir = crate::repo_root().join("target/bot-bottle-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `docker logs -f` of the first container whose name starts with `prefix` and ends with
/// `suffix` once it exists; the lines are read back with [`LogTail::lines`].
pub struct LogTail {
    file: PathBuf,
    child: Option<std::process::Child>,
}

impl LogTail {
    pub fn follow(dir: &Path, prefix: &str, suffix: &str, limit: Duration) -> LogTail {
        let file = dir.join(format!("{prefix}{suffix}.log"));
        // A running container only: `docker logs -f` of one that is created but not started
        // yet can end at once with nothing.
        let name = wait_for(limit, || {
            let names = crate::docker_try(&["ps", "--format", "{{.Names}}"]).ok()?;
            names
                .lines()
                .find(|n| n.starts_with(prefix) && n.ends_with(suffix))
                .map(str::to_string)
        });
        let child = name.map(|name| {
            let out = std::fs::File::create(&file).unwrap();
            std::process::Command::new("docker")
                .args(["logs", "-f", &name])
                .stdout(out)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        });
        LogTail { file, child }
    }

    /// The lines so far (all of them once the container is gone).
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn found(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for LogTail {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
