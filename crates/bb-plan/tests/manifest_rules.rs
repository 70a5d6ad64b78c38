//! The merge rules of `extends` and of several `--bottle`s, and the agent's overlay, checked
//! through the library (no process, no host variables needed).

use bb_contract::plan::{OnMatch, OutboundDetector, Template};
use bb_plan::manifest::Catalog;
use bb_plan::manifest::bottle::EnvValue;
use bb_plan::manifest::resolve::{Resolved, resolve};
use bb_testkit::Fixture;

fn resolved(f: &Fixture, bottles: &[&str]) -> Resolved {
    let catalog = Catalog::discover(&f.home(), &f.path("repo")).unwrap();
    let names: Vec<String> = bottles.iter().map(|b| b.to_string()).collect();
    resolve(&catalog, &names, None).unwrap()
}

fn env(r: &Resolved, name: &str) -> EnvValue {
    r.env[name].value.clone()
}

#[test]
fn env_merges_per_key_child_wins() {
    let f = Fixture::new();
    f.bottle("base", "env:\n  A: base\n  B: base\n");
    f.bottle(
        "child",
        "extends: base\nenv:\n  B: child\n  C: \"${HOST_C}\"\n",
    );
    let r = resolved(&f, &["child"]);
    assert_eq!(env(&r, "A"), EnvValue::Literal("base".into()));
    assert_eq!(env(&r, "B"), EnvValue::Literal("child".into()));
    assert_eq!(env(&r, "C"), EnvValue::Host("HOST_C".into()));
    let chain: Vec<&str> = r.chain.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(chain, ["base", "child"], "root first");
}

#[test]
fn env_value_modes() {
    let f = Fixture::new();
    f.bottle(
        "b",
        "env:\n  P: \"?\"\n  Q: \"?Your password\"\n  L: \"${not whole\"\n  M: \"pre-${X}\"\n",
    );
    let r = resolved(&f, &["b"]);
    assert_eq!(env(&r, "P"), EnvValue::Prompt(None));
    assert_eq!(env(&r, "Q"), EnvValue::Prompt(Some("Your password".into())));
    assert_eq!(env(&r, "L"), EnvValue::Literal("${not whole".into()));
    assert_eq!(env(&r, "M"), EnvValue::Literal("pre-${X}".into()));
}

#[test]
fn git_user_merges_per_field_and_repos_field_by_field() {
    let f = Fixture::new();
    f.bottle(
        "base",
        "git-gate:\n  user: {name: Base, email: base@example.org}\n  repos:\n    app:\n      url: git@a.example.org:x/app.git\n      key: {provider: static, path: /k/base}\n      host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbase\n",
    );
    f.bottle(
        "child",
        "extends: base\ngit-gate:\n  user: {email: child@example.org}\n  repos:\n    app:\n      key: {provider: static, path: /k/child}\n",
    );
    let r = resolved(&f, &["child"]);
    let user = &r.git_user;
    assert_eq!(user.name.as_ref().unwrap().value, "Base");
    assert_eq!(user.name.as_ref().unwrap().from, "bottle:base");
    assert_eq!(user.email.as_ref().unwrap().value, "child@example.org");
    assert_eq!(user.email.as_ref().unwrap().from, "bottle:child");
    let app = &r.repos["app"];
    assert_eq!(
        app.url.as_ref().unwrap().value,
        "git@a.example.org:x/app.git"
    );
    assert_eq!(
        app.key.as_ref().unwrap().value,
        bb_contract::plan::RepoKey::File {
            key_path: "/k/child".into()
        }
    );
    assert_eq!(
        app.host_key.as_ref().unwrap().value,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbase"
    );
}

