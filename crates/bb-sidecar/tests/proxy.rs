//! The proxy in-process on 127.0.0.1, with upstreams the tests start on 127.0.0.1. Test host
//! names (`allowed.test`, …) resolve to loopback through an injected resolver: nothing here
//! resolves or contacts a real internet name.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bb_sidecar::config::{self, RouteTable, SharedRoutes};
use bb_sidecar::log::{Lines, Log};
use bb_sidecar::proxy::{self, AddressPolicy, ProxyConfig, Resolver};
use bb_sidecar::{Shutdown, ShutdownTrigger};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SECRET: &str = "SECRETVALUE-do-not-log";

fn route(host: &str) -> Value {
    json!({
        "host": host,
        "dlp": {"outbound": [], "inbound": [], "on_match": "block"},
        "tls_passthrough": false,
        "private": false
    })
}

fn plan(routes: Vec<Value>) -> RouteTable {
    RouteTable::parse(&json!({"routes": routes, "token_slots": []}).to_string()).unwrap()
}

fn default_routes() -> RouteTable {
    let mut api = route("api.test");
    api["matches"] = json!([{"paths": [{"type": "prefix", "value": "/v1/"}], "methods": ["GET"]}]);
    plan(vec![route("allowed.test"), route("*.wild.test"), api])
}

struct Proxy {
    addr: SocketAddr,
    routes: SharedRoutes,
    lines: Lines,
    _stop: ShutdownTrigger,
}

async fn start_proxy(table: RouteTable, addresses: AddressPolicy) -> Proxy {
    let (log, lines) = Log::memory();
    let routes = SharedRoutes::new(table);
    let names = [
        "allowed.test",
        "a.wild.test",
        "wild.test",
        "api.test",
        "evil.example",
        "other.test",
    ];
    let cfg = ProxyConfig {
        routes: routes.clone(),
        resolver: Resolver::fixed(names.iter().map(|n| (n.to_string(), LOOPBACK))),
        log,
        addresses,
        connect_timeout: Duration::from_secs(5),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = Shutdown::channel();
    tokio::spawn(proxy::serve(listener, Arc::new(cfg), shutdown));
    Proxy {
        addr,
        routes,
        lines,
        _stop: stop,
    }
}

/// An HTTP upstream that answers with the request it saw: request line, headers, body.
async fn start_upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let mut echo = format!("{} {}\n", req.method(), req.uri());
                            for (name, value) in req.headers() {
                                echo.push_str(&format!(
                                    "{}: {}\n",
                                    name,
                                    value.to_str().unwrap_or("?")
                                ));
                            }
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            echo.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
                            let resp = Response::builder()
                                .header("x-upstream", "yes")
                                .header("connection", "x-hop")
                                .header("x-hop", "1")
                                .body(Full::new(Bytes::from(echo)))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, hits)
}

/// A TCP upstream that echoes bytes.
async fn start_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends a raw request (which should say `Connection: close`) and reads the whole answer.
async fn send(proxy: SocketAddr, request: &str) -> Answer {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("answer within 10 s")
        .unwrap();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

fn get(url: &str, host: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn allowed_plain_http_is_forwarded_without_proxy_credentials() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let request = format!(
        "GET http://Allowed.Test:{port}/some/path?q={SECRET} HTTP/1.1\r\nHost: allowed.test:{port}\r\n\
         Proxy-Authorization: Basic {SECRET}\r\nProxy-Connection: keep-alive\r\nX-Custom: {SECRET}\r\n\
         Connection: close\r\n\r\n"
    );
    let a = send(p.addr, &request).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(a.head.contains("x-upstream: yes"), "{}", a.head);
    assert!(
        !a.head.contains("x-hop"),
        "hop-by-hop response header kept: {}",
        a.head
    );
    let body = a.body.to_ascii_lowercase();
    assert!(
        body.starts_with(&format!(
            "get /some/path?q={}\n",
            SECRET.to_ascii_lowercase()
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("host: allowed.test:{port}\n")),
        "{body}"
    );
    assert!(body.contains("x-custom: "), "{body}");
    assert!(!body.contains("proxy-authorization"), "{body}");
    assert!(!body.contains("proxy-connection"), "{body}");

    let lines = p.lines.json();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["service"], "egress");
    assert_eq!(l["host"], "allowed.test");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["path"], "/some/path");
    assert_eq!(l["verdict"], "allow");
    assert!(l["detector"].is_null());
    assert!(
        !p.lines.all().concat().contains(SECRET),
        "a header value or query was logged"
    );
}

