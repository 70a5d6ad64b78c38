//! `bb-kube render` over the fixture plans: the whole output in review (golden files), no
//! secret value in it, every Secret empty, and one line with its fix for each bad input.

use std::path::Path;

use assert_cmd::Command;
use bb_kube::{List, Object, Options};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const ALL: [&str; 4] = ["plain", "gvisor", "routes", "repos"];
const SIDECAR_IP: &str = "10.96.0.200";

/// A fixture plan's JSON, its host files where the fixtures are.
fn plan_text(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(format!("{name}.json")))
        .unwrap()
        .replace("@FIXTURES@", FIXTURES)
}

fn options() -> Options {
    Options {
        sidecar_ip: Some(SIDECAR_IP.parse().unwrap()),
        ..Options::default()
    }
}

fn render(name: &str, opts: &Options) -> Vec<Object> {
    let plan = bb_contract::Plan::from_json(&plan_text(name)).unwrap();
    let opts = Options {
        files: bb_kube::config::read_host_files(&plan).unwrap(),
        ..opts.clone()
    };
    bb_kube::render(&plan, &opts).unwrap()
}

fn bb_kube(name: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("bb-kube")
        .unwrap()
        .arg("render")
        .args(args)
        .write_stdin(plan_text(name))
        .assert()
}

/// The whole List of each fixture: any change to what a cluster gets shows up in review.
#[test]
fn rendered_lists() {
    for name in ALL {
        let text = List::new(render(name, &options()))
            .to_json()
            .replace(FIXTURES, "<fixtures>");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn gvisor_plans_get_the_runtime_class_and_the_flag_overrides_it() {
    let class = |name: &str, flag: Option<&str>| {
        let opts = Options {
            runtime_class: flag.map(str::to_string),
            ..options()
        };
        let objects = render(name, &opts);
        let Some(Object::Pod(pod)) = objects.last() else {
            panic!("the agent Pod comes last")
        };
        pod.spec.as_ref().unwrap().runtime_class_name.clone()
    };
    assert_eq!(class("gvisor", None).as_deref(), Some("gvisor"));
    assert_eq!(class("plain", None), None);
    assert_eq!(class("plain", Some("kata")).as_deref(), Some("kata"));
    assert_eq!(class("gvisor", Some("runsc")).as_deref(), Some("runsc"));
}

/// Values the fixtures' host environment and key files hold: none may reach the output.
const PLANTED: [(&str, &str); 4] = [
    (
        "CLAUDE_CODE_OAUTH_TOKEN",
        "sk-ant-oat01-PLANTED-oauth-5c1a9e",
    ),
    ("CARGO_REGISTRY_TOKEN", "cio_PLANTED_registry_77f0b2"),
    ("DB_PASSWORD", "PLANTED-db-password-e3d4"),
    ("BOT_BOTTLE_CANARY", "bbcanary_PLANTEDPLANTEDPLANTED0123456"),
];

#[test]
fn no_secret_value_reaches_the_output() {
    let ca_key = std::fs::read_to_string(Path::new(FIXTURES).join("ca-key.pem")).unwrap();
    let deploy_key = std::fs::read_to_string(Path::new(FIXTURES).join("deploy_key")).unwrap();
    let secrets: Vec<&str> = PLANTED
        .iter()
        .map(|(_, v)| *v)
        .chain(["PLANTED-CA-KEY", "PLANTED-DEPLOY-KEY"])
        .collect();
    assert!(ca_key.contains("PLANTED-CA-KEY") && deploy_key.contains("PLANTED-DEPLOY-KEY"));
    for name in ALL {
        for format in ["json", "yaml"] {
            let out = Command::cargo_bin("bb-kube")
                .unwrap()
                .args(["render", "--sidecar-ip", SIDECAR_IP, "--format", format])
                .envs(PLANTED)
                .write_stdin(plan_text(name))
                .assert()
                .success()
                .get_output()
                .clone();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            for secret in &secrets {
                assert!(!text.contains(secret), "{name} {format}: {secret}");
            }
        }
    }
}

#[test]
fn every_secret_is_rendered_empty_and_says_who_fills_it() {
    for name in ALL {
        for object in render(name, &options()) {
            let Object::Secret(secret) = object else {
                continue;
            };
            assert_eq!((&secret.data, &secret.string_data), (&None, &None));
            let notes = secret.metadata.annotations.unwrap();
            assert_eq!(notes["bot-bottle.filled-by"], "bb-kube apply");
            assert!(!notes["bot-bottle.secret-keys"].is_empty());
        }
    }
}

#[test]
fn yaml_reads_back_as_the_json() {
    for name in ALL {
        let json = bb_kube(name, &["--sidecar-ip", SIDECAR_IP]).success();
        let yaml = bb_kube(name, &["--sidecar-ip", SIDECAR_IP, "--format", "yaml"]).success();
        let from_json: Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
        let text = String::from_utf8(yaml.get_output().stdout.clone()).unwrap();
        let from_yaml: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(from_yaml, from_json, "{name}");
        assert_eq!(from_json["kind"], "List");
    }
}

/// Exit status 2 and one line on stderr that holds `needle`.
fn refused(name: &str, plan: Option<String>, args: &[&str], needle: &str) {
    let out = Command::cargo_bin("bb-kube")
        .unwrap()
        .arg("render")
        .args(args)
        .write_stdin(plan.unwrap_or_else(|| plan_text(name)))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_is_refused_on_one_line_with_its_fix() {
    refused("plain", None, &[], "--sidecar-ip is required");
    refused(
        "plain",
        None,
        &["--sidecar-ip", "sidecar"],
        "--sidecar-ip: `sidecar` is not an IPv4 address; pass a free address",
    );
    refused(
        "plain",
        None,
        &["--sidecar-ip", SIDECAR_IP, "--pod-cidr", "10.244.0.0/99"],
        "--pod-cidr: `10.244.0.0/99` has a prefix length",
    );
    refused(
        "plain",
        None,
        &["--sidecar-ip", "192.168.0.10"],
        "is not a host address of the service CIDR 10.96.0.0/12",
    );
    let mut plan: Value = serde_json::from_str(&plan_text("plain")).unwrap();
    plan.as_object_mut().unwrap().remove("compose");
    let args = ["--sidecar-ip", SIDECAR_IP];
    refused(
        "plain",
        Some(plan.to_string()),
        &args,
        "pass --sidecar-image IMAGE",
    );
    plan.as_object_mut().unwrap().remove("ca");
    refused("plain", Some(plan.to_string()), &args, "run bb-ca first");
    refused("plain", Some("{}".into()), &args, "not a bot-bottle plan");
}

#[test]
fn a_sidecar_image_flag_needs_no_compose_stage() {
    let mut plan: Value = serde_json::from_str(&plan_text("plain")).unwrap();
    plan.as_object_mut().unwrap().remove("compose");
    let out = Command::cargo_bin("bb-kube")
        .unwrap()
        .args([
            "render",
            "--sidecar-ip",
            SIDECAR_IP,
            "--sidecar-image",
            "reg.example/s:1",
        ])
        .write_stdin(plan.to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"image\": \"reg.example/s:1\""));
}

#[test]
fn help_shows_an_example() {
    let out = Command::cargo_bin("bb-kube")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Examples:")
            && [
                "bb-kube render",
                "bb-kube apply",
                "bb-kube delete",
                "bb-kube exec"
            ]
            .iter()
            .all(|c| text.contains(c)),
        "{text}"
    );
}