#[test]
fn egress_is_replaced_whole_when_declared_and_inherited_otherwise() {
    let f = Fixture::new();
    f.bottle(
        "base",
        "egress:\n  routes:\n    - host: a.example.org\n    - host: b.example.org\n",
    );
    f.bottle("keeps", "extends: base\nenv: {X: z}\n");
    f.bottle(
        "replaces",
        "extends: base\negress:\n  routes:\n    - host: c.example.org\n",
    );
    let hosts = |r: &Resolved| r.routes.iter().map(|r| r.host.clone()).collect::<Vec<_>>();
    assert_eq!(
        hosts(&resolved(&f, &["keeps"])),
        ["a.example.org", "b.example.org"]
    );
    assert_eq!(hosts(&resolved(&f, &["replaces"])), ["c.example.org"]);
}

#[test]
fn agent_provider_merges_per_field() {
    let f = Fixture::new();
    f.bottle(
        "base",
        "agent_provider:\n  template: codex\n  startup_args: [--a]\n",
    );
    f.bottle(
        "child",
        "extends: base\nagent_provider:\n  forward_host_credentials: true\n",
    );
    let r = resolved(&f, &["child"]);
    assert_eq!(r.template(), Template::Codex);
    assert_eq!(r.provider.startup_args.as_ref().unwrap().value, ["--a"]);
    assert!(r.provider.forward_host_credentials.as_ref().unwrap().value);
}

#[test]
fn several_bottles_merge_left_to_right() {
    let f = Fixture::new();
    f.bottle("root", "env: {A: root}\n");
    f.bottle(
        "left",
        "extends: root\nenv: {A: left, B: left}\negress:\n  routes:\n    - host: l.example.org\n",
    );
    f.bottle(
        "right",
        "env: {B: right}\ngit-gate:\n  user: {name: Right}\n",
    );
    let r = resolved(&f, &["left", "right"]);
    assert_eq!(env(&r, "A"), EnvValue::Literal("left".into()));
    assert_eq!(env(&r, "B"), EnvValue::Literal("right".into()));
    assert_eq!(
        r.routes[0].host, "l.example.org",
        "right declares no egress, so left's stays"
    );
    let chain: Vec<&str> = r.chain.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(chain, ["root", "left", "right"]);
}

#[test]
fn shared_parent_appears_once_in_the_chain() {
    let f = Fixture::new();
    f.bottle("root", "env: {A: root}\n");
    f.bottle("x", "extends: root\n");
    f.bottle("y", "extends: root\n");
    let r = resolved(&f, &["x", "y"]);
    let chain: Vec<&str> = r.chain.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(chain, ["root", "x", "y"]);
}

#[test]
fn agent_git_user_overlays_per_field() {
    let f = Fixture::new();
    f.bottle(
        "b",
        "git-gate:\n  user: {name: Bottle, email: b@example.org}\n",
    );
    f.agent(
        "a",
        "bottle: b\ngit-gate:\n  user: {name: Agent}\n",
        "Prompt",
    );
    let catalog = Catalog::discover(&f.home(), &f.path("repo")).unwrap();
    let (_, agent) = catalog.load_agent("a").unwrap();
    assert_eq!(agent.prompt, "Prompt");
    let r = resolve(&catalog, &["b".to_string()], Some(("a", &agent))).unwrap();
    assert_eq!(r.git_user.name.as_ref().unwrap().value, "Agent");
    assert_eq!(r.git_user.name.as_ref().unwrap().from, "agent:a");
    assert_eq!(r.git_user.email.as_ref().unwrap().from, "bottle:b");
}

#[test]
fn route_defaults_and_options() {
    let f = Fixture::new();
    f.bottle(
        "b",
        "egress:\n  routes:\n    - host: '*.Example.org'\n      private: true\n      dlp: {outbound: false, on_match: redact}\n      matches:\n        - paths: [{type: exact, value: /x}]\n          headers: [{name: X-A, value: '1'}]\n",
    );
    let r = resolved(&f, &["b"]);
    let route = &r.routes[0];
    assert_eq!(route.host, "*.example.org");
    assert!(route.private);
    let dlp = bb_plan::manifest::bottle::DlpSpec::resolve(route.dlp.as_ref(), OnMatch::Block);
    assert!(dlp.outbound.is_empty(), "outbound switched off");
    assert_eq!(dlp.inbound.len(), 1, "inbound keeps its default");
    assert_eq!(dlp.on_match, OnMatch::Redact);
    assert_eq!(route.matches[0].headers[0].name, "X-A");
}

