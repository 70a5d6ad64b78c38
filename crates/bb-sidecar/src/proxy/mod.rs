//! The egress proxy: an HTTP/1.1 forward proxy that lets through only what the route table
//! allows, intercepting TLS to see (and police) every request.
//!
//! - `CONNECT host:port` to a route that is not `tls_passthrough`: answered 200, then TLS is
//!   terminated with a leaf for the SNI host minted from the bottle CA ([`crate::intercept`]);
//!   each request inside goes through [`pipeline`] like a plain one. SNI, `Host` and
//!   `:authority` must name the CONNECT host.
//! - `CONNECT` to a `tls_passthrough` route: the proxy connects upstream (SSRF guard), answers
//!   200 and tunnels bytes, uninspected.
//! - Absolute-form `http://` requests: [`pipeline`].
//! - `GET /healthz` to the proxy itself, and `http://_egress.local/{healthz,allowlist}`.
//! - Everything else: 403 with a one-line `blocked: <reason>` body.
//!
//! [`pipeline`] is the one request path: route lookup and `matches`, DNS-over-HTTPS refusal,
//! credential stripping and injection, outbound scanning of URL, headers and the (capped) body
//! (a body up to [`STREAM_AFTER`] is scanned whole before the upstream is contacted; past that,
//! the bytes the scan has cleared are sent on while it goes on, and a finding cuts the upstream
//! request), the upstream request over a pooled connection to an address the SSRF guard checked
//! ([`crate::upstream`]), and inbound scanning of the (capped, buffered) response body before
//! it is returned. Every request except health checks writes
//! exactly one decision line ([`crate::log`]). A WebSocket upgrade leaves [`pipeline`] after the
//! same checks for `open_websocket`, which hands the joined connections to [`crate::websocket`].
//!
//! Why one file of ~1,650 lines (the new concerns of the escape classes went to their own
//! modules: `echo`, `request_form`, `provider_relay`): the server loop, the refusals, the decision vocabulary
//! (`Decide`, `Notes`), the request path and the body machinery share private types, and the
//! split by concern is the planned structural pass (issue 15: server loop, host refusals,
//! decisions, pipeline, request scan, body pump, tunnels), to be done in one deliberate step with
//! the escape suite run after it rather than piecemeal.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bb_core::plan::{OnMatch, Route};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, PathAndQuery};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::Shutdown;
use crate::config::{INTROSPECTION_HOST, Live, SharedRoutes, normalize_host};
use crate::echo::MaskedBody;
use crate::guard::{HostKind, classify_host};
use crate::inspect::{
    BodyScanner, Finding, Inspector, NoopInspector, Outcome, Part, Verdict, judge_outbound,
};
use crate::log::{Log, Service, Verdict as LogVerdict};
use crate::secrets::Secrets;
use crate::tls::Authority as BottleCa;
use crate::upstream::{ConnectError, Upstreams, connect_checked, connect_error, describe};
use crate::websocket;

pub use crate::guard::{AddressPolicy, ResolveFuture, Resolver};

/// The proxy's default address when run by hand; a bottle's compose file names the sidecar's
/// address on the internal network (`BB_SIDECAR_LISTEN`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9099";

/// The default body cap (`--max-body`): larger bodies are refused where they must be scanned.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// A scanned request body up to this size is held until the whole of it is scanned, so the
/// upstream sees nothing of a refused request. Past it, what the scan has cleared is sent on
/// while the rest is scanned (memory stays bounded); a later finding cuts the upstream request
/// before the bytes that hold it.
pub const STREAM_AFTER: u64 = 1024 * 1024;

/// The error type of [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Request and response bodies: streamed, buffered, or the proxy's own short answers.
pub type Body = BoxBody<Bytes, BoxError>;

/// Everything a proxy connection needs. [`ProxyConfig::new`] gives the production defaults;
/// tests replace fields.
#[derive(Clone)]
pub struct ProxyConfig {
    pub routes: SharedRoutes,
    pub resolver: Resolver,
    pub log: Log,
    pub addresses: AddressPolicy,
    /// For resolving, for connecting to each address and for the upstream TLS handshake.
    pub connect_timeout: Duration,
    /// The bottle CA; without it `CONNECT` to an intercepted route is refused.
    pub authority: Option<Arc<BottleCa>>,
    /// How upstream certificates are verified.
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Token slot values and the canary.
    pub secrets: Live<Secrets>,
    pub inspector: Live<dyn Inspector>,
    /// Bodies larger than this are refused where they must be scanned.
    pub max_body: u64,
    upstreams: OnceLock<Upstreams>,
}

impl ProxyConfig {
    /// The production settings: system resolver, strict address checks, 10 s timeouts, no CA,
    /// Mozilla roots, no secrets, the no-op inspector, a 64 MiB body cap.
    pub fn new(routes: SharedRoutes, log: Log) -> ProxyConfig {
        ProxyConfig {
            routes,
            resolver: Resolver::system(),
            log,
            addresses: AddressPolicy::strict(),
            connect_timeout: Duration::from_secs(10),
            authority: None,
            upstream_tls: Arc::new(
                crate::tls::upstream_config(None).expect("the built-in roots always load"),
            ),
            secrets: Live::new(Arc::new(Secrets::default())),
            inspector: Live::new(Arc::new(NoopInspector)),
            max_body: DEFAULT_MAX_BODY,
            upstreams: OnceLock::new(),
        }
    }

    /// The pooled upstream clients, built from the settings on first use.
    pub fn upstreams(&self) -> &Upstreams {
        self.upstreams.get_or_init(|| {
            Upstreams::new(
                self.resolver.clone(),
                self.addresses.clone(),
                self.connect_timeout,
                self.upstream_tls.clone(),
            )
        })
    }
}

