//! WebSocket through the proxy (Codex talks to its API over one by default).
//!
//! An agent's upgrade request takes the same path as any request (route, `matches`, the address
//! guard, DLP over the URL and headers, credential injection); then, instead of the pooled
//! client, a connection of its own speaks HTTP/1.1 to the upstream and sends the request with
//! its upgrade headers. Compression extensions are not offered, so every frame is plain. An
//! agent on HTTP/2 inside an intercepted tunnel opens its WebSocket with an extended CONNECT
//! (RFC 8441, which the tunnel's server advertises): it is rewritten into the HTTP/1.1 upgrade
//! it stands for ([`from_extended_connect`]: a GET, same route methods and checks, a fresh
//! `Sec-WebSocket-Key` for the upstream) and answered `200` where an HTTP/1.1 agent gets `101`;
//! the stream then carries the same frames. When the upstream switches protocols, the agent
//! gets its answer and the two connections are joined:
//! - agent to upstream: each frame is read whole, its payload unmasked and fed to the route's
//!   outbound scanner (one scanner for the whole connection, so a secret split across frames or
//!   messages is still found), and only then forwarded unchanged. A blocking finding closes both
//!   sides before that frame leaves and is logged as a block; no redaction (a frame in flight
//!   cannot be rewritten into a message the agent meant), so `on_match: redact` blocks here.
//! - upstream to agent: frame by frame, each payload with the sidecar's credentials masked
//!   ([`crate::echo`]; same length, so the frame header stands). A route that scans answers
//!   refuses WebSocket, since a stream of answers cannot be held back for the injection scan.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::ext::Protocol;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use std::sync::Arc;

use crate::echo::{EchoGuard, OnFound};
use crate::inspect::{BodyScanner, Finding};

/// The largest frame the relay holds to scan (a frame is forwarded only once scanned whole).
pub const MAX_FRAME: u64 = 16 << 20;

/// The request asks to switch to WebSocket (`Connection: upgrade`, `Upgrade: websocket`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, word: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(word))
            })
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Marks an upgrade that came as an HTTP/2 extended CONNECT: the agent is answered `200`.
#[derive(Debug, Clone, Copy)]
pub struct OverHttp2;

/// An HTTP/2 extended CONNECT for a WebSocket (`:protocol websocket`, RFC 8441).
pub fn is_extended_connect<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// Rewrites an extended CONNECT into the HTTP/1.1 upgrade it stands for (a GET with
/// `Connection: upgrade` and `Upgrade: websocket`), marked [`OverHttp2`]: from here it takes the
/// upgrade's path, and the upstream gets the handshake every WebSocket server knows.
pub fn from_extended_connect<B>(req: &mut Request<B>) {
    *req.method_mut() = Method::GET;
    req.extensions_mut().remove::<Protocol>();
    req.extensions_mut().insert(OverHttp2);
    let headers = req.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Puts the upgrade back on a request whose hop-by-hop headers were stripped, without
/// compression extensions (their frames could not be scanned). An agent on HTTP/2 sends no
/// `Sec-WebSocket-Key` (RFC 8441): one is made for the upstream.
pub fn restore_upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    if !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
        headers.insert(header::SEC_WEBSOCKET_KEY, new_key());
    }
    headers
        .entry(header::SEC_WEBSOCKET_VERSION)
        .or_insert(HeaderValue::from_static("13"));
}

/// A handshake key: 16 random bytes in base64 (RFC 6455, 4.1).
fn new_key() -> HeaderValue {
    use base64::Engine as _;
    let mut nonce = [0u8; 16];
    // The key only proves the server speaks WebSocket; should the system's random source
    // fail, a fixed nonce proves it as well.
    let _ = crate::tls::provider().secure_random.fill(&mut nonce);
    let text = base64::engine::general_purpose::STANDARD.encode(nonce);
    HeaderValue::from_str(&text).expect("base64 is a header value")
}

