use super::*;
use bb_contract::supervise::EgressRequest;

fn route(host: &str, paths: &[&str]) -> Route {
    EgressRequest {
        host: host.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        methods: vec![],
        reason: "r".into(),
    }
    .to_route()
}

/// The lines `after` has that `before` has not.
fn added(before: &str, after: &str) -> Vec<String> {
    let old: Vec<&str> = before.lines().collect();
    after
        .lines()
        .filter(|l| !old.contains(l))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_route_is_one_more_item_of_the_list_and_nothing_else_moves() {
    let before = "---\n# the shop's bottle\negress:\n  routes:\n    - host: git.example.org  # the forge\n      matches: [{paths: [{type: prefix, value: /api/}]}]\n\n    - host: pypi.org\n\n# after the routes\nenv:\n  RUST_LOG: info\n---\nBody.\n";
    let after = with_route(before, &route("docs.rs", &["/crate/"]), true).unwrap();
    let new = added(before, &after);
    assert_eq!(new.len(), 3, "{after}");
    assert!(
        new[0].starts_with("    # approved with bot-bottle supervise on 20"),
        "{after}"
    );
    assert_eq!(new[1], "    - host: \"docs.rs\"");
    assert_eq!(
        new[2],
        r#"      matches: [{"paths":[{"type":"prefix","value":"/crate/"}]}]"#
    );
    assert!(after.find("pypi.org").unwrap() < after.find("docs.rs").unwrap());
    assert!(after.find("docs.rs").unwrap() < after.find("# after the routes").unwrap());
    assert!(after.ends_with("---\nBody.\n"));
}

#[test]
fn items_at_the_key_s_indent_and_files_without_routes() {
    let flush = "---\negress:\n  routes:\n  - host: pypi.org\nenv: {}\n---\n";
    let after = with_route(flush, &route("*.example.org", &[]), true).unwrap();
    assert!(
        after.contains("  - host: pypi.org\n  # approved"),
        "{after}"
    );
    assert!(
        after.contains("  - host: \"*.example.org\"\nenv: {}"),
        "{after}"
    );

    let none = "---\nenv:\n  A: b\n---\nprompt\n";
    let after = with_route(none, &route("docs.rs", &[]), false).unwrap();
    assert!(
        after.contains("  A: b\negress:\n  routes:\n    # approved"),
        "{after}"
    );
    assert!(
        after.contains("    - host: \"docs.rs\"\n---\nprompt\n"),
        "{after}"
    );
}

#[test]
fn what_lines_cannot_extend_is_refused() {
    let r = route("docs.rs", &[]);
    assert!(with_route("no front matter\n", &r, false).is_err());
    assert!(with_route("---\negress: {routes: []}\n---\n", &r, true).is_err());
    assert!(with_route("---\negress:\n  routes: []\n---\n", &r, true).is_err());
    assert!(with_route("---\negress:\n  other: 1\n---\n", &r, false).is_err());
    let mut timed = r.clone();
    timed.grant = Some(bb_contract::plan::Grant {
        id: "x".into(),
        expires_at: None,
        uses: Some(1),
    });
    let err = with_route("---\n---\n", &timed, false).unwrap_err();
    assert!(err.contains("bottle's life"), "{err}");
}

#[test]
fn the_changed_file_reads_back_with_the_planner_s_parser() {
    let before = "---\negress:\n  routes:\n    - host: pypi.org\n---\n";
    let after = with_route(before, &route("docs.rs", &["/crate/"]), true).unwrap();
    let file = Path::new("/bottles/shop.md");
    check_parses(file, &after, "docs.rs").unwrap();
    assert!(check_parses(file, before, "docs.rs").is_err());
}
