//! The one request path, shared by plain `http://` requests and the requests inside
//! intercepted tunnels: the request checks, the outbound scan, the credential, the upstream
//! request (its long body pumped while it waits) and the answer (scanned, credentials masked).

use std::sync::Arc;

use bb_contract::plan::{OnMatch, Route};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, Uri, Version};

use super::body::{AgentBody, Collect, collect_capped, full};
use super::checks::{admit, host_secret};
use super::decide::{Decide, Notes, Refusal, note_masked};
use super::hold::scan_holding;
use super::pump::{Outflow, OutflowSender, Pump};
use super::scan::{Outbound, scan_request};
use super::upgrade::open_websocket;
use super::{Body, BoxError, ProxyConfig, Target};
use crate::coding;
use crate::echo::{EchoGuard, MaskedBody};
use crate::inspect::{Inspector, Part, Verdict};
use crate::log::Rule;
use crate::upstream::{ConnectError, connect_error, describe};
use crate::websocket;

/// The request path shared by plain `http://` requests and requests inside intercepted
/// tunnels. `target` has passed the host checks; this decides everything else.
pub async fn pipeline(
    cfg: &ProxyConfig,
    target: &Target,
    req: Request<Incoming>,
) -> Response<Body> {
    let mut req = req;
    let mut d = Decide::new(
        &cfg.log,
        Some(&target.host),
        req.method().as_str(),
        Some(req.uri().path()),
    );
    let agent_upgrade = if websocket::is_upgrade(req.headers()) {
        websocket::agent_side(&mut req)
    } else {
        None
    };
    let table = cfg.routes.current();
    let (route, credential) = match admit(cfg, &table, target, &req) {
        Ok(admitted) => admitted,
        Err(denial) => return d.refuse(Refusal::denied(denial).draining(req.into_body())),
    };
    d.routed(route);
    if let Some(refusal) = host_secret(cfg, route, &target.host) {
        return d.refuse(refusal.draining(req.into_body()));
    }

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    let inspector = cfg.inspector.current();
    let mut notes = Notes::default();

    let (body, pump) = if inspector.scans_outbound(route) {
        let scanned = if route.dlp.on_match == OnMatch::Supervise {
            scan_holding(
                cfg,
                &*inspector,
                route,
                target,
                &mut parts,
                body,
                &mut notes,
            )
            .await
        } else {
            scan_request(
                cfg,
                &*inspector,
                route,
                target,
                &mut parts,
                AgentBody::Incoming(body),
                &mut notes,
            )
            .await
        };
        match scanned {
            Ok(Outbound::Ready(body)) => (body, None),
            Ok(Outbound::Streaming(pump)) => {
                let (tx, body) = Outflow::channel(pump.size_hint());
                (body, Some((pump, tx)))
            }
            Err(refusal) => return d.refuse(refusal),
        }
    } else {
        (body.map_err(BoxError::from).boxed(), None)
    };

    // The agent's own Authorization was scanned with every header (a secret in it is still an
    // attempt to exfiltrate); it never leaves, whether or not the route injects one.
    parts.headers.remove(header::AUTHORIZATION);
    if let Some((name, v)) = credential {
        // `insert` replaces whatever the agent sent under the same name (an `x-api-key`).
        parts.headers.insert(name, v);
    }
    let scan_inbound = inspector.scans_inbound(route);
    let upgrade = agent_upgrade.is_some();
    // Answers are read where they are scanned or may echo a credential to be masked.
    let plain_answers = scan_inbound || !cfg.secrets.current().echo_guard().is_empty();
    let head = upstream_head(
        &mut parts,
        route,
        target,
        upgrade,
        scan_inbound,
        plain_answers,
    );
    if let Err(refusal) = head {
        return d.refuse(refusal.draining(body));
    }
    let forward = Forward {
        cfg,
        d: &d,
        inspector: &*inspector,
        route,
        target,
    };
    if let Some(agent_upgrade) = agent_upgrade {
        drop(body);
        return open_websocket(&forward, parts, agent_upgrade, &notes).await;
    }
    let request = Request::from_parts(parts, body);
    match forward.send(request, pump, &mut notes).await {
        Ok(response) => forward.answer(response, scan_inbound, notes).await,
        Err(answer) => answer,
    }
}