/// Accepts proxy connections until shutdown. Connections in progress are not waited for.
pub async fn serve(listener: TcpListener, cfg: Arc<ProxyConfig>, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(cfg.clone(), req));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// Answers one request from the agent.
pub async fn handle(
    cfg: Arc<ProxyConfig>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let response = if req.method() == Method::CONNECT {
        connect(cfg, req).await
    } else if req.uri().authority().is_none() {
        origin_form(&cfg, &req)
    } else {
        absolute_form(cfg, req).await
    };
    Ok(response)
}

/// A request in origin form (`GET /healthz`) is for the proxy itself.
fn origin_form(cfg: &ProxyConfig, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if path == "/healthz" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return text(StatusCode::OK, "ok\n");
    }
    block(
        cfg,
        None,
        req.method().as_str(),
        Some(path),
        "not a proxy request (send an absolute http:// URI or CONNECT host:port)",
    )
}

/// Where a request goes: the scheme, the normalised host and the port.
#[derive(Debug, Clone)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Target {
    fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    /// `https://host[:port]` (the port only when it is not the scheme's).
    fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.port == self.default_port() {
            format!("{scheme}://{}", self.host)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

async fn absolute_form(cfg: Arc<ProxyConfig>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let Some(authority) = req.uri().authority().cloned() else {
        return block(
            &cfg,
            None,
            &method,
            Some(&path),
            "no host in the request target",
        );
    };
    let host = normalize_host(authority.host());
    if req.uri().scheme_str() != Some("http") {
        return block(
            &cfg,
            Some(&host),
            &method,
            Some(&path),
            "only http:// URIs are forwarded; use CONNECT for https",
        );
    }
    if host == INTROSPECTION_HOST {
        return introspection(&cfg, &method, &path);
    }
    if let Some(reason) = host_refusal(&cfg, &host) {
        return block(&cfg, Some(&host), &method, Some(&path), &reason);
    }
    if let Some(reason) = host_header_mismatch(&host, req.headers()) {
        return block(&cfg, Some(&host), &method, Some(&path), &reason);
    }
    let target = Target {
        https: false,
        host,
        port: authority.port_u16().unwrap_or(80),
    };
    pipeline(&cfg, &target, req).await
}

/// Why a request or tunnel to `host` is refused before any route lookup: an invalid host, or
/// an IP address (in any form; decided by the SSRF guard without a resolver, and never a route
/// since routes are names).
fn host_refusal(cfg: &ProxyConfig, host: &str) -> Option<String> {
    match classify_host(host) {
        HostKind::Name => None,
        HostKind::Invalid(why) => Some(why),
        HostKind::Ip(ip) => Some(ip_refusal(cfg, host, ip)),
    }
}

fn ip_refusal(cfg: &ProxyConfig, host: &str, ip: IpAddr) -> String {
    let named = if ip.to_string() == host {
        host.to_owned()
    } else {
        format!("{host} ({ip})")
    };
    match cfg.addresses.refusal(ip, false) {
        Some(why) => format!("{named} is {why}"),
        None => format!("{named} is an IP address; routes allow host names only"),
    }
}

/// Whether the request names DNS-over-HTTPS: `application/dns-message` in `Content-Type` or
/// `Accept`, or `/dns-query` with a `dns=` parameter.
pub fn is_dns_over_https(uri: &Uri, headers: &HeaderMap) -> bool {
    let dns_message = [header::CONTENT_TYPE, header::ACCEPT].iter().any(|name| {
        headers.get_all(name).iter().any(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .to_ascii_lowercase()
                .contains("application/dns-message")
        })
    });
    let query_form = uri
        .path()
        .trim_end_matches('/')
        .eq_ignore_ascii_case("/dns-query")
        && uri.query().is_some_and(|q| {
            q.split('&').any(|kv| {
                kv.split('=')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("dns")
            })
        });
    dns_message || query_form
}

/// One request's decision line, written once.
struct Decide<'a> {
    cfg: &'a ProxyConfig,
    host: &'a str,
    method: &'a str,
    path: &'a str,
}

impl Decide<'_> {
    fn block(&self, reason: &str) -> Response<Body> {
        self.block_by(reason, None)
    }

    fn block_by(&self, reason: &str, detector: Option<&str>) -> Response<Body> {
        self.log(LogVerdict::Block, reason, detector);
        forbidden(reason)
    }

    fn found(&self, finding: &Finding, part: Part<'_>) -> Response<Body> {
        self.found_noting(finding, part, "")
    }

    /// [`Decide::found`] with `note` after the reason.
    fn found_noting(&self, finding: &Finding, part: Part<'_>, note: &str) -> Response<Body> {
        let reason = format!(
            "{} found {} in {part}{note}",
            finding.detector, finding.rule
        );
        self.block_by(&reason, Some(&finding.detector))
    }

    /// 413 (403 for a response): larger than the cap; `note` follows the reason.
    fn too_large(&self, part: Part<'_>, note: &str) -> Response<Body> {
        let (status, reason) = match part {
            Part::Response => (
                StatusCode::FORBIDDEN,
                "response body larger than the scanning limit",
            ),
            _ => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body larger than the scanning limit",
            ),
        };
        let reason = format!("{reason}{note}");
        self.log(LogVerdict::Block, &reason, None);
        text(status, &format!("blocked: {reason}\n"))
    }

    /// 400: the agent's request body could not be read; `note` follows the reason.
    fn unreadable(&self, why: &str, note: &str) -> Response<Body> {
        let reason = format!("cannot read the request body: {}{note}", one_line(why));
        self.log(LogVerdict::Block, &reason, None);
        text(StatusCode::BAD_REQUEST, &format!("bad request: {reason}\n"))
    }

    /// Writes a second line when a streamed response turns out to carry a credential.
    fn later_masked(&self) -> crate::echo::OnFound {
        let log = self.cfg.log.clone();
        let (host, method, path) = (
            self.host.to_owned(),
            self.method.to_owned(),
            self.path.to_owned(),
        );
        Box::new(move |slots| {
            log.decision_by(
                Service::Egress,
                Some(&host),
                Some(&method),
                Some(&path),
                LogVerdict::Allow,
                &format!(
                    "the response body carried the credential of {}; masked",
                    slots.join(", ")
                ),
                Some("known_secrets"),
            );
        })
    }

    fn log(&self, verdict: LogVerdict, reason: &str, detector: Option<&str>) {
        self.cfg.log.decision_by(
            Service::Egress,
            Some(self.host),
            Some(self.method),
            Some(self.path),
            verdict,
            reason,
            detector,
        );
    }
}

