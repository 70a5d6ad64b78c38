//! The git gate's test rig: an sshd upstream, the gate from the sidecar image and a client
//! from the test agent image on one Docker network, optionally with a recording DNS server
//! that the gate's container uses as its upstream resolver. Needs Docker (fails without it).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bb_testkit::docker_ok;

const LABEL: &str = "bot-bottle.test=gitgate";
const BASE_IMAGE: &str = "bot-bottle-base:local";
const SIDECAR_IMAGE: &str = "bot-bottle-sidecar:latest";
const CLIENT_IMAGE: &str = "bot-bottle-test-agent:latest";
/// A well-formed AWS access key id that is not a real key.
pub const AWS_KEY: &str = "AKIAQ7XBV2MNR4TWZ5YD";
/// The value of a token slot in the gate's environment (a known secret).
pub const TOKEN: &str = "planted-egress-token-Vq93kLz";
/// Matches the test rules file's custom rule.
pub const CUSTOM: &str = "bbtest_k2j4h6g8f0d1s3a5";
/// The gate's mirror of `shop`.
pub const SHOP_MIRROR: &str = "/var/lib/bot-bottle/git-gate/mirrors/shop.git";

const RULES: &str = r#"
title = "gate test rules"
[[rules]]
id = "test-internal-token"
description = "internal token used by the gate test"
regex = '''\b(bbtest_[a-z0-9]{16})\b'''
keywords = ["bbtest_"]
[[rules]]
id = "custom-aws"
description = "the same secrets as a built-in rule: one finding names both"
regex = '''AKIA[A-Z0-9]{16}'''
[[rules]]
id = "go-literal-brace"
description = "Go RE2 reads a brace that starts no repeat as a literal"
regex = '''bbbrace_{[a-z]+}'''
[extend]
useDefault = true
"#;

/// Records every UDP datagram to port 53 in /tmp/udp (never answers).
const RESOLVER: &str = r#"use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 53, Proto => "udp") or die "bind: $!"; open(my $f, ">>", "/tmp/udp") or die; select $f; $| = 1; while (defined $s->recv(my $b, 4096)) { print $f $b, "\n" }"#;

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("running docker")
}

pub struct Run {
    pub ok: bool,
    /// stdout then stderr.
    pub out: String,
    pub stdout: String,
}

impl Run {
    /// The last line of stdout (a `git rev-parse` at the end of a script).
    pub fn last_line(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}", self.out);
        self.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    pub fn expect_ok(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}", self.out);
        self.out
    }
    pub fn expect_fail(self, what: &str) -> String {
        assert!(!self.ok, "{what} should have failed:\n{}", self.out);
        self.out
    }
}

/// What a test's rig has besides the basics.
#[derive(Default)]
pub struct Options {
    /// A recording DNS server, the gate container's upstream resolver (`--dns`).
    pub resolver: bool,
}

/// One test's network and containers, removed on drop (also when the test fails).
pub struct Env {
    run: String,
    net: String,
    pub upstream: String,
    pub gate: String,
    pub client: String,
    pub resolver: Option<String>,
    _tmp: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        let filter = format!("label=bot-bottle.test.run={}", self.run);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let _ = docker(&["network", "rm", &self.net]);
    }
}

pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffffff)
}

