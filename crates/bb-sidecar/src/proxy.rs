//! The egress proxy: an HTTP/1.1 forward proxy that lets through only what the route table
//! allows.
//!
//! - `CONNECT host:port`: allowed when a route without `matches` covers the host; the proxy
//!   connects upstream, answers 200 and tunnels bytes. (Interception, credential injection and
//!   DLP, which need the request inside the tunnel, come with TLS interception.)
//! - Absolute-form `http://` requests: checked against the route (`matches` included),
//!   forwarded over a fresh HTTP/1.1 connection with hop-by-hop headers and
//!   `Proxy-Authorization` removed, the response streamed back.
//! - `GET /healthz` to the proxy itself, and `http://_egress.local/{healthz,allowlist}`.
//! - Everything else: 403 with a one-line `blocked: <reason>` body.
//!
//! Every request except health checks writes one decision line ([`crate::log`]). Names are
//! resolved by the sidecar through a [`Resolver`] (injectable for tests) and the addresses are
//! checked ([`AddressPolicy`]) before the proxy connects to exactly those addresses.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::Authority;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::Shutdown;
use crate::config::{INTROSPECTION_HOST, SharedRoutes, normalize_host, valid_host};
use crate::log::{Log, Service, Verdict};

/// The port the compose file publishes to the internal network.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9099";

/// Response bodies: upstream bodies streamed, or the proxy's own short answers.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// What a [`Resolver`] returns.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name and port into addresses. Production uses the system resolver; tests map
/// names such as `allowed.test` to loopback.
#[derive(Clone)]
pub struct Resolver(Arc<dyn Fn(String, u16) -> ResolveFuture + Send + Sync>);

impl Resolver {
    /// `tokio::net::lookup_host`.
    pub fn system() -> Resolver {
        Resolver::from_fn(|host, port| {
            Box::pin(async move {
                Ok(tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .collect())
            })
        })
    }

    pub fn from_fn(f: impl Fn(String, u16) -> ResolveFuture + Send + Sync + 'static) -> Resolver {
        Resolver(Arc::new(f))
    }

    /// A fixed table of names (lower case); every other name fails to resolve.
    pub fn fixed(entries: impl IntoIterator<Item = (String, IpAddr)>) -> Resolver {
        let table: Arc<std::collections::HashMap<String, IpAddr>> =
            Arc::new(entries.into_iter().collect());
        Resolver::from_fn(move |host, port| {
            let found = table.get(&host).map(|ip| vec![SocketAddr::new(*ip, port)]);
            Box::pin(async move {
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
            })
        })
    }

    /// IP literals are returned as they are; names go to the resolver function.
    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        (self.0)(host.to_owned(), port).await
    }
}

/// Which upstream addresses the proxy may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Never loopback, link-local (cloud metadata included), unspecified, multicast or
    /// broadcast; private, shared (100.64/10) and unique-local only on `private: true` routes.
    Strict,
    /// Whatever the resolver returns (tests whose upstreams listen on loopback).
    Unchecked,
}

impl AddressPolicy {
    /// Why `ip` is refused for a route, or `None` when it may be used.
    pub fn refusal(self, ip: IpAddr, private_route: bool) -> Option<&'static str> {
        if self == AddressPolicy::Unchecked {
            return None;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (always, private) = match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                let always = if v4.is_loopback() {
                    Some("a loopback address")
                } else if v4.is_link_local() {
                    Some("a link-local address")
                } else if v4.is_unspecified() || o[0] == 0 {
                    Some("an unspecified address")
                } else if v4.is_multicast() || v4.is_broadcast() || o[0] >= 240 {
                    Some("a multicast or reserved address")
                } else {
                    None
                };
                let private = v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64);
                (always, private)
            }
            IpAddr::V6(v6) => {
                let always = if v6.is_loopback() {
                    Some("a loopback address")
                } else if v6.is_unicast_link_local() {
                    Some("a link-local address")
                } else if v6.is_unspecified() {
                    Some("an unspecified address")
                } else if v6.is_multicast() {
                    Some("a multicast address")
                } else {
                    None
                };
                (always, v6.is_unique_local())
            }
        };
        always.or(if private && !private_route {
            Some("a private address (the route does not say `private: true`)")
        } else {
            None
        })
    }
}

