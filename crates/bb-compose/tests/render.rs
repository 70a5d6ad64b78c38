//! `bb-compose render` alone: the file compose v1 accepts, secrets as bare names, labels,
//! escaping, runtime, and the sidecar's routes file.

use bb_testkit::{Fixture, PLANTED, spec_example};
use serde_json::{Value, json};

fn rendered(runtime: &str) -> (Fixture, Value, Value) {
    let f = Fixture::new();
    spec_example(&f);
    f.bottle(
        "shop",
        "extends: claude\nenv:\n  PRICE: \"costs $5 or ${NOT_A_VAR}\"\n  CARGO_REGISTRY_TOKEN: \"${CARGO_REGISTRY_TOKEN}\"\n  DB_PASSWORD: \"?db\"\negress:\n  routes:\n    - host: git.example.org\n      auth: {scheme: token, token_ref: GITEA_TOKEN}\n",
    );
    render_fixture(f, runtime)
}

fn render_fixture(f: Fixture, runtime: &str) -> (Fixture, Value, Value) {
    let out = f
        .cmd("bb-plan")
        .args(["fixer", "--runtime", runtime])
        .envs(PLANTED.iter().copied())
        .assert()
        .success()
        .get_output()
        .clone();
    let mut plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = plan["identity"].as_str().unwrap().to_string();
    plan["network"] = json!({
        "internal": format!("bot-bottle-{id}-internal"), "egress": format!("bot-bottle-{id}-egress"),
        "internal_subnet": "10.213.7.0/24", "egress_subnet": "172.30.0.0/16", "egress_gateway": "172.30.0.1", "sidecar_ip": "10.213.7.2"
    });
    plan["ca"] = json!({"cert": "/x/ca.pem", "key": "/x/ca-key.pem", "fingerprint_sha256": "AA", "not_after": "2030-01-01T00:00:00Z"});
    let out = f
        .cmd("bb-compose")
        .arg("render")
        .write_stdin(plan.to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = plan["compose"]["file"].as_str().unwrap().to_string();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    (f, plan, doc)
}

#[test]
fn secrets_are_bare_names_and_literals_are_escaped() {
    let (_f, plan, doc) = rendered("runc");
    let agent_env: Vec<&str> = doc["services"]["agent"]["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(agent_env.contains(&"CARGO_REGISTRY_TOKEN"), "{agent_env:?}");
    assert!(agent_env.contains(&"DB_PASSWORD"), "{agent_env:?}");
    assert!(
        agent_env.contains(&"PRICE=costs $$5 or $${NOT_A_VAR}"),
        "{agent_env:?}"
    );
    assert!(agent_env.contains(&"HTTPS_PROXY=http://egress:9099"));
    let sidecar_env = doc["services"]["sidecar"]["environment"]
        .as_array()
        .unwrap();
    assert!(sidecar_env.contains(&json!("EGRESS_TOKEN_1")));
    assert!(
        sidecar_env.contains(&json!("BB_SIDECAR_DENY_NETS=10.213.7.0/24,172.30.0.1/32")),
        "the agent's network and the host's egress address are refused: {sidecar_env:?}"
    );
    let text = doc.to_string();
    for (_, value) in PLANTED {
        assert!(!text.contains(value));
    }
    let id = plan["identity"].as_str().unwrap();
    for service in ["agent", "sidecar"] {
        assert_eq!(
            doc["services"][service]["labels"]["bot-bottle.identity"], id,
            "{service}"
        );
    }
    assert_eq!(doc["services"]["agent"]["dns"], json!(["10.213.7.2"]));
    assert_eq!(
        doc["services"]["agent"]["networks"],
        json!({"internal": {}}),
        "the agent is on the internal network only"
    );
    assert_eq!(
        doc["services"]["sidecar"]["networks"]["internal"]["ipv4_address"],
        "10.213.7.2"
    );
    assert!(doc["services"]["agent"].get("runtime").is_none());
    let routes_file =
        std::path::Path::new(plan["state_dir"].as_str().unwrap()).join("egress/routes.json");
    let routes: Value =
        serde_json::from_str(&std::fs::read_to_string(routes_file).unwrap()).unwrap();
    assert_eq!(routes, plan["egress"]);
}

#[test]
fn runsc_is_set_on_the_agent_only() {
    let (_f, _plan, doc) = rendered("runsc");
    assert_eq!(doc["services"]["agent"]["runtime"], "runsc");
    assert!(doc["services"]["sidecar"].get("runtime").is_none());
}

#[test]
fn compose_v1_accepts_the_file() {
    let Ok(v1) = which::which("docker-compose") else {
        panic!("docker-compose (v1) is not installed; the renderer must be checked against it");
    };
    let (f, plan, _) = rendered("runc");
    let file = plan["compose"]["file"].as_str().unwrap();
    let out = std::process::Command::new(v1)
        .args(["-p", "check", "-f", file, "config", "-q"])
        .env("CARGO_REGISTRY_TOKEN", "x")
        .current_dir(f.path("repo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole rendered file, with what varies per run (identity, temporary folder, the engine's
/// memory and CPUs, the agent image's tag) replaced: any change to the compose file shows up in review.
#[test]
fn rendered_file_snapshot() {
    let (f, plan, mut doc) = rendered("runc");
    let agent = &mut doc["services"]["agent"];
    for key in ["mem_limit", "memswap_limit", "cpus"] {
        if agent.get(key).is_some() {
            agent[key] = json!(format!("<engine {key}>"));
        }
    }
    // The agent image's tag hashes the base image, which tests may choose.
    agent["image"] = json!("<agent image>");
    let identity = plan["identity"].as_str().unwrap();
    let root = f.path("").display().to_string();
    let text = serde_json::to_string_pretty(&doc)
        .unwrap()
        .replace(&root, "<fixture>/")
        .replace(identity, "<identity>");
    insta::assert_snapshot!(text);
}

/// The engine may be another machine: every volume is the bottle's home (a named volume) or
/// anonymous, never a path of the launcher's.
#[test]
fn no_file_of_the_launcher_is_mounted() {
    let (_f, _plan, doc) = rendered("runc");
    for service in ["agent", "sidecar"] {
        for volume in doc["services"][service]["volumes"].as_array().unwrap() {
            let volume = volume.as_str().unwrap();
            let source = volume.split(':').next().unwrap();
            assert!(
                !volume.contains(':') || source == "home",
                "{service} mounts {volume}"
            );
        }
    }
}

#[test]
fn gitleaks_rules_reach_the_sidecar_merged_into_one_file() {
    let f = Fixture::new();
    spec_example(&f);
    f.write(
        "home/bottles/base-rules.toml",
        "[[rules]]\nid = 'shop-token'\nregex = '''shop_[a-z0-9]{16}'''\n",
    );
    f.write(
        "home/bottles/rules.toml",
        "[extend]\npath = 'base-rules.toml'\n[[rules]]\nid = 'shop-token'\n[[rules.allowlists]]\nregexes = ['''^shop_test''']\n",
    );
    f.bottle(
        "shop",
        "extends: claude\ngit-gate:\n  rules: rules.toml\n  repos:\n    shop:\n      url: ssh://git@git.example.org:2222/team/shop.git\n      key: {provider: static, path: ~/.ssh/shop_deploy}\n      host_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\"\n",
    );
    let (f, mut plan, _doc) = render_fixture(f, "runc");
    plan["ca"]["cert"] = json!(f.write("ca/ca.pem", "cert").to_str().unwrap());
    plan["ca"]["key"] = json!(f.write("ca/ca-key.pem", "key").to_str().unwrap());
    let plan = bb_contract::Plan::from_json(&plan.to_string()).unwrap();
    let files = bb_compose::render::sidecar_files(&plan).unwrap();
    let rules = files
        .iter()
        .find(|file| file.path == std::path::Path::new("git-gate/rules.toml"))
        .unwrap_or_else(|| panic!("no rules file in {files:?}"));
    let source = plan.state_dir.join("git-gate/rules.toml");
    assert_eq!(
        std::fs::read(&source).unwrap(),
        rules.bytes,
        "the sidecar gets the merged file of the state folder"
    );
    let source = source.to_str().unwrap();
    let merged = std::fs::read_to_string(source).unwrap();
    assert!(
        merged.contains("shop_[a-z0-9]{16}") && merged.contains("^shop_test"),
        "{merged}"
    );
    assert!(!merged.contains("base-rules.toml"), "{merged}");
    let loaded = bb_gitleaks::load(std::path::Path::new(source)).unwrap();
    let found = |text: &str| loaded.rules.scan(text.as_bytes(), "a", "c").len();
    assert_eq!(found("shop_abcdef0123456789"), 1);
    assert_eq!(
        found("shop_test0123456789a"),
        0,
        "the extending file's allowlist"
    );
}