fn policy_of(r: &Resolved, i: usize) -> bb_contract::plan::PersonalData {
    bb_plan::manifest::bottle::DlpSpec::resolve(r.routes[i].dlp.as_ref(), OnMatch::Block)
        .personal_data()
}

#[test]
fn personal_data_follows_on_match_unless_set() {
    use bb_contract::plan::PersonalData;
    let f = Fixture::new();
    f.bottle(
        "b",
        "egress:\n  routes:\n    - host: a.example.org\n    - host: b.example.org\n      dlp: {on_match: redact}\n    - host: c.example.org\n      dlp: {personal_data: warn}\n    - host: d.example.org\n      dlp: {on_match: supervise}\n",
    );
    let r = resolved(&f, &["b"]);
    assert_eq!(
        r.routes[3].dlp.as_ref().unwrap().on_match,
        Some(OnMatch::Supervise)
    );
    assert_eq!(
        policy_of(&r, 3),
        PersonalData::Block,
        "held, like a credential"
    );
    let policy = |i: usize| {
        bb_plan::manifest::bottle::DlpSpec::resolve(r.routes[i].dlp.as_ref(), OnMatch::Block)
            .personal_data()
    };
    assert_eq!(policy(0), PersonalData::Block);
    assert_eq!(policy(1), PersonalData::Redact, "as on_match");
    assert_eq!(policy(2), PersonalData::Warn);
}

#[test]
fn the_original_projects_route_keys_are_read_as_dlp() {
    let f = Fixture::new();
    f.bottle(
        "b",
        "egress:\n  routes:\n    - host: a.example.org\n      outbound_detectors: [known_secrets]\n      outbound_on_match: redact\n      naive_injection_detection: false\n",
    );
    let r = resolved(&f, &["b"]);
    let dlp = bb_plan::manifest::bottle::DlpSpec::resolve(r.routes[0].dlp.as_ref(), OnMatch::Block);
    assert_eq!(dlp.outbound, vec![OutboundDetector::KnownSecrets]);
    assert!(dlp.inbound.is_empty(), "naive_injection_detection: false");
    assert_eq!(dlp.on_match, OnMatch::Redact);
}

#[test]
fn a_setting_given_by_old_and_new_key_is_refused() {
    let f = Fixture::new();
    f.bottle(
        "b",
        "egress:\n  routes:\n    - host: a.example.org\n      dlp: {inbound: [injection]}\n      inbound_detectors: false\n",
    );
    let catalog = Catalog::discover(&f.home(), &f.path("repo")).unwrap();
    let err = resolve(&catalog, &["b".to_string()], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("egress.routes[0].inbound_detectors"), "{err}");
    assert!(err.contains("keep only `dlp.inbound`"), "{err}");
}

#[test]
fn claude_agent_file_keys_are_accepted_and_ignored() {
    let f = Fixture::new();
    f.bottle("b", "");
    f.agent(
        "a",
        "name: a\ndescription: d\nmodel: opus\ncolor: red\nmemory: project\ntools: [Read, Bash]\nbottle: b\n",
        "\n  Body with spaces.  \n",
    );
    let catalog = Catalog::discover(&f.home(), &f.path("repo")).unwrap();
    let (_, agent) = catalog.load_agent("a").unwrap();
    assert_eq!(agent.prompt, "Body with spaces.");
}

#[test]
fn git_gate_rules_path_is_relative_to_the_bottle_and_merges_per_field() {
    let f = Fixture::new();
    f.bottle("base", "git-gate:\n  rules: gitleaks.toml\n");
    f.bottle("child", "extends: base\n");
    let r = resolved(&f, &["child"]);
    assert_eq!(
        r.rules.as_ref().unwrap().value,
        f.home().join("bottles/gitleaks.toml")
    );
}
