//! A WebSocket upgrade: after the checks of the [`super::pipeline`], the request goes on a
//! connection of its own and, when the upstream switches protocols, the agent is joined to it
//! through [`websocket::relay`] (frames scanned on the way out).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri};

use super::Body;
use super::decide::{Decide, Notes, Refusal, finding_rule};
use super::pipeline::{Forward, strip_hop_by_hop};
use crate::echo::MaskedBody;
use crate::log::Rule;
use crate::upstream::ConnectError;
use crate::websocket;

/// Sends an upgrade request on a connection of its own and, when the upstream switches
/// protocols, joins the agent to it through [`websocket::relay`] (frames scanned on the way
/// out). Any other answer goes back to the agent as usual.
pub(super) async fn open_websocket(
    forward: &Forward<'_>,
    parts: Parts,
    agent_upgrade: OnUpgrade,
    notes: &Notes,
) -> Response<Body> {
    let (d, route) = (forward.d, forward.route);
    let over_http2 = parts.extensions.get::<websocket::OverHttp2>().is_some();
    let mut response = match send_upgrade(forward, parts).await {
        Ok(response) => response,
        Err(answer) => return answer,
    };
    if over_http2 && response.status().is_success() {
        // An HTTP/2 agent reads any 2xx as its stream opened: only a 101 opens one upstream.
        let why = format!(
            "the upstream answered the WebSocket handshake with {}, not 101",
            response.status()
        );
        return forward.failed(&why);
    }
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut rparts, rbody) = response.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        d.allow(
            format!("route {}; WebSocket not accepted upstream", route.host),
            notes,
        );
        let echo = forward.cfg.secrets.current().echo_guard();
        echo.mask_headers(&mut rparts.headers);
        return Response::from_parts(
            rparts,
            MaskedBody::new(rbody, echo, d.later_masked()).boxed(),
        );
    }
    let echo = forward.cfg.secrets.current().echo_guard();
    echo.mask_headers(response.headers_mut());
    let answer = websocket::switching_response(response.headers(), over_http2);
    let on_masked = d.later_masked();
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    d.allow(format!("route {}; WebSocket opened", route.host), notes);
    let inspector = forward.cfg.inspector.current();
    let route = route.clone();
    let d = d.clone();
    tokio::spawn(async move {
        let (Ok(agent), Ok(upstream)) = tokio::join!(agent_upgrade, upstream_upgrade) else {
            return;
        };
        let scanner = if inspector.scans_outbound(&route) {
            inspector.body_scanner(&route)
        } else {
            None
        };
        let ended = websocket::relay(agent, upstream, scanner, echo, on_masked).await;
        closed(&d, ended);
    });
    answer
}

/// The upgrade request on a connection of its own, in origin form with the Host the pooled
/// client would have written; the upstream's answer, or the proxy's.
async fn send_upgrade(
    forward: &Forward<'_>,
    mut parts: Parts,
) -> Result<Response<hyper::body::Incoming>, Response<Body>> {
    websocket::restore_upgrade_headers(&mut parts.headers);
    let io = match forward
        .cfg
        .upstreams()
        .connect_http1(forward.route.private, parts.uri.clone())
        .await
    {
        Ok(io) => io,
        Err(ConnectError::Refused(rule, why)) => {
            return Err(forward.d.refuse(Refusal::blocked(rule, why)));
        }
        Err(ConnectError::Failed(why)) => return Err(forward.failed(&why)),
    };
    if let Some(host) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(header::HOST, host);
    }
    let origin_form = parts
        .uri
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .parse::<Uri>();
    match origin_form {
        Ok(uri) => parts.uri = uri,
        Err(err) => {
            let reason = format!("cannot forward this request target: {err}");
            return Err(forward.d.refuse(Refusal::blocked(Rule::BadRequest, reason)));
        }
    }
    let (mut sender, connection) = match hyper::client::conn::http1::handshake::<_, Body>(io).await
    {
        Ok(pair) => pair,
        Err(err) => return Err(forward.failed(&err.to_string())),
    };
    tokio::spawn(connection.with_upgrades());
    let empty: Body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed();
    sender
        .send_request(Request::from_parts(parts, empty))
        .await
        .map_err(|err| forward.failed(&err.to_string()))
}

/// The second decision line of a WebSocket the proxy closed (none when a side closed it).
fn closed(d: &Decide, ended: websocket::Ended) {
    let (rule, reason, detector) = match ended {
        websocket::Ended::Closed { .. } => return,
        websocket::Ended::Found { finding, sent } => (
            finding_rule(&finding),
            format!(
                "{} found {} in a WebSocket message; the connection was closed (at most {sent} clean bytes sent)",
                finding.detector, finding.rule
            ),
            Some(finding.detector),
        ),
        websocket::Ended::TooLarge { sent } => (
            Rule::Unscannable,
            format!(
                "a WebSocket frame larger than {} bytes cannot be scanned; the connection was closed (at most {sent} clean bytes sent)",
                websocket::MAX_FRAME
            ),
            None,
        ),
        websocket::Ended::Reserved { sent } => (
            Rule::Unscannable,
            format!(
                "a WebSocket frame with a reserved bit set (compressed or transformed by an extension that was not negotiated) cannot be scanned; the connection was closed (at most {sent} clean bytes sent)"
            ),
            None,
        ),
    };
    d.block(rule, detector.as_deref(), &reason);
}
