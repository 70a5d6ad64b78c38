//! Fixtures for bot-bottle tests: a throwaway bot-bottle home, user home and working directory,
//! the spec's example manifest, and planted secret values that must never be written anywhere.

pub mod background;
pub mod corpus;
pub mod kubectl;
pub mod model_api;
pub mod tmux;
pub mod tokens;

pub use background::Background;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["home/bottles", "home/agents", "repo", "user/.ssh"] {
            std::fs::create_dir_all(fixture.path(sub)).unwrap();
        }
        fixture
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn bottle(&self, name: &str, front: &str) -> PathBuf {
        self.write(
            &format!("home/bottles/{name}.md"),
            &format!("---\n{front}---\nDocs.\n"),
        )
    }

    pub fn agent(&self, name: &str, front: &str, body: &str) -> PathBuf {
        self.write(
            &format!("home/agents/{name}.md"),
            &format!("---\n{front}---\n{body}\n"),
        )
    }

    /// A command with a clean environment pointing at this fixture.
    pub fn cmd(&self, bin: &str) -> Command {
        let mut cmd = Command::new(bin_path(bin));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("user"))
            .env("BOT_BOTTLE_HOME", self.home())
            .env("BOT_BOTTLE_SIDECAR_IMAGE", SIDECAR_IMAGE)
            .current_dir(self.path("repo"));
        cmd
    }

    /// `sh -c LINE` with the same environment as [`Fixture::cmd`].
    pub fn shell(&self, line: &str) -> std::process::Command {
        let mut cmd = self.process(Path::new("sh"));
        cmd.args(["-c", line]);
        cmd
    }

    /// A workspace binary as a `std::process::Command` (to spawn it in the background), with
    /// the same environment as [`Fixture::cmd`].
    pub fn spawnable(&self, bin: &str) -> std::process::Command {
        self.process(&bin_path(bin))
    }

    fn process(&self, program: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("user"))
            .env("BOT_BOTTLE_HOME", self.home())
            .env("BOT_BOTTLE_SIDECAR_IMAGE", SIDECAR_IMAGE)
            .current_dir(self.path("repo"));
        cmd
    }

    /// Every file under the state folder.
    pub fn state_files(&self) -> Vec<PathBuf> {
        walk(&self.home().join("state"))
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}

/// A workspace binary: assert_cmd only sees this package's own, so find the target dir.
pub fn bin_path(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The spec's example manifest (manifest.md), with the key file and skill folder it needs.
pub fn spec_example(f: &Fixture) {
    f.bottle(
        "claude",
        "agent_provider:\n  template: claude\n  auth_token: CLAUDE_OAUTH\n",
    );
    f.bottle(
        "shop",
        r#"extends: claude
env:
  RUST_LOG: info
  CARGO_REGISTRY_TOKEN: "${CARGO_REGISTRY_TOKEN}"
  DB_PASSWORD: "?database password"
git-gate:
  user: {name: Shop Bot, email: bot@example.org}
  repos:
    shop:
      url: ssh://git@git.example.org:2222/team/shop.git
      key: {provider: static, path: ~/.ssh/shop_deploy}
      host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
egress:
  routes:
    - host: registry.example.org
    - host: static.example.org
    - host: git.example.org
      auth: {scheme: token, token_ref: GITEA_TOKEN}
      matches:
        - paths: [{type: prefix, value: /api/v1/repos/team/}]
          methods: [GET, POST]
"#,
    );
    f.write(
        "repo/.bot-bottle/agents/fixer.md",
        "---\nbottle: shop\nskills: [code-review]\n---\nYou fix failing tests. Run the whole suite before you push.\n",
    );
    f.write("user/.ssh/shop_deploy", "not a real key\n");
    std::fs::create_dir_all(f.path("user/.claude/skills/code-review")).unwrap();
}

/// Host variables the spec example needs, with values that must never be written anywhere.
pub const PLANTED: &[(&str, &str)] = &[
    ("CLAUDE_OAUTH", "planted-oauth-Zq8uXf3kLm"),
    ("CARGO_REGISTRY_TOKEN", "planted-cargo-Pw7rT2vNs9"),
    ("GITEA_TOKEN", "planted-gitea-Hy4bC6xJd1"),
];

/// The repository root (for scripts/images).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Panics with a clear message when the Docker engine is not reachable: these tests need it
/// and must fail, not skip, without it.
pub fn require_docker() {
    let ok = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs a running Docker engine (`docker version` failed)"
    );
}

static IMAGES: std::sync::Once = std::sync::Once::new();

/// The local base, test agent, sidecar and fixture images (built once per test process; scripts/images
/// caches by content and serialises concurrent builds).
pub fn require_images() {
    require_docker();
    IMAGES.call_once(|| {
        let status = std::process::Command::new(repo_root().join("scripts/images"))
            .args(["test-agent", "sidecar", "fixture"])
            .status()
            .expect("running scripts/images");
        assert!(status.success(), "scripts/images test-agent sidecar failed");
    });
}

