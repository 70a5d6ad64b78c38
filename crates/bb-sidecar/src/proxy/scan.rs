//! The outbound scan of a request: its method, URL, every header (name and value) and its body
//! (a compressed one decoded first), redactions applied in place. A body up to [`super::STREAM_AFTER`] is scanned whole; a longer one is
//! handed on as a [`Pump`].

use bb_contract::plan::{OnMatch, PersonalData, Route};
use bytes::Bytes;
use hyper::Uri;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;

use super::body::{AgentBody, Collect, Read, chunks_body, collect_capped, full, join, read_body};
use super::decide::{Notes, Refusal};
use super::pump::Pump;
use super::{Body, ProxyConfig, STREAM_AFTER, Target};
use crate::coding;
use crate::inspect::{Inspector, Outcome, Part, Verdict, judge_outbound};
use crate::log::Rule;

/// A request body cleared for sending.
pub(super) enum Outbound<'s> {
    /// Scanned whole (or not scanned).
    Ready(Body),
    /// Longer than [`STREAM_AFTER`]: its start is scanned, the rest is to be pumped.
    Streaming(Pump<'s>),
}

/// Scans URL, headers and body of an outbound request, applying redactions in place. Returns
/// the body to send, or the refusal.
pub(super) async fn scan_request<'s>(
    cfg: &ProxyConfig,
    inspector: &'s dyn Inspector,
    route: &Route,
    target: &Target,
    parts: &mut Parts,
    body: AgentBody,
    notes: &mut Notes,
) -> Result<Outbound<'s>, Refusal> {
    let codings = match coding::codings(&parts.headers) {
        Ok(codings) => codings,
        Err(name) => {
            let why = format!("request bodies in Content-Encoding {name} cannot be scanned");
            return Err(Refusal::blocked(Rule::Unscannable, why).draining(body));
        }
    };
    let scanned = scan_method(inspector, route, parts)
        .and_then(|()| scan_url(inspector, route, target, parts, notes))
        .and_then(|()| scan_headers(inspector, route, parts, notes));
    if let Err(refusal) = scanned {
        return Err(refusal.draining(body));
    }
    if !codings.is_empty() {
        return scan_encoded_body(cfg, inspector, route, parts, body, &codings, notes).await;
    }
    scan_body(cfg, inspector, route, parts, body, notes).await
}

/// A compressed body: read whole under the cap, decoded under the cap and the ratio limit, and
/// the decoded bytes judged. It goes on as the agent sent it; on a `redact` route with a
/// finding, decoded and redacted, its `Content-Encoding` dropped.
async fn scan_encoded_body<'s>(
    cfg: &ProxyConfig,
    inspector: &'s dyn Inspector,
    route: &Route,
    parts: &mut Parts,
    body: AgentBody,
    codings: &[coding::Coding],
    notes: &mut Notes,
) -> Result<Outbound<'s>, Refusal> {
    let encoded = match collect_capped(body, cfg.max_body).await {
        Ok(bytes) => bytes,
        Err(Collect::TooLarge) => return Err(Refusal::too_large(Part::Body)),
        Err(Collect::Failed(why)) => return Err(Refusal::unreadable(&why)),
    };
    let decoded = coding::decode(codings, &encoded, cfg.max_body).map_err(|e| {
        let why = format!("the request body cannot be scanned: {e}");
        Refusal::blocked(Rule::Unscannable, why)
    })?;
    if let Some(api) = route.provider_api
        && let Some(why) = crate::provider_relay::refusal(api, &decoded)
    {
        return Err(Refusal::blocked(Rule::ProviderFetch, why));
    }
    match judge_body(inspector, route, parts, &decoded, notes)? {
        // Clean: the body goes on compressed, as the agent sent it.
        None => Ok(Outbound::Ready(full(encoded))),
        Some(redacted) => {
            parts.headers.remove(header::CONTENT_ENCODING);
            Ok(Outbound::Ready(full(redacted)))
        }
    }
}

/// Judges a whole body: `Ok(None)` to send it as it is, `Ok(Some(redacted))` to send the
/// redacted bytes instead (the length headers set for them), or the refusal.
fn judge_body(
    inspector: &dyn Inspector,
    route: &Route,
    parts: &mut Parts,
    body: &[u8],
    notes: &mut Notes,
) -> Result<Option<Bytes>, Refusal> {
    match judge_outbound(inspector, route, Part::Body, body) {
        Outcome::Pass(warn) => {
            if let Some(f) = warn {
                notes.warn(&f, Part::Body);
            }
            Ok(None)
        }
        Outcome::Replace(new, f) => {
            notes.redacted(&f, Part::Body);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(new.len()));
            Ok(Some(Bytes::from(new)))
        }
        Outcome::Block(f) => Err(Refusal::found(&f, Part::Body)),
    }
}

/// The method: an extension method is any token, so it can carry a value. A finding refuses
/// (a method cannot be redacted).
fn scan_method(inspector: &dyn Inspector, route: &Route, parts: &Parts) -> Result<(), Refusal> {
    match judge_outbound(
        inspector,
        route,
        Part::Method,
        parts.method.as_str().as_bytes(),
    ) {
        Outcome::Pass(_) => Ok(()),
        Outcome::Replace(_, f) | Outcome::Block(f) => Err(Refusal::found(&f, Part::Method)),
    }
}

