//! The world of one suite run: two bottles, the fixtures around them, the planted secrets.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use bb_testkit::{Fixture, docker_try, wait_for};

use crate::util::{exec, stderr, stdout, wait_child};

/// The token the sidecar injects for `api.test`: the agent must never hold it.
pub const API_TOKEN: &str = "bbesc-injected-7Qw2Lp9Xz4Rk8Vn3Jt6";

/// Planted fake secrets: (label, token variable of a decoy route, value). The decoy routes make
/// them known secrets of the sidecar; the agent finds them in a leaked `.env` in its home.
pub const PLANTED: &[(&str, &str, &str)] = &[
    ("aws-key", "BB_ESCAPE_AWS", "AKIAQ7XBV2MNR4TWZ5YD"),
    (
        "anthropic-key",
        "BB_ESCAPE_ANTHROPIC",
        "sk-ant-api03-Tq7Zr2Lx9Vb4Nm8Kc1Hs5Wd3Fg6Jy0Pe",
    ),
    (
        "github-token",
        "BB_ESCAPE_GITHUB",
        "ghp_R4nd0mGhT0kenZx8Qw2Lp9Xz4Rk8Vn3Jt6",
    ),
    (
        "generic-secret",
        "BB_ESCAPE_GENERIC",
        "Gn7pQ2xW9zK4vR8mT3bY6cL1",
    ),
];

pub const WAIT_SCRIPT: &str =
    "run:touch /tmp/bb-escape-ready; while [ ! -e /tmp/bb-escape-done ]; do sleep 0.2; done";

/// A bottle launched by `bot-bottle start --headless`, its agent waiting for the suite.
pub struct Launch {
    pub child: Child,
    pub stderr: PathBuf,
    pub identity: String,
    pub agent: String,
    pub sidecar: String,
    pub egress_net: String,
    pub internal_net: String,
    pub state_dir: PathBuf,
}

impl Launch {
    pub fn ip_on(&self, container: &str, network: &str) -> String {
        docker_try(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            container,
        ])
        .unwrap_or_default()
    }
}

pub struct World {
    /// Holds the temporary BOT_BOTTLE_HOME, certificates and keys.
    pub _fixture: Fixture,
    pub a: Launch,
    pub b: Launch,
    pub upstream: String,
    pub upstream_ip: String,
    pub git: String,
    pub resolver: String,
    pub resolver_ip: String,
    pub canary: String,
    pub listener: TcpListener,
    pub loopback_dns: (UdpSocket, TcpListener),
}

