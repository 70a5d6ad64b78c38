//! A bottle on another engine. `DOCKER_HOST` names a second, separate dockerd (Debian's, in a
//! container of the local engine: `scripts/images engine`), whose filesystem is not the
//! launcher's: a bottle that bind-mounted a file of the launcher's would find nothing there.
//! Launched headless on it, the bottle runs its agent, its proxy intercepts with the bottle's
//! CA, injects the route's token and refuses a host without a route; while it runs, neither
//! container has a bind mount and the gate's agent holds the repo's key read from a file on the
//! launcher; nothing is left on either engine afterwards.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bb_testkit::{
    DockerCleanup, Fixture, require_images, simple_bottle, test_certs, text, unique_name, wait_for,
};

const API_TOKEN: &str = "remote-engine-token-8f3a1c";

/// The second engine: a container of the local engine, its socket in a folder of the test's.
/// Removed (with its storage volume) when dropped, also when the test fails.
struct Engine {
    container: String,
    _socket_dir: tempfile::TempDir,
    host: String,
}

impl Engine {
    fn start(name: &str) -> Engine {
        let status = Command::new(bb_testkit::repo_root().join("scripts/images"))
            .arg("engine")
            .status()
            .expect("running scripts/images engine");
        assert!(status.success(), "scripts/images engine failed");
        let socket_dir = tempfile::tempdir().unwrap();
        let container = format!("bot-bottle-engine-{name}");
        let engine = Engine {
            host: format!("unix://{}/docker.sock", socket_dir.path().display()),
            container,
            _socket_dir: socket_dir,
        };
        engine.run_container(engine_socket_mount(engine._socket_dir.path()));
        let ready = wait_for(Duration::from_secs(60), || {
            engine
                .docker(&["info", "--format", "{{.ServerVersion}}"])
                .status
                .success()
                .then_some(())
        });
        if ready.is_none() {
            let logs = Command::new("docker")
                .args(["logs", "--tail", "20", &engine.container])
                .output()
                .unwrap();
            panic!("the second engine did not start: {}", text(&logs).1);
        }
        engine
    }

    /// dockerd needs most capabilities, its own cgroups and /dev/fuse. `--privileged` asks for
    /// every capability, which an engine whose own bounding set lacks one refuses (this
    /// machine's lacks CAP_SYS_RESOURCE): then the same grants, named one by one.
    fn run_container(&self, socket: String) {
        let common = [
            "--label",
            "bot-bottle.test=remote-engine",
            "-v",
            "/var/lib/docker",
            "-v",
            socket.as_str(),
        ];
        let args = [
            "-H",
            "unix:///run/bb-engine/docker.sock",
            "--storage-driver",
            "overlay2",
        ];
        let privileged = Command::new("docker")
            .args(["run", "-d", "--name", &self.container, "--privileged"])
            .args(common)
            .arg(bb_images::targets::ENGINE_TAG)
            .args(args)
            .output()
            .unwrap();
        if privileged.status.success() {
            return;
        }
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.container])
            .output();
        let named = Command::new("docker")
            .args(["run", "-d", "--name", &self.container])
            .args(["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"])
            .args([
                "--security-opt",
                "seccomp=unconfined",
                "--security-opt",
                "apparmor=unconfined",
            ])
            .args([
                "-v",
                "/sys/fs/cgroup:/sys/fs/cgroup",
                "--device",
                "/dev/fuse",
            ])
            .args(common)
            .arg(bb_images::targets::ENGINE_TAG)
            .args(args)
            .output()
            .unwrap();
        assert!(
            named.status.success(),
            "starting the second engine: {} / {}",
            text(&privileged).1,
            text(&named).1
        );
    }

    /// `docker ARGS` against the second engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .unwrap()
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out).1);
        text(&out).0.trim().to_string()
    }

    /// Copies images of the local engine into this one (there is no registry).
    fn load(&self, images: &[&str]) {
        let mut save = Command::new("docker")
            .arg("save")
            .args(images)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(["load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save {images:?}");
        assert!(load.status.success(), "docker load: {}", text(&load).1);
    }

    /// Every container, network and volume of this engine whose name starts with `prefix`.
    fn objects(&self, prefix: &str) -> Vec<String> {
        let lists: [&[&str]; 3] = [
            &["ps", "-a", "--format", "{{.Names}}"],
            &["network", "ls", "--format", "{{.Name}}"],
            &["volume", "ls", "--format", "{{.Name}}"],
        ];
        lists
            .iter()
            .flat_map(|args| {
                self.docker_ok(args)
                    .lines()
                    .filter(|l| l.starts_with(prefix))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.container])
            .output();
    }
}