/// The agent's answer once the upstream switched protocols: `101` with the upstream's
/// handshake headers and the hop-by-hop ones restored, or, for an agent on HTTP/2
/// ([`OverHttp2`]), `200` with the chosen subprotocol (the stream is the connection).
pub fn switching_response(upstream: &HeaderMap, over_http2: bool) -> Response<crate::proxy::Body> {
    let mut response = Response::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    let headers = response.headers_mut();
    if let Some(value) = upstream.get(header::SEC_WEBSOCKET_PROTOCOL) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value.clone());
    }
    if over_http2 {
        return response;
    }
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    if let Some(value) = upstream.get(header::SEC_WEBSOCKET_ACCEPT) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value.clone());
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response
}

/// Takes the agent's side of the upgrade out of its request.
pub fn agent_side<B>(req: &mut Request<B>) -> Option<OnUpgrade> {
    req.extensions_mut().remove::<OnUpgrade>()
}

/// How a relay ended.
#[derive(Debug)]
pub enum Ended {
    /// One side closed; the bytes scanned and sent upstream.
    Closed { sent: u64 },
    /// A blocking finding in a frame: nothing of that frame was sent.
    Found { finding: Finding, sent: u64 },
    /// A frame larger than [`MAX_FRAME`].
    TooLarge { sent: u64 },
    /// A frame with a reserved bit set: no extension was negotiated (the proxy offers none),
    /// so its payload may be compressed or otherwise transformed past the scan.
    Reserved { sent: u64 },
}

/// Joins the two upgraded connections until one closes or a finding cuts them.
pub async fn relay(
    agent: Upgraded,
    upstream: Upgraded,
    scanner: Option<Box<dyn BodyScanner + '_>>,
    echo: Arc<EchoGuard>,
    on_masked: OnFound,
) -> Ended {
    let (agent_read, agent_write) = tokio::io::split(TokioIo::new(agent));
    let (upstream_read, upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let outbound = forward_scanned(agent_read, upstream_write, scanner);
    let inbound = forward_masked(upstream_read, agent_write, echo, on_masked);
    tokio::pin!(outbound, inbound);
    tokio::select! {
        ended = &mut outbound => ended,
        () = &mut inbound => Ended::Closed { sent: 0 },
    }
}

/// Reads whole frames from `from`, scans their unmasked payload, writes them to `to` unchanged.
async fn forward_scanned(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut scanner: Option<Box<dyn BodyScanner + '_>>,
) -> Ended {
    let mut sent: u64 = 0;
    loop {
        let frame = match read_frame(&mut from).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(FrameError::Io) => {
                let _ = to.shutdown().await;
                return Ended::Closed { sent };
            }
            Err(FrameError::TooLarge) => return Ended::TooLarge { sent },
        };
        if frame.reserved() {
            return Ended::Reserved { sent };
        }
        if let Some(finding) = scanner.as_mut().and_then(|s| s.feed(&frame.payload)) {
            return Ended::Found { finding, sent };
        }
        if to.write_all(&frame.raw).await.is_err() || to.flush().await.is_err() {
            return Ended::Closed { sent };
        }
        sent += frame.raw.len() as u64;
    }
}

