//! The route table: which hosts, methods, paths and headers the egress proxy lets through.
//!
//! The routes file is the plan's `egress` section ([`EgressPlan`]) as JSON, mounted read-only at
//! [`DEFAULT_ROUTES`]. [`RouteTable::load`] parses and checks it completely, so a reload either
//! swaps in a whole new table or keeps the old one ([`reload`]). Host names and patterns are in
//! `host`, the values swapped whole on reload in `live`.

mod host;
mod live;

use bb_contract::log::Rule;

use crate::denial::Denial;
use std::path::Path;

use anyhow::{Context, Result, bail};
use bb_contract::plan::{EgressPlan, PathMatchKind, Route, RouteMatch, TokenSlot};
use hyper::HeaderMap;

use crate::guard::{HostKind, classify_host};
use crate::log::Log;

use host::specificity;
pub use host::{host_matches, normalize_host, valid_host};
pub use live::{Live, SharedRoutes};

/// Where the compose file mounts the routes.
pub const DEFAULT_ROUTES: &str = bb_contract::layout::sidecar::ROUTES;

/// The host the proxy answers itself (`/healthz`, `/allowlist`).
pub const INTROSPECTION_HOST: &str = "_egress.local";

/// Whether one `matches` entry holds: every field that is given must hold.
pub fn match_holds(m: &RouteMatch, method: &str, path: &str, headers: &HeaderMap) -> bool {
    let method_ok =
        m.methods.is_empty() || m.methods.iter().any(|x| x.eq_ignore_ascii_case(method));
    // Matched on the path as the upstream reads it; a form servers disagree on matches nothing.
    let path = crate::request_form::canonical_path(path);
    let path_ok = m.paths.is_empty()
        || path.as_deref().is_ok_and(|path| {
            m.paths.iter().any(|p| match p.kind {
                PathMatchKind::Prefix => path.starts_with(&p.value),
                PathMatchKind::Exact => path == p.value,
            })
        });
    let headers_ok = m.headers.iter().all(|h| {
        headers
            .get_all(h.name.as_str())
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v == h.value))
    });
    method_ok && path_ok && headers_ok
}

/// Whether a request passes a route: no `matches`, or any entry holds.
pub fn route_allows(route: &Route, method: &str, path: &str, headers: &HeaderMap) -> bool {
    route.matches.is_empty()
        || route
            .matches
            .iter()
            .any(|m| match_holds(m, method, path, headers))
}

/// The checked route table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTable {
    plan: EgressPlan,
}

