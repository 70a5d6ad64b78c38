//! The hook service against real `git push`es into a mirror set up as `serve` sets it up: the
//! pre-receive hook asks the gate's process, which judges with the rules it loaded at its start
//! and reads the pushed objects from git's quarantine. No Docker: upstream is a closed port on
//! loopback, so a push that passes the judging fails at the forward.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bb_gitgate::config::Paths;
use bb_gitgate::hookd::HookService;
use bb_gitgate::hooks;

const RULES: &str = r#"
[[rules]]
id = "test-internal-token"
regex = '''intok_[a-z0-9]{16}'''
"#;
const TOKEN: &str = "intok_0123456789abcdef";

struct Gate {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    rules: PathBuf,
    paths: Paths,
    work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.org")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.org")
        .output()
        .expect("git")
}

/// A gate root with the mirror of `shop` and its hook (what `serve` sets up), and a work tree.
fn gate() -> Gate {
    let tmp = tempfile::tempdir().unwrap();
    let host_key = bb_testkit::ssh_keygen(&tmp.path().join("hostkey"));
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let rules = tmp.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let config = tmp.path().join("repos.json");
    let repos = serde_json::json!({
        "repos": [{
            "name": "shop",
            "url": "ssh://git@127.0.0.1:1/srv/git/shop.git",
            "url_as_written": "ssh://git@127.0.0.1:1/srv/git/shop.git",
            "ssh_user": "git",
            "host": "127.0.0.1",
            "port": 1,
            "path": "/srv/git/shop.git",
            "key_path": "/host/only/key",
            "host_key": host_key.join(" "),
        }],
        "rules": rules,
        "key_dir": tmp.path().join("keys"),
    });
    std::fs::write(&config, repos.to_string()).unwrap();
    let paths = Paths::new(&tmp.path().join("root")).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_bb-gitgate"));
    let mut agents = bb_gitgate::agent::Agents::default();
    bb_gitgate::serve::setup(&config, &paths, exe, &mut agents).expect("setup");
    let work = tmp.path().join("work");
    assert!(git(tmp.path(), &["init", "-q", "work"]).status.success());
    Gate {
        _tmp: tmp,
        config,
        rules,
        paths,
        work,
    }
}

impl Gate {
    /// Starts the hook service with the rules as they are now.
    fn serve_hooks(&self) -> Arc<HookService> {
        let config = bb_gitgate::config::load(&self.config).unwrap();
        let detectors = hooks::load_detectors(&config).map(Arc::new);
        let service = HookService::new(self.config.clone(), self.paths.clone(), &config, detectors);
        service.spawn().expect("hook socket");
        service
    }

    /// Commits `text` in a new file on a history of its own and pushes it to the mirror;
    /// returns git's output.
    fn push(&self, file: &str, text: &str) -> String {
        assert!(
            git(&self.work, &["switch", "-q", "--orphan", file])
                .status
                .success()
        );
        std::fs::write(self.work.join(file), text).unwrap();
        assert!(git(&self.work, &["add", file]).status.success());
        assert!(
            git(&self.work, &["commit", "-q", "-m", file])
                .status
                .success()
        );
        let mirror = self.paths.mirror("shop");
        let out = git(
            &self.work,
            &[
                "push",
                &mirror.display().to_string(),
                "HEAD:refs/heads/main",
            ],
        );
        assert!(!out.status.success(), "nothing reaches the mirror here");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn pushes_are_judged_with_the_rules_loaded_at_the_start() {
    let gate = gate();
    let _service = gate.serve_hooks();
    // The file changes after the start: the service keeps what it loaded.
    std::fs::write(&gate.rules, "[[rules]]\nid = broken").unwrap();

    let out = gate.push("t.txt", &format!("tok: {TOKEN}\n"));
    assert!(out.contains("gitleaks:test-internal-token"), "{out}");
    assert!(out.contains("t.txt:1"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");
    assert!(!out.contains("cannot be used"), "{out}");

    // A clean push passes the judging (read from the quarantine) and fails only at upstream.
    let out = gate.push("clean.txt", "nothing here\n");
    assert!(!out.contains("rule "), "{out}");
    assert!(out.contains("the gate's refs were not moved"), "{out}");
}

#[test]
fn without_the_service_the_hook_loads_the_rules_itself() {
    let gate = gate();
    let out = gate.push("t.txt", &format!("tok: {TOKEN}\n"));
    assert!(out.contains("gitleaks:test-internal-token"), "{out}");

    std::fs::write(&gate.rules, "[[rules]]\nid = broken").unwrap();
    let out = gate.push("u.txt", "nothing here\n");
    assert!(
        out.contains("the gate's rules file cannot be used"),
        "{out}"
    );
}
