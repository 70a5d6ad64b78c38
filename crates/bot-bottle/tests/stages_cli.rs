//! Contract checks every stage shares, with no engine needed: a plan of a newer schema, or a
//! plan missing the stage before, is refused with exit status 2 and nothing is created.

use bb_testkit::{Fixture, PLANTED, spec_example};

fn plan(f: &Fixture) -> serde_json::Value {
    let out = f
        .cmd("bb-plan")
        .args(["fixer", "--runtime", "runc"])
        .envs(PLANTED.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

const STAGES: &[&[&str]] = &[
    &["bb-net"],
    &["bb-net", "rm"],
    &["bb-ca"],
    &["bb-compose", "render"],
    &["bb-compose", "up"],
    &["bb-compose", "down"],
    &["bb-provision"],
    &["bb-exec"],
];

#[test]
fn every_stage_refuses_a_newer_schema() {
    let f = Fixture::new();
    spec_example(&f);
    let mut newer = plan(&f);
    newer["schema"] = "bot-bottle.plan/v2".into();
    for stage in STAGES {
        let out = f
            .cmd(stage[0])
            .args(&stage[1..])
            .write_stdin(newer.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stage:?}: {stderr}");
        assert!(
            stderr.contains("newer than this tool's bot-bottle.plan/v1"),
            "{stage:?}: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{stage:?}: one line: {stderr}"
        );
    }
}

#[test]
fn stages_name_the_missing_earlier_stage() {
    let f = Fixture::new();
    spec_example(&f);
    let fresh = plan(&f).to_string();
    for (stage, needle) in [
        (&["bb-compose", "render"][..], "run bb-net first"),
        (&["bb-provision"][..], "run bb-compose up first"),
        (&["bb-exec"][..], "run bb-provision first"),
    ] {
        let out = f
            .cmd(stage[0])
            .args(&stage[1..])
            .write_stdin(fresh.clone())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stage:?}: {stderr}");
        assert!(stderr.contains(needle), "{stage:?}: {stderr}");
    }
}

#[test]
fn every_tool_has_help_with_a_pipeline_example() {
    let f = Fixture::new();
    for tool in [
        "bb-plan",
        "bb-net",
        "bb-ca",
        "bb-compose",
        "bb-provision",
        "bb-exec",
        "bot-bottle",
    ] {
        let out = f.cmd(tool).arg("--help").output().unwrap();
        assert!(out.status.success(), "{tool}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{tool}: {text}");
    }
}