impl World {
    pub fn new(name: &str, runtime: &str) -> Result<World, String> {
        let f = Fixture::new();
        let certs = f.path("certs");
        std::fs::create_dir_all(&certs).map_err(|e| e.to_string())?;
        let ca = bb_testkit::test_certs(&certs, &["api.test"]);
        let loopback_dns = (
            UdpSocket::bind("127.0.0.1:53").map_err(|e| {
                format!("cannot listen on the host's 127.0.0.1:53 (run as root): {e}")
            })?,
            TcpListener::bind("127.0.0.1:53")
                .map_err(|e| format!("cannot listen on 127.0.0.1:53/tcp: {e}"))?,
        );
        loopback_dns
            .0
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        loopback_dns
            .1
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let listener = TcpListener::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;

        // The git upstream first: its host key goes into the bottle.
        let git = format!("bot-bottle-{name}-git");
        let git_net = format!("bot-bottle-{name}-gitnet");
        let host_key =
            bb_testkit::start_git_upstream(&f, &git, &git_net, &f.path("user/.ssh/deploy"));

        write_manifest(&f, name, &host_key);
        let mut env: Vec<(String, String)> = vec![
            (
                "BOT_BOTTLE_IMAGE".into(),
                bb_testkit::TEST_AGENT_IMAGE.into(),
            ),
            (
                "BOT_BOTTLE_BASE_IMAGE".into(),
                "bot-bottle-base:local".into(),
            ),
            ("BOT_BOTTLE_EXTRA_ROOTS".into(), ca.display().to_string()),
            ("BB_ESCAPE_API".into(), API_TOKEN.into()),
        ];
        env.extend(
            PLANTED
                .iter()
                .map(|(_, var, value)| (var.to_string(), value.to_string())),
        );
        let a = launch(&f, name, runtime, &env)?;
        let b = launch(&f, &format!("{name}-twin"), runtime, &env)?;

        let upstream = format!("bot-bottle-{name}-upstream");
        docker_try(&[
            "run",
            "-d",
            "--name",
            &upstream,
            "--label",
            "bot-bottle.test=escape",
            "--network",
            &a.egress_net,
            "--network-alias",
            "api.test",
            "-e",
            "FIXTURE_TLS_CERT=/certs/leaf.pem",
            "-e",
            "FIXTURE_TLS_KEY=/certs/leaf.key",
            "-v",
            &format!("{}:/certs:ro", certs.display()),
            "bot-bottle-fixture:latest",
        ])?;
        docker_try(&[
            "network",
            "connect",
            "--alias",
            "git.test",
            &a.egress_net,
            &git,
        ])?;
        let resolver = format!("bot-bottle-{name}-resolver");
        docker_try(&[
            "run",
            "-d",
            "--name",
            &resolver,
            "--label",
            "bot-bottle.test=escape",
            "--network",
            &a.egress_net,
            "bot-bottle-base:local",
            "sh",
            "-c",
            "touch /tmp/udp /tmp/tcp; (nc -k -u -l 53 >>/tmp/udp &); exec nc -k -l 53 >>/tmp/tcp",
        ])?;
        let upstream_ip = a.ip_on(&upstream, &a.egress_net);
        let resolver_ip = a.ip_on(&resolver, &a.egress_net);
        let canary = stdout(&exec(&a.agent, "node", "printf %s \"$BOT_BOTTLE_CANARY\""));
        if !canary.starts_with("bbcanary_") {
            return Err(format!("the agent has no canary: {canary:?}"));
        }
        // The leaked `.env` the attacker finds.
        let dotenv: String = PLANTED
            .iter()
            .map(|(label, _, value)| {
                format!("{}={value}\n", label.to_uppercase().replace('-', "_"))
            })
            .collect();
        let planted = exec(
            &a.agent,
            "node",
            &format!("printf '%s' '{dotenv}' > ~/.env.leaked"),
        );
        if !planted.status.success() {
            return Err(format!("planting the secrets: {}", stderr(&planted)));
        }
        // Wait until the upstream answers through the proxy.
        wait_for(Duration::from_secs(30), || {
            exec(&a.agent, "node", "curl -fsS -m 3 https://api.test/ready")
                .status
                .success()
                .then_some(())
        })
        .ok_or("api.test never answered through the proxy")?;
        Ok(World {
            _fixture: f,
            a,
            b,
            upstream,
            upstream_ip,
            git,
            resolver,
            resolver_ip,
            canary,
            listener,
            loopback_dns,
        })
    }

    /// Every planted secret and the canary: (label, value).
    pub fn secrets(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = PLANTED
            .iter()
            .map(|(l, _, v)| (l.to_string(), v.to_string()))
            .collect();
        all.push(("canary".into(), self.canary.clone()));
        all
    }

    /// What the HTTPS upstream received: one JSON object per request.
    pub fn upstream_requests(&self) -> String {
        stdout(&exec(&self.upstream, "root", "cat /tmp/requests.jsonl"))
    }