/// Most of a refused request's body read off and dropped while the refusal is answered: an
/// HTTP/2 client still sending would otherwise see its stream reset instead of the 403.
const DRAIN_CAP: u64 = 1 << 20;

fn refuse_unread(d: &Decide<'_>, req: Request<Incoming>, reason: &str) -> Response<Body> {
    let body = req.into_body();
    tokio::spawn(async move {
        let _ = collect_capped(body, DRAIN_CAP).await;
    });
    d.block(reason)
}

/// TRACE (and Microsoft's TRACK) answer with the request as the upstream received it: with the
/// injected credential in it.
fn is_echo_method(method: &str) -> bool {
    method.eq_ignore_ascii_case("TRACE") || method.eq_ignore_ascii_case("TRACK")
}

/// Why a route's credential must not go to `target`: only over TLS, only to the route's host
/// (the table lookup made sure of that) on its declared port.
fn credential_misdirected(route: &Route, target: &Target) -> Option<String> {
    let auth = route.auth.as_ref()?;
    if !target.https {
        return Some(format!(
            "{} injects a credential: only https:// is allowed, plain http:// would send it in the clear",
            route.host
        ));
    }
    (target.port != auth.port).then(|| {
        format!(
            "{} injects a credential for port {} only, not {}",
            route.host, auth.port, target.port
        )
    })
}

/// A credential found in the response, masked: noted on the decision line.
fn note_masked(notes: &mut Notes, part: &str, slots: Vec<String>) {
    if !slots.is_empty() {
        notes.detector.get_or_insert_with(|| "known_secrets".into());
        notes.notes.push(format!(
            "the response {part} carried the credential of {}; masked",
            slots.join(", ")
        ));
    }
}

/// What the content checks noted on an allowed request (for its decision line).
#[derive(Default)]
struct Notes {
    detector: Option<String>,
    notes: Vec<String>,
}

impl Notes {
    fn warn(&mut self, f: &Finding, part: Part<'_>) {
        self.detector.get_or_insert_with(|| f.detector.clone());
        self.notes
            .push(format!("{} warned of {} in {part}", f.detector, f.rule));
    }

    fn redacted(&mut self, f: &Finding, part: Part<'_>) {
        self.detector.get_or_insert_with(|| f.detector.clone());
        self.notes
            .push(format!("{} redacted {} in {part}", f.detector, f.rule));
    }

    fn reason(&self, base: String) -> String {
        if self.notes.is_empty() {
            base
        } else {
            format!("{base}; {}", self.notes.join("; "))
        }
    }
}