/// The request head as the upstream gets it: a WebSocket refused where answers are scanned
/// (a stream of them cannot be held back), uncompressed answers asked for where they are read
/// (`plain_answers`; a compressed one is decoded anyway), the absolute URI of the target,
/// HTTP/1.1.
fn upstream_head(
    parts: &mut Parts,
    route: &Route,
    target: &Target,
    upgrade: bool,
    scan_inbound: bool,
    plain_answers: bool,
) -> Result<(), Refusal> {
    if upgrade && scan_inbound {
        return Err(Refusal::blocked(
            Rule::Unscannable,
            format!(
                "WebSocket is refused on {}: the route scans answers, and a stream of them cannot be held back for the scan",
                route.host
            ),
        ));
    }
    if plain_answers {
        // Saves decoding them (and keeps a streamed answer streaming where only credentials
        // are masked).
        parts.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned();
    parts.uri = format!("{}{path_and_query}", target.origin())
        .parse::<Uri>()
        .map_err(|err| {
            let reason = format!("cannot forward this request target: {err}");
            Refusal::blocked(Rule::BadRequest, reason)
        })?;
    parts.version = Version::HTTP_11;
    Ok(())
}

/// An admitted request on its way upstream, and what decides on it.
pub(super) struct Forward<'a> {
    pub(super) cfg: &'a ProxyConfig,
    pub(super) d: &'a Decide,
    inspector: &'a dyn Inspector,
    pub(super) route: &'a Route,
    pub(super) target: &'a Target,
}