    /// Stops both agents (their launch then tears down) and checks that nothing is left.
    pub fn finish(mut self) -> Result<(), String> {
        let mut problems = Vec::new();
        // The fixtures first: their endpoints on the egress network would keep it.
        let _ = docker_try(&["rm", "-f", "-v", &self.upstream, &self.git, &self.resolver]);
        for l in [&mut self.a, &mut self.b] {
            let _ = exec(&l.agent, "root", "touch /tmp/bb-escape-done");
            match wait_child(&mut l.child, Duration::from_secs(120)) {
                Some(status) if status.success() => {}
                other => problems.push(format!(
                    "{}: start exited {other:?}: {}",
                    l.identity,
                    std::fs::read_to_string(&l.stderr).unwrap_or_default()
                )),
            }
            let left = docker_try(&["ps", "-a", "--format", "{{.Names}}"]).unwrap_or_default();
            if left.lines().any(|n| n.contains(&l.identity)) {
                problems.push(format!("{}: containers left", l.identity));
            }
            let nets = docker_try(&["network", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
            if nets.lines().any(|n| n.contains(&l.identity)) {
                problems.push(format!("{}: networks left", l.identity));
            }
            if l.state_dir.exists() {
                problems.push(format!("{}: state dir kept after a clean exit", l.identity));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

pub fn write_manifest(f: &Fixture, name: &str, host_key: &str) {
    let mut routes = String::from(
        "    - host: api.test\n      private: true\n      auth: {scheme: Bearer, token_ref: BB_ESCAPE_API}\n",
    );
    for (label, var, _) in PLANTED {
        routes.push_str(&format!(
            "    - host: {label}.decoy.test\n      auth: {{scheme: Bearer, token_ref: {var}}}\n"
        ));
    }
    let front = format!(
        "egress:\n  routes:\n{routes}git-gate:\n  user: {{name: Escape Bot, email: escape@example.org}}\n  repos:\n    shop:\n      url: ssh://git@git.test:2222/srv/git/shop.git\n      key: {{provider: static, path: ~/.ssh/deploy}}\n      host_key: \"{host_key}\"\n"
    );
    f.bottle("escape", &front);
    for agent in [name.to_string(), format!("{name}-twin")] {
        f.agent(
            &agent,
            "bottle: escape\n",
            "You are the escape suite's agent.",
        );
    }
}

pub fn launch(
    f: &Fixture,
    agent: &str,
    runtime: &str,
    env: &[(String, String)],
) -> Result<Launch, String> {
    let stderr_path = f.path(&format!("{agent}.stderr"));
    let err_file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut child = f
        .spawnable("bot-bottle")
        .args([
            "start",
            agent,
            "--headless",
            "--prompt",
            WAIT_SCRIPT,
            "--runtime",
            runtime,
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .map_err(|e| e.to_string())?;
    let slug = bb_plan::planner::identity_slug(agent);
    let prefix = format!("bot-bottle-{slug}-");
    let found = wait_for(Duration::from_secs(240), || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(format!(
                "start {agent} exited {status} before the agent was ready: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )));
        }
        let names = docker_try(&["ps", "--format", "{{.Names}}"]).ok()?;
        let agent_c = names.lines().find(|n| {
            n.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("-agent"))
                .is_some_and(|id| !id.contains('-'))
        })?;
        exec(agent_c, "node", "test -e /tmp/bb-escape-ready")
            .status
            .success()
            .then(|| Ok(agent_c.to_string()))
    });
    let agent_c = match found {
        Some(Ok(name)) => name,
        Some(Err(why)) => return Err(why),
        None => {
            let _ = child.kill();
            return Err(format!("{agent}: the agent was not ready within 240 s"));
        }
    };
    let identity = agent_c
        .strip_prefix("bot-bottle-")
        .and_then(|s| s.strip_suffix("-agent"))
        .unwrap_or_default()
        .to_string();
    Ok(Launch {
        child,
        stderr: stderr_path,
        sidecar: format!("bot-bottle-{identity}-sidecar"),
        egress_net: format!("bot-bottle-{identity}-egress"),
        internal_net: format!("bot-bottle-{identity}-internal"),
        state_dir: f.home().join("state").join(&identity),
        agent: agent_c,
        identity,
    })
}
