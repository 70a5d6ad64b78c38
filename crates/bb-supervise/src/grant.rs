//! What an approval writes: the granted route merged into the bottle's routes file.

use std::path::Path;

use std::time::Duration;

use bb_contract::plan::{EgressPlan, Grant, Route};
use bb_contract::supervise::timestamp;
use time::OffsetDateTime;

use crate::Error;

/// How long an approval lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// For the bottle's life.
    Life,
    /// One request.
    Once,
    /// This many minutes.
    Minutes(u32),
}

impl Scope {
    /// `life`, `once`, or minutes as `30m` (1 to 1440).
    pub fn parse(text: &str) -> Result<Scope, String> {
        let minutes = |t: &str| t.parse::<u32>().ok().filter(|m| (1..=1440).contains(m));
        match text.trim() {
            "life" => Ok(Scope::Life),
            "once" => Ok(Scope::Once),
            t => t
                .strip_suffix('m')
                .and_then(minutes)
                .map(Scope::Minutes)
                .ok_or_else(|| {
                    format!("`{t}` is no grant: life, once, or minutes such as 30m (at most 1440m)")
                }),
        }
    }

    /// The grant of proposal `id` approved at `now`; `None` for the bottle's life.
    pub fn grant(self, id: &str, now: OffsetDateTime) -> Option<Grant> {
        let (expires_at, uses) = match self {
            Scope::Life => return None,
            Scope::Once => (None, Some(1)),
            Scope::Minutes(m) => (
                Some(timestamp(now + Duration::from_secs(u64::from(m) * 60))),
                None,
            ),
        };
        Some(Grant {
            id: id.to_string(),
            expires_at,
            uses,
        })
    }
}