/// `TYPE BASE64` of a public key line.
fn key_words(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// repos.json: `shop` (nothing allowed), `free` (the same upstream, everything allowed),
/// `wrongkey` (a host key that is not upstream's) and `vaulted` (shop again, its key from a
/// command: in the gate's environment).
fn config(host_key: &str, wrong_key: &str) -> serde_json::Value {
    let repo = |name: &str, key: &str, allow: bool| {
        serde_json::json!({
            "name": name,
            "url": "ssh://git@upstream:2222/srv/git/shop.git",
            "url_as_written": "ssh://git@upstream:2222/srv/git/shop.git",
            "ssh_user": "git",
            "host": "upstream",
            "port": 2222,
            "path": "/srv/git/shop.git",
            "key_path": "/host/only/key",
            "host_key": key,
            "allow": {"delete": allow, "force_push": allow, "ci_config": allow, "gitleaks_ignore": allow},
        })
    };
    let mut vaulted = repo("vaulted", host_key, false);
    let fields = vaulted.as_object_mut().unwrap();
    fields.remove("key_path");
    fields.insert(
        "key_command".into(),
        serde_json::json!(["vault", "read", "deploy"]),
    );
    fields.insert("key_timeout_secs".into(), serde_json::json!(30));
    serde_json::json!({
        "user": {"name": {"value": "Agent", "from": "bottle:test"}},
        "repos": [
            repo("shop", host_key, false),
            repo("free", host_key, true),
            repo("wrongkey", wrong_key, false),
            vaulted,
        ],
        "rules": "/etc/bot-bottle/git-gate/rules.toml",
    })
}

impl Env {
    pub fn new() -> Env {
        Env::with(Options::default())
    }

    pub fn with(opts: Options) -> Env {
        bb_testkit::require_images();
        let run = unique();
        let tmp = tempfile::tempdir().unwrap();
        let name = |what: &str| format!("bot-bottle-gitgate-test-{run}-{what}");
        let env = Env {
            net: name("net"),
            upstream: name("upstream"),
            gate: name("gate"),
            client: name("client"),
            resolver: opts.resolver.then(|| name("resolver")),
            run: run.clone(),
            _tmp: tmp,
        };
        docker_ok(&[
            "network",
            "create",
            "--label",
            LABEL,
            "--label",
            &env.run_label(),
            &env.net,
        ]);
        let host_key = env.start_upstream();
        let dns = env.resolver.clone().map(|r| env.start_resolver(&r));
        env.start_gate(&host_key, dns.as_deref());
        env.start_client();
        env
    }

    fn run_label(&self) -> String {
        format!("bot-bottle.test.run={}", self.run)
    }

    /// `docker run -d` on the test network with the test's labels.
    fn run_container(&self, name: &str, extra: &[&str]) {
        self.run_container_env(name, extra, &[]);
    }

    fn run_container_env(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) {
        let run_label = self.run_label();
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &self.net,
            "--label",
            LABEL,
            "--label",
            &run_label,
        ];
        args.extend_from_slice(extra);
        let out = Command::new("docker")
            .args(&args)
            .envs(env.iter().copied())
            .output()
            .expect("running docker");
        assert!(
            out.status.success(),
            "docker run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The sshd upstream; returns its pinned host key.
    fn start_upstream(&self) -> String {
        let tmp = self._tmp.path();
        let client_pub = bb_testkit::ssh_keygen(&tmp.join("key"));
        std::fs::write(tmp.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
        let authorized = format!(
            "{}:/authorized_keys:ro",
            tmp.join("authorized_keys").display()
        );
        self.run_container(
            &self.upstream,
            &[
                "--network-alias",
                "upstream",
                "-v",
                &authorized,
                BASE_IMAGE,
                "sh",
                "-c",
                bb_testkit::SSH_UPSTREAM_SETUP,
            ],
        );
        self.wait_for("upstream sshd", || {
            docker(&["exec", &self.upstream, "nc", "-z", "127.0.0.1", "2222"])
                .status
                .success()
        });
        key_words(&docker_ok(&[
            "exec",
            &self.upstream,
            "cat",
            "/etc/ssh/ssh_host_ed25519_key.pub",
        ]))
    }

    /// The recording resolver; returns its address.
    fn start_resolver(&self, name: &str) -> String {
        self.run_container(name, &[BASE_IMAGE, "perl", "-e", RESOLVER]);
        let template = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.net
        );
        docker_ok(&["inspect", "-f", &template, name])
            .trim()
            .to_string()
    }

    fn start_gate(&self, host_key: &str, dns: Option<&str>) {
        let tmp = self._tmp.path();
        let wrong_key = key_words(&bb_testkit::ssh_keygen(&tmp.join("wrong")));
        std::fs::write(tmp.join("rules.toml"), RULES).unwrap();
        let config = config(host_key, &wrong_key);
        std::fs::write(
            tmp.join("repos.json"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let key = tmp.join("key").display().to_string();
        let mut mounts = vec![
            format!(
                "{}:/etc/bot-bottle/git-gate/repos.json:ro",
                tmp.join("repos.json").display()
            ),
            format!(
                "{}:/etc/bot-bottle/git-gate/rules.toml:ro",
                tmp.join("rules.toml").display()
            ),
        ];
        for repo in ["shop", "free", "wrongkey"] {
            mounts.push(format!("{key}:/etc/bot-bottle/git-gate/keys/{repo}:ro"));
        }
        let token_env = format!("EGRESS_TOKEN_TEST={TOKEN}");
        let mut args = vec![
            "--network-alias",
            "git-gate",
            "-e",
            &token_env,
            "-e",
            "BB_GITGATE_UPSTREAM_TIMEOUT=30",
        ];
        if let Some(ip) = dns {
            args.extend(["--dns", ip]);
        }
        for m in &mounts {
            args.extend(["-v", m.as_str()]);
        }
        // The vaulted repo's key, as a launch hands it over: in the environment, never in argv.
        let key_var = bb_contract::layout::env::gate_key("vaulted");
        args.extend(["-e", key_var.as_str()]);
        args.extend([
            "--entrypoint",
            "bb-gitgate",
            SIDECAR_IMAGE,
            "serve",
            "--config",
            "/etc/bot-bottle/git-gate/repos.json",
            "--root",
            "/var/lib/bot-bottle/git-gate",
        ]);
        let key_text = std::fs::read_to_string(&key).unwrap();
        self.run_container_env(&self.gate, &args, &[(key_var.as_str(), key_text.as_str())]);
        self.wait_for("the gate", || {
            docker(&["exec", &self.gate, "bb-gitgate", "health"])
                .status
                .success()
        });
    }

    fn start_client(&self) {
        self.run_container(
            &self.client,
            &[
                "-e",
                "GIT_AUTHOR_NAME=Agent",
                "-e",
                "GIT_AUTHOR_EMAIL=agent@example.org",
                "-e",
                "GIT_COMMITTER_NAME=Agent",
                "-e",
                "GIT_COMMITTER_EMAIL=agent@example.org",
                CLIENT_IMAGE,
                "sleep",
                "infinity",
            ],
        );
    }

    /// Overwrites the gate's rules file (in place: the container sees it) with one gitleaks
    /// would reject.
    pub fn break_rules(&self) {
        std::fs::write(
            self._tmp.path().join("rules.toml"),
            "[[rules]]\nid = broken\n",
        )
        .unwrap();
    }

    pub fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{what} not ready in 60 s; gate logs:\n{}", self.gate_logs());
    }

    /// The private key upstream knows (the gate's deploy key).
    pub fn key(&self) -> String {
        std::fs::read_to_string(self._tmp.path().join("key")).unwrap()
    }

    /// A line from inside the deploy key: what a copy of it would hold.
    pub fn key_marker(&self) -> String {
        self.key().lines().nth(1).unwrap().to_owned()
    }

    /// A private key upstream does not know.
    pub fn other_key(&self) -> String {
        let path = self._tmp.path().join("other");
        if !path.exists() {
            bb_testkit::ssh_keygen(&path);
        }
        std::fs::read_to_string(path).unwrap()
    }

    pub fn exec(&self, container: &str, user: Option<&str>, script: &str) -> Run {
        let mut args = vec!["exec"];
        if let Some(u) = user {
            args.extend(["-u", u]);
        }
        args.extend([container, "sh", "-c", script]);
        let out = docker(&args);
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// A shell line in the client, in /home/node.
    pub fn client(&self, script: &str) -> Run {
        self.exec(
            &self.client,
            None,
            &format!("set -e; cd /home/node; {script}"),
        )
    }

    /// A git command on the gate's mirror of `shop`.
    pub fn gate_git(&self, args: &str) -> Run {
        self.exec(
            &self.gate,
            None,
            &format!("git --git-dir {SHOP_MIRROR} {args}"),
        )
    }

    /// Upstream's refs, `name sha` per line.
    pub fn upstream_refs(&self) -> String {
        self.exec(
            &self.upstream,
            Some("git"),
            "git --git-dir /srv/git/shop.git for-each-ref --format='%(refname) %(objectname)'",
        )
        .expect_ok("listing upstream refs")
    }

    /// A commit made directly upstream (out of band), on `branch`; returns its id.
    pub fn upstream_commit(&self, branch: &str, file: &str, text: &str) -> String {
        self.exec(
            &self.upstream,
            Some("git"),
            &format!(
                "set -e; t=$(mktemp -d); git clone -q -b {branch} /srv/git/shop.git $t/w; cd $t/w; \
                 echo '{text}' > {file}; git add {file}; \
                 git -c user.name=up -c user.email=up@example.org commit -q -m 'out of band'; \
                 git push -q origin HEAD:{branch}; git rev-parse HEAD"
            ),
        )
        .last_line("committing upstream")
    }

    /// SSH connections upstream's sshd has seen (its VERBOSE log), once the count is steady.
    pub fn upstream_connections(&self) -> usize {
        let count = || {
            let out = docker(&["logs", &self.upstream]);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.matches("Connection from ").count()
        };
        let mut last = count();
        loop {
            std::thread::sleep(Duration::from_millis(700));
            let now = count();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// Whether the recording resolver received a query holding `label`.
    pub fn resolver_saw(&self, label: &str) -> bool {
        let resolver = self.resolver.as_deref().expect("a rig with a resolver");
        self.exec(resolver, None, &format!("grep -a -q -F '{label}' /tmp/udp"))
            .ok
    }

    /// Sends one raw git:// request (`payload` framed as a pkt-line, then a flush) from the
    /// client and returns what came back.
    pub fn raw_request(&self, payload: &[u8]) -> String {
        let mut bytes = format!("{:04x}", payload.len() + 4).into_bytes();
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(b"0000");
        let format: String = bytes
            .iter()
            .map(|&b| match b {
                b'%' | b'\\' | b'\'' => format!("\\{b:03o}"),
                _ if b.is_ascii_graphic() || b == b' ' => char::from(b).to_string(),
                _ => format!("\\{b:03o}"),
            })
            .collect();
        self.client(&format!(
            "printf '{format}' | timeout 60 nc -N git-gate 9418"
        ))
        .out
    }

    pub fn gate_logs(&self) -> String {
        let out = docker(&["logs", &self.gate]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The gate's log lines (stdout), parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let out = docker(&["logs", &self.gate]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

pub fn upstream_ref(refs: &str, name: &str) -> Option<String> {
    refs.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
}
