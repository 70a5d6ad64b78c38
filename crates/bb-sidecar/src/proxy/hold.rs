//! The outbound scan of a request on a route that says `on_match: supervise`: the request is
//! read whole, and a `token_patterns` finding holds it for the operator
//! ([`crate::supervise::holds`]) instead of refusing it. Released, it is scanned again with that
//! rule released (another finding holds or refuses it in turn); refused or unanswered, 403.
//! A known secret (a token slot's value, the canary) is never held: it refuses at once.

use bb_contract::plan::Route;
use bb_contract::supervise::Hold;
use hyper::HeaderMap;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Uri, Version};

use super::body::{AgentBody, Collect, collect_capped};
use super::decide::{Notes, Refusal};
use super::scan::{Outbound, scan_request};
use super::{ProxyConfig, Target};
use crate::inspect::{Finding, Inspector, Part};
use crate::supervise::holds::Answer;

/// The most findings one request may be held for, one after the other.
const MAX_HOLDS: usize = 4;

/// The request head as the agent sent it, put back before each scan.
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Head {
    fn of(parts: &Parts) -> Head {
        Head {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        }
    }

    fn restore(&self, parts: &mut Parts) {
        parts.method = self.method.clone();
        parts.uri = self.uri.clone();
        parts.version = self.version;
        parts.headers = self.headers.clone();
    }
}

/// Scans the request as [`scan_request`] does, holding it for the operator at a finding the
/// operator may release.
pub(super) async fn scan_holding<'s>(
    cfg: &ProxyConfig,
    inspector: &'s dyn Inspector,
    route: &Route,
    target: &Target,
    parts: &mut Parts,
    body: Incoming,
    notes: &mut Notes,
) -> Result<Outbound<'s>, Refusal> {
    let bytes = match collect_capped(body, cfg.max_body).await {
        Ok(bytes) => bytes,
        Err(Collect::TooLarge) => return Err(Refusal::too_large(Part::Body)),
        Err(Collect::Failed(why)) => return Err(Refusal::unreadable(&why)),
    };
    let head = Head::of(parts);
    if let Some(refusal) = known_secret(inspector, target, &head, &bytes) {
        return Err(refusal);
    }
    let mut route = route.clone();
    // Once a finding was in the URL, no later hold of this request shows the path.
    let mut url_held = false;
    for held in 0..=MAX_HOLDS {
        head.restore(parts);
        *notes = Notes::default();
        let scanned = scan_request(
            cfg,
            inspector,
            &route,
            target,
            parts,
            AgentBody::Read(Some(bytes.clone())),
            notes,
        )
        .await;
        let refusal = match scanned {
            Ok(outbound) => return Ok(outbound),
            Err(refusal) => refusal,
        };
        let Some(hold) = holdable(inspector, &refusal, &route, &head, &mut url_held) else {
            return Err(refusal);
        };
        if held == MAX_HOLDS {
            return Err(refusal.noting(&format!(
                "; not held: {MAX_HOLDS} findings of this request were held already"
            )));
        }
        let Some(holds) = &cfg.holds else {
            return Err(
                refusal.noting("; nobody can be asked (the bottle has no supervise folder)")
            );
        };
        let rule = hold.rule.clone();
        match holds.ask(&target.host, hold).await {
            Answer::Released => route.dlp.released.push(rule),
            Answer::Refused(why) => {
                return Err(refusal.by_operator().noting(&format!("; held, {why}")));
            }
        }
    }
    unreachable!("the last round refuses or sends")
}

/// A known secret (a token slot's value, the canary) anywhere in the request: refused before
/// any operator is asked, whatever else the request holds.
fn known_secret(
    inspector: &dyn Inspector,
    target: &Target,
    head: &Head,
    body: &[u8],
) -> Option<Refusal> {
    let found = |part: Part<'_>, text: &str| {
        inspector
            .secret_in(text, false)
            .map(|rule| Refusal::found(&Finding::new("known_secrets", rule), part))
    };
    let pq = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    found(Part::Url, &format!("{}{pq}", target.host))
        .or_else(|| {
            let names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
            found(Part::HeaderName, &names.join("\n"))
        })
        .or_else(|| {
            head.headers.iter().find_map(|(name, value)| {
                found(
                    Part::Header(name.as_str()),
                    &String::from_utf8_lossy(value.as_bytes()),
                )
            })
        })
        .or_else(|| found(Part::Body, &String::from_utf8_lossy(body)))
}

/// The hold a refusal asks for: a `token_patterns` finding the route neither released nor
/// would redact. What the hold shows the operator holds no secret: the method when it is a
/// standard one, the path only when no finding of this request was in the URL and a scan of it
/// for every pattern (released or not) finds nothing, the part's header name likewise.
fn holdable(
    inspector: &dyn Inspector,
    refusal: &Refusal,
    route: &Route,
    head: &Head,
    url_held: &mut bool,
) -> Option<Hold> {
    let (finding, part) = refusal.finding()?;
    if finding.detector != Hold::DETECTOR
        || route.dlp.released.contains(&finding.rule)
        || inspector.may_redact(route, finding)
    {
        return None;
    }
    *url_held |= *part == Part::Url.to_string();
    let clean = |text: &str| inspector.secret_in(text, true).is_none();
    let path = head.uri.path();
    let path = (!*url_held && clean(path))
        .then(|| Hold::shown_path(path))
        .flatten();
    let part = if clean(part) {
        part.clone()
    } else {
        "a header".to_string()
    };
    Some(Hold {
        route: route.host.clone(),
        detector: finding.detector.clone(),
        rule: finding.rule.clone(),
        part,
        method: Hold::shown_method(head.method.as_str()),
        path,
    })
}
