//! The git gate against the real engine: an sshd upstream, the gate from the sidecar image and
//! a client from the test agent image on one Docker network. Needs Docker (fails without it).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bb_testkit::docker_ok;

const LABEL: &str = "bot-bottle.test=gitgate";
const BASE_IMAGE: &str = "bot-bottle-base:local";
const SIDECAR_IMAGE: &str = "bot-bottle-sidecar:latest";
const CLIENT_IMAGE: &str = "bot-bottle-test-agent:latest";
/// A well-formed AWS access key id that is not a real key.
const AWS_KEY: &str = "AKIAQ7XBV2MNR4TWZ5YD";
/// The value of a token slot in the gate's environment (a known secret).
const TOKEN: &str = "planted-egress-token-Vq93kLz";
/// Matches the test rules file's custom rule.
const CUSTOM: &str = "bbtest_k2j4h6g8f0d1s3a5";

const RULES: &str = r#"
title = "gate test rules"
[[rules]]
id = "test-internal-token"
description = "internal token used by the gate test"
regex = '''\b(bbtest_[a-z0-9]{16})\b'''
keywords = ["bbtest_"]
[[rules]]
id = "broken-rule"
regex = '''(unclosed'''
"#;

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("running docker")
}

struct Run {
    ok: bool,
    /// stdout then stderr.
    out: String,
    stdout: String,
}

impl Run {
    /// The last line of stdout (a `git rev-parse` at the end of a script).
    fn last_line(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}", self.out);
        self.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    fn expect_ok(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}", self.out);
        self.out
    }
    fn expect_fail(self, what: &str) -> String {
        assert!(!self.ok, "{what} should have failed:\n{}", self.out);
        self.out
    }
}

/// One test's network and containers, removed on drop (also when the test fails).
struct Env {
    run: String,
    net: String,
    upstream: String,
    gate: String,
    client: String,
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

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffffff)
}