impl Forward<'_> {
    /// Sends the request over a pooled connection; the upstream's answer, or the proxy's.
    ///
    /// A streamed body is pumped while the request waits for its answer. A refusal answers the
    /// agent at once: the request is dropped, and the body it holds can only fail. An upstream
    /// that answers (or fails) before the whole body was sent gets no more of it.
    async fn send(
        &self,
        request: Request<Body>,
        pump: Option<(Pump<'_>, OutflowSender)>,
        notes: &mut Notes,
    ) -> Result<Response<Incoming>, Response<Body>> {
        let client = self.cfg.upstreams().client(self.route.private);
        let request = client.request(request);
        let response = match pump {
            None => request.await,
            Some((pump, tx)) => {
                let pumped = pump.run(tx);
                tokio::pin!(pumped, request);
                tokio::select! {
                    outcome = &mut pumped => match outcome {
                        Ok(warning) => {
                            if let Some(f) = warning {
                                notes.warn(&f, Part::Body);
                            }
                            request.await
                        }
                        Err(cut) => return Err(self.d.refuse(cut.refusal())),
                    },
                    response = &mut request => response,
                }
            }
        };
        response.map_err(|err| match connect_error(&err) {
            Some(ConnectError::Refused(rule, why)) => {
                self.d.refuse(Refusal::blocked(*rule, why.clone()))
            }
            Some(ConnectError::Failed(why)) => self.failed(why),
            None => self.failed(&describe(&err)),
        })
    }

    /// The upstream's answer as the agent gets it: hop-by-hop headers removed, scanned when
    /// the route says so, every credential masked; then the allow line.
    async fn answer(
        &self,
        response: Response<Incoming>,
        scan_inbound: bool,
        mut notes: Notes,
    ) -> Response<Body> {
        let (mut rparts, rbody) = response.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        let echo = self.cfg.secrets.current().echo_guard();
        note_masked(
            &mut notes,
            "headers",
            echo.mask_headers(&mut rparts.headers),
        );
        if scan_inbound && let Some(refusal) = self.steering_headers(&rparts.headers, &mut notes) {
            return self.d.refuse(refusal);
        }
        // A compressed answer is decoded where it must be read: to scan it, or to mask a
        // credential the upstream echoed in it.
        let encoded = rparts.headers.contains_key(header::CONTENT_ENCODING);
        let rbody: Body = if scan_inbound || (encoded && !echo.is_empty()) {
            match self
                .read_plain(&mut rparts.headers, rbody, &echo, scan_inbound, &mut notes)
                .await
            {
                Ok(body) => body,
                Err(answer) => return answer,
            }
        } else if echo.is_empty() {
            rbody.map_err(BoxError::from).boxed()
        } else {
            MaskedBody::new(rbody, echo, self.d.later_masked()).boxed()
        };
        self.d.allow(format!("route {}", self.route.host), &notes);
        Response::from_parts(rparts, rbody)
    }

    /// Instructions in the answer's headers: a tool shows them to the model like any text.
    fn steering_headers(&self, headers: &HeaderMap, notes: &mut Notes) -> Option<Refusal> {
        let mut text = Vec::new();
        for (name, value) in headers {
            text.extend_from_slice(name.as_str().as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value.as_bytes());
            text.push(b'\n');
        }
        match self.inspector.inbound(self.route, &text) {
            Verdict::Clean => None,
            Verdict::Warn(f) => {
                notes.warn(&f, Part::ResponseHeaders);
                None
            }
            Verdict::Found { finding, .. } => Some(Refusal::found(&finding, Part::ResponseHeaders)),
        }
    }

    /// A response body read whole (under the cap), decoded when compressed (its
    /// `Content-Encoding` then dropped), scanned when `scan`, credentials masked.
    async fn read_plain(
        &self,
        headers: &mut HeaderMap,
        rbody: Incoming,
        echo: &Arc<EchoGuard>,
        scan: bool,
        notes: &mut Notes,
    ) -> Result<Body, Response<Body>> {
        let codings = coding::codings(headers).map_err(|name| {
            let why = format!("answers in Content-Encoding {name} cannot be scanned");
            self.d.refuse(Refusal::blocked(Rule::Unscannable, why))
        })?;
        let bytes = match collect_capped(rbody, self.cfg.max_body).await {
            Ok(bytes) => bytes,
            Err(Collect::TooLarge) => {
                return Err(self.d.refuse(Refusal::too_large(Part::Response)));
            }
            Err(Collect::Failed(why)) => {
                return Err(self.failed(&format!("reading the response: {why}")));
            }
        };
        let mut bytes = if codings.is_empty() {
            bytes.to_vec()
        } else {
            let plain = coding::decode(&codings, &bytes, self.cfg.max_body).map_err(|e| {
                let why = format!("the answer cannot be scanned: {e}");
                self.d.refuse(Refusal::blocked(Rule::Unscannable, why))
            })?;
            for name in [
                header::CONTENT_ENCODING,
                header::CONTENT_LENGTH,
                header::TRANSFER_ENCODING,
            ] {
                headers.remove(name);
            }
            plain
        };
        if scan {
            match self.inspector.inbound(self.route, &bytes) {
                Verdict::Clean => {}
                Verdict::Warn(f) => notes.warn(&f, Part::Response),
                Verdict::Found { finding, .. } => {
                    return Err(self.d.refuse(Refusal::found(&finding, Part::Response)));
                }
            }
        }
        note_masked(notes, "body", echo.mask(&mut bytes));
        Ok(full(Bytes::from(bytes)))
    }

    /// The allow line of a request whose upstream failed, and 502.
    pub(super) fn failed(&self, why: &str) -> Response<Body> {
        self.d.upstream_failed(self.route, self.target, why)
    }
}

/// Removes `Connection` and the headers it lists, the other hop-by-hop headers and
/// `Proxy-Authorization`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_proxy_credentials_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            "proxy-authorization",
            HeaderValue::from_static("Basic eA=="),
        );
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "authorization"]);
    }
}