/// The sidecar image `scripts/images` builds from release binaries: what the fixture's
/// commands launch (a test that proves the default, content-tagged image removes the variable).
pub const SIDECAR_IMAGE: &str = "bot-bottle-sidecar:latest";

/// The test agent image, run by plans as the provider image.
pub const TEST_AGENT_IMAGE: &str = "bot-bottle-test-agent:latest";

/// A unique agent name for one test, so that cleanup can find everything the test made.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{:05x}{}",
        (nanos ^ std::process::id()) & 0xfffff,
        std::process::id() % 100
    )
}

/// Removes every container and network whose name starts with `bot-bottle-<slug>-`, when
/// dropped: also when the test fails.
pub struct DockerCleanup {
    pub slug: String,
}

impl DockerCleanup {
    pub fn new(slug: &str) -> Self {
        DockerCleanup {
            slug: slug.to_string(),
        }
    }

    /// Containers whose name starts with the slug's prefix.
    pub fn containers(&self) -> Vec<String> {
        list(&["ps", "-a", "--format", "{{.Names}}"], &self.prefix())
    }

    /// Networks whose name starts with the slug's prefix.
    pub fn networks(&self) -> Vec<String> {
        list(&["network", "ls", "--format", "{{.Name}}"], &self.prefix())
    }

    /// Volumes (bottles' homes) whose name starts with the slug's prefix.
    pub fn volumes(&self) -> Vec<String> {
        list(&["volume", "ls", "--format", "{{.Name}}"], &self.prefix())
    }

    fn prefix(&self) -> String {
        format!("bot-bottle-{}-", self.slug)
    }
}

fn list(args: &[&str], prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let containers = self.containers();
        if !containers.is_empty() {
            // `-v`: also the anonymous volumes (the git gate's mirrors).
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&containers)
                .output();
        }
        let networks = self.networks();
        if !networks.is_empty() {
            let _ = std::process::Command::new("docker")
                .arg("network")
                .arg("rm")
                .args(&networks)
                .output();
        }
        let images = list(
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
            &self.prefix(),
        );
        if !images.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f"])
                .args(&images)
                .output();
        }
        let volumes = self.volumes();
        if !volumes.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["volume", "rm", "-f"])
                .args(&volumes)
                .output();
        }
    }
}

/// A minimal bottle and agent named `name` that run the test agent image, with one allowed
/// host; returns the environment a launch needs.
pub fn simple_bottle(f: &Fixture, name: &str, bottle_front: &str) -> Vec<(String, String)> {
    f.bottle(name, bottle_front);
    f.agent(name, &format!("bottle: {name}\n"), "You are a test agent.");
    vec![
        ("BOT_BOTTLE_IMAGE".into(), TEST_AGENT_IMAGE.into()),
        (
            "BOT_BOTTLE_BASE_IMAGE".into(),
            "bot-bottle-base:local".into(),
        ),
    ]
}

/// A shell loop for `bot-bottle-base:local` serving `HTTP/1.1 200` with body `upstream` on port
/// 8080. It reads each request's head before answering (a server that answers first makes
/// well-behaved clients drop the connection), and logs each request line to /tmp/requests.
pub const HTTP_UPSTREAM_SCRIPT: &str = r#"mkfifo /tmp/f; while true; do nc -N -l 8080 </tmp/f | { IFS= read -r line; echo "$line" >>/tmp/requests; while IFS= read -r h && [ "$h" != "$(printf '\r')" ]; do :; done; printf 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream'; } >/tmp/f; done"#;

/// The setup of an sshd-based git upstream in `bot-bottle-base:local`: host keys made at start,
/// user `git` (git-shell) with `/authorized_keys` (mount it), a bare repo
/// `/srv/git/shop.git` with one commit on `main`, sshd on port 2222. sshd logs at `VERBOSE` to
/// stderr, so every connection (`Connection from ...`) and login (`Accepted publickey ...`) is
/// in `docker logs`: tests count them to prove what did or did not reach the upstream.
pub const SSH_UPSTREAM_SETUP: &str = r#"set -e
ssh-keygen -A >/dev/null
useradd -m -s /usr/bin/git-shell git
usermod -p '*' git
install -d -o git -g git -m 700 /home/git/.ssh
install -o git -g git -m 600 /authorized_keys /home/git/.ssh/authorized_keys
mkdir -p /srv/git
git init -q --bare -b main /srv/git/shop.git
t=$(mktemp -d)
git -C "$t" init -q -b main
echo hello > "$t/README"
git -C "$t" add README
git -C "$t" -c user.name=up -c user.email=up@example.org commit -q -m init
git -C "$t" push -q /srv/git/shop.git main
chown -R git:git /srv/git
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -p 2222 -o LogLevel=VERBOSE
"#;