/// Merges `route` into `egress` at time `now` and returns the route now in force for its host.
/// Grants that expired are dropped first. A host the table lacks gets the route; one whose
/// route is a grant gets the new route in its place; one whose route is for the bottle's life
/// keeps one route (the table allows no duplicates): one that already allows everything stays
/// as it is, a grant of everything widens it, and a narrower grant adds its paths and methods
/// as one more alternative of `matches`. A limited grant cannot change a route for the
/// bottle's life (its limits would not hold). Merging the same grant twice changes nothing
/// the second time.
pub fn merge(egress: &mut EgressPlan, route: Route, now: &str) -> Result<Route, String> {
    egress
        .routes
        .retain(|r| r.grant.as_ref().is_none_or(|g| !g.expired(now)));
    let Some(existing) = egress.routes.iter_mut().find(|r| r.host == route.host) else {
        egress.routes.push(route.clone());
        return Ok(route);
    };
    if existing.auth.is_some()
        || existing.provider_api.is_some()
        || existing.added_by.as_deref() == Some("provider")
    {
        return Err(format!(
            "{} has a route that carries a credential: widening it would send the credential further; change it in the bottle file",
            route.host
        ));
    }
    if existing.grant.is_some() {
        *existing = route.clone();
        return Ok(route);
    }
    if route.grant.is_some() {
        return Err(format!(
            "{} has a route for the bottle's life already: approve for the bottle's life to widen it",
            route.host
        ));
    }
    if existing.tls_passthrough || existing.matches.is_empty() {
        return Ok(existing.clone());
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
    Ok(existing.clone())
}

/// Releases `rule` on the route of `host` in the routes file at `path` for the bottle's life
/// (a held request's answer); returns the route now in force.
pub fn release(path: &Path, host: &str, rule: &str) -> Result<Route, Error> {
    let bad = |why: String| Error::Routes(path.to_path_buf(), why);
    let text = std::fs::read(path).map_err(|e| bad(format!("cannot read the routes: {e}")))?;
    let mut egress: EgressPlan =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a routes file: {e}")))?;
    let route = egress
        .routes
        .iter_mut()
        .find(|r| r.host == host)
        .ok_or_else(|| {
            Error::BadRoute(format!(
                "the bottle has no route for {host} any more: approve once"
            ))
        })?;
    if !route.dlp.released.iter().any(|r| r == rule) {
        route.dlp.released.push(rule.to_string());
    }
    let in_force = route.clone();
    write_routes(path, &egress).map_err(|e| bad(format!("cannot write the routes: {e}")))?;
    Ok(in_force)
}

/// Grants `route` in the routes file at `path` (read, merged, written whole then renamed);
/// returns the route in force.
pub fn grant(path: &Path, route: Route) -> Result<Route, Error> {
    let bad = |why: String| Error::Routes(path.to_path_buf(), why);
    let text = std::fs::read(path).map_err(|e| bad(format!("cannot read the routes: {e}")))?;
    let mut egress: EgressPlan =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a routes file: {e}")))?;
    let now = bb_contract::supervise::now();
    let in_force = merge(&mut egress, route, &now).map_err(Error::BadRoute)?;
    write_routes(path, &egress).map_err(|e| bad(format!("cannot write the routes: {e}")))?;
    Ok(in_force)
}

/// Puts the routes file back as it was (`bytes`), after an approval that could not be
/// answered; best effort, as the error being reported matters more.
pub fn restore(path: &Path, bytes: &[u8]) {
    if let Ok(egress) = serde_json::from_slice::<EgressPlan>(bytes) {
        let _ = write_routes(path, &egress);
    }
}

/// What the operator granted in `live` (the routes file in force) that `fresh` (the routes
/// replanned from the bottle files) keeps: the rules released on a host it still routes, and
/// the granted routes, not ended, of hosts it does not route.
pub fn carry_over(live: &EgressPlan, fresh: &mut EgressPlan, now: &str) {
    for route in &mut fresh.routes {
        if let Some(old) = live.routes.iter().find(|r| r.host == route.host) {
            for rule in &old.dlp.released {
                if !route.dlp.released.contains(rule) {
                    route.dlp.released.push(rule.clone());
                }
            }
        }
    }
    let granted: Vec<Route> = live
        .routes
        .iter()
        .filter(|r| r.added_by.as_deref() == Some(bb_contract::supervise::ADDED_BY))
        .filter(|r| r.grant.as_ref().is_none_or(|g| !g.expired(now)))
        .filter(|r| fresh.routes.iter().all(|f| f.host != r.host))
        .cloned()
        .collect();
    fresh.routes.extend(granted);
}

/// Replaces the routes file at `path` with `egress` (written whole, its mode kept).
pub fn replace(path: &Path, egress: &EgressPlan) -> Result<(), Error> {
    write_routes(path, egress)
        .map_err(|e| Error::Routes(path.to_path_buf(), format!("cannot write the routes: {e}")))
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

    const NOW: &str = "2026-12-07T10:00:00Z";

    #[test]
    fn grants_add_narrow_widen_and_repeat_harmlessly() {
        let mut egress = EgressPlan::default();
        let mut merge = |r: Route| super::merge(&mut egress, r, NOW).unwrap();
        let first = merge(asked("docs.rs", &["/crate/"], &["GET"]));
        assert_eq!(first.matches.len(), 1);

        let again = merge(asked("docs.rs", &["/crate/"], &["GET"]));
        assert_eq!(again, first, "the same grant twice is one grant");

        let more = merge(asked("docs.rs", &["/src/"], &[]));
        assert_eq!(more.matches.len(), 2, "another alternative");

        let all = merge(asked("docs.rs", &[], &[]));
        assert!(all.matches.is_empty(), "a grant of everything widens");
        let narrow_after = merge(asked("docs.rs", &["/x/"], &[]));
        assert!(narrow_after.matches.is_empty(), "nothing narrows a route");

        merge(asked("pypi.org", &[], &[]));
        assert_eq!(egress.routes.len(), 2, "one route per host");
    }

    #[test]
    fn a_reload_keeps_what_the_operator_granted_and_released() {
        let mut own = asked("api.example.org", &[], &[]);
        own.added_by = None;
        let mut live = EgressPlan::default();
        let mut released = own.clone();
        released.dlp.released = vec!["aws-access-key-id".into()];
        live.routes = vec![
            released,
            asked("docs.rs", &[], &[]),
            limited("old.example.org", Scope::Minutes(1), "2026-12-07T09:00:00Z"),
            asked("dropped.example.org", &[], &[]),
        ];
        live.routes[3].added_by = None;
        let mut fresh = EgressPlan {
            routes: vec![own, asked("docs.rs", &["/crate/"], &[])],
            ..EgressPlan::default()
        };
        fresh.routes[1].added_by = None;
        carry_over(&live, &mut fresh, NOW);
        let hosts: Vec<&str> = fresh.routes.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            hosts,
            ["api.example.org", "docs.rs"],
            "the bottle file's routes win, an ended grant and a route the file dropped are gone"
        );
        assert_eq!(fresh.routes[0].dlp.released, ["aws-access-key-id"]);
        assert_eq!(
            fresh.routes[1].matches.len(),
            1,
            "the file's own docs.rs route"
        );

        let mut without = EgressPlan::default();
        carry_over(&live, &mut without, NOW);
        let kept: Vec<&str> = without.routes.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            kept,
            ["docs.rs"],
            "a live grant stays when the file lacks its host"
        );
    }

    fn limited(host: &str, scope: Scope, at: &str) -> Route {
        let now =
            OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
        Route {
            grant: scope.grant("0123456789abcdef0123456789abcdef", now),
            ..asked(host, &[], &[])
        }
    }

    #[test]
    fn limited_grants_replace_each_other_expire_and_never_touch_a_lasting_route() {
        let mut egress = EgressPlan::default();
        let once = super::merge(&mut egress, limited("docs.rs", Scope::Once, NOW), NOW).unwrap();
        assert_eq!(once.grant.as_ref().unwrap().uses, Some(1));
        let timed = limited("docs.rs", Scope::Minutes(30), NOW);
        assert_eq!(
            timed.grant.as_ref().unwrap().expires_at.as_deref(),
            Some("2026-12-07T10:30:00Z")
        );
        super::merge(&mut egress, timed, NOW).unwrap();
        assert_eq!(
            egress.routes.len(),
            1,
            "the newer grant in place of the older"
        );
        // Past its expiry the grant is dropped when the file is next written.
        super::merge(
            &mut egress,
            asked("pypi.org", &[], &[]),
            "2026-12-07T10:31:00Z",
        )
        .unwrap();
        assert!(
            egress.routes.iter().all(|r| r.host != "docs.rs"),
            "{:?}",
            egress.routes
        );

        super::merge(&mut egress, asked("crates.io", &["/api/"], &[]), NOW).unwrap();
        let err =
            super::merge(&mut egress, limited("crates.io", Scope::Once, NOW), NOW).unwrap_err();
        assert!(err.contains("for the bottle's life already"), "{err}");
        let lasting = super::merge(&mut egress, asked("docs.rs", &[], &[]), NOW).unwrap();
        assert!(lasting.grant.is_none());
    }

    #[test]
    fn a_route_that_carries_a_credential_is_never_widened() {
        let mut egress = EgressPlan::default();
        let mut api = asked("api.example.org", &["/v1/"], &["GET"]);
        api.auth = Some(bb_contract::plan::RouteAuth {
            scheme: bb_contract::plan::AuthScheme::Bearer,
            slot: "EGRESS_TOKEN_1".into(),
            port: 443,
        });
        egress.routes.push(api.clone());
        let err = super::merge(&mut egress, asked("api.example.org", &[], &[]), NOW).unwrap_err();
        assert!(err.contains("carries a credential"), "{err}");
        assert_eq!(egress.routes, [api], "unchanged");
    }

    #[test]
    fn scopes_are_life_once_or_minutes() {
        assert_eq!(Scope::parse("life"), Ok(Scope::Life));
        assert_eq!(Scope::parse("once"), Ok(Scope::Once));
        assert_eq!(Scope::parse("30m"), Ok(Scope::Minutes(30)));
        for bad in ["0m", "1441m", "30", "forever", "m"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        assert!(Scope::Life.grant("x", OffsetDateTime::now_utc()).is_none());
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
