//! WebSocket through the proxy, in-process on loopback: the upgrade reaches the upstream with
//! the route's credential and without compression extensions, frames flow both ways, and a
//! secret in an agent's frame (split across two frames) closes the connection before the frame
//! that completes it leaves. Names resolve to 127.0.0.1 through the injected resolver.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bb_sidecar::secrets::Secrets;
use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "tok-REAL-SECRET-123";
const CANARY: &str = "bbcanary_0123456789abcdefghijABCDEFGHIJ";

/// A plain-http route, so without a credential (credentials go over TLS only; the real-agents
/// tests cover injection on WebSocket inside an intercepted tunnel).
fn ws_route(inbound: &[&str]) -> serde_json::Value {
    let mut r = route("allowed.test");
    r["dlp"] = json!({"outbound": ["known_secrets"], "inbound": inbound, "on_match": "redact"});
    r
}

fn setup(inbound: &[&str]) -> Setup {
    let secrets = Secrets::from_values(
        [("EGRESS_TOKEN_1".to_owned(), TOKEN.to_owned())],
        Some(CANARY.to_owned()),
    );
    let mut s = Setup::new(plan(vec![ws_route(inbound)]));
    s.inspector = Some(Arc::new(bb_sidecar::inspect::DetectInspector::new(
        &secrets,
    )));
    s.secrets = secrets;
    s
}

/// A WebSocket upstream: answers the handshake with 101, sends one text frame `hi`, then keeps
/// every byte it gets until the proxy closes; returns (request head, bytes after it).
async fn start_ws_upstream() -> (u16, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve_ws(stream).await
    });
    (port, task)
}

/// The same over TLS (a leaf of the upstream CA, HTTP/1.1).
async fn start_tls_ws_upstream() -> (u16, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    let (chain, key) = upstream_ca().leaf(NAMES);
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve_ws(acceptor.accept(stream).await.unwrap()).await
    });
    (port, task)
}

async fn serve_ws(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the request head never came");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).to_string();
    stream
        .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi")
        .await
        .unwrap();
    let _ = stream.flush().await;
    let mut rest = got[end..].to_vec();
    let _ = stream.read_to_end(&mut rest).await;
    (head, rest)
}

fn upgrade_request(port: u16) -> String {
    format!(
        "GET http://allowed.test:{port}/v1/responses HTTP/1.1\r\nHost: allowed.test:{port}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
         Authorization: Bearer bot-bottle-placeholder\r\n\r\n"
    )
}

