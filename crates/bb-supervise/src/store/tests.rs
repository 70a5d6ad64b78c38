use super::*;
use bb_contract::supervise::EgressRequest;

fn proposal(id: &str) -> Proposal {
    Proposal {
        id: id.into(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: "2999-01-01T00:00:00Z".into(),
        request: EgressRequest {
            host: "docs.rs".into(),
            paths: vec![],
            methods: vec![],
            reason: "docs".into(),
        },
        hold: None,
    }
}

#[test]
fn opens_private_migrated_and_reopens_at_the_same_version() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("home/bot-bottle.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.version().unwrap(), MIGRATIONS.len());
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.version().unwrap(), MIGRATIONS.len());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn a_proposal_is_stored_once_and_decided_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let id = "0123456789abcdef0123456789abcdef";
    assert!(store.insert("b1", &proposal(id), "now").unwrap());
    assert!(!store.insert("b1", &proposal(id), "now").unwrap());
    assert_eq!(store.undecided().unwrap().len(), 1);
    assert_eq!(store.get(id).unwrap().unwrap().identity, "b1");
    let row = DecisionRow {
        proposal_id: id.into(),
        outcome: Outcome::Rejected,
        reason: Some("no".into()),
        route: None,
        decided_at: "now".into(),
        operator: "op".into(),
    };
    store.record(&row).unwrap();
    assert!(store.record(&row).is_err(), "one decision per proposal");
    assert!(store.undecided().unwrap().is_empty());
    assert_eq!(store.decision(id).unwrap(), Some(row.clone()));
    assert_eq!(store.decisions().unwrap(), [row]);
    let unknown = DecisionRow {
        proposal_id: "ffffffffffffffffffffffffffffffff".into(),
        ..store.decisions().unwrap()[0].clone()
    };
    assert!(
        store.record(&unknown).is_err(),
        "a decision names a stored proposal"
    );
}
