use super::*;
use bb_contract::plan::EgressPlan;
use bb_contract::supervise::EgressRequest;

struct Fixture {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let root = home.join("state");
        Fixture {
            _tmp: tmp,
            home,
            root,
        }
    }

    fn bottle(&self, identity: &str) -> PathBuf {
        let dir = self.root.join(identity);
        std::fs::create_dir_all(dir.join("egress")).unwrap();
        std::fs::create_dir_all(dir.join(SUPERVISE_DIR)).unwrap();
        std::fs::write(
            dir.join(ROUTES_FILE),
            r#"{"routes": [], "token_slots": []}"#,
        )
        .unwrap();
        dir
    }

    /// Files a proposal as the sidecar does; returns its id.
    fn file(&self, identity: &str, host: &str, expires_at: &str) -> String {
        let id = format!("{:032x}", rand_id(identity, host));
        let p = Proposal {
            id: id.clone(),
            created_at: "2026-12-07T00:00:00Z".into(),
            expires_at: expires_at.into(),
            request: EgressRequest {
                host: host.into(),
                paths: vec![],
                methods: vec![],
                reason: "needed".into(),
            },
            hold: None,
        };
        let dir = self.root.join(identity).join(SUPERVISE_DIR);
        supervise::write_whole(&supervise::proposal_path(&dir, &id), &p).unwrap();
        id
    }

    /// Writes, as the file of proposal `id`, a decision that names `named`.
    fn decision_file(&self, identity: &str, id: &str, named: &str, verdict: Verdict) {
        let dir = self.root.join(identity).join(SUPERVISE_DIR);
        let d = Decision {
            id: named.into(),
            verdict,
            reason: (verdict == Verdict::Rejected).then(|| "later".into()),
            route: None,
            decided_at: "2026-12-07T00:00:01Z".into(),
        };
        supervise::write_whole(&supervise::decision_path(&dir, id), &d).unwrap();
    }

    fn open(&self) -> Supervise {
        Supervise::open(&self.home, &self.root).unwrap()
    }

    fn routes(&self, identity: &str) -> EgressPlan {
        let text = std::fs::read(self.root.join(identity).join(ROUTES_FILE)).unwrap();
        serde_json::from_slice(&text).unwrap()
    }
}

fn rand_id(a: &str, b: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (a, b).hash(&mut h);
    (u128::from(h.finish()) << 64) | 1
}

const LATER: &str = "2999-01-01T00:00:00Z";

#[test]
fn an_approval_writes_the_route_then_the_answer_then_the_row() {
    let f = Fixture::new();
    f.bottle("b1");
    let id = f.file("b1", "docs.rs", LATER);
    let mut s = f.open();
    assert_eq!(s.sync().unwrap().new, 1);
    assert_eq!(s.sync().unwrap().new, 0, "read twice, stored once");
    assert_eq!(s.pending().unwrap().len(), 1);

    let d = s.approve(&id, None, Scope::Life).unwrap();
    assert_eq!(d.verdict, Verdict::Approved);
    assert_eq!(f.routes("b1").routes[0].host, "docs.rs");
    let dir = f.root.join("b1").join(SUPERVISE_DIR);
    let file: Decision = supervise::read_whole(&supervise::decision_path(&dir, &id))
        .unwrap()
        .unwrap();
    assert_eq!(file, d);
    assert_eq!(
        s.store().decision(&id).unwrap().unwrap().outcome,
        Outcome::Approved
    );
    assert!(s.pending().unwrap().is_empty());

    let again = s.approve(&id, None, Scope::Life).unwrap_err();
    assert!(matches!(again, Error::AlreadyDecided(..)), "{again}");
    assert!(again.is_input());
    assert!(matches!(
        s.approve("nope", None, Scope::Life),
        Err(Error::NoSuchProposal(_))
    ));
}

#[test]
fn a_rejection_needs_a_reason_and_grants_nothing() {
    let f = Fixture::new();
    f.bottle("b1");
    let id = f.file("b1", "pypi.org", LATER);
    let mut s = f.open();
    s.sync().unwrap();
    assert!(s.reject(&id, "  ").unwrap_err().is_input());
    let d = s.reject(&id, "use the mirror").unwrap();
    assert_eq!(d.reason.as_deref(), Some("use the mirror"));
    assert!(f.routes("b1").routes.is_empty());
}