/// The URL: host, path and query.
fn scan_url(
    inspector: &dyn Inspector,
    route: &Route,
    target: &Target,
    parts: &mut Parts,
    notes: &mut Notes,
) -> Result<(), Refusal> {
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned();
    let url = format!("{}{pq}", target.host);
    match judge_outbound(inspector, route, Part::Url, url.as_bytes()) {
        Outcome::Pass(warn) => {
            if let Some(f) = warn {
                notes.warn(&f, Part::Url);
            }
            Ok(())
        }
        Outcome::Replace(bytes, f) => {
            let uri = String::from_utf8(bytes)
                .ok()
                .and_then(|s| s.strip_prefix(target.host.as_str()).map(str::to_owned))
                .and_then(|pq| pq.parse::<PathAndQuery>().ok())
                .and_then(|pq| {
                    let mut uri = parts.uri.clone().into_parts();
                    uri.path_and_query = Some(pq);
                    Uri::from_parts(uri).ok()
                });
            let Some(uri) = uri else {
                return Err(Refusal::found(&f, Part::Url));
            };
            parts.uri = uri;
            notes.redacted(&f, Part::Url);
            Ok(())
        }
        Outcome::Block(f) => Err(Refusal::found(&f, Part::Url)),
    }
}

/// Every header: its name (in the lower case it arrives in, so matched case-folded) and each
/// value.
fn scan_headers(
    inspector: &dyn Inspector,
    route: &Route,
    parts: &mut Parts,
    notes: &mut Notes,
) -> Result<(), Refusal> {
    let names: Vec<HeaderName> = parts.headers.keys().cloned().collect();
    // The names in one scan (a line break joins nothing a name could hold): a value cut over
    // several names is found too.
    let joined = names
        .iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(f) = inspector.name(route, &joined) {
        return Err(Refusal::found(&f, Part::HeaderName));
    }
    for name in names {
        let values: Vec<HeaderValue> = parts.headers.get_all(&name).iter().cloned().collect();
        let mut kept = Vec::with_capacity(values.len());
        let mut changed = false;
        for value in values {
            let part = Part::Header(name.as_str());
            match judge_outbound(inspector, route, part, value.as_bytes()) {
                Outcome::Pass(warn) => {
                    if let Some(f) = warn {
                        notes.warn(&f, part);
                    }
                    kept.push(value);
                }
                Outcome::Replace(bytes, f) => match HeaderValue::from_bytes(&bytes) {
                    Ok(v) => {
                        notes.redacted(&f, part);
                        changed = true;
                        kept.push(v);
                    }
                    Err(_) => return Err(Refusal::found(&f, part)),
                },
                Outcome::Block(f) => return Err(Refusal::found(&f, part)),
            }
        }
        if changed {
            parts.headers.remove(&name);
            for v in kept {
                parts.headers.append(name.clone(), v);
            }
        }
    }
    Ok(())
}

/// The body: scanned chunk by chunk as it arrives when the inspector can (a blocking finding
/// refuses at once), else joined and scanned whole. Redaction needs it whole.
async fn scan_body<'s>(
    cfg: &ProxyConfig,
    inspector: &'s dyn Inspector,
    route: &Route,
    parts: &mut Parts,
    body: AgentBody,
    notes: &mut Notes,
) -> Result<Outbound<'s>, Refusal> {
    // A body that may be redacted is held whole (a redaction rewrites it).
    let redact =
        route.dlp.on_match == OnMatch::Redact || route.dlp.personal_data() == PersonalData::Redact;
    let scanner = inspector.body_scanner(route);
    // A provider API request is read whole: what it asks the provider to do is decided on all
    // of it. So is one that may be held for the operator: none of it leaves before the answer.
    let stream_after =
        (!redact && route.provider_api.is_none() && route.dlp.on_match != OnMatch::Supervise)
            .then_some(STREAM_AFTER);
    let read = read_body(body, cfg.max_body, scanner, !redact, stream_after).await;
    let (chunks, verdict) = match read {
        Ok(Read::Blocked(f)) => return Err(Refusal::found(&f, Part::Body)),
        Ok(Read::Streaming(pump)) => return Ok(Outbound::Streaming(pump)),
        Ok(Read::Done(chunks, verdict)) => (chunks, verdict),
        Err(Collect::TooLarge) => return Err(Refusal::too_large(Part::Body)),
        Err(Collect::Failed(why)) => return Err(Refusal::unreadable(&why)),
    };
    if let Some(api) = route.provider_api
        && let Some(why) = crate::provider_relay::refusal(api, &join(chunks.clone()))
    {
        return Err(Refusal::blocked(Rule::ProviderFetch, why));
    }
    match verdict {
        Some(Verdict::Clean) => return Ok(Outbound::Ready(chunks_body(chunks))),
        Some(Verdict::Warn(f)) => {
            notes.warn(&f, Part::Body);
            return Ok(Outbound::Ready(chunks_body(chunks)));
        }
        // What may not be redacted (a value completed by pieces sent before) refuses here:
        // the whole-body scan below would not see it again.
        Some(Verdict::Found { finding, .. })
            if !redact || !inspector.may_redact(route, &finding) =>
        {
            return Err(Refusal::found(&finding, Part::Body));
        }
        Some(Verdict::Found { .. }) | None => {}
    }
    let bytes = join(chunks);
    if bytes.is_empty() {
        return Ok(Outbound::Ready(full(bytes)));
    }
    let sent = judge_body(inspector, route, parts, &bytes, notes)?;
    Ok(Outbound::Ready(full(sent.unwrap_or(bytes))))
}
