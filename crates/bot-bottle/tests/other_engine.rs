//! A bottle launched on another Docker engine than the one in reach: `stop`, `reload` and
//! `logs` refuse with how to reach it, and `cleanup` keeps its state (removing it would orphan
//! the containers, their tokens and CA key on that engine). The engine in reach is a Docker CLI
//! that answers as a different daemon (`BB_DOCKER`): no real engine is touched.

use std::path::PathBuf;

use bb_testkit::{Fixture, text};

/// A daemon with another ID, with no containers, networks or volumes.
const FAKE_DOCKER: &str = r#"#!/bin/sh
case " $* " in
  *" info "*) echo 'THIS:ENGINE:ID' ;;
  *" context inspect "*) echo 'unix:///var/run/docker.sock' ;;
esac
exit 0
"#;

fn setup() -> (Fixture, PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let docker = f.path("docker");
    std::fs::write(&docker, FAKE_DOCKER).unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let identity = "fixer-x7k2p".to_string();
    let record = r#"{"id": "OTHER:ENGINE:ID", "endpoint": "ssh://builder@big-host"}"#;
    f.write(&format!("home/state/{identity}/engine.json"), record);
    (f, docker, identity)
}

#[test]
fn commands_on_a_bottle_of_another_engine_name_it_and_cleanup_keeps_its_state() {
    let (f, docker, identity) = setup();
    let run = |args: &[&str]| {
        f.cmd("bot-bottle")
            .env("BB_DOCKER", &docker)
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        vec!["stop", identity.as_str()],
        vec!["reload", identity.as_str()],
        vec!["logs", identity.as_str()],
    ] {
        let out = run(&args);
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("runs on another Docker engine (ssh://builder@big-host)")
                && stderr.contains("DOCKER_HOST=ssh://builder@big-host"),
            "{args:?}: {stderr}"
        );
    }
    let out = run(&["cleanup", "--yes"]);
    let stderr = text(&out).1;
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("its bottle is on another engine (ssh://builder@big-host)"),
        "{stderr}"
    );
    assert!(
        f.home().join("state").join(&identity).is_dir(),
        "the state of a bottle on another engine is kept"
    );
}
