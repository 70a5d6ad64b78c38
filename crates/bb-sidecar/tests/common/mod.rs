//! Shared fixtures: the proxy in-process on 127.0.0.1, upstreams on 127.0.0.1 (plain HTTP echo,
//! TCP echo, HTTPS echo with a leaf from a test upstream CA), and an agent-side client that
//! goes through `CONNECT` and TLS trusting the bottle CA. Test host names resolve to loopback
//! through an injected (counting) resolver: nothing here resolves or contacts a real name.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bb_sidecar::config::{Live, RouteTable, SharedRoutes};
use bb_sidecar::inspect::Inspector;
use bb_sidecar::log::{Lines, Log};
use bb_sidecar::proxy::{self, AddressPolicy, ProxyConfig, Resolver};
use bb_sidecar::secrets::Secrets;
use bb_sidecar::tls::Authority;
use bb_sidecar::{Shutdown, ShutdownTrigger};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every name the tests use; all resolve to 127.0.0.1.
pub const NAMES: &[&str] = &[
    "allowed.test",
    "a.wild.test",
    "wild.test",
    "api.test",
    "evil.example",
    "other.test",
    "private.test",
    "pass.test",
    "doh.test",
    "scan.test",
    "redact.test",
];

pub fn route(host: &str) -> Value {
    json!({
        "host": host,
        "dlp": {"outbound": [], "inbound": [], "on_match": "block"},
        "tls_passthrough": false,
        "private": false
    })
}

pub fn plan(routes: Vec<Value>) -> RouteTable {
    RouteTable::parse(&json!({"routes": routes, "token_slots": []}).to_string()).unwrap()
}

