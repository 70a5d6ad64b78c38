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
//! One concern a module: `server` (the accept loop, the request forms, `_egress.local`),
//! `checks` (why a host or a request is refused before anything is sent), `decide` (the
//! decision line, the one way to refuse, the proxy's own answers), `pipeline` (the request
//! path), `scan` (the outbound scan of URL, headers and body), `body` (reading capped bodies),
//! `pump` (streaming a long body while it is scanned), `tunnel` (`CONNECT`) and `upgrade`
//! (WebSocket).

mod body;
mod checks;
mod decide;
mod hold;
mod pipeline;
mod pump;
mod scan;
mod server;
mod tunnel;
mod upgrade;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;

use crate::config::{Live, SharedRoutes};
use crate::inspect::{Inspector, NoopInspector};
use crate::log::Log;
use crate::secrets::Secrets;
use crate::tls::Authority as BottleCa;
use crate::upstream::Upstreams;

pub use crate::guard::{AddressPolicy, ResolveFuture, Resolver};
pub use checks::{host_header_mismatch, is_dns_over_https};
pub(crate) use decide::{Decide, Refusal};
pub use pipeline::{pipeline, strip_hop_by_hop};
pub use server::{handle, serve};

/// The proxy's default address when run by hand; a bottle's compose file names the sidecar's
/// address on the internal network (`BB_SIDECAR_LISTEN`).
pub const DEFAULT_LISTEN: std::net::SocketAddr = std::net::SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    bb_contract::layout::PROXY_PORT,
);

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
    /// The uses of the operator's grants.
    pub grants: Arc<crate::supervise::grants::Grants>,
    /// Where requests held on `on_match: supervise` routes are filed (none: refused).
    pub holds: Option<Arc<crate::supervise::holds::Holds>>,
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
            grants: Arc::default(),
            holds: None,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
