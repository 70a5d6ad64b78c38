//! The one client of every path: tokio + hyper (HTTP/1.1) + rustls, through a proxy's
//! `CONNECT` or straight to the fixture's address, always with SNI and `Host` = the bench host.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Barrier};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub type ReqBody = BoxBody<Bytes, Infallible>;

/// Where the requests go: the fixture's address, under the bench host name.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: SocketAddr,
    pub host: String,
}

impl Target {
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.upstream.port())
    }
}

/// One way to reach the target: direct (`proxy: None`) or through a proxy, with the roots the
/// client trusts on that path.
#[derive(Clone)]
pub struct Via {
    pub name: &'static str,
    pub proxy: Option<SocketAddr>,
    pub tls: Arc<ClientConfig>,
}

/// A client configuration trusting only the certificates in `ca`: ALPN `http/1.1`, no session
/// resumption (every new connection is a full handshake).
pub fn tls_config(ca: &Path) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))? {
        roots.add(cert?)?;
    }
    let mut cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// Sends `CONNECT authority` and returns the status code of the answer. Nothing follows the
/// answer's head before the client speaks, so one buffer of reads holds exactly the head.
pub async fn connect_tunnel(stream: &mut TcpStream, authority: &str) -> Result<u16> {
    let head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the proxy closed the connection after CONNECT");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let status_line = String::from_utf8_lossy(&buf[..end]);
            let code = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .with_context(|| format!("a bad CONNECT answer: {status_line:?}"))?;
            if code == 200 {
                ensure!(end + 4 == buf.len(), "bytes after the CONNECT answer");
            }
            return Ok(code);
        }
        ensure!(buf.len() < 16 * 1024, "the CONNECT answer has no end");
    }
}

/// A new connection on `path`: TCP (+ `CONNECT`) + TLS + HTTP/1.1 handshake. The connection
/// runs as a task on the current runtime.
pub async fn open(path: &Via, target: &Target) -> Result<SendRequest<ReqBody>> {
    let tcp = match path.proxy {
        None => TcpStream::connect(target.upstream).await?,
        Some(proxy) => {
            let mut tcp = TcpStream::connect(proxy).await?;
            let code = connect_tunnel(&mut tcp, &target.authority()).await?;
            ensure!(code == 200, "{}: CONNECT answered {code}", path.name);
            tcp
        }
    };
    tcp.set_nodelay(true)?;
    // No TIME_WAIT on the client side: many thousands of connections per run.
    tcp.set_zero_linger()?;
    let name = ServerName::try_from(target.host.clone())?;
    let tls = TlsConnector::from(path.tls.clone())
        .connect(name, tcp)
        .await
        .with_context(|| format!("{}: TLS handshake", path.name))?;
    let (send, conn) = http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

pub fn empty() -> ReqBody {
    Empty::<Bytes>::new().boxed()
}

pub fn get(target: &Target, close: bool) -> Request<ReqBody> {
    let mut req = Request::get("/small")
        .header(header::HOST, target.authority())
        .header(header::USER_AGENT, "bb-bench-egress");
    if close {
        req = req.header(header::CONNECTION, "close");
    }
    req.body(empty()).expect("a valid request")
}

/// Sends one request and reads the whole answer.
pub async fn exchange(
    send: &mut SendRequest<ReqBody>,
    req: Request<ReqBody>,
) -> Result<(StatusCode, Bytes)> {
    send.ready().await?;
    let res = send.send_request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn check(status: StatusCode, body: &[u8], expected: &[u8]) -> Result<()> {
    ensure!(
        status == StatusCode::OK && body == expected,
        "answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
    );
    Ok(())
}

/// One load run: every client's requests, latencies in microseconds, the errors.
#[derive(Debug, Default)]
pub struct Load {
    pub requests: u64,
    pub errors: u64,
    pub secs: f64,
    pub latencies_us: Vec<u32>,
}

impl Load {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    /// The `q` quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let v = &self.latencies_us;
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() as f64 * q) as usize).min(v.len() - 1);
        f64::from(v[i]) / 1000.0
    }
}

