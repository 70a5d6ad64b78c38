//! Why a request, a DNS query, a push or a fetch was refused: the [`Rule`] that decided and the
//! bottle key that would allow it ([`RefusedBy`]), so that an operator fixes a bottle file in
//! one step. Routes are named by host (a bottle has one route per host):
//! `egress.routes[api.example.org].matches`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The check that refused. Each rule knows the bottle key that would allow what it refused,
/// or that nothing may ([`Rule::refused_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// No route names the host.
    NoRoute,
    /// The host's route has `matches` and none holds for this method, path and headers.
    NoMatch,
    /// The route has `matches` and the request reads two ways (a method override, a path that
    /// servers resolve differently).
    AmbiguousRequest,
    /// `TRACE` or `TRACK`: the answer echoes the request, injected credential included.
    EchoMethod,
    /// Loopback, link-local (cloud metadata), the bottle's own networks, or another address
    /// no route may reach.
    GuardedAddress,
    /// A private or unique-local address, on a route without `private: true`.
    PrivateAddress,
    /// An IP address as the target: routes name hosts.
    IpAddress,
    /// The `Host` header or the TLS server name disagrees with the target.
    HostMismatch,
    /// Not a request the proxy can read or forward (no host, no port, an unreadable body).
    BadRequest,
    /// DNS over HTTPS or TLS to a host a route names only through a wildcard.
    EncryptedDns,
    /// The route's credential would go to another port than the route's `auth.port`.
    CredentialMisdirected,
    /// The route's credential would leave in the clear (plain `http://`).
    CredentialInClear,
    /// The route's credential has no value in the sidecar.
    CredentialMissing,
    /// The operator's grant (from `request-egress`) is used up or expired.
    GrantUsedUp,
    /// The bottle has no CA, so nothing can be intercepted.
    NoInterception,
    /// A content check (DLP) found something in the request or the answer.
    Dlp,
    /// The bottle's own credential or canary, anywhere in the request.
    KnownSecret,
    /// A request body over the scanning limit: never sent unscanned.
    TooLarge,
    /// An answer over the scanning limit: never passed on unscanned.
    AnswerTooLarge,
    /// Content the route scans but cannot be scanned (an unknown encoding, a WebSocket where
    /// answers are scanned, a frame an extension transformed).
    Unscannable,
    /// A request that asks the model provider to fetch a URL itself.
    ProviderFetch,
    /// The DNS sink: the agent resolves no name (the proxy resolves its routes' names).
    DnsSink,
    /// The operator refused a `request-egress` call, or did not answer in time.
    OperatorDenied,
    /// The operator refused a held request (`dlp.on_match: supervise`), or did not answer.
    HoldRefused,
    /// No repository of that name behind the gate.
    UnknownRepo,
    /// A ref other than a branch or a tag.
    RefNotAllowed,
    /// Deleting a ref.
    RefDelete,
    /// A forced update (not a fast-forward, or a tag moved).
    ForcePush,
    /// A change to CI configuration.
    CiConfig,
    /// A change to `.gitleaksignore`.
    GitleaksIgnore,
    /// A secret in the pushed commits.
    SecretInPush,
    /// The gate could not judge or forward (its rules, the scan, upstream).
    GateFailure,
}

/// What refused, and what would allow it: on every refusal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefusedBy {
    pub rule: Rule,
    /// The bottle key that would allow it (`egress.routes[api.example.org].matches`,
    /// `git-gate.repos.shop.allow.force_push`); `null` when nothing may.
    pub key: Option<String>,
    /// What to change, in one sentence; starts with `nothing may` when `key` is `null`.
    pub fix: String,
}

const NOTHING_MAY: &str = "nothing may";

impl Rule {
    /// The refusal of this rule. `at` is what it is about: the route's host (the requested host
    /// when no route took it), or the repo's name for the gate's rules.
    pub fn refused_by(self, at: &str) -> RefusedBy {
        let (key, fix) = self.remedy(at);
        RefusedBy {
            rule: self,
            fix: match &key {
                Some(_) => fix,
                None => format!("{NOTHING_MAY}: {fix}"),
            },
            key,
        }
    }