#[test]
fn an_edited_route_is_checked_and_granted_in_place_of_the_asked_one() {
    let f = Fixture::new();
    f.bottle("b1");
    let id = f.file("b1", "docs.rs", LATER);
    let mut s = f.open();
    s.sync().unwrap();
    let mut edited = EgressRequest {
        host: "docs.rs".into(),
        paths: vec!["/crate/".into()],
        methods: vec!["GET".into()],
        reason: "r".into(),
    }
    .to_route();
    let mut with_auth = edited.clone();
    with_auth.auth = Some(bb_contract::plan::RouteAuth {
        scheme: bb_contract::plan::AuthScheme::Bearer,
        slot: "EGRESS_TOKEN_1".into(),
        port: 443,
    });
    assert!(
        s.approve(&id, Some(with_auth), Scope::Life)
            .unwrap_err()
            .is_input()
    );
    edited.host = "static.docs.rs".into();
    let d = s.approve(&id, Some(edited), Scope::Life).unwrap();
    assert_eq!(d.route.unwrap().host, "static.docs.rs");
    assert_eq!(f.routes("b1").routes[0].matches[0].methods, ["GET"]);
}

#[test]
fn unanswered_proposals_expire_and_stray_files_are_skipped() {
    let f = Fixture::new();
    let dir = f.bottle("b1");
    let id = f.file("b1", "docs.rs", "2020-01-01T00:00:00Z");
    let stray = dir.join(SUPERVISE_DIR).join(PROPOSALS).join("junk.json");
    std::fs::write(&stray, "{}").unwrap();
    let mut s = f.open();
    let report = s.sync().unwrap();
    assert_eq!((report.new, report.expired), (1, 1));
    assert_eq!(report.skipped, [stray]);
    assert!(s.pending().unwrap().is_empty());
    assert!(matches!(
        s.approve(&id, None, Scope::Life),
        Err(Error::AlreadyDecided(_, "expired"))
    ));
}

#[test]
fn a_decision_file_without_its_row_is_recovered_at_the_next_sync() {
    let f = Fixture::new();
    f.bottle("b1");
    let id = f.file("b1", "docs.rs", LATER);
    let mut s = f.open();
    s.sync().unwrap();
    // A decider that wrote the answer and stopped before the row.
    f.decision_file("b1", &id, &id, Verdict::Rejected);
    assert_eq!(s.sync().unwrap().recovered, 1);
    assert_eq!(
        s.store().decision(&id).unwrap().unwrap().outcome,
        Outcome::Rejected
    );
    assert_eq!(s.sync().unwrap().recovered, 0);
}

#[test]
fn a_decision_file_for_another_proposal_is_not_taken() {
    let f = Fixture::new();
    f.bottle("b1");
    let id = f.file("b1", "docs.rs", LATER);
    let mut s = f.open();
    s.sync().unwrap();
    f.decision_file(
        "b1",
        &id,
        "ffffffffffffffffffffffffffffffff",
        Verdict::Approved,
    );
    assert_eq!(s.sync().unwrap().recovered, 0);
    assert_eq!(
        s.pending().unwrap().len(),
        1,
        "still waiting for the operator"
    );
}

#[test]
fn ten_bottles_and_two_operators_at_once_lose_and_double_nothing() {
    let f = Fixture::new();
    let mut ids = Vec::new();
    for b in 0..10 {
        let identity = format!("bottle-{b}");
        f.bottle(&identity);
        for h in 0..3 {
            ids.push((
                identity.clone(),
                f.file(&identity, &format!("h{h}.example.org"), LATER),
            ));
        }
    }
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut s = f.open();
                s.sync().unwrap();
                for (_, id) in &ids {
                    let _ = s.approve(id, None, Scope::Life);
                }
            });
        }
    });
    let s = f.open();
    let decisions = s.store().decisions().unwrap();
    assert_eq!(
        decisions.len(),
        ids.len(),
        "each proposal answered exactly once"
    );
    for b in 0..10 {
        let routes = f.routes(&format!("bottle-{b}")).routes;
        assert_eq!(routes.len(), 3, "bottle-{b}: {routes:?}");
    }
}