/// `clients` threads, each with its own current-thread runtime and, for `fresh: false`, one
/// kept-alive connection; warmed up, then GET as fast as answers come for `secs`. With
/// `fresh: true` every request is a new connection (TCP + CONNECT + TLS + GET, `Connection:
/// close`), and its latency covers all of it.
pub fn load(
    path: &Via,
    target: &Target,
    expected: &[u8],
    clients: usize,
    secs: f64,
    fresh: bool,
) -> Result<Load> {
    let barrier = Barrier::new(clients);
    let results: Vec<Result<Load>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| s.spawn(|| one_client(path, target, expected, secs, fresh, &barrier)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked")))
            })
            .collect()
    });
    let mut all = Load::default();
    for r in results {
        let r = r?;
        all.requests += r.requests;
        all.errors += r.errors;
        all.secs = all.secs.max(r.secs);
        all.latencies_us.extend(r.latencies_us);
    }
    all.latencies_us.sort_unstable();
    Ok(all)
}

fn one_client(
    path: &Via,
    target: &Target,
    expected: &[u8],
    secs: f64,
    fresh: bool,
    barrier: &Barrier,
) -> Result<Load> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let warm: Result<Option<SendRequest<ReqBody>>> = rt.block_on(async {
        if fresh {
            for _ in 0..3 {
                fresh_get(path, target, expected).await?;
            }
            Ok(None)
        } else {
            let mut send = open(path, target).await?;
            for _ in 0..20 {
                let (status, body) = exchange(&mut send, get(target, false)).await?;
                check(status, &body, expected)?;
            }
            Ok(Some(send))
        }
    });
    // Every thread reaches the barrier, failed or not.
    barrier.wait();
    let mut conn: Option<SendRequest<ReqBody>> = warm?;
    rt.block_on(async {
        let mut out = Load {
            latencies_us: Vec::with_capacity(1 << 16),
            ..Load::default()
        };
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        while Instant::now() < end {
            let t = Instant::now();
            let ok = if fresh {
                fresh_get(path, target, expected).await
            } else {
                let send = match conn.as_mut() {
                    Some(send) => send,
                    None => conn.insert(open(path, target).await?),
                };
                match exchange(send, get(target, false)).await {
                    Ok((status, body)) => check(status, &body, expected),
                    Err(err) => {
                        conn = None;
                        Err(err)
                    }
                }
            };
            match ok {
                Ok(()) => {
                    out.requests += 1;
                    out.latencies_us
                        .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                Err(err) => {
                    out.errors += 1;
                    if out.errors == 1 {
                        eprintln!("bb-bench-egress: {}: {err:#}", path.name);
                    }
                }
            }
        }
        out.secs = start.elapsed().as_secs_f64();
        Ok(out)
    })
}

async fn fresh_get(path: &Via, target: &Target, expected: &[u8]) -> Result<()> {
    let mut send = open(path, target).await?;
    let (status, body) = exchange(&mut send, get(target, true)).await?;
    check(status, &body, expected)
}

/// A body of `data` in `chunk`-sized frames, with an exact length.
pub struct Chunks {
    data: Bytes,
    chunk: usize,
}

impl Chunks {
    pub fn new(data: Bytes, chunk: usize) -> Chunks {
        Chunks { data, chunk }
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.chunk.min(self.data.len());
        let frame = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// POSTs `data` on a new connection; returns the seconds from the first byte sent to the
/// whole answer (the connection is made before the clock starts).
pub async fn upload(path: &Via, target: &Target, data: Bytes) -> Result<f64> {
    let len = data.len();
    let mut send = open(path, target).await?;
    let req = Request::post("/upload")
        .header(header::HOST, target.authority())
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, len)
        .body(Chunks::new(data, 256 * 1024).boxed())?;
    let t = Instant::now();
    let (status, body) = exchange(&mut send, req).await?;
    let secs = t.elapsed().as_secs_f64();
    check(status, &body, format!("{len}\n").as_bytes())
        .with_context(|| format!("{}: upload", path.name))?;
    Ok(secs)
}

/// The status a proxy answers to `CONNECT authority`.
pub async fn connect_status(proxy: SocketAddr, authority: &str) -> Result<u16> {
    let mut tcp = TcpStream::connect(proxy).await?;
    connect_tunnel(&mut tcp, authority).await
}
