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

/// The provider's API key (`api.anthropic.com` is the upstream fixture here).
pub const PROVIDER_TOKEN: &str = "bbesc-provider-Hq3Xw8Zr1Lm6Tn2Vb5";

/// The names the HTTPS upstream answers to (its certificate covers them all).
pub const UPSTREAM_NAMES: &[&str] = &["api.test", "narrow.test", "ssrf.test", "api.anthropic.com"];

/// The bottles' limits (`limits:` of the escape bottle).
pub const PROCESS_LIMIT: u32 = 512;
pub const MEMORY_LIMIT_MIB: u64 = 1024;

/// A DNS server that answers nothing and appends every query it receives (UDP and TCP, raw)
/// to /tmp/udp and /tmp/tcp.
pub const RECORDING_RESOLVER: &str = r#"
import socket, threading
open("/tmp/udp", "ab").close(); open("/tmp/tcp", "ab").close()
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 53)); s.listen(16)
    while True:
        c, _ = s.accept(); c.settimeout(2)
        try:
            data = c.recv(65536)
        except OSError:
            data = b""
        open("/tmp/tcp", "ab").write(data + b"\n"); c.close()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
while True:
    data, _ = u.recvfrom(65536)
    open("/tmp/udp", "ab").write(data + b"\n")
"#;

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
        ip_of(container, network)
    }
}

pub struct World {
    /// Holds the temporary BOT_BOTTLE_HOME, certificates and keys.
    pub fixture: Fixture,
    pub a: Launch,
    pub b: Launch,
    pub upstream: String,
    pub upstream_ip: String,
    pub git: String,
    pub resolver: String,
    /// The network the sidecars reach the recording resolver on.
    pub dns_net: String,
    /// Bottle B was used up by the resource cases (under gVisor a fork bomb stops its sandbox).
    pub b_used_up: std::cell::Cell<bool>,
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
        let ca = bb_testkit::test_certs(&certs, UPSTREAM_NAMES);
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
        // The recording resolver, before the launch: both sidecars resolve through it (their
        // engine's DNS forwards there), so any name a sidecar looks up is seen.
        let resolver = format!("bot-bottle-{name}-resolver");
        let dns_net = format!("bot-bottle-{name}-dnsnet");
        docker_try(&[
            "network",
            "create",
            "--label",
            "bot-bottle.test=escape",
            &dns_net,
        ])?;
        docker_try(&[
            "run",
            "-d",
            "--name",
            &resolver,
            "--label",
            "bot-bottle.test=escape",
            "--network",
            &dns_net,
            "--entrypoint",
            "python3",
            "bot-bottle-fixture:latest",
            "-u",
            "-c",
            RECORDING_RESOLVER,
        ])?;
        let sidecar_dns = ip_of(&resolver, &dns_net);

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
            ("BOT_BOTTLE_SIDECAR_EXTRA_NETWORK".into(), dns_net.clone()),
            ("BOT_BOTTLE_SIDECAR_DNS".into(), sidecar_dns),
            ("BB_ESCAPE_API".into(), API_TOKEN.into()),
            ("BB_ESCAPE_PROVIDER".into(), PROVIDER_TOKEN.into()),
        ];
        env.extend(
            PLANTED
                .iter()
                .map(|(_, var, value)| (var.to_string(), value.to_string())),
        );
        let a = launch(&f, name, runtime, &env)?;
        let b = launch(&f, &format!("{name}-twin"), runtime, &env)?;

        let upstream = format!("bot-bottle-{name}-upstream");
        let mut run = vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            upstream.clone(),
            "--label".into(),
            "bot-bottle.test=escape".into(),
            "--network".into(),
            a.egress_net.clone(),
        ];
        for alias in UPSTREAM_NAMES {
            run.extend(["--network-alias".into(), alias.to_string()]);
        }
        run.extend([
            "-e".into(),
            "FIXTURE_TLS_CERT=/certs/leaf.pem".into(),
            "-e".into(),
            "FIXTURE_TLS_KEY=/certs/leaf.key".into(),
            "-v".into(),
            format!("{}:/certs:ro", certs.display()),
            "bot-bottle-fixture:latest".into(),
        ]);
        docker_try(&run.iter().map(String::as_str).collect::<Vec<_>>())?;
        docker_try(&[
            "network",
            "connect",
            "--alias",
            "git.test",
            &a.egress_net,
            &git,
        ])?;
        docker_try(&["network", "connect", &a.egress_net, &resolver])?;
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
            fixture: f,
            a,
            b,
            upstream,
            upstream_ip,
            git,
            resolver,
            dns_net,
            b_used_up: std::cell::Cell::new(false),
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
        let _ = docker_try(&["rm", "-f", "-v", &self.upstream, &self.git]);
        let _ = docker_try(&[
            "network",
            "disconnect",
            "-f",
            &self.a.egress_net,
            &self.resolver,
        ]);
        let used_up_id = self.b_used_up.get().then(|| self.b.identity.clone());
        for l in [&mut self.a, &mut self.b] {
            let used_up = used_up_id.as_deref() == Some(l.identity.as_str());
            let _ = exec(&l.agent, "root", "touch /tmp/bb-escape-done");
            match wait_child(&mut l.child, Duration::from_secs(120)) {
                Some(status) if status.success() => {}
                Some(_) if used_up => {}
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
            let volumes =
                docker_try(&["volume", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
            if !used_up && volumes.lines().any(|n| n.contains(&l.identity)) {
                problems.push(format!(
                    "{}: home volume left after a clean exit",
                    l.identity
                ));
            }
            if l.state_dir.exists() && !used_up {
                problems.push(format!("{}: state dir kept after a clean exit", l.identity));
            }
        }
        let _ = docker_try(&["rm", "-f", "-v", &self.resolver]);
        let _ = docker_try(&["network", "rm", &self.dns_net]);
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
    // `matches` on a route: its ambiguous requests are refused.
    routes.push_str("    - host: narrow.test\n      private: true\n      matches: [{paths: [{type: prefix, value: /public/}], methods: [GET]}]\n");
    // Not `private`: it resolves to the upstream's private address, which the guard refuses.
    routes.push_str("    - host: ssrf.test\n");
    // The provider's host is the upstream here (`private` carries over to the provider route).
    routes.push_str("    - host: api.anthropic.com\n      private: true\n");
    let front = format!(
        "agent_provider: {{template: claude, api_key: BB_ESCAPE_PROVIDER}}\nlimits: {{processes: {PROCESS_LIMIT}, memory: {MEMORY_LIMIT_MIB}m}}\negress:\n  routes:\n{routes}git-gate:\n  user: {{name: Escape Bot, email: escape@example.org}}\n  repos:\n    shop:\n      url: ssh://git@git.test:2222/srv/git/shop.git\n      key: {{provider: static, path: ~/.ssh/deploy}}\n      host_key: \"{host_key}\"\n"
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

/// The address of `container` on `network`.
pub fn ip_of(container: &str, network: &str) -> String {
    docker_try(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        container,
    ])
    .unwrap_or_default()
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