/// A CA made by rcgen: its PEM and an issuer for leaves.
pub struct TestCa {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A leaf for `names`: (chain, key).
    pub fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let ca_key = KeyPair::from_pem(&self.key_pem).unwrap();
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key).unwrap();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    pub fn write(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("roots.pem");
        std::fs::write(&path, &self.cert_pem).unwrap();
        path
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What a test proxy is made of.
pub struct Setup {
    pub table: RouteTable,
    pub addresses: AddressPolicy,
    pub secrets: Secrets,
    pub inspector: Option<Arc<dyn Inspector>>,
    pub max_body: Option<u64>,
    /// Trust this upstream CA besides the built-in roots.
    pub upstream_ca: Option<&'static TestCa>,
    /// Where held requests go.
    pub holds: Option<Arc<bb_sidecar::supervise::holds::Holds>>,
}

impl Setup {
    pub fn new(table: RouteTable) -> Setup {
        Setup {
            table,
            addresses: AddressPolicy::unchecked(),
            secrets: Secrets::default(),
            inspector: None,
            max_body: None,
            upstream_ca: None,
            holds: None,
        }
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub routes: SharedRoutes,
    pub lines: Lines,
    pub bottle_ca: Arc<TestCa>,
    /// How often the resolver was asked.
    pub resolved: Arc<AtomicUsize>,
    _stop: ShutdownTrigger,
    _dir: tempfile::TempDir,
}

pub async fn start_proxy(table: RouteTable, addresses: AddressPolicy) -> Proxy {
    let mut s = Setup::new(table);
    s.addresses = addresses;
    start(s).await
}

/// A proxy whose inspector is the real detection engine, with one token slot holding `token`.
pub async fn start_detecting(routes: Vec<Value>, token: &str) -> Proxy {
    let mut setup = Setup::new(plan(routes));
    setup.secrets = Secrets::from_values([("EGRESS_TOKEN_1".to_owned(), token.to_owned())], None);
    setup.inspector = Some(Arc::new(bb_sidecar::inspect::DetectInspector::new(
        &setup.secrets,
    )));
    start(setup).await
}

pub async fn start(setup: Setup) -> Proxy {
    let (log, lines) = Log::memory();
    let routes = SharedRoutes::new(setup.table);
    let resolved = Arc::new(AtomicUsize::new(0));
    let counter = resolved.clone();
    let fixed = Resolver::fixed(NAMES.iter().map(|n| (n.to_string(), LOOPBACK)));
    let mut cfg = ProxyConfig::new(routes.clone(), log);
    cfg.resolver = Resolver::from_fn(move |host, port| {
        counter.fetch_add(1, Ordering::SeqCst);
        let fixed = fixed.clone();
        Box::pin(async move { fixed.resolve(&host, port).await })
    });
    cfg.addresses = setup.addresses;
    cfg.connect_timeout = Duration::from_secs(5);
    let bottle_ca = Arc::new(TestCa::new("test bottle CA"));
    cfg.authority = Some(Arc::new(
        Authority::from_pem(&bottle_ca.cert_pem, &bottle_ca.key_pem).unwrap(),
    ));
    let dir = tempfile::tempdir().unwrap();
    if let Some(ca) = setup.upstream_ca {
        let file = ca.write(dir.path());
        cfg.upstream_tls = Arc::new(bb_sidecar::tls::upstream_config(Some(&file)).unwrap());
    }
    cfg.secrets = Live::new(Arc::new(setup.secrets));
    if let Some(i) = setup.inspector {
        cfg.inspector = Live::new(i);
    }
    if let Some(max) = setup.max_body {
        cfg.max_body = max;
    }
    cfg.holds = setup.holds;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = Shutdown::channel();
    tokio::spawn(proxy::serve(listener, Arc::new(cfg), shutdown));
    Proxy {
        addr,
        routes,
        lines,
        bottle_ca,
        resolved,
        _stop: stop,
        _dir: dir,
    }
}

/// The echo answer: protocol version, request line, headers, body.
async fn echo(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut echo = format!("{:?} {} {}\n", req.version(), req.method(), req.uri());
    for (name, value) in req.headers() {
        echo.push_str(&format!("{}: {}\n", name, value.to_str().unwrap_or("?")));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    echo.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
    let resp = Response::builder()
        .header("x-upstream", "yes")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .body(Full::new(Bytes::from(echo)))
        .unwrap();
    Ok(resp)
}

/// Counts of an upstream: requests and TCP connections.
#[derive(Clone, Default)]
pub struct Hits {
    pub requests: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
    /// The `authorization` header of each request, as the upstream received it.
    pub authorizations: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Hits {
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }
    fn record<B>(&self, req: &hyper::Request<B>) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(v) = req.headers().get("authorization") {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            self.authorizations.lock().unwrap().push(v);
        }
    }
}

/// An HTTP upstream that answers with the request it saw.
pub async fn start_upstream() -> (u16, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Hits::default();
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            h.connections.fetch_add(1, Ordering::SeqCst);
            let h = h.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    h.record(&req);
                    echo(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, hits)
}

/// An HTTPS upstream (leaf for every test name from `ca`), offering `alpn`, answering with
/// the request it saw.
pub async fn start_tls_upstream(ca: &TestCa, alpn: &[&[u8]]) -> (u16, Hits) {
    let (chain, key) = ca.leaf(NAMES);
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Hits::default();
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            h.connections.fetch_add(1, Ordering::SeqCst);
            let h = h.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    h.record(&req);
                    echo(req)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, hits)
}

/// A TCP upstream that echoes bytes.
pub async fn start_echo() -> u16 {
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

pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends a raw request (which should say `Connection: close`) and reads the whole answer.
pub async fn send(proxy: SocketAddr, request: &str) -> Answer {
    send_bytes(proxy, request.as_bytes()).await
}

pub async fn send_bytes(proxy: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    // The proxy may answer (413) before reading everything: ignore a reset while writing.
    let _ = s.write_all(request).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("answer within 10 s");
    parse_answer(&raw)
}

pub fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a complete head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

pub fn get(url: &str, host: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

/// Sends `CONNECT target` and reads the answer's head; the stream is left right after it.
pub async fn connect(proxy: SocketAddr, target: &str) -> (TcpStream, Answer) {
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

/// `CONNECT target` that must be refused: the 403 body.
pub async fn connect_refused(proxy: SocketAddr, target: &str) -> String {
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

/// The agent's side of an intercepted tunnel: HTTP/1.1 or HTTP/2 over TLS that trusts only
/// the bottle CA.
pub enum Agent {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Agent {
    /// CONNECT `host:port`, TLS with `sni`, ALPN `h2` when `h2` else `http/1.1`.
    pub async fn open(p: &Proxy, host: &str, port: u16, sni: &str, h2: bool) -> Agent {
        Agent::try_open(p, host, port, sni, h2).await.unwrap()
    }

    pub async fn try_open(
        p: &Proxy,
        host: &str,
        port: u16,
        sni: &str,
        h2: bool,
    ) -> Result<Agent, String> {
        let (stream, a) = connect(p.addr, &format!("{host}:{port}")).await;
        if a.status != 200 {
            return Err(format!("CONNECT answered {}: {}", a.status, a.body));
        }
        let mut roots = RootCertStore::empty();
        roots.add(p.bottle_ca.der.clone()).unwrap();
        let mut cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![if h2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let tls = connector
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let io = TokioIo::new(tls);
        if h2 {
            assert_eq!(negotiated.as_deref(), Some(&b"h2"[..]));
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(Agent::H2(sender))
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(Agent::H1(sender))
        }
    }

    /// Sends a request; `uri` is absolute (`https://host:port/path`): HTTP/1.1 sends it in
    /// origin form with a Host header from it unless one is given.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Reply {
        let resp = match self {
            Agent::H1(s) => {
                let (mut parts, body) = req.into_parts();
                if !parts.headers.contains_key("host") {
                    let authority = parts.uri.authority().unwrap().to_string();
                    parts.headers.insert("host", authority.parse().unwrap());
                }
                let pq = parts.uri.path_and_query().unwrap().as_str().to_owned();
                parts.uri = pq.parse().unwrap();
                s.ready().await.unwrap();
                s.send_request(Request::from_parts(parts, body))
                    .await
                    .unwrap()
            }
            Agent::H2(s) => {
                let mut req = req;
                *req.version_mut() = hyper::Version::HTTP_2;
                s.ready().await.unwrap();
                s.send_request(req).await.unwrap()
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Reply {
        self.send(Request::get(url).body(Full::new(Bytes::new())).unwrap())
            .await
    }
}

/// The upstream CA every HTTPS fixture uses (one per test binary).
pub fn upstream_ca() -> &'static TestCa {
    static CA: std::sync::OnceLock<TestCa> = std::sync::OnceLock::new();
    CA.get_or_init(|| TestCa::new("test upstream CA"))
}

/// Collects strings for assertions across tasks.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<String>>>);

/// An upstream that answers every request with `answer` (a whole HTTP/1.1 response) and keeps
/// the raw requests it read.
pub async fn start_fixed(answer: Vec<u8>) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 65536];
                // Head, then as much body as Content-Length says.
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if raw.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                kept.lock().unwrap().push(raw);
                let _ = s.write_all(&answer).await;
            });
        }
    });
    (port, seen)
}

pub fn response(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
