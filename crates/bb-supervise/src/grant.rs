//! What an approval writes: the granted route merged into the bottle's routes file.

use std::path::Path;

use bb_contract::plan::{EgressPlan, Route};

use crate::Error;

/// Merges `route` into `egress` and returns the route now in force for its host. A host the
/// table lacks gets the route; a host it has keeps one route (the table allows no duplicates):
/// one that already allows everything stays as it is, a grant of everything widens it, and a
/// narrower grant adds its paths and methods as one more alternative of `matches`. Merging the
/// same grant twice changes nothing the second time.
pub fn merge(egress: &mut EgressPlan, route: Route) -> Route {
    let Some(existing) = egress.routes.iter_mut().find(|r| r.host == route.host) else {
        egress.routes.push(route.clone());
        return route;
    };
    if existing.tls_passthrough || existing.matches.is_empty() {
        return existing.clone();
    }
    if route.matches.is_empty() {
        existing.matches.clear();
    } else {
        for m in route.matches {
            if !existing.matches.contains(&m) {
                existing.matches.push(m);
            }
        }
    }
    existing.clone()
}

/// Grants `route` in the routes file at `path` (read, merged, written whole then renamed);
/// returns the route in force.
pub fn grant(path: &Path, route: Route) -> Result<Route, Error> {
    let bad = |why: String| Error::Routes(path.to_path_buf(), why);
    let text = std::fs::read(path).map_err(|e| bad(format!("cannot read the routes: {e}")))?;
    let mut egress: EgressPlan =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a routes file: {e}")))?;
    let in_force = merge(&mut egress, route);
    write_routes(path, &egress).map_err(|e| bad(format!("cannot write the routes: {e}")))?;
    Ok(in_force)
}

/// The routes file keeps the mode bb-compose gave it (0644: the sidecar reads it as another
/// user); its content is names and patterns, never a token.
fn write_routes(path: &Path, egress: &EgressPlan) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    bb_contract::supervise::write_whole(path, egress)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::supervise::EgressRequest;

    fn asked(host: &str, paths: &[&str], methods: &[&str]) -> Route {
        EgressRequest {
            host: host.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            reason: "r".into(),
        }
        .to_route()
    }

    #[test]
    fn grants_add_narrow_widen_and_repeat_harmlessly() {
        let mut egress = EgressPlan::default();
        let first = merge(&mut egress, asked("docs.rs", &["/crate/"], &["GET"]));
        assert_eq!(first.matches.len(), 1);
        assert_eq!(egress.routes.len(), 1);

        let again = merge(&mut egress, asked("docs.rs", &["/crate/"], &["GET"]));
        assert_eq!(again, first, "the same grant twice is one grant");

        let more = merge(&mut egress, asked("docs.rs", &["/src/"], &[]));
        assert_eq!(more.matches.len(), 2, "another alternative");
        assert_eq!(egress.routes.len(), 1, "one route per host");

        let all = merge(&mut egress, asked("docs.rs", &[], &[]));
        assert!(all.matches.is_empty(), "a grant of everything widens");
        let narrow_after = merge(&mut egress, asked("docs.rs", &["/x/"], &[]));
        assert!(narrow_after.matches.is_empty(), "nothing narrows a route");

        merge(&mut egress, asked("pypi.org", &[], &[]));
        assert_eq!(egress.routes.len(), 2);
    }

    #[test]
    fn the_file_is_rewritten_whole_with_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("routes.json");
        std::fs::write(&path, r#"{"routes": [], "token_slots": []}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let route = grant(&path, asked("docs.rs", &[], &[])).unwrap();
        let egress: EgressPlan = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(egress.routes, [route]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);

        std::fs::write(&path, "not json").unwrap();
        let err = grant(&path, asked("docs.rs", &[], &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a routes file"), "{err}");
    }
}
