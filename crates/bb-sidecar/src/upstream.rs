//! Connections to upstreams: resolve once, check every address with the SSRF guard, connect to
//! an address that was checked (no second lookup), then TLS for `https` with verification
//! against [`crate::tls::upstream_config`], HTTP/2 or HTTP/1.1 as ALPN says.
//!
//! [`Upstreams`] keeps two pooled clients (hyper-util's legacy client with [`Connector`]): one
//! for routes that say `private: true` and one for the others, so a pooled connection is only
//! ever reused under the policy it was checked with.

use bb_contract::log::Rule;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::normalize_host;
use crate::guard::{AddressPolicy, Resolver};
use crate::proxy::Body;

/// Why no upstream connection was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The address policy refused every address: a block (403), by the rule of the first.
    Refused(Rule, String),
    /// Resolution, connection or the TLS handshake failed: a bad gateway (502).
    Failed(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Refused(_, s) | ConnectError::Failed(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Resolves `host` once, checks the addresses and connects to the first usable one.
pub async fn connect_checked(
    resolver: &Resolver,
    policy: &AddressPolicy,
    host: &str,
    port: u16,
    private_route: bool,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addrs = match tokio::time::timeout(timeout, resolver.resolve(host, port)).await {
        Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
        Ok(Ok(_)) => return Err(ConnectError::Failed(format!("{host} has no address"))),
        Ok(Err(err)) => {
            return Err(ConnectError::Failed(format!(
                "cannot resolve {host}: {err}"
            )));
        }
        Err(_) => return Err(ConnectError::Failed(format!("resolving {host} timed out"))),
    };
    connect_to_checked(policy, host, &addrs, private_route, timeout).await
}

/// Checks `addrs` and connects to the first one that is allowed and answers.
pub async fn connect_to_checked(
    policy: &AddressPolicy,
    host: &str,
    addrs: &[SocketAddr],
    private_route: bool,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let mut refused = None;
    let mut last_error = None;
    for addr in addrs {
        if let Some((rule, why)) = policy.refusal(addr.ip(), private_route) {
            // The first refusal is shown, unless a later address only needs `private: true`:
            // that key would allow the connection, so the line names it.
            let upgrade = rule == Rule::PrivateAddress
                && refused
                    .as_ref()
                    .is_some_and(|(r, _): &(Rule, String)| *r != Rule::PrivateAddress);
            if refused.is_none() || upgrade {
                refused = Some(if addr.ip().to_string() == host {
                    (rule, format!("{host} is {why}"))
                } else {
                    (rule, format!("{host} resolves to {}, {why}", addr.ip()))
                });
            }
            continue;
        }
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(err)) => last_error = Some(format!("connect {addr}: {err}")),
            Err(_) => last_error = Some(format!("connect {addr}: timed out")),
        }
    }
    match (last_error, refused) {
        (Some(err), _) => Err(ConnectError::Failed(err)),
        (None, Some((rule, why))) => Err(ConnectError::Refused(rule, why)),
        (None, None) => Err(ConnectError::Failed(format!("{host} has no address"))),
    }
}

/// A TCP or TLS connection to an upstream.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            UpstreamStream::Plain(_) => Connected::new(),
            UpstreamStream::Tls(s) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
                Connected::new().negotiated_h2()
            }
            UpstreamStream::Tls(_) => Connected::new(),
        }
    }
}

/// Connects for the pooled client: `http://` plain, `https://` over verified TLS.
#[derive(Clone)]
pub struct Connector {
    resolver: Resolver,
    policy: Arc<AddressPolicy>,
    private_route: bool,
    timeout: Duration,
    tls: TlsConnector,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = normalize_host(uri.host().unwrap_or(""));
            let https = match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                other => {
                    return Err(ConnectError::Failed(format!(
                        "unsupported scheme {other:?}"
                    )));
                }
            };
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp = connect_checked(
                &this.resolver,
                &this.policy,
                &host,
                port,
                this.private_route,
                this.timeout,
            )
            .await?;
            if !https {
                return Ok(TokioIo::new(UpstreamStream::Plain(tcp)));
            }
            let name = ServerName::try_from(host.clone())
                .map_err(|_| ConnectError::Failed(format!("`{host}` is not a TLS server name")))?;
            match tokio::time::timeout(this.timeout, this.tls.connect(name, tcp)).await {
                Ok(Ok(tls)) => Ok(TokioIo::new(UpstreamStream::Tls(Box::new(tls)))),
                Ok(Err(err)) => Err(ConnectError::Failed(format!(
                    "TLS with {host}:{port}: {err}"
                ))),
                Err(_) => Err(ConnectError::Failed(format!(
                    "TLS with {host}:{port}: timed out"
                ))),
            }
        })
    }
}

/// The pooled clients, and connectors for connections of their own that speak HTTP/1.1 only
/// (a WebSocket upgrade cannot ride HTTP/2).
#[derive(Clone)]
pub struct Upstreams {
    public: Client<Connector, Body>,
    private: Client<Connector, Body>,
    http1_public: Connector,
    http1_private: Connector,
}

impl Upstreams {
    pub fn new(
        resolver: Resolver,
        policy: AddressPolicy,
        timeout: Duration,
        tls: Arc<ClientConfig>,
    ) -> Upstreams {
        let policy = Arc::new(policy);
        let mut http1_tls = (*tls).clone();
        http1_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http1_tls = Arc::new(http1_tls);
        let connector = |private_route: bool, tls: &Arc<ClientConfig>| Connector {
            resolver: resolver.clone(),
            policy: policy.clone(),
            private_route,
            timeout,
            tls: TlsConnector::from(tls.clone()),
        };
        let client = |private_route: bool| {
            let connector = connector(private_route, &tls);
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(8)
                .build(connector)
        };
        Upstreams {
            public: client(false),
            private: client(true),
            http1_public: connector(false, &http1_tls),
            http1_private: connector(true, &http1_tls),
        }
    }

    /// A new connection to `uri`'s host (checked like every other) that speaks HTTP/1.1.
    pub async fn connect_http1(
        &self,
        private_route: bool,
        uri: Uri,
    ) -> Result<TokioIo<UpstreamStream>, ConnectError> {
        use tower_service::Service;
        let mut connector = if private_route {
            self.http1_private.clone()
        } else {
            self.http1_public.clone()
        };
        connector.call(uri).await
    }

    /// The client for routes with (`true`) or without `private: true`.
    pub fn client(&self, private_route: bool) -> &Client<Connector, Body> {
        if private_route {
            &self.private
        } else {
            &self.public
        }
    }
}

/// The [`ConnectError`] inside a client error, if the connector failed.
pub fn connect_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a ConnectError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ce) = e.downcast_ref::<ConnectError>() {
            return Some(ce);
        }
        cur = e.source();
    }
    None
}

/// A client error in one line, with its causes.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}