/// The request path shared by plain `http://` requests and requests inside intercepted
/// tunnels. `target` has passed the host checks; this decides everything else.
pub async fn pipeline(
    cfg: &ProxyConfig,
    target: &Target,
    req: Request<Incoming>,
) -> Response<Body> {
    let mut req = req;
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let d = Decide {
        cfg,
        host: &target.host,
        method: &method,
        path: &path,
    };
    let agent_upgrade = if websocket::is_upgrade(req.headers()) {
        websocket::agent_side(&mut req)
    } else {
        None
    };
    if is_echo_method(&method) {
        return refuse_unread(
            &d,
            req,
            &format!("{method} is refused: it echoes the request, credentials included"),
        );
    }
    let table = cfg.routes.current();
    let query = req.uri().query().map(str::to_owned);
    let route = match table.check_http(
        &target.host,
        &method,
        &path,
        query.as_deref(),
        req.headers(),
    ) {
        Ok(route) => route,
        Err(reason) => return refuse_unread(&d, req, &reason),
    };
    if let Some(reason) = credential_misdirected(route, target) {
        return refuse_unread(&d, req, &reason);
    }
    let named = table.names_exactly(&target.host);
    if is_dns_over_https(req.uri(), req.headers()) && !named {
        return refuse_unread(
            &d,
            req,
            &format!(
                "DNS over HTTPS to {} is refused unless a route names the host",
                target.host
            ),
        );
    }
    if target.port == 853 && !named {
        return refuse_unread(
            &d,
            req,
            &format!(
                "DNS over TLS (port 853) to {} is refused unless a route names the host",
                target.host
            ),
        );
    }
    let credential = match &route.auth {
        None => None,
        Some(auth) => {
            let value = cfg.secrets.current().token(&auth.slot).and_then(|token| {
                let mut v = HeaderValue::from_str(&auth.scheme.header_value(token)).ok()?;
                v.set_sensitive(true);
                Some((auth.scheme.header(), v))
            });
            match value {
                Some(v) => Some(v),
                None => {
                    return refuse_unread(
                        &d,
                        req,
                        &format!("credential for {} is not configured", target.host),
                    );
                }
            }
        }
    };

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    let inspector = cfg.inspector.current();
    let mut notes = Notes::default();

    let (body, pump): (Body, Option<(Pump<'_>, OutflowSender)>) = if inspector.scans_outbound(route)
    {
        match scan_request(
            cfg,
            &d,
            &*inspector,
            route,
            target,
            &mut parts,
            body,
            &mut notes,
        )
        .await
        {
            Ok(Outbound::Ready(body)) => (body, None),
            Ok(Outbound::Streaming(pump)) => {
                let (tx, body) = Outflow::channel(pump.size_hint());
                (body, Some((pump, tx)))
            }
            Err(refusal) => return refusal,
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
    if agent_upgrade.is_some() && scan_inbound {
        return d.block(&format!(
            "WebSocket is refused on {}: the route scans answers, and a stream of them cannot be held back for the scan",
            route.host
        ));
    }
    if scan_inbound {
        // Compressed answers could not be scanned.
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
    parts.uri = match format!("{}{path_and_query}", target.origin()).parse::<Uri>() {
        Ok(uri) => uri,
        Err(err) => return d.block(&format!("cannot forward this request target: {err}")),
    };
    parts.version = Version::HTTP_11;
    if let Some(agent_upgrade) = agent_upgrade {
        drop(body);
        return open_websocket(cfg, &d, route, target, parts, agent_upgrade, &notes).await;
    }

    let client = cfg.upstreams().client(route.private);
    let request = client.request(Request::from_parts(parts, body));
    // A streamed body is pumped while the request waits for its answer. A refusal answers the
    // agent at once: the request is dropped, and the body it holds can only fail. An upstream
    // that answers (or fails) before the whole body was sent gets no more of it.
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
                    Err(cut) => return cut.refuse(&d),
                },
                response = &mut request => response,
            }
        }
    };
    let response = match response {
        Ok(response) => response,
        Err(err) => {
            return match connect_error(&err) {
                Some(ConnectError::Refused(why)) => d.block(why),
                Some(ConnectError::Failed(why)) => upstream_failed(&d, route, target, why),
                None => upstream_failed(&d, route, target, &describe(&err)),
            };
        }
    };
    let (mut rparts, rbody) = response.into_parts();
    strip_hop_by_hop(&mut rparts.headers);
    let echo = cfg.secrets.current().echo_guard();
    note_masked(
        &mut notes,
        "headers",
        echo.mask_headers(&mut rparts.headers),
    );
    let rbody: Body = if scan_inbound {
        let bytes = match collect_capped(rbody, cfg.max_body).await {
            Ok(bytes) => bytes,
            Err(Collect::TooLarge) => return d.too_large(Part::Response, ""),
            Err(Collect::Failed(why)) => {
                return upstream_failed(&d, route, target, &format!("reading the response: {why}"));
            }
        };
        match inspector.inbound(route, &bytes) {
            Verdict::Clean => {}
            Verdict::Warn(f) => notes.warn(&f, Part::Response),
            Verdict::Found { finding, .. } => return d.found(&finding, Part::Response),
        }
        let mut bytes = bytes.to_vec();
        note_masked(&mut notes, "body", echo.mask(&mut bytes));
        full(Bytes::from(bytes))
    } else if echo.is_empty() {
        rbody.map_err(BoxError::from).boxed()
    } else {
        MaskedBody::new(rbody, echo, d.later_masked()).boxed()
    };
    d.log(
        LogVerdict::Allow,
        &notes.reason(format!("route {}", route.host)),
        notes.detector.as_deref(),
    );
    Response::from_parts(rparts, rbody)
}

/// A request body cleared for sending.
enum Outbound<'s> {
    /// Scanned whole (or not scanned).
    Ready(Body),
    /// Longer than [`STREAM_AFTER`]: its start is scanned, the rest is to be pumped.
    Streaming(Pump<'s>),
}

/// Scans URL, headers and body of an outbound request, applying redactions in place. Returns
/// the body to send, or the refusal.
#[allow(clippy::too_many_arguments)]
async fn scan_request<'s>(
    cfg: &ProxyConfig,
    d: &Decide<'_>,
    inspector: &'s dyn Inspector,
    route: &Route,
    target: &Target,
    parts: &mut hyper::http::request::Parts,
    body: Incoming,
    notes: &mut Notes,
) -> Result<Outbound<'s>, Response<Body>> {
    let encoded = parts
        .headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(d.block("compressed request bodies (Content-Encoding) cannot be scanned"));
    }

    // The URL: host, path and query.
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
        }
        Outcome::Replace(bytes, f) => {
            let new_pq = String::from_utf8(bytes)
                .ok()
                .and_then(|s| s.strip_prefix(target.host.as_str()).map(str::to_owned))
                .and_then(|pq| pq.parse::<PathAndQuery>().ok());
            match new_pq {
                Some(pq) => {
                    let mut uri = parts.uri.clone().into_parts();
                    uri.path_and_query = Some(pq);
                    match Uri::from_parts(uri) {
                        Ok(uri) => parts.uri = uri,
                        Err(_) => return Err(d.found(&f, Part::Url)),
                    }
                    notes.redacted(&f, Part::Url);
                }
                None => return Err(d.found(&f, Part::Url)),
            }
        }
        Outcome::Block(f) => return Err(d.found(&f, Part::Url)),
    }

    // Every header value.
    let names: Vec<HeaderName> = parts.headers.keys().cloned().collect();
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
                    Err(_) => return Err(d.found(&f, part)),
                },
                Outcome::Block(f) => return Err(d.found(&f, part)),
            }
        }
        if changed {
            parts.headers.remove(&name);
            for v in kept {
                parts.headers.append(name.clone(), v);
            }
        }
    }

    // The body: scanned chunk by chunk as it arrives when the inspector can (a blocking
    // finding refuses at once), else joined and scanned whole. Redaction needs it whole.
    let redact = route.dlp.on_match == OnMatch::Redact;
    let scanner = inspector.body_scanner(route);
    // A provider API request is read whole: what it asks the provider to do is decided on all of it.
    let stream_after = (!redact && route.provider_api.is_none()).then_some(STREAM_AFTER);
    let read = read_body(body, cfg.max_body, scanner, !redact, stream_after).await;
    let (chunks, verdict) = match read {
        Ok(Read::Blocked(f)) => return Err(d.found(&f, Part::Body)),
        Ok(Read::Streaming(pump)) => return Ok(Outbound::Streaming(pump)),
        Ok(Read::Done(chunks, verdict)) => (chunks, verdict),
        Err(Collect::TooLarge) => return Err(d.too_large(Part::Body, "")),
        Err(Collect::Failed(why)) => return Err(d.unreadable(&why, "")),
    };
    if let Some(api) = route.provider_api
        && let Some(why) = crate::provider_relay::refusal(api, &join(chunks.clone()))
    {
        return Err(d.block(&why));
    }
    match verdict {
        Some(Verdict::Clean) => return Ok(Outbound::Ready(chunks_body(chunks))),
        Some(Verdict::Warn(f)) => {
            notes.warn(&f, Part::Body);
            return Ok(Outbound::Ready(chunks_body(chunks)));
        }
        Some(Verdict::Found { finding, .. }) if !redact => {
            return Err(d.found(&finding, Part::Body));
        }
        Some(Verdict::Found { .. }) | None => {}
    }
    let bytes = join(chunks);
    if bytes.is_empty() {
        return Ok(Outbound::Ready(full(bytes)));
    }
    match judge_outbound(inspector, route, Part::Body, &bytes) {
        Outcome::Pass(warn) => {
            if let Some(f) = warn {
                notes.warn(&f, Part::Body);
            }
            Ok(Outbound::Ready(full(bytes)))
        }
        Outcome::Replace(new, f) => {
            notes.redacted(&f, Part::Body);
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(new.len()));
            Ok(Outbound::Ready(full(Bytes::from(new))))
        }
        Outcome::Block(f) => Err(d.found(&f, Part::Body)),
    }
}

