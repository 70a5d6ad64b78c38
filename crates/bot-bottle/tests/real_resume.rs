//! Nothing an agent did is lost: a real CLI (Claude Code, Codex) edits and commits in its
//! workspace, its launcher is killed with SIGKILL mid-session, `stop` clears the containers, and
//! `resume` brings back the workspace with the commit and the conversation: the scripted model
//! API receives the earlier turns in the resumed request.

use std::process::{Child, Output, Stdio};
use std::time::Duration;

use bb_testkit::model_api::ModelWorld;
use bb_testkit::{docker_try, require_images, text, unique_name, wait_for};
use serde_json::{Value, json};

const TOKEN: &str = "bbresume-injected-Hx4Tq8Zm2Lw6Rp1Vn";
const COMMIT: &str = "RESUME-UNPUSHED-COMMIT";
const FIRST_TURN_DONE: &str = "/tmp/bb-first-turn-done";

#[derive(Clone, Copy)]
enum Cli {
    Claude,
    Codex,
}

impl Cli {
    fn bottle(self) -> &'static str {
        match self {
            Cli::Claude => {
                "agent_provider:\n  template: claude\n  api_key: BB_TEST_MODEL_TOKEN\negress:\n  routes:\n    - host: api.anthropic.com\n      private: true\n"
            }
            Cli::Codex => {
                "agent_provider:\n  template: codex\n  api_key: BB_TEST_MODEL_TOKEN\negress:\n  routes:\n    - host: api.openai.com\n      private: true\n"
            }
        }
    }

    fn is_api_request(self, request: &Value) -> bool {
        let path = request["path"].as_str().unwrap_or_default();
        match self {
            Cli::Claude => path.starts_with("/v1/messages"),
            Cli::Codex => path.starts_with("/v1/responses"),
        }
    }
}

fn bot_bottle(w: &ModelWorld, args: &[&str]) -> std::process::Command {
    let mut cmd = w.f.spawnable("bot-bottle");
    cmd.args(args)
        .envs(w.env())
        .env("BB_TEST_MODEL_TOKEN", TOKEN)
        .stdin(Stdio::null());
    cmd
}

fn run(w: &ModelWorld, args: &[&str]) -> Output {
    bot_bottle(w, args).output().unwrap()
}

/// The running agent container of `agent`, once the first turn's command has run in it.
fn agent_after_first_turn(agent: &str, child: &mut Child) -> String {
    let prefix = format!("bot-bottle-{agent}-");
    wait_for(Duration::from_secs(400), || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the launch ended early"
        );
        let names = docker_try(&["ps", "--format", "{{.Names}}"]).ok()?;
        let found = names
            .lines()
            .find(|n| n.starts_with(&prefix) && n.ends_with("-agent"))?
            .to_string();
        bb_testkit::docker_exec(&found, "node", &format!("test -e {FIRST_TURN_DONE}"))
            .status
            .success()
            .then_some(found)
    })
    .expect("the first turn never ran its command")
}

fn killed_session_resumes(cli: Cli) {
    require_images();
    let slug = unique_name(match cli {
        Cli::Claude => "rrc",
        Cli::Codex => "rrx",
    });
    let w = ModelWorld::new(
        &slug,
        &[
            json!({"shell": format!(
                "cd /home/node/workspace && echo kept > resume-note.txt && git add resume-note.txt && git -c user.name=a -c user.email=a@example.org commit -qm {COMMIT} && touch {FIRST_TURN_DONE} && sleep 100"
            )}),
            json!({"shell": "git -C /home/node/workspace log --format=%s -3"}),
            json!({"text": "SECOND-SESSION-DONE"}),
        ],
    );
    // The working directory the launch copies in: a git repository with one commit.
    let repo = w.f.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let init = w.f.shell("git init -q . && git -c user.name=u -c user.email=u@example.org commit -q --allow-empty -m base").output().unwrap();
    assert!(init.status.success(), "{}", text(&init).1);
    w.f.bottle(&slug, &format!("{}{}", cli.bottle(), w.git_gate_yaml()));
    w.f.agent(
        &slug,
        &format!("bottle: {slug}\n"),
        "You are a careful engineer.",
    );

    let mut child = bot_bottle(
        &w,
        &[
            "start",
            &slug,
            "--headless",
            "--prompt",
            "Make the first change.",
            "--cwd",
            "--runtime",
            "runc",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let agent = agent_after_first_turn(&slug, &mut child);
    child.kill().unwrap(); // SIGKILL: no teardown
    child.wait().unwrap();
    let identity = agent
        .trim_start_matches("bot-bottle-")
        .trim_end_matches("-agent")
        .to_string();
    let stop = run(&w, &["stop", &identity]);
    assert!(stop.status.success(), "{}", text(&stop).1);
    let before = w.requests().len();

    let out = run(&w, &["resume", &identity, "--prompt", "Go on."]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("SECOND-SESSION-DONE"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("no earlier conversation"), "{stderr}");
    let resumed: Vec<Value> = w
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| cli.is_api_request(r))
        .collect();
    let bodies: String = resumed
        .iter()
        .map(|r| r["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        bodies.contains("Make the first change."),
        "the resumed request carries the earlier conversation: {bodies}"
    );
    assert!(
        bodies.contains(COMMIT),
        "the workspace came back with its unpushed commit (git log in the resumed session): {bodies}"
    );
    let volumes = docker_try(&["volume", "ls", "-q"]).unwrap_or_default();
    assert!(
        !volumes.contains(&identity),
        "a clean exit removed the home volume: {volumes}"
    );
}

#[test]
fn claude_killed_mid_session_resumes_its_conversation_and_workspace() {
    killed_session_resumes(Cli::Claude);
}

#[test]
fn codex_killed_mid_session_resumes_its_conversation_and_workspace() {
    killed_session_resumes(Cli::Codex);
}