#[tokio::test]
async fn request_bodies_are_forwarded() {
    let (port, _) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let request = format!(
        "POST http://allowed.test:{port}/upload HTTP/1.1\r\nHost: allowed.test:{port}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let a = send(p.addr, &request).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("body: hello world\n"), "{}", a.body);
}

#[tokio::test]
async fn wildcard_routes_cover_subdomains_not_the_apex() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let ok = send(
        p.addr,
        &get(
            &format!("http://a.wild.test:{port}/"),
            &format!("a.wild.test:{port}"),
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    let apex = send(
        p.addr,
        &get(
            &format!("http://wild.test:{port}/"),
            &format!("wild.test:{port}"),
        ),
    )
    .await;
    assert_eq!(apex.status, 403);
    assert_eq!(
        apex.body,
        "blocked: host wild.test is not in the allowlist\n"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn disallowed_host_gets_403_and_upstream_is_not_contacted() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let a = send(
        p.addr,
        &get(&format!("http://evil.example:{port}/x"), "evil.example"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        "blocked: host evil.example is not in the allowlist\n"
    );
    assert!(a.head.contains("content-type: text/plain"));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let l = &p.lines.json()[0];
    assert_eq!(l["verdict"], "block");
    assert_eq!(l["host"], "evil.example");
    assert_eq!(l["reason"], "host evil.example is not in the allowlist");
}

#[tokio::test]
async fn host_header_must_agree_with_the_target() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "evil.example"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(a.body.starts_with("blocked: the Host header"), "{}", a.body);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn route_matches_are_enforced_on_plain_http() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let host = format!("api.test:{port}");
    let ok = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v1/models"), &host),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let wrong_path = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v2/models"), &host),
    )
    .await;
    assert_eq!(wrong_path.status, 403);
    assert_eq!(
        wrong_path.body,
        "blocked: GET /v2/models on api.test matches none of the route's `matches`\n"
    );
    let escape = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v1/../admin"), &host),
    )
    .await;
    assert_eq!(escape.status, 403);

    let post = format!(
        "POST http://api.test:{port}/v1/models HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let wrong_method = send(p.addr, &post).await;
    assert_eq!(wrong_method.status, 403);
    assert!(
        wrong_method.body.starts_with("blocked: POST /v1/models"),
        "{}",
        wrong_method.body
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

async fn connect(proxy: SocketAddr, target: &str) -> (TcpStream, Answer) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n == 1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let answer = parse_answer(&head);
    (s, answer)
}

#[tokio::test]
async fn connect_to_an_allowed_host_tunnels_bytes() {
    let port = start_echo().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let (mut s, a) = connect(p.addr, &format!("allowed.test:{port}")).await;
    assert_eq!(a.status, 200);
    for msg in [&b"ping"[..], b"\x00\x01binary\xff", b"pong"] {
        s.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, msg);
    }
    let l = &p.lines.json()[0];
    assert_eq!(l["method"], "CONNECT");
    assert_eq!(l["host"], "allowed.test");
    assert_eq!(l["verdict"], "allow");
    assert!(l["path"].is_null());
}

async fn connect_refused(proxy: SocketAddr, target: &str) -> String {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let a = parse_answer(&raw);
    assert_eq!(a.status, 403, "{}", a.body);
    a.body
}

#[tokio::test]
async fn connect_to_a_disallowed_host_or_a_route_with_matches_is_403() {
    let port = start_echo().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    assert_eq!(
        connect_refused(p.addr, &format!("evil.example:{port}")).await,
        "blocked: host evil.example is not in the allowlist\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("api.test:{port}")).await,
        "blocked: route for api.test needs TLS interception (not available in this sidecar version)\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("wild.test:{port}")).await,
        "blocked: host wild.test is not in the allowlist\n"
    );
    let lines = p.lines.json();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["verdict"] == "block" && l["method"] == "CONNECT")
    );
    // The 200 path of the helper works too.
    let (_s, ok) = connect(p.addr, &format!("a.wild.test:{port}")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn strict_address_policy_refuses_loopback_upstreams() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Strict).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "allowed.test"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        "blocked: allowed.test resolves to 127.0.0.1, a loopback address\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("allowed.test:{port}")).await,
        "blocked: allowed.test resolves to 127.0.0.1, a loopback address\n"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    // A port nothing listens on: bind, note, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "allowed.test"),
    )
    .await;
    assert_eq!(a.status, 502);
    assert!(
        a.body
            .starts_with(&format!("bad gateway: allowed.test:{port}")),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn health_and_introspection() {
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let direct = send(p.addr, &get("/healthz", "whatever")).await;
    assert_eq!((direct.status, direct.body.as_str()), (200, "ok\n"));
    let via = send(
        p.addr,
        &get("http://_egress.local/healthz", "_egress.local"),
    )
    .await;
    assert_eq!((via.status, via.body.as_str()), (200, "ok\n"));
    assert!(p.lines.all().is_empty(), "health checks are not logged");

    let list = send(
        p.addr,
        &get("http://_egress.local/allowlist", "_egress.local"),
    )
    .await;
    assert_eq!(list.status, 200);
    assert!(list.head.contains("content-type: application/json"));
    let v: Value = serde_json::from_str(&list.body).unwrap();
    let hosts: Vec<&str> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["allowed.test", "*.wild.test", "api.test"]);
    assert_eq!(v["routes"][2]["matches"][0]["methods"], json!(["GET"]));

    let other = send(p.addr, &get("/", "allowed.test")).await;
    assert_eq!(other.status, 403);
    assert!(
        other.body.starts_with("blocked: not a proxy request"),
        "{}",
        other.body
    );
    let missing = send(p.addr, &get("http://_egress.local/nope", "_egress.local")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn reload_swaps_the_table_and_keeps_it_on_a_bad_file() {
    let (port, _) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::Unchecked).await;
    let other = get(&format!("http://other.test:{port}/"), "other.test");
    let allowed = get(&format!("http://allowed.test:{port}/"), "allowed.test");
    assert_eq!(send(p.addr, &other).await.status, 403);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.json");
    let (log, events) = Log::memory();
    std::fs::write(
        &file,
        json!({"routes": [route("other.test")], "token_slots": []}).to_string(),
    )
    .unwrap();
    assert!(config::reload(&file, &p.routes, &log));
    assert_eq!(send(p.addr, &other).await.status, 200);
    assert_eq!(send(p.addr, &allowed).await.status, 403);

    std::fs::write(&file, "{\"routes\": [").unwrap();
    assert!(!config::reload(&file, &p.routes, &log));
    assert_eq!(
        send(p.addr, &other).await.status,
        200,
        "the old table is kept"
    );
    let events = events.json();
    assert_eq!(events[1]["event"], "reload");
    assert_eq!(events[1]["ok"], false);
}