/// Makes an ed25519 key pair at `path` (and `path.pub`) with the host's ssh-keygen; returns the
/// public key line.
pub fn ssh_keygen(path: &Path) -> String {
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "bot-bottle-test",
        "-f",
    ])
    .arg(path);
    succeed(cmd, "ssh-keygen (openssh-client on the host)");
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// Makes a test CA and a leaf for `hosts` (`leaf.pem`, `leaf.key`) in `dir` with the host's
/// openssl; returns the CA certificate's path.
pub fn test_certs(dir: &Path, hosts: &[&str]) -> PathBuf {
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(args).current_dir(dir);
        succeed(cmd, "openssl on the host");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=bot-bottle test upstream CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=upstream",
    ]);
    let sans: Vec<String> = hosts.iter().map(|h| format!("DNS:{h}")).collect();
    std::fs::write(
        dir.join("ext"),
        format!("subjectAltName={}\n", sans.join(",")),
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "1",
        "-extfile",
        "ext",
    ]);
    for file in ["ca.pem", "leaf.pem", "leaf.key"] {
        let mut perms = std::fs::metadata(dir.join(file)).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
        std::fs::set_permissions(dir.join(file), perms).unwrap();
    }
    dir.join("ca.pem")
}

/// Starts the sshd git upstream (`SSH_UPSTREAM_SETUP`) as container `name` on a new network
/// `network`, accepting the public half of `key` (made here with [`ssh_keygen`]); returns the
/// pinned host key line (`ssh-ed25519 AAAA...`) once sshd answers. Both are named so that
/// [`DockerCleanup`] finds them; the test connects the container to a bottle's egress network.
pub fn start_git_upstream(f: &Fixture, name: &str, network: &str, key: &Path) -> String {
    let public = ssh_keygen(key);
    let keys = f.write("authorized_keys", &format!("{public}\n"));
    let docker = |args: &[&str]| {
        let mut cmd = std::process::Command::new("docker");
        cmd.args(args);
        succeed(cmd, "docker")
    };
    docker(&["network", "create", "--label", "bot-bottle.test=1", network]);
    docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "bot-bottle.test=1",
        "--network",
        network,
        "-v",
        &format!("{}:/authorized_keys:ro", keys.display()),
        "bot-bottle-base:local",
        "sh",
        "-c",
        SSH_UPSTREAM_SETUP,
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = std::process::Command::new("docker")
            .args(["exec", name, "sh", "-c"])
            .arg("nc -z 127.0.0.1 2222 && cat /etc/ssh/ssh_host_ed25519_key.pub")
            .output()
            .unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the git upstream's sshd did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs `cmd`, panicking with `what`, the command and its stderr unless it succeeds.
pub fn succeed(mut cmd: std::process::Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `docker exec -u USER CONTAINER sh -c SCRIPT`, whatever its status.
pub fn docker_exec(container: &str, user: &str, script: &str) -> std::process::Output {
    std::process::Command::new("docker")
        .args(["exec", "-u", user, container, "sh", "-c", script])
        .output()
        .expect("running docker exec")
}

/// Both streams of `out`, lossily decoded.
pub fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `docker ARGS`: its trimmed stdout, or the command and docker's message.
pub fn docker_try(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("running docker: {e}"))?;
    let (stdout, stderr) = text(&out);
    if out.status.success() {
        Ok(stdout.trim().to_string())
    } else {
        Err(format!("docker {}: {}", args.join(" "), stderr.trim()))
    }
}

/// `docker ARGS`: its trimmed stdout; panics with the command and docker's message.
pub fn docker_ok(args: &[&str]) -> String {
    docker_try(args).unwrap_or_else(|err| panic!("{err}"))
}

/// Calls `probe` every 200 ms until it returns something or `limit` has passed.
pub fn wait_for<T>(limit: std::time::Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The smallest valid plan as JSON (a claude provider with empty command lines), for unit tests
/// that need a `Plan` and set the parts they test.
pub fn minimal_plan() -> serde_json::Value {
    serde_json::json!({
        "schema": "bot-bottle.plan/v1", "identity": "t-abcde", "created_at": "x",
        "agent": {"name": "t", "source": "/x", "origin": "home", "prompt_file": "/x", "skills": []},
        "bottles": [], "provider": {"template": "claude", "command": [], "bypass_args": [], "resume_args": [],
            "prompt_args": [], "headless_args": [], "startup_args": [], "image": "i",
            "base_image": {"name": "BASE_IMAGE", "value": "b"}, "forward_host_credentials": false},
        "runtime": {"name": "runc", "chosen_by": "flag"},
        "env": {"literal": {}, "literal_file": "/x", "host": [], "prompted": []},
        "egress": {"routes": [], "token_slots": []}, "git_gate": {"user": {}, "repos": []},
        "state_dir": "/"
    })
}
