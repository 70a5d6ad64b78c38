//! Inside an intercepted `CONNECT`: read the ClientHello, present a leaf for the SNI host
//! (the CONNECT host when there is no SNI), serve HTTP/2 or HTTP/1.1 to the agent, and send
//! each request through [`crate::proxy::pipeline`] with the CONNECT host as its target.
//!
//! SNI, every `Host` header and every `:authority` (absolute URI) must name the CONNECT host
//! (case-insensitive, trailing dot ignored, port aside). A disagreeing SNI still gets a leaf (for
//! the SNI name, so the agent's client can read the answer) but every request in that tunnel
//! is refused with 403.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio_rustls::LazyConfigAcceptor;

use crate::config::normalize_host;
use crate::denial::Denial;
use crate::guard::{HostKind, classify_host};
use crate::log::Rule;
use crate::proxy::{Body, Decide, ProxyConfig, Refusal, Target, host_header_mismatch, pipeline};
use crate::tls::Authority;
use crate::websocket;

/// How long the agent has to send its ClientHello and finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// One intercepted tunnel.
struct Tunnel {
    host: String,
    port: u16,
    /// Why every request in this tunnel is refused (SNI disagreement).
    refused: Option<String>,
}

/// Terminates TLS on `upgraded` and serves the requests inside until the agent closes.
pub async fn serve_tunnel(
    cfg: Arc<ProxyConfig>,
    ca: Arc<Authority>,
    upgraded: Upgraded,
    host: String,
    port: u16,
) {
    let fail = |what: &str| {
        cfg.log
            .event("tls", false, &format!("{host}:{port}: {what}"));
    };
    let acceptor =
        LazyConfigAcceptor::new(rustls::server::Acceptor::default(), TokioIo::new(upgraded));
    let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor).await {
        Ok(Ok(start)) => start,
        Ok(Err(err)) => return fail(&format!("no TLS ClientHello: {err}")),
        Err(_) => return fail("no TLS ClientHello in time"),
    };
    let sni = start.client_hello().server_name().map(normalize_host);
    let (cert_host, refused) = match sni {
        None => (host.clone(), None),
        Some(sni) if sni == host => (host.clone(), None),
        Some(sni) => {
            let why = format!("the TLS server name {sni} does not name the CONNECT target {host}");
            // A leaf for the name the client checks, so it can read the refusal.
            let cert_host = if classify_host(&sni) == HostKind::Name {
                sni
            } else {
                host.clone()
            };
            (cert_host, Some(why))
        }
    };
    let server_config = match ca.server_config(&cert_host) {
        Ok(cfg) => cfg,
        Err(err) => {
            return fail(&format!(
                "cannot mint a certificate for {cert_host}: {err:#}"
            ));
        }
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(server_config)).await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => return fail(&format!("TLS handshake with the agent failed: {err}")),
        Err(_) => return fail("TLS handshake with the agent timed out"),
    };
    let tunnel = Arc::new(Tunnel {
        host: host.clone(),
        port,
        refused,
    });
    let service_cfg = cfg.clone();
    let service = service_fn(move |req| {
        let cfg = service_cfg.clone();
        let tunnel = tunnel.clone();
        async move { Ok::<_, std::convert::Infallible>(inner(&cfg, &tunnel, req).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60));
    // WebSocket over HTTP/2 (RFC 8441).
    builder.http2().enable_connect_protocol();
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await;
}

/// One request inside the tunnel.
async fn inner(cfg: &ProxyConfig, tunnel: &Tunnel, mut req: Request<Incoming>) -> Response<Body> {
    if let Some(reason) = refusal(tunnel, &req) {
        let method = req.method().as_str();
        let d = Decide::new(&cfg.log, Some(&tunnel.host), method, Some(req.uri().path()));
        return d.refuse(Refusal::denied(reason).draining(req.into_body()));
    }
    if websocket::is_extended_connect(&req) {
        websocket::from_extended_connect(&mut req);
    }
    let target = Target {
        https: true,
        host: tunnel.host.clone(),
        port: tunnel.port,
    };
    pipeline(cfg, &target, req).await
}

/// Why a request inside the tunnel is refused before the pipeline: the tunnel's own refusal,
/// `CONNECT` (but a WebSocket's extended CONNECT), an absolute URI or a `Host` header naming
/// another host.
fn refusal(tunnel: &Tunnel, req: &Request<Incoming>) -> Option<Denial> {
    let host = &tunnel.host;
    if let Some(why) = &tunnel.refused {
        return Some(Denial::new(Rule::HostMismatch, host, why.clone()));
    }
    if req.method() == Method::CONNECT && !websocket::is_extended_connect(req) {
        let reason = "CONNECT inside an intercepted tunnel is not supported";
        return Some(Denial::new(Rule::BadRequest, host, reason));
    }
    if let Some(authority) = req.uri().authority() {
        let named = normalize_host(authority.host());
        if named != *host {
            let reason = format!("the request names {named}, not the CONNECT target {host}");
            return Some(Denial::new(Rule::HostMismatch, host, reason));
        }
    }
    host_header_mismatch(&tunnel.host, req.headers())
}