enum Read<'s> {
    /// The whole body, and the scanner's verdict on it when there was a scanner.
    Done(Vec<Bytes>, Option<Verdict>),
    /// The scanner found this, and reading stopped there.
    Blocked(Finding),
    /// More than the hold limit came, none of it refused yet: the rest is to be streamed.
    Streaming(Pump<'s>),
}

/// Reads a request body up to `cap`, feeding each chunk to `scanner` as it arrives; stops at
/// the first blocking finding when `stop_on_finding`, and once `stream_after` bytes are read
/// (when there is a scanner), leaving the rest to a [`Pump`].
async fn read_body<'s>(
    mut body: Incoming,
    cap: u64,
    mut scanner: Option<Box<dyn BodyScanner + 's>>,
    stop_on_finding: bool,
    stream_after: Option<u64>,
) -> Result<Read<'s>, Collect> {
    let size_hint = hyper::body::Body::size_hint(&body);
    if size_hint.lower() > cap {
        return Err(Collect::TooLarge);
    }
    let mut chunks = Vec::new();
    let mut total = 0u64;
    let mut found = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| Collect::Failed(err.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not forwarded
        };
        total += data.len() as u64;
        if total > cap {
            return Err(Collect::TooLarge);
        }
        if let (None, Some(s)) = (&found, scanner.as_mut()) {
            found = s.feed(&data);
            if stop_on_finding && let Some(f) = found.take() {
                return Ok(Read::Blocked(f));
            }
        }
        chunks.push(data);
        if let (Some(limit), Some(_)) = (stream_after, &scanner)
            && total > limit
            && found.is_none()
            && !hyper::body::Body::is_end_stream(&body)
        {
            let scanner = scanner.take().expect("checked above");
            return Ok(Read::Streaming(Pump::new(
                body, scanner, chunks, total, cap, size_hint,
            )));
        }
    }
    let verdict = scanner.map(|mut s| match found {
        Some(finding) => Verdict::Found {
            finding,
            redacted: None,
        },
        None => s.finish(),
    });
    Ok(Read::Done(chunks, verdict))
}

/// Reads the rest of a long request body, scanning it, and sends on what the scan has cleared
/// (bytes before [`BodyScanner::decided`]) through an [`Outflow`]; the rest only when the
/// scan of the whole body is clean.
struct Pump<'s> {
    body: Incoming,
    scanner: Box<dyn BodyScanner + 's>,
    /// Read, not yet sent, in order.
    pending: std::collections::VecDeque<Bytes>,
    /// Body offset of the first pending byte.
    sent: u64,
    total: u64,
    cap: u64,
    size_hint: hyper::body::SizeHint,
}

/// Why a pumped body was refused after its start had been sent, and how much had been.
struct Cut {
    refusal: Refusal,
    sent: u64,
}

enum Refusal {
    Found(Finding),
    TooLarge,
    Unreadable(String),
}

impl Cut {
    fn refuse(&self, d: &Decide<'_>) -> Response<Body> {
        let note = format!(
            "; the upstream request was cut (at most {} clean bytes sent)",
            self.sent
        );
        match &self.refusal {
            Refusal::Found(f) => d.found_noting(f, Part::Body, &note),
            Refusal::TooLarge => d.too_large(Part::Body, &note),
            Refusal::Unreadable(why) => d.unreadable(why, &note),
        }
    }
}

