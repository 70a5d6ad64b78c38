//! `CONNECT host:port`: the host checks, then an intercepted tunnel (TLS terminated,
//! [`crate::intercept`]) or, for a `tls_passthrough` route, bytes copied both ways to an
//! upstream the SSRF guard checked.

use std::sync::Arc;

use bb_contract::plan::Route;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::checks::{dns_over_tls, host_header_mismatch, host_refusal, host_secret};
use super::decide::{Decide, Refusal};
use super::{Body, BoxError, ProxyConfig, Target};
use crate::config::{INTROSPECTION_HOST, normalize_host};
use crate::denial::Denial;
use crate::log::Rule;
use crate::upstream::{ConnectError, connect_checked};

const METHOD: &str = "CONNECT";
const NO_PORT: &str = "CONNECT needs a host:port target";

pub(super) async fn connect(cfg: Arc<ProxyConfig>, req: Request<Incoming>) -> Response<Body> {
    let Some(authority) = req.uri().authority().cloned() else {
        let d = Decide::new(&cfg.log, None, METHOD, None);
        return d.refuse(Refusal::blocked(Rule::BadRequest, NO_PORT));
    };
    let host = normalize_host(authority.host());
    let d = Decide::new(&cfg.log, Some(&host), METHOD, None);
    let Some(port) = authority.port_u16() else {
        return d.refuse(Refusal::blocked(Rule::BadRequest, NO_PORT));
    };
    let table = cfg.routes.current();
    let route = match connect_route(&cfg, &table, &host, port, &req) {
        Ok(route) => route,
        Err(denial) => return d.refuse(Refusal::denied(denial)),
    };
    if let Some(refusal) = host_secret(&cfg, route, &host) {
        return d.refuse(refusal);
    }
    let target = Target {
        https: true,
        host,
        port,
    };
    if route.tls_passthrough {
        return passthrough(&cfg, &d, req, route, target).await;
    }
    let Some(ca) = cfg.authority.clone() else {
        let reason = "TLS interception is not configured (no bottle CA)";
        return d.refuse(Refusal::blocked(Rule::NoInterception, reason));
    };
    d.line()
        .allow(&format!("route {} (intercepted)", route.host));
    tokio::spawn(async move {
        let Target { host, port, .. } = target;
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => crate::intercept::serve_tunnel(cfg, ca, upgraded, host, port).await,
            Err(err) => cfg.log.event(
                "tunnel",
                false,
                &format!("{host}:{port}: upgrade failed: {err}"),
            ),
        }
    });
    accepted()
}

/// The route a tunnel to `host:port` takes, or why it is refused.
fn connect_route<'t>(
    cfg: &ProxyConfig,
    table: &'t crate::config::RouteTable,
    host: &str,
    port: u16,
    req: &Request<Incoming>,
) -> Result<&'t Route, Denial> {
    if host == INTROSPECTION_HOST {
        let reason = "_egress.local answers plain http:// requests only";
        return Err(Denial::new(Rule::BadRequest, host, reason));
    }
    if let Some(reason) =
        host_refusal(cfg, host).or_else(|| host_header_mismatch(host, req.headers()))
    {
        return Err(reason);
    }
    let route = table.check_connect(host)?;
    if route.grant.as_ref().is_some_and(|g| cfg.grants.used_up(g)) {
        let reason =
            format!("the operator's grant of {host} is used up; ask again with request-egress");
        return Err(Denial::new(Rule::GrantUsedUp, host, reason));
    }
    if port == 853 && !table.names_exactly(host) {
        return Err(dns_over_tls(host));
    }
    Ok(route)
}

/// A `tls_passthrough` route: connect (SSRF guard), answer 200, copy bytes both ways.
async fn passthrough(
    cfg: &ProxyConfig,
    d: &Decide,
    req: Request<Incoming>,
    route: &Route,
    target: Target,
) -> Response<Body> {
    let connected = connect_checked(
        &cfg.resolver,
        &cfg.addresses,
        &target.host,
        target.port,
        route.private,
        cfg.connect_timeout,
    )
    .await;
    let mut upstream = match connected {
        Ok(stream) => stream,
        Err(ConnectError::Refused(rule, reason)) => {
            return d.refuse(Refusal::denied(Denial::new(rule, &route.host, reason)));
        }
        Err(ConnectError::Failed(reason)) => return d.upstream_failed(route, &target, &reason),
    };
    d.line().allow(&format!(
        "route {} (tls_passthrough: tunnel, not inspected)",
        route.host
    ));
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
                &format!("{}:{}: upgrade failed: {err}", target.host, target.port),
            ),
        }
    });
    accepted()
}

/// 200 to `CONNECT`: the tunnel is open.
fn accepted() -> Response<Body> {
    Response::new(
        Empty::new()
            .map_err(|never| -> BoxError { match never {} })
            .boxed(),
    )
}
