//! `bb-plan` on good input: the plan, the state folder, and no secret value anywhere.

use std::os::unix::fs::PermissionsExt;

use bb_testkit::{Fixture, PLANTED, spec_example, walk};
use serde_json::Value;

fn plan_ok(f: &Fixture, args: &[&str]) -> (Value, String) {
    let out = f
        .cmd("bb-plan")
        .args(args)
        .args(["--runtime", "runc"])
        .envs(PLANTED.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "one line when stdout is not a terminal"
    );
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn spec_example_plan_matches_the_schema_and_the_manifest() {
    let f = Fixture::new();
    spec_example(&f);
    let (plan, _) = plan_ok(&f, &["fixer", "--label", "issue 42"]);
    let schema: Value =
        serde_json::from_str(include_str!("../../../docs/plan.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    assert_eq!(plan["schema"], "bot-bottle.plan/v1");
    let identity = plan["identity"].as_str().unwrap();
    let (slug, suffix) = identity.rsplit_once('-').unwrap();
    assert_eq!(slug, "fixer");
    assert!(
        suffix.len() == 5
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(plan["label"], "issue 42");
    assert_eq!(plan["agent"]["origin"], "cwd");
    let chain: Vec<&str> = plan["bottles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["claude", "shop"]);
    assert_eq!(plan["env"]["literal"]["RUST_LOG"], "info");
    assert_eq!(plan["env"]["host"][0]["host_var"], "CARGO_REGISTRY_TOKEN");
    assert_eq!(plan["env"]["prompted"][0]["prompt"], "database password");
    let hosts: Vec<&str> = plan["egress"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        [
            "registry.example.org",
            "static.example.org",
            "git.example.org",
            "api.anthropic.com"
        ]
    );
    let git_route = &plan["egress"]["routes"][2];
    assert_eq!(git_route["auth"]["scheme"], "token");
    assert_eq!(
        git_route["matches"][0]["methods"],
        serde_json::json!(["GET", "POST"])
    );
    assert_eq!(plan["egress"]["routes"][3]["dlp"]["on_match"], "redact");
    assert_eq!(
        plan["egress"]["routes"][3]["dlp"]["inbound"],
        serde_json::json!([]),
        "model answers are streamed, not scanned"
    );
    let slots = plan["egress"]["token_slots"].as_array().unwrap();
    assert_eq!(slots[0]["slot"], git_route["auth"]["slot"]);
    assert_eq!(slots[0]["source"]["name"], "GITEA_TOKEN");
    assert_eq!(slots[1]["source"]["name"], "CLAUDE_OAUTH");
    let repo = &plan["git_gate"]["repos"][0];
    assert_eq!(repo["port"], 2222);
    assert_eq!(repo["path"], "/team/shop.git");
    assert_eq!(plan["git_gate"]["user"]["email"]["from"], "bottle:shop");
    assert_eq!(plan["runtime"]["name"], "runc");
    assert!(plan.get("workspace").is_none());
}

#[test]
fn state_folder_has_the_spec_modes_and_metadata() {
    let f = Fixture::new();
    spec_example(&f);
    let (plan, _) = plan_ok(&f, &["fixer", "--cwd"]);
    let state = std::path::PathBuf::from(plan["state_dir"].as_str().unwrap());
    assert!(state.starts_with(f.home().join("state")));
    assert_eq!(mode(&state), 0o700);
    for sub in ["agent", "egress", "git-gate", "supervise"] {
        assert_eq!(mode(&state.join(sub)), 0o700, "{sub}");
    }
    let prompt = state.join("agent/prompt.txt");
    assert_eq!(mode(&prompt), 0o600);
    assert_eq!(
        std::fs::read_to_string(&prompt).unwrap(),
        "You fix failing tests. Run the whole suite before you push.\n"
    );
    let env = state.join("agent/env");
    assert_eq!(mode(&env), 0o600);
    let env_text = std::fs::read_to_string(&env).unwrap();
    assert!(env_text.contains("RUST_LOG=info\n"), "{env_text}");
    assert!(!env_text.contains("DB_PASSWORD") && !env_text.contains("CARGO_REGISTRY_TOKEN"));
    let metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("metadata.json")).unwrap())
            .unwrap();
    assert_eq!(metadata["identity"], plan["identity"]);
    assert_eq!(metadata["agent"], "fixer");
    assert_eq!(metadata["bottles"], serde_json::json!(["shop"]));
    assert_eq!(
        metadata["compose_project"],
        format!("bot-bottle-{}", plan["identity"].as_str().unwrap())
    );
    assert_eq!(metadata["workspace"], plan["workspace"]["host_path"]);
    assert_eq!(plan["workspace"]["container_path"], "/home/node/workspace");
}

#[test]
fn no_planted_secret_value_in_the_plan_logs_or_any_file() {
    let f = Fixture::new();
    spec_example(&f);
    let (plan, stderr) = plan_ok(&f, &["fixer"]);
    let plan_text = plan.to_string();
    let files = walk(&f.path(""));
    assert!(files.iter().any(|p| p.ends_with("metadata.json")));
    for (name, value) in PLANTED {
        assert!(!plan_text.contains(value), "{name}'s value is in the plan");
        assert!(!stderr.contains(value), "{name}'s value is in the log");
        for file in files.iter().filter(|p| p.is_file()) {
            let bytes = std::fs::read(file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(value),
                "{name}'s value is in {}",
                file.display()
            );
        }
    }
    assert!(
        plan_text.contains("CARGO_REGISTRY_TOKEN"),
        "names are there"
    );
}

#[test]
fn identity_is_reused_for_resume_and_minted_otherwise() {
    let f = Fixture::new();
    spec_example(&f);
    let (a, _) = plan_ok(&f, &["fixer"]);
    let (b, _) = plan_ok(&f, &["fixer"]);
    assert_ne!(a["identity"], b["identity"]);
    let id = a["identity"].as_str().unwrap();
    let (again, _) = plan_ok(&f, &["fixer", "--identity", id]);
    assert_eq!(again["identity"], id);
    assert_eq!(again["state_dir"], a["state_dir"]);
}

#[test]
fn working_directory_agent_wins_and_is_reported() {
    let f = Fixture::new();
    spec_example(&f);
    f.agent("fixer", "bottle: shop\n", "Home prompt");
    let (plan, stderr) = plan_ok(&f, &["fixer"]);
    assert_eq!(plan["agent"]["origin"], "cwd");
    assert!(
        plan["agent"]["shadows"]
            .as_str()
            .unwrap()
            .ends_with("home/agents/fixer.md")
    );
    assert!(stderr.contains("instead of"), "{stderr}");
}

#[test]
fn a_broken_unrelated_file_does_not_matter() {
    let f = Fixture::new();
    spec_example(&f);
    f.write("home/bottles/broken.md", "---\nnot: [valid\n");
    f.write("home/agents/other.md", "no front matter\n");
    plan_ok(&f, &["fixer"]);
}

#[test]
fn quiet_keeps_stderr_empty_by_flag_and_by_variable() {
    let f = Fixture::new();
    spec_example(&f);
    let (_, stderr) = plan_ok(&f, &["fixer"]);
    assert!(stderr.contains("bb-plan: planned"), "{stderr}");
    let (_, stderr) = plan_ok(&f, &["fixer", "--quiet"]);
    assert_eq!(stderr, "");
    let out = f
        .cmd("bb-plan")
        .args(["fixer", "--runtime", "runc"])
        .envs(PLANTED.iter().copied())
        .env("BOT_BOTTLE_QUIET", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn schema_flag_prints_the_checked_in_schema() {
    let f = Fixture::new();
    let out = f.cmd("bb-plan").arg("--schema").output().unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checked_in: Value =
        serde_json::from_str(include_str!("../../../docs/plan.schema.json")).unwrap();
    assert_eq!(printed, checked_in);
}

#[test]
fn a_provider_route_replaces_a_manual_one_but_keeps_its_private_flag() {
    let f = Fixture::new();
    f.bottle(
        "gw",
        "agent_provider: {template: claude, auth_token: CLAUDE_OAUTH}\negress:\n  routes:\n    - host: api.anthropic.com\n      private: true\n    - host: other.example.org\n",
    );
    f.agent("gw", "bottle: gw\n", "prompt");
    let (plan, _) = plan_ok(&f, &["gw"]);
    let routes = plan["egress"]["routes"].as_array().unwrap();
    let api = routes
        .iter()
        .find(|r| r["host"] == "api.anthropic.com")
        .unwrap();
    assert_eq!(api["added_by"], "provider");
    assert_eq!(api["private"], true);
    assert!(api["auth"].is_object());
    let other = routes
        .iter()
        .find(|r| r["host"] == "other.example.org")
        .unwrap();
    assert_eq!(other["private"], false);
}