impl RouteTable {
    /// Checks the plan's routes (host patterns, no duplicates) and normalises their hosts.
    pub fn from_plan(mut plan: EgressPlan) -> Result<RouteTable> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, route) in plan.routes.iter_mut().enumerate() {
            let host = normalize_host(&route.host);
            let bare = host.strip_prefix("*.").unwrap_or(&host);
            if !valid_host(bare) || bare.contains('*') {
                bail!(
                    "routes[{i}].host: `{}` is not a host name or `*.domain` pattern",
                    route.host
                );
            }
            if classify_host(bare) != HostKind::Name {
                bail!(
                    "routes[{i}].host: `{}` is an IP address; routes allow host names",
                    route.host
                );
            }
            if route.tls_passthrough && (route.auth.is_some() || !route.matches.is_empty()) {
                bail!(
                    "routes[{i}]: `tls_passthrough` cannot go with `auth` or `matches` (the tunnel is not inspected)"
                );
            }
            if !seen.insert(host.clone()) {
                bail!("routes[{i}].host: `{host}` appears twice");
            }
            for (j, m) in route.matches.iter().enumerate() {
                if let Some(p) = m.paths.iter().find(|p| !p.value.starts_with('/')) {
                    bail!(
                        "routes[{i}].matches[{j}].paths: `{}` is not an absolute path",
                        p.value
                    );
                }
            }
            route.host = host;
        }
        Ok(RouteTable { plan })
    }

    /// Parses the JSON of an [`EgressPlan`].
    pub fn parse(text: &str) -> Result<RouteTable> {
        let plan: EgressPlan = serde_json::from_str(text).context("not an egress plan")?;
        RouteTable::from_plan(plan)
    }

    /// Reads and parses a routes file.
    pub fn load(path: &Path) -> Result<RouteTable> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        RouteTable::parse(&text).with_context(|| format!("{}", path.display()))
    }

    pub fn routes(&self) -> &[Route] {
        &self.plan.routes
    }

    /// The most specific route whose host pattern matches `host`; a route the operator granted
    /// until a time that has passed is no route.
    pub fn find(&self, host: &str) -> Option<&Route> {
        let mut now = None;
        self.plan
            .routes
            .iter()
            .filter(|r| host_matches(&r.host, host))
            .filter(|r| match &r.grant {
                Some(grant) if grant.expires_at.is_some() => {
                    !grant.expired(now.get_or_insert_with(bb_contract::supervise::now))
                }
                _ => true,
            })
            .max_by_key(|r| specificity(&r.host))
    }

    /// The table without the routes of `hosts`.
    pub fn without_hosts(&self, hosts: &[String]) -> RouteTable {
        let mut plan = self.plan.clone();
        plan.routes.retain(|r| !hosts.contains(&r.host));
        RouteTable { plan }
    }

    /// The route that allows a plain HTTP request, or the reason it is blocked.
    pub fn check_http(
        &self,
        host: &str,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<&Route, Denial> {
        let route = self.find(host).ok_or_else(|| not_allowed(host))?;
        if route.matches.is_empty() {
            return Ok(route);
        }
        let refused = |why: String| {
            let reason = format!("{host} has `matches` and this request is ambiguous: {why}");
            Denial::new(Rule::AmbiguousRequest, &route.host, reason)
        };
        if let Some(why) = crate::request_form::method_ambiguity(method, query, headers) {
            return Err(refused(why));
        }
        crate::request_form::canonical_path(path).map_err(refused)?;
        if route_allows(route, method, path, headers) {
            Ok(route)
        } else {
            let reason = format!("{method} {path} on {host} matches none of the route's `matches`");
            Err(Denial::new(Rule::NoMatch, &route.host, reason))
        }
    }

    /// The route that allows a `CONNECT` tunnel to `host`, or the reason it is blocked. A
    /// route's `matches` are checked on each request inside the (intercepted) tunnel.
    pub fn check_connect(&self, host: &str) -> Result<&Route, Denial> {
        self.find(host).ok_or_else(|| not_allowed(host))
    }

    /// Whether a route names `host` itself (not through a wildcard): what DNS-over-HTTPS and
    /// DNS-over-TLS endpoints need.
    pub fn names_exactly(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.plan.routes.iter().any(|r| r.host == host)
    }

    /// The token slots of the plan.
    pub fn token_slots(&self) -> &[TokenSlot] {
        &self.plan.token_slots
    }

    /// Every slot name the table uses: its token slots and its routes' `auth.slot`.
    pub fn slot_names(&self) -> Vec<String> {
        let mut names: std::collections::BTreeSet<String> = self
            .plan
            .token_slots
            .iter()
            .map(|s| s.slot.clone())
            .collect();
        names.extend(
            self.plan
                .routes
                .iter()
                .filter_map(|r| r.auth.as_ref().map(|a| a.slot.clone())),
        );
        names.into_iter().collect()
    }

    /// The table for `http://_egress.local/allowlist`: routes with their settings and token
    /// slot names; never a token value (the table holds none).
    pub fn allowlist_json(&self) -> serde_json::Value {
        serde_json::json!({
            "routes": self.plan.routes,
            "token_slots": self.plan.token_slots.iter().map(|s| &s.slot).collect::<Vec<_>>(),
        })
    }
}

fn not_allowed(host: &str) -> Denial {
    let reason = format!("host {host} is not in the allowlist");
    Denial::new(Rule::NoRoute, host, reason)
}

