//! The accept loop and the request forms: `CONNECT` goes to [`super::tunnel`], an
//! absolute-form `http://` request to the [`pipeline`] once its host passed the checks, an
//! origin-form request is for the proxy itself, and `http://_egress.local/` answers
//! introspection.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::checks::{host_header_mismatch, host_refusal};
use super::decide::{Decide, Refusal, text};
use super::{Body, ProxyConfig, Target, pipeline, tunnel};
use crate::Shutdown;
use crate::config::{INTROSPECTION_HOST, normalize_host};
use crate::denial::Denial;
use crate::log::Rule;
use crate::log::Service;

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
        tunnel::connect(cfg, req).await
    } else if req.uri().authority().is_none() {
        origin_form(&cfg, req)
    } else {
        absolute_form(cfg, req).await
    };
    Ok(response)
}

/// A request in origin form (`GET /healthz`) is for the proxy itself.
fn origin_form(cfg: &ProxyConfig, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if path == "/healthz" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return text(StatusCode::OK, "ok\n");
    }
    let d = Decide::new(&cfg.log, None, req.method().as_str(), Some(path));
    let reason = "not a proxy request (send an absolute http:// URI or CONNECT host:port)";
    let refusal = Refusal::blocked(Rule::BadRequest, reason);
    d.refuse(refusal.draining(req.into_body()))
}

async fn absolute_form(cfg: Arc<ProxyConfig>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let Some(authority) = req.uri().authority().cloned() else {
        let d = Decide::new(&cfg.log, None, &method, Some(&path));
        let refusal = Refusal::blocked(Rule::BadRequest, "no host in the request target");
        return d.refuse(refusal.draining(req.into_body()));
    };
    let host = normalize_host(authority.host());
    if host == INTROSPECTION_HOST && req.uri().scheme_str() == Some("http") {
        return introspection(&cfg, &method, &path);
    }
    if let Some(denial) = absolute_form_refusal(&cfg, &host, &req) {
        let d = Decide::new(&cfg.log, Some(&host), &method, Some(&path));
        return d.refuse(Refusal::denied(denial).draining(req.into_body()));
    }
    let target = Target {
        https: false,
        host,
        port: authority.port_u16().unwrap_or(80),
    };
    pipeline(&cfg, &target, req).await
}

/// Why a plain request to `host` is refused before the pipeline: not `http://`, a refused
/// host, a `Host` header naming another host.
fn absolute_form_refusal(cfg: &ProxyConfig, host: &str, req: &Request<Incoming>) -> Option<Denial> {
    if req.uri().scheme_str() != Some("http") {
        let reason = "only http:// URIs are forwarded; use CONNECT for https";
        return Some(Denial::new(Rule::BadRequest, host, reason));
    }
    host_refusal(cfg, host).or_else(|| host_header_mismatch(host, req.headers()))
}

/// `http://_egress.local/...`.
fn introspection(cfg: &ProxyConfig, method: &str, path: &str) -> Response<Body> {
    let read = method == "GET" || method == "HEAD";
    match path {
        "/healthz" if read => text(StatusCode::OK, "ok\n"),
        "/allowlist" if read => {
            cfg.log
                .decision(Service::Egress)
                .host(INTROSPECTION_HOST)
                .method(method)
                .path(path)
                .allow("introspection");
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
