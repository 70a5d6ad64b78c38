//! `bot-bottle supervise` over bottles' supervise folders as their sidecars fill them: the
//! script flags (`--once`, `--json`, `--approve`, `--reject`) and the interactive queue driven
//! in tmux as an operator would. No Docker: the bottles are state folders (their sidecars are
//! not running, which the approval reports).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bb_contract::plan::EgressPlan;
use bb_contract::supervise::{self, Decision, EgressRequest, Proposal, Verdict};
use bb_testkit::Fixture;

const LATER: &str = "2999-01-01T00:00:00Z";

fn bottle(f: &Fixture, identity: &str) -> PathBuf {
    let dir = f.home().join("state").join(identity);
    std::fs::create_dir_all(dir.join("egress")).unwrap();
    std::fs::create_dir_all(dir.join("supervise")).unwrap();
    std::fs::write(
        dir.join(bb_contract::state::ROUTES_FILE),
        r#"{"routes": [], "token_slots": []}"#,
    )
    .unwrap();
    dir
}

/// Files a proposal as the bottle's sidecar does.
fn file(f: &Fixture, identity: &str, id: &str, host: &str, paths: &[&str]) {
    let p = Proposal {
        id: id.into(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: LATER.into(),
        request: EgressRequest {
            host: host.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            methods: vec![],
            reason: format!("the build needs {host}"),
        },
        hold: None,
    };
    let dir = f.home().join("state").join(identity).join("supervise");
    supervise::write_whole(&supervise::proposal_path(&dir, id), &p).unwrap();
}

fn run(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = f.cmd("bot-bottle").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn routes(f: &Fixture, identity: &str) -> EgressPlan {
    let path = f
        .home()
        .join("state")
        .join(identity)
        .join(bb_contract::state::ROUTES_FILE);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn decision(f: &Fixture, identity: &str, id: &str) -> Option<Decision> {
    let dir = f.home().join("state").join(identity).join("supervise");
    supervise::read_whole(&supervise::decision_path(&dir, id)).unwrap()
}

const A: &str = "aaaa0000000000000000000000000001";
const B: &str = "bbbb0000000000000000000000000002";

#[test]
fn scripts_list_approve_and_reject() {
    let f = Fixture::new();
    bottle(&f, "fixer-aaaaa");
    bottle(&f, "docs-bbbbb");
    file(&f, "fixer-aaaaa", A, "docs.rs", &["/crate/"]);
    file(&f, "docs-bbbbb", B, "pypi.org", &[]);

    let (code, out, err) = run(&f, &["supervise", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{A}  fixer-aaaaa  docs.rs paths /crate/")),
        "{out}"
    );
    assert!(out.contains("reason: the build needs pypi.org"), "{out}");
    let (_, out, _) = run(&f, &["supervise", "--once", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["identity"], "fixer-aaaaa");
    assert_eq!(listed[0]["request"]["host"], "docs.rs");

    let (code, out, err) = run(&f, &["supervise", "--approve", "aaaa"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("approved aaaa0000 for fixer-aaaaa: docs.rs is reachable now"),
        "{out}"
    );
    assert!(err.contains("not running"), "{err}");
    assert_eq!(routes(&f, "fixer-aaaaa").routes[0].host, "docs.rs");
    assert_eq!(
        decision(&f, "fixer-aaaaa", A).unwrap().verdict,
        Verdict::Approved
    );

    let (code, _, err) = run(&f, &["supervise", "--approve", A]);
    assert_eq!(code, 2, "answered twice: {err}");
    assert!(err.contains("already answered"), "{err}");
    let (code, _, err) = run(&f, &["supervise", "--approve", "0123"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no proposal"), "{err}");
    let (code, _, _) = run(&f, &["supervise", "--reject", B]);
    assert_eq!(code, 2, "a rejection needs --reason");

    let (code, out, err) = run(
        &f,
        &[
            "supervise",
            "--reject",
            B,
            "--reason",
            "use the mirror",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["verdict"], "rejected");
    assert_eq!(answer["identity"], "docs-bbbbb");
    assert_eq!(
        decision(&f, "docs-bbbbb", B).unwrap().reason.as_deref(),
        Some("use the mirror")
    );
    assert!(routes(&f, "docs-bbbbb").routes.is_empty());

    // Limited grants: one request, or minutes.
    const C: &str = "cccc0000000000000000000000000003";
    const D: &str = "dddd0000000000000000000000000004";
    file(&f, "docs-bbbbb", C, "crates.io", &[]);
    file(&f, "docs-bbbbb", D, "static.crates.io", &[]);
    let (code, _, err) = run(&f, &["supervise", "--approve", C, "--grant", "0m"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = run(&f, &["supervise", "--approve", C, "--grant", "once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("for one request"), "{out}");
    let (code, out, err) = run(&f, &["supervise", "--approve", D, "--grant", "30m"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("until 20"), "{out}");
    let granted = routes(&f, "docs-bbbbb").routes;
    let once = granted.iter().find(|r| r.host == "crates.io").unwrap();
    assert_eq!(once.grant.as_ref().unwrap().uses, Some(1));
    let timed = granted
        .iter()
        .find(|r| r.host == "static.crates.io")
        .unwrap();
    assert!(timed.grant.as_ref().unwrap().expires_at.is_some());

    let (code, out, _) = run(&f, &["supervise", "--once"]);
    assert_eq!(code, 0);
    assert!(out.contains("no pending requests"), "{out}");
    let (code, _, err) = run(&f, &["supervise"]);
    assert_eq!(code, 2, "the queue needs a terminal: {err}");
    assert!(err.contains("--once"), "{err}");
}

/// tmux, or a failure under CI (the interactive queue is tested in a real terminal).
fn tmux() -> Option<()> {
    let ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "tmux is needed under CI");
        eprintln!("tmux not found: the interactive queue is not tested");
        return None;
    }
    Some(())
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

impl Session {
    fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let status = std::process::Command::new("tmux")
            .args(["send-keys", "-t", &self.0])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn an_operator_approves_edits_and_rejects_in_the_queue() {
    if tmux().is_none() {
        return;
    }
    let f = Fixture::new();
    bottle(&f, "fixer-aaaaa");
    // An editor that narrows the route it is shown: /crate/ becomes /src/.
    let editor = f.write("editor.sh", "#!/bin/sh\nsed -i 's#/crate/#/src/#' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = env!("CARGO_BIN_EXE_bot-bottle");
    let name = format!("bb-supervise-{}", std::process::id());
    let line = format!(
        "env -i PATH=\"$PATH\" TERM=xterm HOME={} BOT_BOTTLE_HOME={} EDITOR={} {bin} supervise; sleep 30",
        f.path("user").display(),
        f.home().display(),
        editor.display()
    );
    let status = std::process::Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "30",
            "-s",
            &name,
            &line,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let session = Session(name);
    session.wait_for("the empty queue", |s| s.contains("0 pending"));

    // A request arrives while the queue is open, and `a` approves it.
    file(&f, "fixer-aaaaa", A, "docs.rs", &[]);
    session.wait_for("the request", |s| {
        s.contains("docs.rs") && s.contains("the build needs docs.rs")
    });
    session.keys(&["a"]);
    session.wait_for("the approval", |s| s.contains("approved aaaa0000"));
    assert_eq!(routes(&f, "fixer-aaaaa").routes[0].host, "docs.rs");

    // `e` opens the route in the editor; what it saves is granted.
    file(&f, "fixer-aaaaa", B, "crates.io", &["/crate/"]);
    session.wait_for("the second request", |s| s.contains("crates.io"));
    session.keys(&["e"]);
    session.wait_for("the edited approval", |s| s.contains("approved bbbb0000"));
    let granted = routes(&f, "fixer-aaaaa").routes;
    let crates = granted.iter().find(|r| r.host == "crates.io").unwrap();
    assert_eq!(crates.matches[0].paths[0].value, "/src/");

    // `r`, a reason, Enter.
    let c = "cccc0000000000000000000000000003";
    file(&f, "fixer-aaaaa", c, "pypi.org", &[]);
    session.wait_for("the third request", |s| s.contains("pypi.org"));
    session.keys(&["r"]);
    session.wait_for("the reason prompt", |s| {
        s.contains("reason for the rejection")
    });
    session.keys(&["use the mirror", "Enter"]);
    session.wait_for("the rejection", |s| s.contains("rejected cccc0000"));
    assert_eq!(
        decision(&f, "fixer-aaaaa", c).unwrap().reason.as_deref(),
        Some("use the mirror")
    );

    // `t`, minutes, Enter: a timed grant.
    let d = "dddd0000000000000000000000000004";
    file(&f, "fixer-aaaaa", d, "static.crates.io", &[]);
    session.wait_for("the fourth request", |s| s.contains("static.crates.io"));
    session.keys(&["t"]);
    session.wait_for("the minutes prompt", |s| {
        s.contains("minutes the approval lasts")
    });
    session.keys(&["15", "Enter"]);
    session.wait_for("the timed approval", |s| {
        s.contains("approved dddd0000") && s.contains("until")
    });
    session.keys(&["q"]);
}

/// `metadata.json` of a bottle launched with `bottles` from the fixture's repo.
fn launched_with(f: &Fixture, identity: &str, bottles: &[&str]) {
    let meta = serde_json::json!({
        "schema": "bot-bottle.plan/v1", "identity": identity, "agent": "fixer",
        "bottles": bottles, "cwd": f.path("repo"), "workspace": null, "label": null,
        "started_at": "2026-12-07T00:00:00Z", "compose_project": format!("bot-bottle-{identity}"),
        "runtime": "runc",
    });
    let path = f.home().join("state").join(identity).join("metadata.json");
    std::fs::write(path, meta.to_string()).unwrap();
}

#[test]
fn an_approval_is_kept_in_the_bottle_file_whose_routes_are_in_force() {
    let f = Fixture::new();
    // `shop` declares the routes; `fixer` extends it and declares none: the route goes to
    // `shop`, since a list in `fixer` would replace the inherited one.
    let shop = f.bottle(
        "shop",
        "# the shop\negress:\n  routes:\n    - host: pypi.org\n",
    );
    let fixer = f.bottle("fixer", "extends: shop\nenv:\n  RUST_LOG: info\n");
    let fixer_before = std::fs::read_to_string(&fixer).unwrap();
    f.agent("fixer", "bottle: fixer\n", "Fix things.");
    bottle(&f, "fixer-aaaaa");
    launched_with(&f, "fixer-aaaaa", &["fixer"]);
    file(&f, "fixer-aaaaa", A, "docs.rs", &["/crate/"]);
    file(&f, "fixer-aaaaa", B, "crates.io", &[]);

    let (code, _, err) = run(
        &f,
        &["supervise", "--approve", A, "--save", "--grant", "once"],
    );
    assert_eq!(code, 2, "only a lasting route is kept: {err}");
    let (code, _, err) = run(&f, &["supervise", "--approve", A, "--save"]);
    assert_eq!(code, 2, "no terminal to ask on: {err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(
        decision(&f, "fixer-aaaaa", A).is_none(),
        "nothing half-made"
    );

    let (code, out, err) = run(&f, &["supervise", "--approve", A, "--save", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved aaaa0000"), "{out}");
    assert!(
        err.contains(&format!("+++ {}", shop.display())),
        "the diff: {err}"
    );
    assert!(err.contains("+    - host: \"docs.rs\""), "{err}");
    let kept = std::fs::read_to_string(&shop).unwrap();
    assert!(
        kept.contains("    - host: pypi.org\n    # approved with bot-bottle supervise on "),
        "{kept}"
    );
    assert!(
        kept.contains(r#"      matches: [{"paths":[{"type":"prefix","value":"/crate/"}]}]"#),
        "{kept}"
    );
    assert_eq!(std::fs::read_to_string(&fixer).unwrap(), fixer_before);
    // The kept file still plans: the launch would have the route.
    let (code, out, err) = run(&f, &["info", "fixer"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("docs.rs"), "{out}");
}

/// Files a request the proxy holds on the bottle's route for `host`, as the sidecar does.
fn file_hold(f: &Fixture, identity: &str, id: &str, host: &str) {
    let hold = supervise::Hold {
        route: host.into(),
        detector: "token_patterns".into(),
        rule: "aws-access-key-id".into(),
        part: "body".into(),
        method: "POST".into(),
        path: Some("/upload".into()),
    };
    let p = Proposal {
        id: id.into(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: LATER.into(),
        request: hold.request(host),
        hold: Some(hold),
    };
    let dir = f.home().join("state").join(identity).join("supervise");
    supervise::write_whole(&supervise::proposal_path(&dir, id), &p).unwrap();
    let mut egress = routes(f, identity);
    if egress.routes.is_empty() {
        let mut route = EgressRequest {
            host: host.into(),
            paths: vec![],
            methods: vec![],
            reason: "r".into(),
        }
        .to_route();
        route.dlp.on_match = bb_contract::plan::OnMatch::Supervise;
        egress.routes.push(route);
        let path = f
            .home()
            .join("state")
            .join(identity)
            .join(bb_contract::state::ROUTES_FILE);
        supervise::write_whole(&path, &egress).unwrap();
    }
}

#[test]
fn a_held_request_is_listed_released_once_or_for_the_bottles_life() {
    let f = Fixture::new();
    bottle(&f, "fixer-aaaaa");
    file_hold(&f, "fixer-aaaaa", A, "api.example.org");
    file_hold(&f, "fixer-aaaaa", B, "api.example.org");
    let before = routes(&f, "fixer-aaaaa");

    let (code, out, err) = run(&f, &["supervise", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("held POST api.example.org/upload (aws-access-key-id in body)"),
        "{out}"
    );
    assert!(
        out.contains(
            "held: the proxy holds a POST request: token_patterns found aws-access-key-id in body"
        ),
        "{out}"
    );
    let (code, _, err) = run(&f, &["supervise", "--approve", A, "--save", "--yes"]);
    assert_eq!(code, 2, "a hold has no route to keep: {err}");
    let (code, _, err) = run(&f, &["supervise", "--approve", A, "--grant", "30m"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("once or for the bottle's life"), "{err}");

    let (code, out, err) = run(&f, &["supervise", "--approve", A]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("released aaaa0000 for fixer-aaaaa: the held request goes on unless another finding holds it (once)"),
        "{out}"
    );
    assert_eq!(routes(&f, "fixer-aaaaa"), before, "once: no route changed");
    assert_eq!(
        decision(&f, "fixer-aaaaa", A).unwrap().verdict,
        Verdict::Approved
    );

    let (code, out, err) = run(&f, &["supervise", "--approve", B, "--grant", "life"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("aws-access-key-id no longer holds requests to api.example.org"),
        "{out}"
    );
    assert_eq!(
        routes(&f, "fixer-aaaaa").routes[0].dlp.released,
        ["aws-access-key-id"]
    );
}