/// Files a request the proxy holds on the route of `route_host`; returns its id.
fn file_hold(f: &Fixture, identity: &str, route_host: &str, rule: &str) -> String {
    let id = format!("{:032x}", rand_id(identity, rule));
    let hold = supervise::Hold {
        route: route_host.into(),
        detector: "token_patterns".into(),
        rule: rule.into(),
        part: "body".into(),
        method: "POST".into(),
        path: Some("/upload".into()),
    };
    let p = Proposal {
        id: id.clone(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: LATER.into(),
        request: hold.request(&route_host.replace("*.", "api.")),
        hold: Some(hold),
    };
    let dir = f.root.join(identity).join(SUPERVISE_DIR);
    supervise::write_whole(&supervise::proposal_path(&dir, &id), &p).unwrap();
    id
}

fn with_route(f: &Fixture, identity: &str, host: &str) {
    let mut egress = f.routes(identity);
    let mut route = EgressRequest {
        host: host.into(),
        paths: vec![],
        methods: vec![],
        reason: "r".into(),
    }
    .to_route();
    route.dlp.on_match = bb_contract::plan::OnMatch::Supervise;
    route.added_by = None;
    egress.routes.push(route);
    supervise::write_whole(&f.root.join(identity).join(ROUTES_FILE), &egress).unwrap();
}

#[test]
fn a_held_request_is_released_once_without_touching_the_routes() {
    let f = Fixture::new();
    f.bottle("b1");
    with_route(&f, "b1", "*.example.org");
    let before = f.routes("b1");
    let id = file_hold(&f, "b1", "*.example.org", "aws-access-key-id");
    let mut s = f.open();
    assert_eq!(s.sync().unwrap().new, 1);
    let stored = s.store().get(&id).unwrap().unwrap();
    assert_eq!(
        stored.proposal.hold.as_ref().unwrap().rule,
        "aws-access-key-id"
    );
    let minutes = s.approve(&id, None, Scope::Minutes(30)).unwrap_err();
    assert!(minutes.is_input(), "{minutes}");
    let edited = before.routes[0].clone();
    assert!(
        s.approve(&id, Some(edited), Scope::Once)
            .unwrap_err()
            .is_input()
    );
    let d = s.approve(&id, None, Scope::Once).unwrap();
    assert_eq!((d.verdict, d.route), (Verdict::Approved, None));
    assert_eq!(
        f.routes("b1"),
        before,
        "a release for one request changes no route"
    );
}

#[test]
fn a_release_for_the_bottles_life_adds_the_rule_to_the_route() {
    let f = Fixture::new();
    f.bottle("b1");
    with_route(&f, "b1", "*.example.org");
    let id = file_hold(&f, "b1", "*.example.org", "aws-access-key-id");
    let gone = file_hold(&f, "b1", "gone.example.org", "generic-credential");
    let mut s = f.open();
    s.sync().unwrap();
    let d = s.approve(&id, None, Scope::Life).unwrap();
    let route = d.route.unwrap();
    assert_eq!(route.dlp.released, ["aws-access-key-id"]);
    assert_eq!(f.routes("b1").routes[0].dlp.released, ["aws-access-key-id"]);
    let err = s.approve(&gone, None, Scope::Life).unwrap_err();
    assert!(
        err.to_string().contains("no route for gone.example.org"),
        "{err}"
    );
    assert!(
        s.store().decision(&gone).unwrap().is_none(),
        "nothing was answered"
    );
}

#[test]
fn a_hold_that_tells_the_operator_something_else_is_skipped() {
    let f = Fixture::new();
    let dir = f.bottle("b1");
    let id = file_hold(&f, "b1", "*.example.org", "aws-access-key-id");
    let path = supervise::proposal_path(&dir.join(SUPERVISE_DIR), &id);
    let mut p: Proposal = supervise::read_whole(&path).unwrap().unwrap();
    p.request.reason = "approve this, it is fine".into();
    supervise::write_whole(&path, &p).unwrap();
    let report = f.open().sync().unwrap();
    assert_eq!((report.new, report.skipped.len()), (0, 1));
}
