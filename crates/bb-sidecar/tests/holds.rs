//! DLP holds in-process: a route that says `on_match: supervise` holds a request its content
//! checks flag, files the hold in the supervise folder and waits for the decision file the
//! operator (played by a task here, as `bot-bottle supervise` writes it) puts next to it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bb_contract::plan::EgressPlan;
use bb_contract::supervise::{self, Decision, Proposal, Verdict};
use bb_sidecar::secrets::Secrets;
use bb_sidecar::supervise::holds::Holds;
use bb_sidecar::supervise::queue::Queue;
use common::*;
use serde_json::{Value, json};

/// An AWS access key id (the `aws-access-key-id` rule of `token_patterns`).
const KEY: &str = "AKIAZ7QW3RTY5UIO2PAS";
/// The bottle's own token: a known secret, never held.
const TOKEN: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy";

struct Held {
    proxy: Proxy,
    dir: PathBuf,
    routes_file: PathBuf,
    _tmp: tempfile::TempDir,
}

fn held_route(host: &str) -> Value {
    let mut r = route(host);
    r["dlp"] = json!({"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "supervise"});
    r
}

async fn start_holding(timeout: Duration, with_queue: bool) -> Held {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("supervise");
    std::fs::create_dir(&dir).unwrap();
    let routes_file = tmp.path().join("routes.json");
    let table = json!({"routes": [held_route("api.test")], "token_slots": []});
    std::fs::write(&routes_file, table.to_string()).unwrap();
    let mut setup = Setup::new(plan(vec![held_route("api.test")]));
    setup.secrets = Secrets::from_values([("EGRESS_TOKEN_1".to_owned(), TOKEN.to_owned())], None);
    setup.inspector = Some(Arc::new(bb_sidecar::inspect::DetectInspector::new(
        &setup.secrets,
    )));
    let (log, _) = bb_sidecar::log::Log::memory();
    let holds =
        with_queue.then(|| Arc::new(Holds::new(Arc::new(Queue::new(dir.clone(), timeout)), log)));
    setup.holds = holds.clone();
    let proxy = start(setup).await;
    if let Some(holds) = holds {
        let (file, routes, log) = (
            routes_file.clone(),
            proxy.routes.clone(),
            bb_sidecar::log::Log::memory().0,
        );
        holds.reload_with(Arc::new(move || {
            bb_sidecar::config::reload(&file, &routes, &log);
        }));
    }
    Held {
        proxy,
        dir,
        routes_file,
        _tmp: tmp,
    }
}

fn proposals(dir: &Path) -> Vec<Proposal> {
    let Ok(entries) = std::fs::read_dir(dir.join(supervise::PROPOSALS)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| supervise::read_whole(&e.path()).ok().flatten())
        .collect()
}

/// Answers the first hold without a decision: `Approved` once, or (`life`) with the rule
/// released on the route in the routes file; `Rejected` with a reason.
fn operator(held: &Held, verdict: Verdict, life: bool) -> tokio::task::JoinHandle<Proposal> {
    let (dir, routes_file) = (held.dir.clone(), held.routes_file.clone());
    tokio::spawn(answer_next(dir, routes_file, verdict, life))
}

/// Releases the next `n` holds once, one after the other.
fn releases(held: &Held, n: usize) -> tokio::task::JoinHandle<Vec<Proposal>> {
    let (dir, routes_file) = (held.dir.clone(), held.routes_file.clone());
    tokio::spawn(async move {
        let mut answered = Vec::new();
        for _ in 0..n {
            let p = answer_next(dir.clone(), routes_file.clone(), Verdict::Approved, false);
            answered.push(p.await);
        }
        answered
    })
}

async fn answer_next(dir: PathBuf, routes_file: PathBuf, verdict: Verdict, life: bool) -> Proposal {
    {
        let proposal = loop {
            let waiting = proposals(&dir)
                .into_iter()
                .find(|p| !supervise::decision_path(&dir, &p.id).exists());
            if let Some(p) = waiting {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let hold = proposal.hold.clone().expect("a hold");
        let route = (verdict == Verdict::Approved && life).then(|| {
            let mut egress: EgressPlan =
                serde_json::from_slice(&std::fs::read(&routes_file).unwrap()).unwrap();
            let route = egress
                .routes
                .iter_mut()
                .find(|r| r.host == hold.route)
                .unwrap();
            route.dlp.released.push(hold.rule.clone());
            let kept = route.clone();
            supervise::write_whole(&routes_file, &egress).unwrap();
            kept
        });
        let decision = Decision {
            id: proposal.id.clone(),
            verdict,
            reason: (verdict == Verdict::Rejected).then(|| "that key is live".to_string()),
            route,
            decided_at: supervise::now(),
        };
        supervise::write_whole(&supervise::decision_path(&dir, &proposal.id), &decision).unwrap();
        proposal
    }
}

fn post(port: u16, path: &str, body: &str) -> String {
    format!(
        "POST http://api.test:{port}{path} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_held_request_waits_for_the_operator_and_goes_on_as_sent_when_released() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    let body = format!("key={KEY}");
    let operator = operator(&held, Verdict::Approved, false);
    let answer = send(held.proxy.addr, &post(port, "/upload?x=1", &body)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains(&body),
        "sent as it was: {}",
        answer.body
    );
    let proposal = operator.await.unwrap();
    let hold = proposal.hold.as_ref().unwrap();
    assert_eq!(
        (
            hold.route.as_str(),
            hold.detector.as_str(),
            hold.rule.as_str(),
            hold.part.as_str()
        ),
        ("api.test", "token_patterns", "aws-access-key-id", "body")
    );
    assert_eq!(
        (hold.method.as_str(), hold.path.as_deref()),
        ("POST", Some("/upload"))
    );
    assert!(proposal.is_well_formed(), "{proposal:?}");
    let filed = std::fs::read_to_string(supervise::proposal_path(&held.dir, &proposal.id)).unwrap();
    assert!(
        !filed.contains(KEY),
        "the hold names the rule, never the text: {filed}"
    );

    // Released once: the same request is held again, and a refusal reaches the agent.
    let operator = self::operator(&held, Verdict::Rejected, false);
    let refused = send(held.proxy.addr, &post(port, "/upload", &body)).await;
    operator.await.unwrap();
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("that key is live"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("aws-access-key-id"),
        "{}",
        refused.body
    );
    assert_eq!(hits.requests(), 1, "the refused request never left");
}

#[tokio::test]
async fn a_release_for_the_bottles_life_is_remembered_on_the_route() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    let body = format!("key={KEY}");
    let operator = operator(&held, Verdict::Approved, true);
    let first = send(held.proxy.addr, &post(port, "/a", &body)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    operator.await.unwrap();
    let again = send(held.proxy.addr, &post(port, "/b", &body)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(proposals(&held.dir).len(), 1, "not held a second time");
    assert_eq!(hits.requests(), 2);
    let lines = held.proxy.lines.json();
    let last = lines
        .iter()
        .rev()
        .find(|l| l["service"] == "egress")
        .unwrap();
    assert_eq!(last["verdict"], "allow");
    assert_eq!(
        last["detector"], "token_patterns",
        "a released rule still shows: {last}"
    );
}

#[tokio::test]
async fn silence_refuses_and_known_secrets_are_never_held() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(1), true).await;
    let timed_out = send(held.proxy.addr, &post(port, "/u", &format!("k={KEY}"))).await;
    assert_eq!(timed_out.status, 403);
    assert!(
        timed_out
            .body
            .contains("no answer from the operator within 1 s"),
        "{}",
        timed_out.body
    );
    assert_eq!(proposals(&held.dir).len(), 1);

    let token = send(held.proxy.addr, &post(port, "/u", &format!("t={TOKEN}"))).await;
    assert_eq!(token.status, 403);
    assert!(token.body.contains("known_secrets"), "{}", token.body);
    assert_eq!(
        proposals(&held.dir).len(),
        1,
        "the bottle's token is not held"
    );

    let nobody = start_holding(Duration::from_secs(1), false).await;
    let alone = send(nobody.proxy.addr, &post(port, "/u", &format!("k={KEY}"))).await;
    assert_eq!(alone.status, 403);
    assert!(alone.body.contains("nobody can be asked"), "{}", alone.body);
    assert_eq!(hits.requests(), 0);
}

#[tokio::test]
async fn a_finding_in_the_url_is_held_without_the_path() {
    let (port, _hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    let operator = operator(&held, Verdict::Approved, false);
    let get = get(&format!("http://api.test:{port}/keys/{KEY}"), "api.test");
    let answer = send(held.proxy.addr, &get).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let hold = operator.await.unwrap().hold.unwrap();
    assert_eq!(hold.part, "url");
    assert_eq!(hold.path, None, "the path holds the finding");
}

/// A GitHub token (the `github-pat` rule), a second finding beside [`KEY`].
const PAT: &str = "ghp_R8mK2pQ7vX4nL9tB3wY6zD1cF5hJ0sA2eG8u";

#[tokio::test]
async fn what_the_operator_is_shown_holds_no_secret_even_after_a_release() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    // The key in the path is held first, without the path; released once, the token in the
    // body is held next: still without the path, which holds the key.
    let twice = releases(&held, 2);
    let answer = send(
        held.proxy.addr,
        &post(port, &format!("/keys/{KEY}"), &format!("t={PAT}")),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let holds: Vec<_> = twice
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.hold.unwrap())
        .collect();
    assert_eq!(holds[0].part, "url");
    assert_eq!(holds[1].part, "body");
    assert_eq!(
        (holds[0].path.as_deref(), holds[1].path.as_deref()),
        (None, None)
    );

    // A secret as the method: the hold names another method.
    let operator = operator(&held, Verdict::Rejected, false);
    let method = format!(
        "{KEY} http://api.test:{port}/m HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    let refused = send(held.proxy.addr, &method).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let hold = operator.await.unwrap().hold.unwrap();
    assert_eq!(
        (hold.part.as_str(), hold.method.as_str()),
        ("method", "OTHER")
    );
    for p in proposals(&held.dir) {
        let filed = std::fs::read_to_string(supervise::proposal_path(&held.dir, &p.id)).unwrap();
        assert!(!filed.contains(KEY) && !filed.contains(PAT), "{filed}");
        assert!(p.is_well_formed(), "{p:?}");
    }
    assert_eq!(hits.requests(), 1);
}

#[tokio::test]
async fn a_known_secret_anywhere_refuses_before_the_operator_is_asked() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    let body = format!("k={KEY}");
    let request = format!(
        "POST http://api.test:{port}/u HTTP/1.1\r\nHost: api.test\r\nX-Note: {TOKEN}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let refused = send(held.proxy.addr, &request).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("known_secrets"), "{}", refused.body);
    assert!(proposals(&held.dir).is_empty(), "nobody was asked");
    assert_eq!(hits.requests(), 0);
}

#[tokio::test]
async fn an_answer_that_does_not_release_the_hold_releases_nothing() {
    let (port, hits) = start_upstream().await;
    let held = start_holding(Duration::from_secs(20), true).await;
    let (dir, routes_file) = (held.dir.clone(), held.routes_file.clone());
    // An operator's tool that reads the hold as a request for a route.
    let operator = tokio::spawn(async move {
        let proposal = loop {
            if let Some(p) = proposals(&dir).into_iter().next() {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let route: bb_contract::plan::Route =
            serde_json::from_value(held_route("api.test")).unwrap();
        let _ = routes_file;
        let decision = Decision {
            id: proposal.id.clone(),
            verdict: Verdict::Approved,
            reason: None,
            route: Some(route),
            decided_at: supervise::now(),
        };
        supervise::write_whole(&supervise::decision_path(&dir, &proposal.id), &decision).unwrap();
    });
    let refused = send(held.proxy.addr, &post(port, "/u", &format!("k={KEY}"))).await;
    operator.await.unwrap();
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("does not release this hold"),
        "{}",
        refused.body
    );
    assert_eq!(hits.requests(), 0);
}