fn engine_socket_mount(dir: &Path) -> String {
    format!("{}:/run/bb-engine", dir.display())
}

/// The upstream of the egress case, on a network of the second engine the sidecar joins: the
/// test's leaf certificate copied in through the engine (no bind mount there either).
fn start_upstream(engine: &Engine, name: &str, certs: &Path) -> (String, String) {
    let network = format!("bot-bottle-{name}-upstream");
    engine.docker_ok(&[
        "network",
        "create",
        "--label",
        "bot-bottle.test=remote-engine",
        &network,
    ]);
    let fixture = format!("bot-bottle-{name}-fixture");
    engine.docker_ok(&[
        "create",
        "--name",
        &fixture,
        "--network",
        &network,
        "-e",
        "FIXTURE_TLS_CERT=/certs/leaf.pem",
        "-e",
        "FIXTURE_TLS_KEY=/certs/leaf.key",
        "bot-bottle-fixture:latest",
    ]);
    engine.docker_ok(&[
        "cp",
        &certs.display().to_string(),
        &format!("{fixture}:/certs"),
    ]);
    engine.docker_ok(&["start", &fixture]);
    let ip = engine.docker_ok(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &fixture,
    ]);
    (network, ip)
}

const BOTTLE: &str = "env:
  GREETING: hello from the other engine
git-gate:
  user: {name: Test Bot, email: bot@example.org}
  repos:
    shop:
      url: git@git.example.org:team/shop.git
      key: {provider: static, path: ~/.ssh/deploy}
      host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey
egress:
  routes:
    - host: api.test
      private: true
      auth: {scheme: Bearer, token_ref: BB_TEST_API_TOKEN}
";

/// What the agent runs: the bottle's own checks, printed for the test to read. Each mount of
/// both containers is listed from the engine's side afterwards.
const PROMPT: &str = "run: echo \"greeting=$GREETING\"; \
curl -fsS -m 10 -H 'Authorization: Bearer agent-made-this-up' https://api.test/whoami; echo; \
curl -sS -m 10 https://evil.test/ 2>&1 | tail -1; \
for i in $(seq 300); do [ -e /tmp/checked ] && exit 5; sleep 0.2; done; exit 3";

/// While the bottle runs: the mounts of both containers and the keys the gate's agents hold,
/// read on the other engine; then the agent is told to finish.
fn inspect_running(engine: &Engine, name: &str) -> (String, String) {
    let filter = format!("label=bot-bottle.agent={name}");
    let containers = bb_testkit::wait_for(Duration::from_secs(240), || {
        let names = engine.docker_ok(&["ps", "--filter", &filter, "--format", "{{.Names}}"]);
        let names: Vec<String> = names.lines().map(str::to_string).collect();
        (names.len() == 2).then_some(names)
    })
    .expect("the bottle's two containers run on the other engine");
    let mut mounts = String::new();
    for container in &containers {
        mounts += &engine.docker_ok(&["inspect", "--format", "{{json .Mounts}}", container]);
    }
    let sidecar = containers.iter().find(|c| c.ends_with("-sidecar")).unwrap();
    let agent = containers.iter().find(|c| c.ends_with("-agent")).unwrap();
    let keys = format!(
        "for s in {}/ssh/agent-*.sock; do SSH_AUTH_SOCK=$s ssh-add -L; done",
        bb_contract::layout::sidecar::GATE_ROOT
    );
    let held = bb_testkit::wait_for(Duration::from_secs(30), || {
        let out = engine.docker(&["exec", sidecar, "sh", "-c", &keys]);
        Some(text(&out).0).filter(|t| t.contains("ssh-ed25519"))
    })
    .unwrap_or_default();
    engine.docker_ok(&["exec", agent, "touch", "/tmp/checked"]);
    (mounts, held)
}