impl<'s> Pump<'s> {
    fn new(
        body: Incoming,
        scanner: Box<dyn BodyScanner + 's>,
        read: Vec<Bytes>,
        total: u64,
        cap: u64,
        size_hint: hyper::body::SizeHint,
    ) -> Pump<'s> {
        Pump {
            body,
            scanner,
            pending: read.into(),
            sent: 0,
            total,
            cap,
            size_hint,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.size_hint
    }

    fn cut(&self, refusal: Refusal) -> Cut {
        Cut {
            refusal,
            sent: self.sent,
        }
    }

    /// Runs to the end of the body. `Ok`: all of it was sent (or the upstream stopped
    /// reading, and nothing more leaves), with the scanner's warning if any. `Err`: the
    /// upstream body was cut.
    async fn run(mut self, tx: OutflowSender) -> Result<Option<Finding>, Cut> {
        loop {
            if !self.send_until(&tx, self.scanner.decided()).await {
                return Ok(None); // the upstream is not reading any more: nothing more leaves
            }
            let Some(frame) = self.body.frame().await else {
                break;
            };
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers are not forwarded
                },
                Err(err) => return Err(self.cut(Refusal::Unreadable(err.to_string()))),
            };
            self.total += data.len() as u64;
            if self.total > self.cap {
                return Err(self.cut(Refusal::TooLarge));
            }
            if let Some(f) = self.scanner.feed(&data) {
                return Err(self.cut(Refusal::Found(f)));
            }
            self.pending.push_back(data);
        }
        let warning = match self.scanner.finish() {
            Verdict::Found { finding, .. } => return Err(self.cut(Refusal::Found(finding))),
            Verdict::Warn(f) => Some(f),
            Verdict::Clean => None,
        };
        if self.send_until(&tx, u64::MAX).await {
            tx.complete();
        }
        Ok(warning)
    }

    /// Sends the pending bytes before body offset `upto`; false when the upstream side is gone.
    async fn send_until(&mut self, tx: &OutflowSender, upto: u64) -> bool {
        while self.sent < upto {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let room = upto - self.sent;
            let chunk = if front.len() as u64 <= room {
                self.pending.pop_front().expect("a front chunk")
            } else {
                front.split_to(room as usize)
            };
            self.sent += chunk.len() as u64;
            if !tx.send(chunk).await {
                return false;
            }
        }
        true
    }
}

/// The upstream end of a pumped body. It ends cleanly only after [`OutflowSender::complete`];
/// if the sender is dropped before that (a refusal), the body fails, so the upstream request
/// is aborted instead of ending as a shorter, well-formed request.
struct Outflow {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    complete: Arc<std::sync::atomic::AtomicBool>,
    size_hint: hyper::body::SizeHint,
}

struct OutflowSender {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    complete: Arc<std::sync::atomic::AtomicBool>,
}

impl OutflowSender {
    async fn send(&self, chunk: Bytes) -> bool {
        self.tx.send(chunk).await.is_ok()
    }

    fn complete(self) {
        self.complete
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Outflow {
    fn channel(size_hint: hyper::body::SizeHint) -> (OutflowSender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let complete = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sender = OutflowSender {
            tx,
            complete: complete.clone(),
        };
        let body = Outflow {
            rx,
            complete,
            size_hint,
        };
        (sender, body.boxed())
    }
}

impl hyper::body::Body for Outflow {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk)))),
            Poll::Ready(None) if self.complete.load(std::sync::atomic::Ordering::Acquire) => {
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                Poll::Ready(Some(Err("the proxy refused the rest of the body".into())))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.size_hint
    }
}

fn join(chunks: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(chunks) {
        Ok([one]) => one,
        Err(chunks) => Bytes::from(chunks.concat()),
    }
}

/// A body of chunks already read, sent as they came (no copy into one buffer).
fn chunks_body(chunks: Vec<Bytes>) -> Body {
    Chunks(chunks.into()).boxed()
}

struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// Sends an upgrade request on a connection of its own and, when the upstream switches
/// protocols, joins the agent to it through [`websocket::relay`] (frames scanned on the way
/// out). Any other answer goes back to the agent as usual.
async fn open_websocket(
    cfg: &ProxyConfig,
    d: &Decide<'_>,
    route: &Route,
    target: &Target,
    mut parts: hyper::http::request::Parts,
    agent_upgrade: hyper::upgrade::OnUpgrade,
    notes: &Notes,
) -> Response<Body> {
    websocket::restore_upgrade_headers(&mut parts.headers);
    let io = match cfg
        .upstreams()
        .connect_http1(route.private, parts.uri.clone())
        .await
    {
        Ok(io) => io,
        Err(ConnectError::Refused(why)) => return d.block(&why),
        Err(ConnectError::Failed(why)) => return upstream_failed(d, route, target, &why),
    };
    // A connection of our own: the request goes in origin form, with the Host the pooled client
    // would have written.
    if let Some(host) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(header::HOST, host);
    }
    let origin_form = parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .parse::<Uri>();
    match origin_form {
        Ok(uri) => parts.uri = uri,
        Err(err) => return d.block(&format!("cannot forward this request target: {err}")),
    }
    let (mut sender, connection) = match hyper::client::conn::http1::handshake::<_, Body>(io).await
    {
        Ok(pair) => pair,
        Err(err) => return upstream_failed(d, route, target, &err.to_string()),
    };
    tokio::spawn(connection.with_upgrades());
    let empty: Body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed();
    let mut response = match sender.send_request(Request::from_parts(parts, empty)).await {
        Ok(response) => response,
        Err(err) => return upstream_failed(d, route, target, &err.to_string()),
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut rparts, rbody) = response.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        d.log(
            LogVerdict::Allow,
            &notes.reason(format!(
                "route {}; WebSocket not accepted upstream",
                route.host
            )),
            notes.detector.as_deref(),
        );
        let echo = cfg.secrets.current().echo_guard();
        echo.mask_headers(&mut rparts.headers);
        return Response::from_parts(
            rparts,
            MaskedBody::new(rbody, echo, d.later_masked()).boxed(),
        );
    }
    let echo = cfg.secrets.current().echo_guard();
    echo.mask_headers(response.headers_mut());
    let answer = websocket::switching_response(response.headers());
    let on_masked = d.later_masked();
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    d.log(
        LogVerdict::Allow,
        &notes.reason(format!("route {}; WebSocket opened", route.host)),
        notes.detector.as_deref(),
    );
    let log = cfg.log.clone();
    let inspector = cfg.inspector.current();
    let route = route.clone();
    let (host, method, path) = (d.host.to_owned(), d.method.to_owned(), d.path.to_owned());
    tokio::spawn(async move {
        let (Ok(agent), Ok(upstream)) = tokio::join!(agent_upgrade, upstream_upgrade) else {
            return;
        };
        let scanner = if inspector.scans_outbound(&route) {
            inspector.body_scanner(&route)
        } else {
            None
        };
        let (reason, detector) = match websocket::relay(agent, upstream, scanner, echo, on_masked)
            .await
        {
            websocket::Ended::Closed { .. } => return,
            websocket::Ended::Found { finding, sent } => (
                format!(
                    "{} found {} in a WebSocket message; the connection was closed (at most {sent} clean bytes sent)",
                    finding.detector, finding.rule
                ),
                Some(finding.detector),
            ),
            websocket::Ended::TooLarge { sent } => (
                format!(
                    "a WebSocket frame larger than {} bytes cannot be scanned; the connection was closed (at most {sent} clean bytes sent)",
                    websocket::MAX_FRAME
                ),
                None,
            ),
        };
        log.decision_by(
            Service::Egress,
            Some(&host),
            Some(&method),
            Some(&path),
            LogVerdict::Block,
            &reason,
            detector.as_deref(),
        );
    });
    answer
}

/// The allow line of a request whose upstream failed, and 502.
fn upstream_failed(d: &Decide<'_>, route: &Route, target: &Target, why: &str) -> Response<Body> {
    d.log(
        LogVerdict::Allow,
        &format!("route {}; upstream failed: {why}", route.host),
        None,
    );
    bad_gateway(&target.host, target.port, why)
}

enum Collect {
    TooLarge,
    Failed(String),
}

/// Reads a whole body, refusing one larger than `cap` (at once when its length says so).
async fn collect_capped<B>(body: B, cap: u64) -> Result<Bytes, Collect>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > cap {
        return Err(Collect::TooLarge);
    }
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(Collect::TooLarge),
        Err(err) => Err(Collect::Failed(err.to_string())),
    }
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

async fn connect(cfg: Arc<ProxyConfig>, req: Request<Incoming>) -> Response<Body> {
    const METHOD: &str = "CONNECT";
    let Some(authority) = req.uri().authority().cloned() else {
        return block(&cfg, None, METHOD, None, "CONNECT needs a host:port target");
    };
    let host = normalize_host(authority.host());
    let Some(port) = authority.port_u16() else {
        return block(
            &cfg,
            Some(&host),
            METHOD,
            None,
            "CONNECT needs a host:port target",
        );
    };
    if host == INTROSPECTION_HOST {
        return block(
            &cfg,
            Some(&host),
            METHOD,
            None,
            "_egress.local answers plain http:// requests only",
        );
    }
    if let Some(reason) = host_refusal(&cfg, &host) {
        return block(&cfg, Some(&host), METHOD, None, &reason);
    }
    if let Some(reason) = host_header_mismatch(&host, req.headers()) {
        return block(&cfg, Some(&host), METHOD, None, &reason);
    }
    let table = cfg.routes.current();
    let route = match table.check_connect(&host) {
        Ok(route) => route,
        Err(reason) => return block(&cfg, Some(&host), METHOD, None, &reason),
    };
    if port == 853 && !table.names_exactly(&host) {
        let reason =
            format!("DNS over TLS (port 853) to {host} is refused unless a route names the host");
        return block(&cfg, Some(&host), METHOD, None, &reason);
    }
    if route.tls_passthrough {
        return passthrough(cfg.clone(), req, route, host, port).await;
    }
    let Some(ca) = cfg.authority.clone() else {
        return block(
            &cfg,
            Some(&host),
            METHOD,
            None,
            "TLS interception is not configured (no bottle CA)",
        );
    };
    cfg.log.decision(
        Service::Egress,
        Some(&host),
        Some(METHOD),
        None,
        LogVerdict::Allow,
        &format!("route {} (intercepted)", route.host),
    );
    let cfg = cfg.clone();
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => crate::intercept::serve_tunnel(cfg, ca, upgraded, host, port).await,
            Err(err) => cfg.log.event(
                "tunnel",
                false,
                &format!("{host}:{port}: upgrade failed: {err}"),
            ),
        }
    });
    Response::new(
        Empty::new()
            .map_err(|never| -> BoxError { match never {} })
            .boxed(),
    )
}