    fn remedy(self, at: &str) -> (Option<String>, String) {
        let route = |field: &str| Some(format!("egress.routes[{at}].{field}"));
        let routes = || Some("egress.routes".to_owned());
        let allow = |field: &str| Some(format!("git-gate.repos.{at}.allow.{field}"));
        let add_route = format!("add a route `- host: {at}` to egress.routes in the bottle file");
        match self {
            Rule::NoRoute => (routes(), add_route),
            Rule::NoMatch => (
                route("matches"),
                "add a `matches` entry for this method and path, or remove `matches`".into(),
            ),
            Rule::AmbiguousRequest => (
                route("matches"),
                "send the request in its plain form; a route with `matches` takes no request that reads two ways".into(),
            ),
            Rule::EchoMethod => (None, "TRACE and TRACK echo the request, credentials included".into()),
            Rule::GuardedAddress => (None, "loopback, link-local (cloud metadata) and the bottle's own networks are never reachable".into()),
            Rule::PrivateAddress => (route("private"), "set `private: true` on the route".into()),
            Rule::IpAddress => (None, "routes name hosts; address the host by its name".into()),
            Rule::HostMismatch => (None, "the Host header and the TLS server name must name the target".into()),
            Rule::BadRequest => (None, "the request is malformed".into()),
            Rule::EncryptedDns => (routes(), format!("add a route naming {at} itself, not through a wildcard")),
            Rule::CredentialMisdirected => (
                route("auth.port"),
                "the credential goes to `auth.port` only; set the port it belongs to".into(),
            ),
            Rule::CredentialInClear => (
                None,
                "a route's credential goes over https:// only; send the request to https://".into(),
            ),
            Rule::CredentialMissing => (
                route("auth"),
                "give the route's token source a value, then run `bot-bottle reload`".into(),
            ),
            Rule::GrantUsedUp => (routes(), format!("ask again with request-egress, or {add_route}")),
            Rule::NoInterception => (
                route("tls_passthrough"),
                "the bottle has no CA to intercept with; `tls_passthrough: true` tunnels the host uninspected (or launch the bottle again)".into(),
            ),
            Rule::Dlp => (
                route("dlp"),
                "leave the detector out of `dlp.outbound` (`dlp.inbound` for an answer), or set `dlp.on_match: supervise` to decide each finding".into(),
            ),
            Rule::KnownSecret => (
                route("dlp.outbound"),
                "the bottle's own credentials and canary leave only as a route's injected credential; `known_secrets` left out of `dlp.outbound` stops looking for them on this route".into(),
            ),
            Rule::AnswerTooLarge => (
                route("dlp.inbound"),
                "an answer over the scanning limit is never passed on unscanned; `dlp.inbound: false` stops scanning answers on this route".into(),
            ),
            Rule::TooLarge => (
                route("dlp.outbound"),
                "a body over the scanning limit is never sent unscanned; `dlp.outbound: false` stops scanning on this route".into(),
            ),
            Rule::Unscannable => (
                route("dlp"),
                "send it in a form the scan reads; `dlp.outbound: false` (`dlp.inbound: false` for answers) stops scanning on this route".into(),
            ),
            Rule::ProviderFetch => (
                Some("agent_provider.remote_fetch".into()),
                "set it to true to let the provider fetch URLs itself".into(),
            ),
            Rule::DnsSink => (None, "the agent resolves no name; the proxy resolves the names of its routes".into()),
            Rule::OperatorDenied => (routes(), format!("the operator said no; to allow it without asking, {add_route}")),
            Rule::HoldRefused => (
                route("dlp"),
                "the operator refused the held request; leave the detector out of `dlp.outbound` to send such requests unasked".into(),
            ),
            Rule::UnknownRepo => (
                Some("git-gate.repos".into()),
                format!("add the repo `{at}` to git-gate.repos in the bottle file"),
            ),
            Rule::RefNotAllowed => (None, "only branches (refs/heads/*) and tags (refs/tags/*) pass the gate".into()),
            Rule::RefDelete => (allow("delete"), "set it to true in the bottle file".into()),
            Rule::ForcePush => (allow("force_push"), "set it to true in the bottle file".into()),
            Rule::CiConfig => (allow("ci_config"), "set it to true in the bottle file".into()),
            Rule::GitleaksIgnore => (allow("gitleaks_ignore"), "set it to true in the bottle file".into()),
            Rule::SecretInPush => (
                None,
                "remove the secret from the history and push again (a false finding: list it in the repository's `.gitleaksignore` upstream)".into(),
            ),
            Rule::GateFailure => (None, "the gate could not judge or serve the request; see its message".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/audit.md` documents every field of a log line, every service and every rule.
    #[test]
    fn the_audit_docs_name_every_field_service_and_rule() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let docs = std::fs::read_to_string(root.join("docs/audit.md")).unwrap();
        let schema = schemars::schema_for!(crate::log::LogLine).to_value();
        let defs = &schema["$defs"];
        let mut names: Vec<String> = Vec::new();
        for def in ["Decision", "Event"] {
            names.extend(defs[def]["properties"].as_object().unwrap().keys().cloned());
        }
        names.extend(
            defs["RefusedBy"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| format!("refused_by.{k}")),
        );
        // Each variant is a `const`, or several without docs an `enum`.
        let consts = |def: &str| -> Vec<String> {
            let variants = defs[def]["oneOf"].as_array().unwrap();
            variants
                .iter()
                .flat_map(|v| match v["enum"].as_array() {
                    Some(values) => values.clone(),
                    None => vec![v["const"].clone()],
                })
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let rules = consts("Rule");
        assert!(rules.len() > 20, "{rules:?}");
        names.extend(rules);
        names.extend(consts("Service"));
        for name in names {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/audit.md does not name `{name}`"
            );
        }
    }

    #[test]
    fn a_refusal_names_the_key_or_says_nothing_may() {
        let r = Rule::NoRoute.refused_by("evil.test");
        assert_eq!(r.key.as_deref(), Some("egress.routes"));
        assert!(r.fix.contains("- host: evil.test"), "{}", r.fix);
        let r = Rule::NoMatch.refused_by("*.example.org");
        assert_eq!(
            r.key.as_deref(),
            Some("egress.routes[*.example.org].matches")
        );
        let r = Rule::ForcePush.refused_by("shop");
        assert_eq!(
            r.key.as_deref(),
            Some("git-gate.repos.shop.allow.force_push")
        );
        let r = Rule::GuardedAddress.refused_by("169.254.169.254");
        assert_eq!(r.key, None);
        assert!(r.fix.starts_with("nothing may: "), "{}", r.fix);
        let json = serde_json::to_value(Rule::DnsSink.refused_by("a.test")).unwrap();
        assert_eq!(json["rule"], "dns_sink");
        assert!(json["key"].is_null());
    }
}