/// A masked text frame, as a client sends it.
fn frame(payload: &[u8]) -> Vec<u8> {
    let key = [7u8, 1, 9, 3];
    let mut out = vec![0x81, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Sends a clean frame, then the canary split across two frames and one more frame; waits
/// until the proxy closes the agent's side. Returns what may leave: the clean frame and the
/// first half.
async fn send_split_canary(agent: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> Vec<u8> {
    let clean = frame(b"{\"type\":\"response.create\"}");
    agent.write_all(&clean).await.unwrap();
    let (a, b) = CANARY.split_at(15);
    let first = frame(format!("x {a}").as_bytes());
    agent.write_all(&first).await.unwrap();
    agent.write_all(&frame(b.as_bytes())).await.unwrap();
    let _ = agent.write_all(&frame(b"never")).await;
    let _ = agent.flush().await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), agent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the proxy closed the agent's side");
    [clean, first].concat()
}

/// The upstream's request head and what reached it, once the proxy closed that side.
async fn upstream_saw(upstream: tokio::task::JoinHandle<(String, Vec<u8>)>) -> (String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(10), upstream)
        .await
        .expect("the proxy closed the upstream side")
        .unwrap()
}

/// The agent's upgrade through the proxy to the upstream on `port`: the answer's head and the
/// bytes after it.
async fn upgraded_agent(p: &Proxy, port: u16) -> (TcpStream, String, Vec<u8>) {
    let mut agent = TcpStream::connect(p.addr).await.unwrap();
    agent
        .write_all(upgrade_request(port).as_bytes())
        .await
        .unwrap();
    let (head, after) = read_head(&mut agent).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (agent, head, after)
}

async fn read_head(agent: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            return (
                String::from_utf8_lossy(&got[..i]).to_string(),
                got[i + 4..].to_vec(),
            );
        }
        let n = agent.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed before answering: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn frames_flow_both_ways_and_a_split_secret_closes_the_connection_before_it_leaves() {
    let (port, upstream) = start_ws_upstream().await;
    let p = start(setup(&[])).await;
    let (mut agent, head, mut after) = upgraded_agent(&p, port).await;
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    while after.len() < 4 {
        let mut buf = [0u8; 64];
        let n = agent.read(&mut buf).await.unwrap();
        assert!(n > 0);
        after.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        &after[..4],
        b"\x81\x02hi",
        "the upstream's frame reached the agent"
    );

    let expected = send_split_canary(&mut agent).await;
    let (upstream_head, sent) = upstream_saw(upstream).await;
    let lower = upstream_head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{upstream_head}");
    assert!(lower.contains("connection: upgrade"), "{upstream_head}");
    assert!(
        !lower.contains("sec-websocket-extensions"),
        "no compression: {upstream_head}"
    );
    assert!(
        !lower.contains("authorization"),
        "the agent's own credential does not leave: {upstream_head}"
    );
    assert_eq!(
        sent, expected,
        "clean frames unchanged; cut before the secret completes"
    );

    let lines = p.lines.json();
    let opened = lines
        .iter()
        .find(|l| {
            l["reason"]
                .as_str()
                .is_some_and(|r| r.contains("WebSocket opened"))
        })
        .expect("the opening is logged");
    assert_eq!(opened["verdict"], "allow");
    let cut = lines
        .iter()
        .find(|l| l["verdict"] == "block")
        .expect("the cut is logged");
    assert!(
        cut["reason"].as_str().unwrap().starts_with(
            "known_secrets found canary in a WebSocket message; the connection was closed"
        ),
        "{cut}"
    );
    assert!(
        !p.lines.all().concat().contains(CANARY),
        "the secret is not logged"
    );
}

#[tokio::test]
async fn a_frame_compressed_without_negotiation_closes_the_connection_before_it_leaves() {
    let (port, upstream) = start_ws_upstream().await;
    let p = start(setup(&[])).await;
    let (mut agent, head, _) = upgraded_agent(&p, port).await;
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "no extension is granted: {head}"
    );
    let clean = frame(b"hello");
    agent.write_all(&clean).await.unwrap();
    // The canary deflated (raw DEFLATE, as permessage-deflate sends it) with RSV1 set: what a
    // scan of the payload as it stands cannot read.
    let deflated = {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(CANARY.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let mut compressed = frame(&deflated);
    compressed[0] |= 0x40;
    agent.write_all(&compressed).await.unwrap();
    for rsv in [0x20u8, 0x10] {
        let mut other = frame(b"x");
        other[0] |= rsv;
        let _ = agent.write_all(&other).await;
    }
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), agent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the proxy closed the agent's side");
    let (_, sent) = tokio::time::timeout(Duration::from_secs(10), upstream)
        .await
        .expect("the proxy closed the upstream side")
        .unwrap();
    assert_eq!(sent, clean, "only the plain frame left");
    let cut = p
        .lines
        .json()
        .into_iter()
        .find(|l| l["verdict"] == "block")
        .expect("the cut is logged");
    assert!(
        cut["reason"].as_str().unwrap().contains("reserved bit"),
        "{cut}"
    );
}

#[tokio::test]
async fn a_route_that_scans_answers_refuses_websocket_without_contacting_the_upstream() {
    let p = start(setup(&["injection"])).await;
    let mut agent = TcpStream::connect(p.addr).await.unwrap();
    // Nothing listens there: a contact attempt would fail differently (502).
    agent
        .write_all(upgrade_request(9).as_bytes())
        .await
        .unwrap();
    let (head, _) = read_head(&mut agent).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let block = p
        .lines
        .json()
        .into_iter()
        .find(|l| l["verdict"] == "block")
        .unwrap();
    assert!(
        block["reason"]
            .as_str()
            .unwrap()
            .starts_with("WebSocket is refused on allowed.test: the route scans answers"),
        "{block}"
    );
}

/// An agent on HTTP/2 inside an intercepted tunnel opens its WebSocket with an extended CONNECT
/// (RFC 8441): the upstream gets the HTTP/1.1 handshake with a fresh key and the route's
/// credential, the agent gets 200, and the frames on the stream are scanned as on any
/// WebSocket: a secret split across two frames closes it before the second leaves.
#[tokio::test]
async fn an_http2_agent_opens_a_websocket_with_an_extended_connect() {
    let (port, upstream) = start_tls_ws_upstream().await;
    let mut s = setup(&[]);
    let mut r = ws_route(&[]);
    r["auth"] = json!({"scheme": "Bearer", "slot": "EGRESS_TOKEN_1", "port": port});
    s.table = plan(vec![r]);
    s.upstream_ca = Some(upstream_ca());
    let p = start(s).await;
    let Agent::H2(mut sender) = Agent::open(&p, "allowed.test", port, "allowed.test", true).await
    else {
        panic!("not h2")
    };
    let mut req = Request::builder()
        .method(hyper::Method::CONNECT)
        .version(hyper::Version::HTTP_2)
        .uri(format!("https://allowed.test:{port}/v1/responses"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "chat")
        .header("sec-websocket-extensions", "permessage-deflate")
        .header("authorization", "Bearer bot-bottle-placeholder")
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    sender.ready().await.unwrap();
    let response = sender.send_request(req).await.expect("extended CONNECT");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    let mut agent = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    let mut hi = [0u8; 4];
    agent.read_exact(&mut hi).await.unwrap();
    assert_eq!(&hi, b"\x81\x02hi", "the upstream's frame reached the agent");

    let expected = send_split_canary(&mut agent).await;
    let (head, sent) = upstream_saw(upstream).await;
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.starts_with("get /v1/responses http/1.1\r\n"),
        "{head}"
    );
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert!(lower.contains("sec-websocket-version: 13"), "{head}");
    let key = lower
        .lines()
        .find_map(|l| l.strip_prefix("sec-websocket-key: "))
        .expect("a handshake key for the upstream");
    assert_eq!(key.trim().len(), 24, "16 bytes in base64: {head}");
    assert!(!lower.contains("sec-websocket-extensions"), "{head}");
    assert!(
        head.contains(&format!("Bearer {TOKEN}")),
        "the route's credential: {head}"
    );
    assert!(!lower.contains("placeholder"), "{head}");
    assert_eq!(
        sent, expected,
        "clean frames unchanged; cut before the secret completes"
    );
    let cut = p
        .lines
        .json()
        .into_iter()
        .find(|l| l["verdict"] == "block")
        .expect("the cut is logged");
    assert!(
        cut["reason"]
            .as_str()
            .unwrap()
            .starts_with("known_secrets found canary"),
        "{cut}"
    );
}