/// A `tls_passthrough` route: connect (SSRF guard), answer 200, copy bytes both ways.
async fn passthrough(
    cfg: Arc<ProxyConfig>,
    req: Request<Incoming>,
    route: &Route,
    host: String,
    port: u16,
) -> Response<Body> {
    const METHOD: &str = "CONNECT";
    let connected = connect_checked(
        &cfg.resolver,
        &cfg.addresses,
        &host,
        port,
        route.private,
        cfg.connect_timeout,
    )
    .await;
    let mut upstream = match connected {
        Ok(stream) => stream,
        Err(ConnectError::Refused(reason)) => {
            return block(&cfg, Some(&host), METHOD, None, &reason);
        }
        Err(ConnectError::Failed(reason)) => {
            let why = format!("route {}; upstream failed: {reason}", route.host);
            cfg.log.decision(
                Service::Egress,
                Some(&host),
                Some(METHOD),
                None,
                LogVerdict::Allow,
                &why,
            );
            return bad_gateway(&host, port, &reason);
        }
    };
    cfg.log.decision(
        Service::Egress,
        Some(&host),
        Some(METHOD),
        None,
        LogVerdict::Allow,
        &format!(
            "route {} (tls_passthrough: tunnel, not inspected)",
            route.host
        ),
    );
    let log = cfg.log.clone();
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let mut client = TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
            Err(err) => log.event(
                "tunnel",
                false,
                &format!("{host}:{port}: upgrade failed: {err}"),
            ),
        }
    });
    Response::new(
        Empty::new()
            .map_err(|never| -> BoxError { match never {} })
            .boxed(),
    )
}

/// A `Host` header that names another host than `host` (the port aside; case and one trailing
/// dot ignored). No `Host` header: nothing to disagree.
pub fn host_header_mismatch(host: &str, headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all(header::HOST).iter();
    let given = values.next()?;
    let agrees = values.next().is_none()
        && given
            .to_str()
            .ok()
            .and_then(|v| v.parse::<Authority>().ok())
            .is_some_and(|a| normalize_host(a.host()) == host);
    if agrees {
        None
    } else {
        Some(format!(
            "the Host header does not name the request target {host}"
        ))
    }
}

/// `http://_egress.local/...`.
fn introspection(cfg: &ProxyConfig, method: &str, path: &str) -> Response<Body> {
    let read = method == "GET" || method == "HEAD";
    match path {
        "/healthz" if read => text(StatusCode::OK, "ok\n"),
        "/allowlist" if read => {
            cfg.log.decision(
                Service::Egress,
                Some(INTROSPECTION_HOST),
                Some(method),
                Some(path),
                LogVerdict::Allow,
                "introspection",
            );
            let json = cfg.routes.current().allowlist_json();
            let mut body = serde_json::to_string_pretty(&json).unwrap_or_default();
            body.push('\n');
            let mut resp = text(StatusCode::OK, &body);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: _egress.local serves GET /healthz and GET /allowlist\n",
        ),
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

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// 403 `blocked: <reason>`.
pub(crate) fn forbidden(reason: &str) -> Response<Body> {
    text(
        StatusCode::FORBIDDEN,
        &format!("blocked: {}\n", one_line(reason)),
    )
}

/// Logs a block and answers 403 `blocked: <reason>`.
pub(crate) fn block(
    cfg: &ProxyConfig,
    host: Option<&str>,
    method: &str,
    path: Option<&str>,
    reason: &str,
) -> Response<Body> {
    cfg.log.decision(
        Service::Egress,
        host,
        Some(method),
        path,
        LogVerdict::Block,
        reason,
    );
    forbidden(reason)
}

fn bad_gateway(host: &str, port: u16, reason: &str) -> Response<Body> {
    text(
        StatusCode::BAD_GATEWAY,
        &format!("bad gateway: {host}:{port}: {}\n", one_line(reason)),
    )
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

    #[test]
    fn host_header_must_name_the_target() {
        let mut h = HeaderMap::new();
        assert!(host_header_mismatch("a.test", &h).is_none());
        h.insert("host", HeaderValue::from_static("A.Test.:8080"));
        assert!(host_header_mismatch("a.test", &h).is_none());
        h.insert("host", HeaderValue::from_static("b.test"));
        assert!(host_header_mismatch("a.test", &h).is_some());
        h.insert("host", HeaderValue::from_static("a.test"));
        h.append("host", HeaderValue::from_static("b.test"));
        assert!(host_header_mismatch("a.test", &h).is_some(), "two Hosts");
    }

    #[test]
    fn dns_over_https_is_recognised() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let none = HeaderMap::new();
        assert!(is_dns_over_https(&uri("/dns-query?dns=AAAB"), &none));
        assert!(is_dns_over_https(&uri("/DNS-QUERY?ct&dns=AAAB"), &none));
        assert!(!is_dns_over_https(&uri("/dns-query"), &none));
        assert!(!is_dns_over_https(&uri("/search?dns=1"), &none));
        let mut h = HeaderMap::new();
        h.insert(
            "accept",
            HeaderValue::from_static("Application/DNS-Message"),
        );
        assert!(is_dns_over_https(&uri("/anything"), &h));
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/dns-message"),
        );
        assert!(is_dns_over_https(&uri("/"), &h));
    }

    #[test]
    fn targets_print_their_origin() {
        let t = |https, port| Target {
            https,
            host: "a.test".into(),
            port,
        };
        assert_eq!(t(true, 443).origin(), "https://a.test");
        assert_eq!(t(true, 8443).origin(), "https://a.test:8443");
        assert_eq!(t(false, 80).origin(), "http://a.test");
        assert_eq!(t(false, 443).origin(), "http://a.test:443");
    }

    #[tokio::test]
    async fn bodies_are_capped() {
        let small = Full::new(Bytes::from_static(b"12345"));
        assert_eq!(collect_capped(small, 5).await.ok().unwrap(), "12345");
        let big = Full::new(Bytes::from_static(b"123456"));
        assert!(matches!(
            collect_capped(big, 5).await,
            Err(Collect::TooLarge)
        ));
    }
}
