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
use crate::inspect::{Inspector, Part};
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
    let mut route = route.clone();
    for _ in 0..=MAX_HOLDS {
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
        let Some(hold) = holdable(&refusal, &route, &head) else {
            return Err(refusal);
        };
        let Some(holds) = &cfg.holds else {
            return Err(
                refusal.noting("; nobody can be asked (the bottle has no supervise folder)")
            );
        };
        let rule = hold.rule.clone();
        match holds.ask(&target.host, hold).await {
            Answer::Released { .. } => route.dlp.released.push(rule),
            Answer::Refused(why) => return Err(refusal.noting(&format!("; held, {why}"))),
        }
    }
    Err(Refusal::blocked(format!(
        "held for {} findings in one request; send fewer at once",
        MAX_HOLDS + 1
    )))
}

/// The hold a refusal asks for: a `token_patterns` finding the route has not released yet.
fn holdable(refusal: &Refusal, route: &Route, head: &Head) -> Option<Hold> {
    let (finding, part) = refusal.finding()?;
    if finding.detector != "token_patterns" || route.dlp.released.contains(&finding.rule) {
        return None;
    }
    // The path is shown to the operator only when the finding is not in the URL.
    let path = (part.as_str() != Part::Url.to_string()).then(|| head.uri.path().to_string());
    Some(Hold {
        route: route.host.clone(),
        detector: finding.detector.clone(),
        rule: finding.rule.clone(),
        part: part.clone(),
        method: head.method.as_str().to_string(),
        path,
    })
}