impl Env {
    fn new() -> Env {
        bb_testkit::require_images();
        let run = unique();
        let tmp = tempfile::tempdir().unwrap();
        let client_pub = bb_testkit::ssh_keygen(&tmp.path().join("key"));
        std::fs::write(
            tmp.path().join("authorized_keys"),
            format!("{client_pub}\n"),
        )
        .unwrap();
        let wrong_pub = bb_testkit::ssh_keygen(&tmp.path().join("wrong"));
        std::fs::write(tmp.path().join("rules.toml"), RULES).unwrap();
        let name = |what: &str| format!("bot-bottle-gitgate-test-{run}-{what}");
        let env = Env {
            net: name("net"),
            upstream: name("upstream"),
            gate: name("gate"),
            client: name("client"),
            run: run.clone(),
            _tmp: tmp,
        };
        let run_label = format!("bot-bottle.test.run={run}");
        let tmp = env._tmp.path();
        docker_ok(&[
            "network", "create", "--label", LABEL, "--label", &run_label, &env.net,
        ]);

        let authorized = format!(
            "{}:/authorized_keys:ro",
            tmp.join("authorized_keys").display()
        );
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &env.upstream,
            "--network",
            &env.net,
            "--network-alias",
            "upstream",
            "--label",
            LABEL,
            "--label",
            &run_label,
            "-v",
            &authorized,
            BASE_IMAGE,
            "sh",
            "-c",
            bb_testkit::SSH_UPSTREAM_SETUP,
        ]);
        env.wait_for("upstream sshd", || {
            docker(&["exec", &env.upstream, "nc", "-z", "127.0.0.1", "2222"])
                .status
                .success()
        });
        let host_key = docker_ok(&[
            "exec",
            &env.upstream,
            "cat",
            "/etc/ssh/ssh_host_ed25519_key.pub",
        ]);
        let host_key: String = host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let wrong_key: String = wrong_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");

        let repo = |name: &str, key: &str| {
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
            })
        };
        let config = serde_json::json!({
            "user": {"name": {"value": "Agent", "from": "bottle:test"}},
            "repos": [repo("shop", &host_key), repo("wrongkey", &wrong_key)],
            "rules": "/etc/bot-bottle/git-gate/rules.toml",
        });
        std::fs::write(
            tmp.join("repos.json"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let key = tmp.join("key").display().to_string();
        let mounts = [
            format!(
                "{}:/etc/bot-bottle/git-gate/repos.json:ro",
                tmp.join("repos.json").display()
            ),
            format!(
                "{}:/etc/bot-bottle/git-gate/rules.toml:ro",
                tmp.join("rules.toml").display()
            ),
            format!("{key}:/etc/bot-bottle/git-gate/keys/shop:ro"),
            format!("{key}:/etc/bot-bottle/git-gate/keys/wrongkey:ro"),
        ];
        let token_env = format!("EGRESS_TOKEN_TEST={TOKEN}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &env.gate,
            "--network",
            &env.net,
            "--network-alias",
            "git-gate",
            "--label",
            LABEL,
            "--label",
            &run_label,
            "-e",
            &token_env,
            "-e",
            "BB_GITGATE_UPSTREAM_TIMEOUT=30",
        ];
        for m in &mounts {
            args.extend(["-v", m.as_str()]);
        }
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
        docker_ok(&args);
        env.wait_for("the gate", || {
            docker(&["exec", &env.gate, "bb-gitgate", "health"])
                .status
                .success()
        });

        docker_ok(&[
            "run",
            "-d",
            "--name",
            &env.client,
            "--network",
            &env.net,
            "--label",
            LABEL,
            "--label",
            &run_label,
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
        ]);
        env
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let logs = docker(&["logs", &self.gate]);
        panic!(
            "{what} not ready in 60 s; gate logs:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
    }

    fn exec(&self, container: &str, user: Option<&str>, script: &str) -> Run {
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
    fn client(&self, script: &str) -> Run {
        self.exec(
            &self.client,
            None,
            &format!("set -e; cd /home/node; {script}"),
        )
    }

    /// Upstream's refs, `name sha` per line.
    fn upstream_refs(&self) -> String {
        self.exec(
            &self.upstream,
            Some("git"),
            "git --git-dir /srv/git/shop.git for-each-ref --format='%(refname) %(objectname)'",
        )
        .expect_ok("listing upstream refs")
    }

    /// A commit made directly upstream (out of band), on `branch`; returns its id.
    fn upstream_commit(&self, branch: &str, file: &str, text: &str) -> String {
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

    fn gate_logs(&self) -> String {
        let out = docker(&["logs", &self.gate]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The gate's log lines (stdout), parsed.
    fn events(&self) -> Vec<serde_json::Value> {
        let out = docker(&["logs", &self.gate]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn upstream_ref(refs: &str, name: &str) -> Option<String> {
    refs.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
}

#[test]
fn clone_fetch_push_and_delete_through_the_gate() {
    let env = Env::new();
    let readme = env
        .client("git clone -q git://git-gate/shop.git shop && cat shop/README")
        .expect_ok("clone through the gate");
    assert!(readme.contains("hello"), "README from upstream: {readme}");

    // A commit made upstream out of band is seen by the next fetch.
    // Upstream's own history may hold a secret: only what the agent pushes is scanned.
    let oob = env.upstream_commit("main", "oob.txt", &format!("upstream history {AWS_KEY}"));
    let fetched = env
        .client("cd shop && git fetch -q origin && git rev-parse origin/main")
        .last_line("fetch through the gate");
    assert_eq!(fetched, oob);

    // A clean push lands upstream.
    let head = env
        .client(
            "cd shop && git merge -q --ff-only origin/main && echo feature > f.txt && git add f.txt \
             && git commit -q -m 'clean change' && git push -q origin HEAD:main && git rev-parse HEAD",
        )
        .last_line("clean push");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(head.clone())
    );

    // A new branch, then its deletion, are forwarded.
    env.client("cd shop && git push -q origin HEAD:refs/heads/topic")
        .expect_ok("push a new branch");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/topic"),
        Some(head.clone())
    );
    env.client("cd shop && git push -q origin --delete topic")
        .expect_ok("delete a branch");
    assert_eq!(upstream_ref(&env.upstream_refs(), "refs/heads/topic"), None);

    // A force push (not a fast-forward) is forwarded too.
    let forced = env
        .client(
            "cd shop && git reset -q --hard HEAD~1 && echo other > g.txt && git add g.txt && \
             git commit -q -m rewrite && git push -q -f origin HEAD:main && git rev-parse HEAD",
        )
        .last_line("force push");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(forced)
    );

    // HEAD follows upstream's default branch.
    env.upstream_commit("main", "x.txt", "out of band");
    env.exec(
        &env.upstream,
        Some("git"),
        "git --git-dir /srv/git/shop.git branch trunk main && git --git-dir /srv/git/shop.git symbolic-ref HEAD refs/heads/trunk",
    )
    .expect_ok("switching upstream's default branch");
    let branch = env
        .client("git clone -q git://git-gate/shop.git second && git -C second symbolic-ref --short HEAD")
        .expect_ok("second clone");
    assert_eq!(branch.trim(), "trunk");

    // git daemon is supervised: killed, it is restarted and the restart is logged.
    env.exec(&env.gate, None, "kill $(pidof git-daemon)")
        .expect_ok("killing git daemon");
    env.wait_for("the restart", || {
        env.events().iter().any(|e| e["event"] == "restart")
            && docker(&["exec", &env.gate, "bb-gitgate", "health"])
                .status
                .success()
    });
    env.client("git -C shop fetch -q origin")
        .expect_ok("fetch after the restart");

    let events = env.events();
    assert!(
        events.iter().any(|e| e["event"] == "start"),
        "{}",
        env.gate_logs()
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "fetch" && e["ok"] == true)
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "push" && e["ok"] == true)
    );
    assert!(
        events.iter().any(|e| e["event"] == "rules"
            && e["message"].as_str().unwrap_or("").contains("broken-rule")),
        "a broken rule is reported: {}",
        env.gate_logs()
    );
}

#[test]
fn secrets_are_rejected_before_upstream_is_contacted() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop")
        .expect_ok("clone");
    let before = env.upstream_refs();
    let gate_before = env
        .client("git ls-remote git://git-gate/shop.git")
        .expect_ok("ls-remote");

    // 1. A new file with an AWS-shaped key.
    let out = env
        .client(&format!(
            "cd shop && printf 'region = eu\\naws = {AWS_KEY}\\n' > creds.txt && git add creds.txt && \
             git commit -q -m creds && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a key in a new file");
    eprintln!("push with a key in a new file:\n{out}");
    assert!(out.contains("creds.txt:2"), "{out}");
    assert!(out.contains("AKIA…(20 chars)"), "{out}");
    assert!(out.contains("rule "), "{out}");
    assert!(!out.contains(AWS_KEY), "the key is not echoed: {out}");
    let short = env
        .client("git -C shop rev-parse --short=10 HEAD")
        .expect_ok("rev-parse");
    assert!(out.contains(short.trim()), "commit named: {out}");

    // 2. The key in the second of three commits of a range.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && \
             echo one > a.txt && git add a.txt && git commit -q -m one && \
             printf 'x\\ny\\nkey={AWS_KEY}\\n' > b.txt && git add b.txt && git commit -q -m two && \
             echo three > c.txt && git add c.txt && git commit -q -m three && \
             git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a key in the middle of a range");
    let second = env
        .client("git -C shop rev-parse --short=10 HEAD~1")
        .expect_ok("rev-parse");
    assert!(out.contains("b.txt:3"), "{out}");
    assert!(out.contains(second.trim()), "{out}");

    // 3. The key on a new branch.
    let out = env
        .client("cd shop && git push origin HEAD:refs/heads/leak 2>&1")
        .expect_fail("push a new branch with a key");
    assert!(out.contains("b.txt:3"), "{out}");

    // 4. A known secret (a token slot's value) in a commit message.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && git commit -q --allow-empty -m 'token {TOKEN}' && \
             git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a known secret in a message");
    assert!(out.contains("(commit message)"), "{out}");
    assert!(out.contains("known_secrets"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");

    // 5. The gitleaks rules file's own rule.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && echo 'tok: {CUSTOM}' > t.txt && git add t.txt && \
             git commit -q -m custom && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a custom-rule token");
    assert!(out.contains("gitleaks:test-internal-token"), "{out}");
    assert!(out.contains("t.txt:1"), "{out}");

    // Upstream received nothing, and the gate's refs did not move.
    assert_eq!(env.upstream_refs(), before);
    assert_eq!(
        env.client("git ls-remote git://git-gate/shop.git")
            .expect_ok("ls-remote"),
        gate_before
    );
    // The log names the finding but never the value.
    let logs = env.gate_logs();
    eprintln!("gate logs:\n{logs}");
    assert!(logs.contains("creds.txt:2"), "{logs}");
    assert!(
        !logs.contains(AWS_KEY) && !logs.contains(TOKEN) && !logs.contains(CUSTOM),
        "{logs}"
    );
}

#[test]
fn a_wrong_pinned_host_key_fails_closed() {
    let env = Env::new();
    let out = env
        .client("git clone git://git-gate/wrongkey.git w 2>&1")
        .expect_fail("clone with a wrong host key");
    eprintln!("clone with a wrong host key:\n{out}");
    assert!(out.contains("unreachable"), "{out}");
    assert!(out.contains("Host key verification failed"), "{out}");

    let before = env.upstream_refs();
    let out = env
        .client(
            "mkdir p && cd p && git init -q -b main && echo x > x && git add x && git commit -q -m x && \
             git push git://git-gate/wrongkey.git HEAD:refs/heads/main 2>&1",
        )
        .expect_fail("push with a wrong host key");
    assert!(out.contains("Host key verification failed"), "{out}");
    assert_eq!(env.upstream_refs(), before);
    let gate_refs = env
        .exec(
            &env.gate,
            None,
            "git --git-dir /var/lib/bot-bottle/git-gate/mirrors/wrongkey.git for-each-ref",
        )
        .expect_ok("gate refs");
    assert_eq!(gate_refs.trim(), "", "the gate's ref was not moved");

    // SIGTERM stops git daemon and the gate, cleanly.
    let start = Instant::now();
    docker_ok(&["stop", "-t", "20", &env.gate]);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &env.gate]),
        "0"
    );
    assert!(
        env.events().iter().any(|e| e["event"] == "stop"),
        "{}",
        env.gate_logs()
    );
}

#[test]
fn upstream_down_fails_fetch_and_push_with_a_message() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop")
        .expect_ok("clone");
    docker_ok(&["stop", "-t", "1", &env.upstream]);
    let out = env
        .client("git -C shop fetch origin 2>&1")
        .expect_fail("fetch with upstream down");
    eprintln!("fetch with upstream down:\n{out}");
    assert!(
        out.contains("upstream upstream:2222 is unreachable"),
        "{out}"
    );
    assert!(out.contains("stale"), "{out}");
    let out = env
        .client("cd shop && echo y > y && git add y && git commit -q -m y && git push origin HEAD:main 2>&1")
        .expect_fail("push with upstream down");
    eprintln!("push with upstream down:\n{out}");
    assert!(
        out.contains("forwarding to upstream upstream:2222 failed"),
        "{out}"
    );
    let gate_main = env
        .exec(
            &env.gate,
            None,
            "git --git-dir /var/lib/bot-bottle/git-gate/mirrors/shop.git rev-parse refs/heads/main",
        )
        .expect_ok("gate main");
    let local_origin = env
        .client("git -C shop rev-parse origin/main")
        .expect_ok("origin/main");
    assert_eq!(
        gate_main.trim(),
        local_origin.trim(),
        "the gate's ref was not moved"
    );
}
