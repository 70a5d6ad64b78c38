//! The wrapper's planning commands: `start --dry-run`, `info`, `list`.

use bb_testkit::{Fixture, PLANTED, spec_example};

fn run(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = f
        .cmd("bot-bottle")
        .args(args)
        .envs(PLANTED.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn dry_run_prints_the_preflight_and_creates_nothing() {
    let f = Fixture::new();
    spec_example(&f);
    let (code, out, err) = run(&f, &["start", "fixer", "--dry-run", "--runtime", "runc"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "agent      fixer",
        "(working directory)",
        "bottles    claude -> shop",
        "provider   claude  image bot-bottle-claude:",
        "(built-in Dockerfile, BASE_IMAGE=debian:bookworm-slim)",
        "cli        claude 2.1.327 (from claude-agent-sdk==0.2.184, SHA-256 ",
        "CARGO_REGISTRY_TOKEN     from host $CARGO_REGISTRY_TOKEN",
        "DB_PASSWORD              asked at launch: \"database password\"",
        "RUST_LOG                 literal",
        "skills     code-review",
        "git user   Shop Bot <bot@example.org>  (name from bottle:shop, email from bottle:shop)",
        "repos      shop  ssh://git@git.example.org:2222/team/shop.git via git://git-gate/shop.git",
        "git.example.org  auth token from $GITEA_TOKEN  [GET,POST /api/v1/repos/team/*]",
        "api.anthropic.com  auth Bearer from $CLAUDE_OAUTH",
        "runtime    runc",
        "workspace  none",
        "state      ",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
    for (_, value) in PLANTED {
        assert!(!out.contains(value) && !err.contains(value));
    }
    assert!(f.state_files().is_empty(), "a dry run writes nothing");
}

#[test]
fn dry_run_json_is_the_plan() {
    let f = Fixture::new();
    spec_example(&f);
    let (code, out, err) = run(
        &f,
        &[
            "start",
            "fixer",
            "--dry-run",
            "--format",
            "json",
            "--runtime",
            "runc",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["schema"], "bot-bottle.plan/v1");
    assert_eq!(plan["agent"]["name"], "fixer");
}

#[test]
fn dry_run_json_switch_is_the_same_plan_as_format_json() {
    let f = Fixture::new();
    spec_example(&f);
    let (code, out, err) = run(
        &f,
        &["start", "fixer", "--dry-run", "--json", "--runtime", "runc"],
    );
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["agent"]["name"], "fixer");
}

#[test]
fn dry_run_reports_bad_input_with_status_2() {
    let f = Fixture::new();
    spec_example(&f);
    f.bottle("shop", "extends: claude\nenv: {A: 1}\n");
    let (code, _, err) = run(&f, &["start", "fixer", "--dry-run", "--runtime", "runc"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("bot-bottle: error: ") && err.contains("shop.md:3: env.A"),
        "{err}"
    );
    let (code, _, _) = run(&f, &["start", "fixer", "--format", "json"]);
    assert_eq!(code, 2, "--format needs --dry-run");
    let (code, _, _) = run(&f, &["start", "fixer", "--json"]);
    assert_eq!(code, 2, "--json needs --dry-run");
}

#[test]
fn info_shows_the_resolved_agent_without_needing_host_values() {
    let f = Fixture::new();
    spec_example(&f);
    let out = f
        .cmd("bot-bottle")
        .args(["info", "fixer"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("bottles    claude -> shop"), "{text}");
    assert!(text.contains("git user   Shop Bot"), "{text}");
    assert!(!text.contains("identity"), "info makes no plan");
}

#[test]
fn list_shows_agents_and_survives_a_broken_one() {
    let f = Fixture::new();
    spec_example(&f);
    f.agent("helper", "bottle: shop\n", "Help.");
    f.write("home/agents/broken.md", "no front matter\n");
    f.write("home/agents/Bad_Name.md", "---\n---\n");
    let (code, out, err) = run(&f, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("fixer") && out.contains("helper") && out.contains("(broken)"),
        "{out}"
    );
    assert!(out.contains("no YAML front matter"), "{out}");
    assert!(
        err.contains("skipping") && err.contains("Bad_Name.md"),
        "{err}"
    );
    let (code, out, _) = run(&f, &["list", "--json"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let fixer = rows.iter().find(|r| r["name"] == "fixer").unwrap();
    assert_eq!(fixer["bottle"], "shop");
    assert_eq!(fixer["origin"], "cwd");
}

#[test]
fn init_writes_a_starter_that_plans_and_never_overwrites() {
    let f = Fixture::new();
    let (code, _, err) = run(&f, &["init"]);
    assert_eq!(code, 0, "{err}");
    let bottle = std::fs::read_to_string(f.home().join("bottles/starter.md")).unwrap();
    assert!(
        bottle.contains("# The hosts the agent may reach"),
        "{bottle}"
    );
    // The starter plans with nothing but the OAuth token set.
    f.cmd("bot-bottle")
        .args(["start", "starter", "--dry-run", "--runtime", "runc"])
        .env("CLAUDE_CODE_OAUTH_TOKEN", "x")
        .assert()
        .success();
    let (code, _, err) = run(&f, &["init"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("starter.md already exists; init does not overwrite"),
        "{err}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let f = Fixture::new();
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&f, &["completions", shell]);
        assert_eq!(code, 0, "{err}");
        for sub in ["resume", "cleanup", "logs"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let dir = f.path("man");
    let (code, _, err) = run(&f, &["man-pages", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let stop = std::fs::read_to_string(dir.join("bot-bottle-stop.1")).unwrap();
    assert!(stop.contains(".TH bot-bottle-stop"), "{stop}");
    assert!(dir.join("bot-bottle.1").is_file());
}

#[test]
fn lifecycle_commands_explain_an_unknown_identity() {
    let f = Fixture::new();
    for args in [&["resume", "nope-abcde"][..], &["logs", "nope-abcde"]] {
        let (code, _, err) = run(&f, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

/// The preflight as the operator reads it before saying yes, with what varies per run (identity,
/// temporary folder, the engine's memory and CPUs, image tags) filtered.
#[test]
fn preflight_snapshot() {
    let f = Fixture::new();
    spec_example(&f);
    let (code, out, err) = run(&f, &["start", "fixer", "--dry-run", "--runtime", "runc"]);
    assert_eq!(code, 0, "{err}");
    let root = f.path("").display().to_string();
    let out = out.replace(&root, "<fixture>/");
    insta::with_settings!({filters => vec![
        (r"fixer-[0-9a-z]{5}", "<identity>"),
        (r"\d+ processes, [0-9.]+ ?[KMGT]i?B memory, [0-9.]+ CPUs", "<engine limits>"),
        (r"bot-bottle-(claude|codex):[0-9a-f]{12}", "bot-bottle-$1:<tag>"),
    ]}, {
        insta::assert_snapshot!(out);
    });
}