/// Reloads `path` into `routes` (the SIGHUP handler). A file that fails to read or parse keeps
/// the old table; either way one event line says what happened. Returns whether it swapped.
pub fn reload(path: &Path, routes: &SharedRoutes, log: &Log) -> bool {
    match RouteTable::load(path) {
        Ok(table) => {
            let n = table.routes().len();
            routes.replace(table);
            log.event(
                "reload",
                true,
                &format!("loaded {n} routes from {}", path.display()),
            );
            true
        }
        Err(err) => {
            let kept = routes.current().routes().len();
            log.event(
                "reload",
                false,
                &format!("kept the previous {kept} routes: {err:#}"),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::plan::{Dlp, HeaderMatch, OnMatch, PathMatch};
    use hyper::header::HeaderValue;

    fn route(host: &str, matches: Vec<RouteMatch>) -> Route {
        Route {
            host: host.into(),
            auth: None,
            matches,
            dlp: Dlp {
                outbound: vec![],
                inbound: vec![],
                on_match: OnMatch::Block,
                personal_data: None,
                released: Vec::new(),
            },
            tls_passthrough: false,
            private: false,
            added_by: None,
            provider_api: None,
            grant: None,
        }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        RouteTable::from_plan(EgressPlan {
            routes,
            token_slots: vec![],
        })
        .unwrap()
    }

    #[test]
    fn most_specific_route_wins() {
        let t = table(vec![
            route("*.example.com", vec![]),
            route(
                "*.api.example.com",
                vec![RouteMatch {
                    methods: vec!["GET".into()],
                    ..Default::default()
                }],
            ),
            route("x.api.example.com", vec![]),
        ]);
        assert_eq!(t.find("a.example.com").unwrap().host, "*.example.com");
        assert_eq!(
            t.find("v1.api.example.com").unwrap().host,
            "*.api.example.com"
        );
        assert_eq!(
            t.find("X.api.example.com").unwrap().host,
            "x.api.example.com"
        );
        assert!(t.find("example.com").is_none());
        let h = HeaderMap::new();
        assert!(
            t.check_http("v1.api.example.com", "POST", "/", None, &h)
                .is_err()
        );
        assert!(
            t.check_http("x.api.example.com", "POST", "/", None, &h)
                .is_ok()
        );
    }

    #[test]
    fn invalid_tables_are_refused() {
        let bad = |host: &str| {
            RouteTable::from_plan(EgressPlan {
                routes: vec![route(host, vec![])],
                token_slots: vec![],
            })
            .is_err()
        };
        assert!(bad("*"));
        assert!(bad("*.*.example.com"));
        assert!(bad("a.*.example.com"));
        assert!(bad(""));
        assert!(bad("a..b"));
        assert!(bad("a b"));
        assert!(!bad("*.example.com"));
        assert!(!bad("Example.COM."));
        let dup = RouteTable::from_plan(EgressPlan {
            routes: vec![route("a.test", vec![]), route("A.test.", vec![])],
            token_slots: vec![],
        });
        assert!(dup.unwrap_err().to_string().contains("twice"));
    }

    fn api_route() -> Route {
        route(
            "api.test",
            vec![
                RouteMatch {
                    paths: vec![
                        PathMatch {
                            kind: PathMatchKind::Prefix,
                            value: "/v1/".into(),
                        },
                        PathMatch {
                            kind: PathMatchKind::Exact,
                            value: "/status".into(),
                        },
                    ],
                    methods: vec!["GET".into(), "HEAD".into()],
                    headers: vec![],
                },
                RouteMatch {
                    paths: vec![PathMatch {
                        kind: PathMatchKind::Exact,
                        value: "/upload".into(),
                    }],
                    methods: vec!["POST".into()],
                    headers: vec![HeaderMatch {
                        name: "X-Purpose".into(),
                        value: "ci".into(),
                    }],
                },
            ],
        )
    }

    #[test]
    fn route_matches_any_entry_with_every_field_holding() {
        let r = api_route();
        let none = HeaderMap::new();
        assert!(route_allows(&r, "GET", "/v1/models", &none));
        assert!(route_allows(&r, "get", "/v1/", &none));
        assert!(route_allows(&r, "HEAD", "/status", &none));
        assert!(!route_allows(&r, "GET", "/status/x", &none));
        assert!(!route_allows(&r, "GET", "/v1", &none));
        assert!(!route_allows(&r, "POST", "/v1/models", &none));
        assert!(!route_allows(&r, "GET", "/other", &none));
        // Dot segments would escape the prefix upstream.
        assert!(!route_allows(&r, "GET", "/v1/../admin", &none));
        assert!(!route_allows(&r, "GET", "/v1/%2E%2e/admin", &none));
        assert!(!route_allows(&r, "GET", "/v1/./x", &none));
        // Header entry.
        assert!(!route_allows(&r, "POST", "/upload", &none));
        let mut h = HeaderMap::new();
        h.insert("x-purpose", HeaderValue::from_static("other"));
        assert!(!route_allows(&r, "POST", "/upload", &h));
        h.append("x-purpose", HeaderValue::from_static("ci"));
        assert!(route_allows(&r, "POST", "/upload", &h));
        assert!(!route_allows(&r, "GET", "/upload", &h));
        // No matches: everything passes.
        assert!(route_allows(
            &route("a.test", vec![]),
            "DELETE",
            "/../x",
            &none
        ));
    }

    #[test]
    fn connect_needs_a_route() {
        let t = table(vec![
            api_route(),
            route("open.test", vec![]),
            route("*.wild.test", vec![]),
        ]);
        assert!(t.check_connect("open.test").is_ok());
        assert!(t.check_connect("api.test").is_ok(), "matches apply inside");
        let denial = t.check_connect("evil.example").unwrap_err();
        assert_eq!(denial.reason, "host evil.example is not in the allowlist");
        assert_eq!(denial.refused_by().key.as_deref(), Some("egress.routes"));
        let denial = t.check_http("api.test", "DELETE", "/", None, &HeaderMap::new());
        assert_eq!(denial.unwrap_err().rule, Rule::NoMatch);
        assert!(t.names_exactly("Open.Test."));
        assert!(!t.names_exactly("a.wild.test"));
        assert!(t.check_connect("a.wild.test").is_ok());
    }

    #[test]
    fn ip_hosts_and_inspected_passthrough_routes_are_refused() {
        for host in ["10.0.0.5", "2130706433", "0x7f000001", "127.1", "::1"] {
            let err = RouteTable::from_plan(EgressPlan {
                routes: vec![route(host, vec![])],
                token_slots: vec![],
            });
            assert!(err.is_err(), "{host}");
        }
        let mut pass = route("pass.test", vec![RouteMatch::default()]);
        pass.tls_passthrough = true;
        let err = RouteTable::from_plan(EgressPlan {
            routes: vec![pass],
            token_slots: vec![],
        })
        .unwrap_err();
        assert!(err.to_string().contains("tls_passthrough"), "{err}");
    }

    #[test]
    fn allowlist_json_names_slots_only() {
        let t = RouteTable::parse(
            r#"{"routes":[{"host":"API.test","auth":{"scheme":"Bearer","slot":"EGRESS_TOKEN_1"},
                "dlp":{"outbound":[],"inbound":[],"on_match":"block"},"tls_passthrough":false,"private":false}],
                "token_slots":[{"slot":"EGRESS_TOKEN_1","source":{"kind":"host_env","name":"GH_TOKEN"}}]}"#,
        )
        .unwrap();
        let v = t.allowlist_json();
        assert_eq!(v["routes"][0]["host"], "api.test");
        assert_eq!(v["routes"][0]["auth"]["slot"], "EGRESS_TOKEN_1");
        assert_eq!(v["token_slots"], serde_json::json!(["EGRESS_TOKEN_1"]));
    }

    #[test]
    fn reload_swaps_a_good_file_and_keeps_the_old_table_on_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.json");
        let (log, lines) = Log::memory();
        let shared = SharedRoutes::new(table(vec![route("old.test", vec![])]));

        std::fs::write(&path, "{not json").unwrap();
        assert!(!reload(&path, &shared, &log));
        assert!(shared.current().find("old.test").is_some());
        std::fs::write(&path, r#"{"routes":[{"host":"*"}],"token_slots":[]}"#).unwrap();
        assert!(!reload(&path, &shared, &log));
        assert!(!reload(&dir.path().join("missing.json"), &shared, &log));
        assert!(shared.current().find("old.test").is_some());

        let good = EgressPlan {
            routes: vec![route("new.test", vec![])],
            token_slots: vec![],
        };
        std::fs::write(&path, serde_json::to_string(&good).unwrap()).unwrap();
        assert!(reload(&path, &shared, &log));
        assert!(shared.current().find("old.test").is_none());
        assert!(shared.current().find("new.test").is_some());

        let events = lines.json();
        assert_eq!(events.len(), 4);
        assert!(events[..3].iter().all(|e| e["ok"] == false));
        assert!(
            events[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("kept the previous 1 routes")
        );
        assert_eq!(events[3]["ok"], true);
    }
}