/// Copies the upstream's frames to the agent with every credential in their payload masked.
async fn forward_masked(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    echo: Arc<EchoGuard>,
    on_masked: OnFound,
) {
    let mut report = Some(on_masked);
    while let Ok(Some(mut frame)) = read_frame(&mut from).await {
        // A server never masks its frames (RFC 6455 §5.1), and sets no reserved bit without an
        // extension: such a stream is not relayed (a compressed answer would hide a credential
        // from the mask).
        if frame.masked || frame.reserved() {
            break;
        }
        let start = frame.raw.len() - frame.payload.len();
        let slots = echo.mask(&mut frame.raw[start..]);
        if !slots.is_empty()
            && let Some(report) = report.take()
        {
            report(slots);
        }
        if to.write_all(&frame.raw).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// One frame: its bytes as received and its payload unmasked.
struct Frame {
    raw: Vec<u8>,
    payload: Vec<u8>,
    masked: bool,
}

impl Frame {
    /// RSV1 to RSV3 (RFC 6455 §5.2): meaningful only under a negotiated extension
    /// (permessage-deflate sets RSV1 on a compressed message).
    fn reserved(&self) -> bool {
        self.raw[0] & 0x70 != 0
    }
}

enum FrameError {
    Io,
    TooLarge,
}

impl From<std::io::Error> for FrameError {
    fn from(_: std::io::Error) -> Self {
        FrameError::Io
    }
}

/// Reads one frame (RFC 6455 §5.2); `None` at a clean end of stream between frames.
async fn read_frame(from: &mut (impl AsyncRead + Unpin)) -> Result<Option<Frame>, FrameError> {
    let mut head = [0u8; 2];
    match from.read_exact(&mut head).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    let mut raw = head.to_vec();
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            from.read_exact(&mut ext).await?;
            raw.extend_from_slice(&ext);
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            from.read_exact(&mut ext).await?;
            raw.extend_from_slice(&ext);
            u64::from_be_bytes(ext)
        }
        short => u64::from(short),
    };
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge);
    }
    let mut key = [0u8; 4];
    if masked {
        from.read_exact(&mut key).await?;
        raw.extend_from_slice(&key);
    }
    let start = raw.len();
    raw.resize(start + len as usize, 0);
    from.read_exact(&mut raw[start..]).await?;
    let payload = raw[start..]
        .iter()
        .enumerate()
        .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b })
        .collect();
    Ok(Some(Frame {
        raw,
        payload,
        masked,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_upstreams_frames_reach_the_agent_with_credentials_masked() {
        let token = "tok-Zq81Lm3Np5Rt";
        let payload = format!("you sent Bearer {token}");
        let mut frame = vec![0x81, payload.len() as u8];
        frame.extend_from_slice(payload.as_bytes());
        let mut stream = frame.clone();
        stream.extend_from_slice(&[0x81, 2, b'o', b'k']);
        let echo = Arc::new(EchoGuard::new([("EGRESS_TOKEN_1", token)]));
        let found = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = found.clone();
        let mut out = Vec::new();
        forward_masked(
            &stream[..],
            &mut out,
            echo,
            Box::new(move |slots| sink.lock().unwrap().extend(slots)),
        )
        .await;
        assert_eq!(out.len(), stream.len());
        assert_eq!(&out[..2], &frame[..2]);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(token), "{text}");
        assert!(text.ends_with("ok"), "{text}");
        assert_eq!(*found.lock().unwrap(), ["EGRESS_TOKEN_1"]);
    }

    #[test]
    fn only_a_websocket_extended_connect_becomes_an_upgrade() {
        let connect = |protocol: Option<&'static str>| {
            let mut req = Request::connect("https://api.test/v1/ws")
                .header(header::SEC_WEBSOCKET_KEY, "from-the-agent")
                .body(())
                .unwrap();
            if let Some(p) = protocol {
                req.extensions_mut().insert(Protocol::from_static(p));
            }
            req
        };
        assert!(!is_extended_connect(&connect(None)), "a tunnel request");
        assert!(!is_extended_connect(&connect(Some("connect-udp"))));
        let mut get = Request::get("https://api.test/").body(()).unwrap();
        get.extensions_mut()
            .insert(Protocol::from_static("websocket"));
        assert!(!is_extended_connect(&get));

        let mut req = connect(Some("WebSocket"));
        assert!(is_extended_connect(&req));
        from_extended_connect(&mut req);
        assert_eq!(req.method(), Method::GET);
        assert!(is_upgrade(req.headers()));
        assert!(req.extensions().get::<OverHttp2>().is_some());
        assert!(req.extensions().get::<Protocol>().is_none());
        restore_upgrade_headers(req.headers_mut());
        assert_eq!(
            req.headers()[header::SEC_WEBSOCKET_KEY],
            "from-the-agent",
            "an agent's own key is kept"
        );
    }

    #[test]
    fn an_http2_agent_gets_200_and_fresh_keys_for_the_upstream() {
        let mut upstream = HeaderMap::new();
        upstream.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("acc"),
        );
        upstream.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat"),
        );
        let h2 = switching_response(&upstream, true);
        assert_eq!(h2.status(), StatusCode::OK);
        assert_eq!(h2.headers()[header::SEC_WEBSOCKET_PROTOCOL], "chat");
        assert!(!h2.headers().contains_key(header::UPGRADE));
        assert!(!h2.headers().contains_key(header::SEC_WEBSOCKET_ACCEPT));
        let h1 = switching_response(&upstream, false);
        assert_eq!(h1.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(h1.headers()[header::SEC_WEBSOCKET_ACCEPT], "acc");

        let key = || {
            let mut headers = HeaderMap::new();
            restore_upgrade_headers(&mut headers);
            assert_eq!(headers[header::SEC_WEBSOCKET_VERSION], "13");
            headers[header::SEC_WEBSOCKET_KEY].clone()
        };
        let (a, b) = (key(), key());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b, "a fresh nonce each time");
    }

    /// A masked client frame of `payload` (text, FIN).
    fn client_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![0x81];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    #[tokio::test]
    async fn frames_of_every_length_form_are_read_and_unmasked() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let bytes = client_frame(&payload, [1, 2, 3, 4]);
            let mut reader = &bytes[..];
            let frame = match read_frame(&mut reader).await {
                Ok(Some(frame)) => frame,
                _ => panic!("frame of {len} bytes"),
            };
            assert_eq!(frame.payload, payload, "{len}");
            assert_eq!(frame.raw, bytes, "{len}");
        }
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_before_it_is_read() {
        let mut bytes = vec![0x82, 127];
        bytes.extend_from_slice(&(MAX_FRAME + 1).to_be_bytes());
        let mut reader = &bytes[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::TooLarge)
        ));
    }

    struct Needle(&'static [u8], Vec<u8>);

    impl BodyScanner for Needle {
        fn feed(&mut self, chunk: &[u8]) -> Option<Finding> {
            self.1.extend_from_slice(chunk);
            self.1
                .windows(self.0.len())
                .any(|w| w == self.0)
                .then(|| Finding::new("known_secrets", "known-secret:TEST"))
        }

        fn finish(&mut self) -> crate::inspect::Verdict {
            crate::inspect::Verdict::Clean
        }
    }

    #[tokio::test]
    async fn clean_frames_pass_unchanged_and_a_secret_split_across_frames_cuts_before_its_end() {
        let mut input = client_frame(b"hello ", [9, 8, 7, 6]);
        let first = input.len() as u64;
        input.extend(client_frame(b"sec", [1, 1, 1, 1]));
        let second = input.len() as u64 - first;
        input.extend(client_frame(b"ret!", [2, 2, 2, 2]));
        input.extend(client_frame(b"never", [3, 3, 3, 3]));
        let mut out = Vec::new();
        let scanner: Box<dyn BodyScanner> = Box::new(Needle(b"secret", Vec::new()));
        let ended = forward_scanned(&input[..], &mut out, Some(scanner)).await;
        match ended {
            Ended::Found { finding, sent } => {
                assert_eq!(finding.rule, "known-secret:TEST");
                assert_eq!(sent, first + second);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out,
            input[..(first + second) as usize],
            "sent unchanged, cut before"
        );
    }

    #[test]
    fn upgrade_requests_are_recognised_and_compression_is_not_offered() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!is_upgrade(&h));
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static("permessage-deflate"),
        );
        restore_upgrade_headers(&mut h);
        assert!(is_upgrade(&h));
        assert!(h.get(header::SEC_WEBSOCKET_EXTENSIONS).is_none());
    }
}