#[test]
fn a_bottle_on_another_engine_runs_filters_and_leaves_nothing() {
    require_images();
    let name = unique_name("re");
    let local = DockerCleanup::new(&name);
    let engine = Engine::start(&name);
    engine.load(&[
        "bot-bottle-base:local",
        bb_testkit::TEST_AGENT_IMAGE,
        bb_testkit::SIDECAR_IMAGE,
        "bot-bottle-fixture:latest",
    ]);

    let f = Fixture::new();
    let key = f.path("user/.ssh/deploy");
    bb_testkit::ssh_keygen(&key);
    let env = simple_bottle(&f, &name, BOTTLE);
    let certs = tempfile::tempdir().unwrap();
    let ca = test_certs(certs.path(), &["api.test"]);
    let (network, upstream_ip) = start_upstream(&engine, &name, certs.path());

    let launch = bb_testkit::Background::new(
        f.spawnable("bot-bottle")
            .args([
                "start",
                &name,
                "--headless",
                "--prompt",
                PROMPT,
                "--runtime",
                "runc",
            ])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DOCKER_HOST", &engine.host)
            .env("BB_TEST_API_TOKEN", API_TOKEN)
            .env("BOT_BOTTLE_EXTRA_ROOTS", &ca)
            .env("BOT_BOTTLE_SIDECAR_EXTRA_NETWORK", &network)
            .env("BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE", &upstream_ip)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (mounts, held) = inspect_running(&engine, &name);
    let out = launch.wait_with_output();
    let (stdout, stderr) = text(&out);
    assert!(
        !mounts.contains("\"bind\""),
        "a bind mount on the other engine: {mounts}"
    );
    assert!(
        mounts.contains("\"volume\""),
        "control: the mounts were read: {mounts}"
    );
    let public = std::fs::read_to_string(f.path("user/.ssh/deploy.pub")).unwrap();
    let public_key = public.split_whitespace().nth(1).unwrap();
    assert!(
        held.contains(public_key),
        "the gate's agent holds the key file's key: {held}"
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "the launch on the other engine (the agent's status): {stderr}"
    );
    assert!(
        stdout.contains("greeting=hello from the other engine"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok"),
        "the routed request was answered: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("CONNECT tunnel failed, response 403"),
        "a host without a route is refused: {stdout}"
    );

    let fixture = format!("bot-bottle-{name}-fixture");
    let seen = engine.docker_ok(&["exec", &fixture, "cat", "/tmp/requests.jsonl"]);
    assert!(
        seen.contains(&format!("Bearer {API_TOKEN}")),
        "the upstream saw the route's token, injected by the sidecar: {seen}"
    );
    assert!(!seen.contains("agent-made-this-up"), "{seen}");
    engine.docker_ok(&["rm", "-f", "-v", &fixture]);
    engine.docker_ok(&["network", "rm", &network]);

    // Its state is kept (a non-zero exit); commands that reach another engine leave it alone.
    let state = std::fs::read_dir(f.home().join("state"))
        .unwrap()
        .flatten()
        .next()
        .expect("the state is kept")
        .path();
    let identity = state.file_name().unwrap().to_str().unwrap().to_string();
    let run = |args: &[&str], host: Option<&str>| {
        let mut cmd = f.cmd("bot-bottle");
        cmd.args(args);
        if let Some(host) = host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd.timeout(Duration::from_secs(120)).output().unwrap()
    };
    let stopped = run(&["stop", &identity], None);
    assert_eq!(stopped.status.code(), Some(2), "{}", text(&stopped).1);
    assert!(
        text(&stopped)
            .1
            .contains(&format!("DOCKER_HOST={}", engine.host)),
        "names the engine to reach: {}",
        text(&stopped).1
    );
    let cleaned = run(&["cleanup", "--yes"], Some(&engine.host));
    assert!(cleaned.status.success(), "{}", text(&cleaned).1);
    assert!(
        !state.exists(),
        "cleanup through the bottle's engine removes its state"
    );

    let prefix = format!("bot-bottle-{name}-");
    assert_eq!(
        engine.objects(&prefix),
        Vec::<String>::new(),
        "left on the other engine"
    );
    let anonymous = engine.docker_ok(&["volume", "ls", "-q"]);
    assert_eq!(anonymous, "", "no volume is left on the other engine");
    assert!(local.containers().is_empty(), "{:?}", local.containers());
    assert!(local.networks().is_empty(), "{:?}", local.networks());
    assert!(local.volumes().is_empty(), "{:?}", local.volumes());
}