/// Everything a proxy connection needs.
#[derive(Clone)]
pub struct ProxyConfig {
    pub routes: SharedRoutes,
    pub resolver: Resolver,
    pub log: Log,
    pub addresses: AddressPolicy,
    /// For resolving and for connecting to each address.
    pub connect_timeout: Duration,
}

impl ProxyConfig {
    /// The production settings: system resolver, strict address checks, 10 s timeouts.
    pub fn new(routes: SharedRoutes, log: Log) -> ProxyConfig {
        ProxyConfig {
            routes,
            resolver: Resolver::system(),
            log,
            addresses: AddressPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
        }
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
    if let Some(reason) = bad_target(&host, req.headers()) {
        return block(&cfg, Some(&host), &method, Some(&path), &reason);
    }
    let port = authority.port_u16().unwrap_or(80);
    let table = cfg.routes.current();
    let route = match table.check_http(&host, &method, &path, req.headers()) {
        Ok(route) => route,
        Err(reason) => return block(&cfg, Some(&host), &method, Some(&path), &reason),
    };
    let stream = match connect_upstream(&cfg, &host, port, route.private).await {
        Ok(stream) => stream,
        Err(Upstream::Refused(reason)) => {
            return block(&cfg, Some(&host), &method, Some(&path), &reason);
        }
        Err(Upstream::Failed(reason)) => {
            let why = format!("route {}; upstream failed: {reason}", route.host);
            cfg.log.decision(
                Service::Egress,
                Some(&host),
                Some(&method),
                Some(&path),
                Verdict::Allow,
                &why,
            );
            return bad_gateway(&host, port, &reason);
        }
    };
    cfg.log.decision(
        Service::Egress,
        Some(&host),
        Some(&method),
        Some(&path),
        Verdict::Allow,
        &format!("route {}", route.host),
    );
    forward(&cfg, stream, req, &authority, &host, port).await
}

/// Sends the request upstream on its own connection and streams the answer back.
async fn forward(
    cfg: &ProxyConfig,
    stream: TcpStream,
    req: Request<Incoming>,
    authority: &Authority,
    host: &str,
    port: u16,
) -> Response<Body> {
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(err) => return upstream_error(cfg, host, port, &err.to_string()),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_owned();
    parts.uri = match Uri::builder().path_and_query(path_and_query).build() {
        Ok(uri) => uri,
        Err(err) => return upstream_error(cfg, host, port, &err.to_string()),
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    // The Host header names the target (never the URI's user info).
    let host_header = match authority.port() {
        Some(p) => format!("{}:{}", authority.host(), p.as_str()),
        None => authority.host().to_owned(),
    };
    match HeaderValue::from_str(&host_header) {
        Ok(v) => {
            parts.headers.insert(header::HOST, v);
        }
        Err(err) => return upstream_error(cfg, host, port, &err.to_string()),
    }
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.boxed())
        }
        Err(err) => upstream_error(cfg, host, port, &err.to_string()),
    }
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
    if let Some(reason) = bad_target(&host, req.headers()) {
        return block(&cfg, Some(&host), METHOD, None, &reason);
    }
    let table = cfg.routes.current();
    let route = match table.check_connect(&host) {
        Ok(route) => route,
        Err(reason) => return block(&cfg, Some(&host), METHOD, None, &reason),
    };
    let upstream = match connect_upstream(&cfg, &host, port, route.private).await {
        Ok(stream) => stream,
        Err(Upstream::Refused(reason)) => return block(&cfg, Some(&host), METHOD, None, &reason),
        Err(Upstream::Failed(reason)) => {
            let why = format!("route {}; upstream failed: {reason}", route.host);
            cfg.log.decision(
                Service::Egress,
                Some(&host),
                Some(METHOD),
                None,
                Verdict::Allow,
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
        Verdict::Allow,
        &format!("route {} (tunnel, not inspected)", route.host),
    );
    let log = cfg.log.clone();
    tokio::spawn(async move {
        let mut upstream = upstream;
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
    Response::new(Empty::new().map_err(|never| match never {}).boxed())
}

/// A host that is no host name, or a `Host` header that names another host than the target.
fn bad_target(host: &str, headers: &HeaderMap) -> Option<String> {
    if !valid_host(host) {
        return Some(format!("`{host}` is not a valid host name"));
    }
    let given = headers.get(header::HOST)?;
    let agrees = given
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
                Verdict::Allow,
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

enum Upstream {
    /// The address policy refused every address: a block.
    Refused(String),
    /// Resolution or connection failed: a bad gateway.
    Failed(String),
}

/// Resolves `host` once, checks the addresses and connects to the first usable one (the
/// address that was checked is the one used: no second lookup).
async fn connect_upstream(
    cfg: &ProxyConfig,
    host: &str,
    port: u16,
    private_route: bool,
) -> Result<TcpStream, Upstream> {
    let addrs =
        match tokio::time::timeout(cfg.connect_timeout, cfg.resolver.resolve(host, port)).await {
            Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
            Ok(Ok(_)) => return Err(Upstream::Failed(format!("{host} has no address"))),
            Ok(Err(err)) => return Err(Upstream::Failed(format!("cannot resolve {host}: {err}"))),
            Err(_) => return Err(Upstream::Failed(format!("resolving {host} timed out"))),
        };
    let mut refused = None;
    let mut last_error = None;
    for addr in addrs {
        if let Some(why) = cfg.addresses.refusal(addr.ip(), private_route) {
            refused.get_or_insert_with(|| format!("{host} resolves to {}, {why}", addr.ip()));
            continue;
        }
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(err)) => last_error = Some(format!("connect {addr}: {err}")),
            Err(_) => last_error = Some(format!("connect {addr}: timed out")),
        }
    }
    match (last_error, refused) {
        (Some(err), _) => Err(Upstream::Failed(err)),
        (None, Some(why)) => Err(Upstream::Refused(why)),
        (None, None) => Err(Upstream::Failed(format!("{host} has no address"))),
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

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Logs a block and answers 403 `blocked: <reason>`.
fn block(
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
        Verdict::Block,
        reason,
    );
    let reason = reason.replace(['\r', '\n'], " ");
    text(StatusCode::FORBIDDEN, &format!("blocked: {reason}\n"))
}

fn bad_gateway(host: &str, port: u16, reason: &str) -> Response<Body> {
    let reason = reason.replace(['\r', '\n'], " ");
    text(
        StatusCode::BAD_GATEWAY,
        &format!("bad gateway: {host}:{port}: {reason}\n"),
    )
}

/// A failure after the allow decision was logged: an event line and 502.
fn upstream_error(cfg: &ProxyConfig, host: &str, port: u16, reason: &str) -> Response<Body> {
    cfg.log
        .event("upstream", false, &format!("{host}:{port}: {reason}"));
    bad_gateway(host, port, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_policy_refuses_internal_addresses() {
        let p = AddressPolicy::Strict;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for s in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(p.refusal(ip(s), true).is_some(), "{s}");
        }
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(p.refusal(ip(s), false).is_some(), "{s}");
            assert!(p.refusal(ip(s), true).is_none(), "{s} on a private route");
        }
        for s in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(p.refusal(ip(s), false).is_none(), "{s}");
        }
        assert!(
            AddressPolicy::Unchecked
                .refusal(ip("127.0.0.1"), false)
                .is_none()
        );
    }

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
        assert!(bad_target("a.test", &h).is_none());
        h.insert("host", HeaderValue::from_static("A.Test.:8080"));
        assert!(bad_target("a.test", &h).is_none());
        h.insert("host", HeaderValue::from_static("b.test"));
        assert!(bad_target("a.test", &h).is_some());
        assert!(bad_target("a..test", &HeaderMap::new()).is_some());
    }

    #[tokio::test]
    async fn fixed_resolver_and_literals() {
        let r = Resolver::fixed([("a.test".to_owned(), "127.0.0.1".parse().unwrap())]);
        assert_eq!(
            r.resolve("a.test", 80).await.unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert!(r.resolve("b.test", 80).await.is_err());
        assert_eq!(
            r.resolve("::1", 81).await.unwrap(),
            vec!["[::1]:81".parse().unwrap()]
        );
    }
}
