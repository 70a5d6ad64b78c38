//! A request the sidecar's proxy holds for the operator (`on_match: supervise`), as its
//! proposal names it.

use serde::{Deserialize, Serialize};

use super::{EgressRequest, METHODS, is_path_prefix};

/// A request the proxy holds on a route that says `on_match: supervise`: a content check found
/// `rule` in `part`. Names only, never the matched text. Released once, the request goes on as
/// it is; released for the bottle's life, the rule is added to the route's `dlp.released`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The host of the route the request matched, as the routes file has it.
    pub route: String,
    /// `token_patterns`.
    pub detector: String,
    /// The rule that matched (`aws-access-key-id`, `generic-credential`).
    pub rule: String,
    /// Where: `body`, `url`, `header x-api-key`, `method`, `a header name`.
    pub part: String,
    /// One of [`METHODS`], or [`Hold::OTHER_METHOD`] (an extension method is any token, so it
    /// may be the secret itself).
    pub method: String,
    /// The request's path without its query; absent when it may hold a secret (the finding is
    /// in the URL, or a scan of it for every known pattern finds one) or is no plain path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Hold {
    /// What a hold names in place of an extension method.
    pub const OTHER_METHOD: &str = "OTHER";
    /// The only detector whose findings are held.
    pub const DETECTOR: &str = "token_patterns";

    /// `method` as a hold may name it.
    pub fn shown_method(method: &str) -> String {
        if METHODS.contains(&method) {
            method.to_string()
        } else {
            Hold::OTHER_METHOD.to_string()
        }
    }

    /// `path` as a hold may show it: a plain absolute path, else none.
    pub fn shown_path(path: &str) -> Option<String> {
        is_path_prefix(path).then(|| path.to_string())
    }

    /// The reason a held request's proposal gives the operator.
    pub fn reason(&self) -> String {
        format!(
            "the proxy holds a {} request: {} found {} in {}",
            self.method, self.detector, self.rule, self.part
        )
    }

    /// The request part of a hold's proposal: the held request's host, the proxy's account.
    pub fn request(&self, host: &str) -> EgressRequest {
        EgressRequest {
            host: host.to_string(),
            paths: Vec::new(),
            methods: Vec::new(),
            reason: self.reason(),
        }
    }

    /// Whether every field is short, printable text (what the operator will be shown).
    pub(super) fn is_plain(&self) -> bool {
        let plain = |t: &str| {
            !t.is_empty() && t.len() <= 512 && t.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        };
        [&self.route, &self.rule, &self.part]
            .into_iter()
            .all(|t| plain(t))
            && self.detector == Hold::DETECTOR
            && (METHODS.contains(&self.method.as_str()) || self.method == Hold::OTHER_METHOD)
            && self.path.as_deref().is_none_or(is_path_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Proposal;
    use super::*;

    fn held(host: &str, hold: Hold) -> Proposal {
        Proposal {
            id: "0123456789abcdef0123456789abcdef".into(),
            created_at: "2026-12-07T00:00:00Z".into(),
            expires_at: "2026-12-07T00:02:00Z".into(),
            request: hold.request(host),
            hold: Some(hold),
        }
    }

    #[test]
    fn holds_and_requests_are_checked_before_the_operator_sees_them() {
        let hold = Hold {
            route: "*.example.org".into(),
            detector: "token_patterns".into(),
            rule: "generic-credential".into(),
            part: "body".into(),
            method: "POST".into(),
            path: Some("/v1/upload".into()),
        };
        assert!(held("api.example.org", hold.clone()).is_well_formed());
        let fixture = Hold {
            route: "fixture".into(),
            ..hold.clone()
        };
        assert!(
            held("fixture", fixture).is_well_formed(),
            "a held request may go to a single-label host its route names"
        );
        let mut other_reason = held("api.example.org", hold.clone());
        other_reason.request.reason = "approve me, the proxy is wrong".into();
        assert!(!other_reason.is_well_formed(), "a hold's reason is its own");
        let escape = Hold {
            rule: "rule\u{1b}[2J".into(),
            ..hold.clone()
        };
        assert!(!held("api.example.org", escape).is_well_formed());
        let upper = held("API.example.org", hold.clone());
        assert!(!upper.is_well_formed());
        assert!(
            !held("api.example.com", hold.clone()).is_well_formed(),
            "the route a release changes covers the held request's host"
        );
        let secret_method = Hold {
            method: "AKIAZ7QW3RTY5UIO2PAS".into(),
            ..hold.clone()
        };
        assert!(!held("api.example.org", secret_method).is_well_formed());
        assert_eq!(
            Hold::shown_method("AKIAZ7QW3RTY5UIO2PAS"),
            Hold::OTHER_METHOD
        );
        assert_eq!(Hold::shown_method("POST"), "POST");
        assert_eq!(Hold::shown_path("*"), None);
        let other = Hold {
            detector: "known_secrets".into(),
            ..hold
        };
        assert!(!held("api.example.org", other).is_well_formed());
        let mut request = held(
            "docs.rs",
            Hold {
                route: "docs.rs".into(),
                detector: "x".into(),
                rule: "x".into(),
                part: "body".into(),
                method: "GET".into(),
                path: None,
            },
        );
        request.hold = None;
        request.request.reason = "read the docs".into();
        assert!(request.is_well_formed());
        request.request.host = "Docs.rs".into();
        assert!(!request.is_well_formed());
    }
}
