//! `bot-bottle cleanup` after the wrapper was killed with SIGKILL. Its own test binary, run
//! alone: cleanup removes every bottle on the engine, so no other test may run beside it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bb_testkit::{DockerCleanup, Fixture, require_images, simple_bottle, unique_name};

#[test]
fn cleanup_after_a_killed_wrapper_removes_everything_but_preserved_state() {
    require_images();
    let f = Fixture::new();
    let name = unique_name("clean");
    let _cleanup = DockerCleanup::new(&name);
    let env = simple_bottle(&f, &name, "egress:\n  routes:\n    - host: allowed.test\n");
    let mut child = f
        .spawnable("bot-bottle")
        .args([
            "start",
            &name,
            "--headless",
            "--runtime",
            "runc",
            "--prompt",
        ])
        .arg("run:touch /tmp/ready; sleep 600")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("bot-bottle-{name}-");
    let names = |args: &[&str]| -> Vec<String> {
        let out = Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let agent = loop {
        assert!(Instant::now() < deadline, "the agent never got ready");
        if let Some(agent) = names(&["ps", "--format", "{{.Names}}"])
            .into_iter()
            .find(|n| n.ends_with("-agent"))
            && Command::new("docker")
                .args(["exec", &agent, "test", "-e", "/tmp/ready"])
                .status()
                .unwrap()
                .success()
        {
            break agent;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap(); // SIGKILL: no teardown ran
    child.wait().unwrap();
    assert!(!names(&["ps", "--format", "{{.Names}}"]).is_empty());
    let identity = agent
        .trim_start_matches("bot-bottle-")
        .trim_end_matches("-agent")
        .to_string();
    let state = f.home().join("state");
    // A preserved bottle's home volume stays; the killed launch's goes.
    let kept_volume = format!("bot-bottle-{name}-kept-home");
    let made = Command::new("docker")
        .args([
            "volume",
            "create",
            "--label",
            "bot-bottle.identity=kept-abcde",
        ])
        .args(["--label", "bot-bottle.role=home", &kept_volume])
        .output()
        .unwrap();
    assert!(made.status.success());
    std::fs::create_dir_all(state.join("kept-abcde")).unwrap();
    std::fs::write(state.join("kept-abcde/.preserve"), "").unwrap();
    std::fs::create_dir_all(state.join("orphan-fghij")).unwrap();

    let out = f
        .spawnable("bot-bottle")
        .args(["cleanup", "--yes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("container  {agent}")), "{stdout}");
    assert!(
        stdout.contains(&format!("network    bot-bottle-{identity}-internal")),
        "{stdout}"
    );
    assert!(stderr.contains("kept-abcde (.preserve)"), "{stderr}");
    assert!(names(&["ps", "-a", "--format", "{{.Names}}"]).is_empty());
    assert!(names(&["network", "ls", "--format", "{{.Name}}"]).is_empty());
    assert!(!state.join(&identity).exists(), "the killed launch's state");
    assert!(!state.join("orphan-fghij").exists());
    assert!(state.join("kept-abcde/.preserve").exists());
    assert!(
        stdout.contains(&format!("volume     bot-bottle-{identity}-home")),
        "{stdout}"
    );
    let volumes = names(&["volume", "ls", "--format", "{{.Name}}"]);
    assert_eq!(
        volumes,
        std::slice::from_ref(&kept_volume),
        "only the preserved home is left"
    );

    // Nothing left: says so and exits 0.
    let out = f
        .spawnable("bot-bottle")
        .args(["cleanup"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
