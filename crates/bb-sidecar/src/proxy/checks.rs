//! Why a host or a request is refused before anything is sent: an invalid host or an IP
//! address, a `Host` header naming another host, and (in [`admit`]) the request checks of the
//! one request path: echo methods, the route table, where a credential may go, DNS over HTTPS
//! or TLS, a credential without a value.

use std::net::IpAddr;

use bb_contract::plan::{Route, RouteAuth};
use hyper::Request;
use hyper::Uri;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::uri::Authority;

use super::decide::Refusal;
use super::{ProxyConfig, Target};
use crate::config::{RouteTable, normalize_host};
use crate::denial::Denial;
use crate::guard::{HostKind, classify_host};
use crate::inspect::Part;
use bb_contract::log::Rule;

/// Why a request or tunnel to `host` is refused before any route lookup: an invalid host, or
/// an IP address (in any form; decided by the SSRF guard without a resolver, and never a route
/// since routes are names).
pub(super) fn host_refusal(cfg: &ProxyConfig, host: &str) -> Option<Denial> {
    match classify_host(host) {
        HostKind::Name => None,
        HostKind::Invalid(why) => Some(Denial::new(Rule::BadRequest, host, why)),
        HostKind::Ip(ip) => Some(ip_refusal(cfg, host, ip)),
    }
}

fn ip_refusal(cfg: &ProxyConfig, host: &str, ip: IpAddr) -> Denial {
    let named = if ip.to_string() == host {
        host.to_owned()
    } else {
        format!("{host} ({ip})")
    };
    let (rule, reason) = match cfg.addresses.refusal(ip, false) {
        // A private address is refused as an address: no route names one.
        Some((Rule::PrivateAddress, why)) => (Rule::IpAddress, format!("{named} is {why}")),
        Some((rule, why)) => (rule, format!("{named} is {why}")),
        None => (
            Rule::IpAddress,
            format!("{named} is an IP address; routes allow host names only"),
        ),
    };
    Denial::new(rule, host, reason)
}

/// A secret carried in the labels of `host` (a wildcard route lets the agent choose them),
/// found before the name is looked up, with the route's outbound detectors.
pub(super) fn host_secret(cfg: &ProxyConfig, route: &Route, host: &str) -> Option<Refusal> {
    let inspector = cfg.inspector.current();
    if !inspector.scans_outbound(route) {
        return None;
    }
    let finding = inspector.name(route, host)?;
    Some(Refusal::found(&finding, Part::Host).on_route(route))
}

/// A `Host` header that names another host than `host` (the port aside; case and one trailing
/// dot ignored). No `Host` header: nothing to disagree.
pub fn host_header_mismatch(host: &str, headers: &HeaderMap) -> Option<Denial> {
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
        let reason = format!("the Host header does not name the request target {host}");
        Some(Denial::new(Rule::HostMismatch, host, reason))
    }
}

/// The header the route's credential goes in, and its value.
pub(super) type Credential = (&'static str, HeaderValue);

/// The route `req` takes and the credential to inject, or why the request is refused.
pub(super) fn admit<'t>(
    cfg: &ProxyConfig,
    table: &'t RouteTable,
    target: &Target,
    req: &Request<Incoming>,
) -> Result<(&'t Route, Option<Credential>), Denial> {
    let method = req.method().as_str();
    let host = &target.host;
    if is_echo_method(method) {
        let reason = format!("{method} is refused: it echoes the request, credentials included");
        return Err(Denial::new(Rule::EchoMethod, host, reason));
    }
    let uri = req.uri();
    let route = table.check_http(&target.host, method, uri.path(), uri.query(), req.headers())?;
    if let Some(reason) = credential_misdirected(route, target) {
        return Err(reason);
    }
    if let Some(grant) = &route.grant {
        cfg.grants
            .take(grant, host)
            .map_err(|why| Denial::new(Rule::GrantUsedUp, host, why))?;
    }
    let named = table.names_exactly(host);
    if is_dns_over_https(uri, req.headers()) && !named {
        let reason = format!("DNS over HTTPS to {host} is refused unless a route names the host");
        return Err(Denial::new(Rule::EncryptedDns, host, reason));
    }
    if target.port == 853 && !named {
        return Err(dns_over_tls(host));
    }
    let credential = match &route.auth {
        None => None,
        Some(auth) => Some(credential(cfg, auth).ok_or_else(|| {
            let reason = format!("credential for {host} is not configured");
            Denial::new(Rule::CredentialMissing, &route.host, reason)
        })?),
    };
    Ok((route, credential))
}

/// The credential header of `auth`, when its slot has a value.
fn credential(cfg: &ProxyConfig, auth: &RouteAuth) -> Option<Credential> {
    let secrets = cfg.secrets.current();
    let token = secrets.token(&auth.slot)?;
    let mut value = HeaderValue::from_str(&auth.scheme.header_value(token)).ok()?;
    value.set_sensitive(true);
    Some((auth.scheme.header(), value))
}

/// TRACE (and Microsoft's TRACK) answer with the request as the upstream received it: with the
/// injected credential in it.
fn is_echo_method(method: &str) -> bool {
    method.eq_ignore_ascii_case("TRACE") || method.eq_ignore_ascii_case("TRACK")
}

/// Why a route's credential must not go to `target`: only over TLS, only to the route's host
/// (the table lookup made sure of that) on its declared port.
fn credential_misdirected(route: &Route, target: &Target) -> Option<Denial> {
    let auth = route.auth.as_ref()?;
    let host = &route.host;
    let (rule, reason) = if !target.https {
        (
            Rule::CredentialInClear,
            format!(
                "{host} injects a credential: only https:// is allowed, plain http:// would send it in the clear"
            ),
        )
    } else if target.port != auth.port {
        (
            Rule::CredentialMisdirected,
            format!(
                "{host} injects a credential for port {} only, not {}",
                auth.port, target.port
            ),
        )
    } else {
        return None;
    };
    Some(Denial::new(rule, host, reason))
}

/// DNS over TLS to a host no route names itself.
pub(super) fn dns_over_tls(host: &str) -> Denial {
    let reason =
        format!("DNS over TLS (port 853) to {host} is refused unless a route names the host");
    Denial::new(Rule::EncryptedDns, host, reason)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
