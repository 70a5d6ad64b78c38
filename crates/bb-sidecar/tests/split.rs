//! A known value cut into pieces and spread over the URL, the headers and the body of one
//! request is refused before anything leaves, on block and redact routes, compressed or not.

mod common;

use std::io::Write;

use common::*;
use serde_json::json;

const TOKEN: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy";

async fn proxy(routes: Vec<serde_json::Value>) -> Proxy {
    start_detecting(routes, TOKEN).await
}

fn scanned(host: &str, on_match: &str) -> serde_json::Value {
    let mut r = route(host);
    r["dlp"] = json!({"outbound": ["known_secrets"], "inbound": [], "on_match": on_match});
    r
}

/// A request with `query` in its URL, `header` in an `X-Note` header and `body`.
fn request(host: &str, port: u16, query: &str, header: &str, body: &[u8], gz: bool) -> Vec<u8> {
    let coding = if gz { "Content-Encoding: gzip\r\n" } else { "" };
    let mut r = format!(
        "POST http://{host}:{port}/up?{query} HTTP/1.1\r\nHost: {host}\r\nX-Note: {header}\r\n{coding}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn pieces_spread_over_url_headers_and_body_are_refused() {
    let (port, seen) = start_fixed(response("", b"ok")).await;
    let p = proxy(vec![
        scanned("scan.test", "block"),
        scanned("redact.test", "redact"),
    ])
    .await;
    let (a, b, c) = (&TOKEN[..10], &TOKEN[10..21], &TOKEN[21..]);
    let body = format!("{{\"part\": \"{c}\", \"msg\": \"hello\"}}");
    for host in ["scan.test", "redact.test"] {
        for gz in [false, true] {
            let sent = if gz {
                gzip(body.as_bytes())
            } else {
                body.clone().into_bytes()
            };
            let raw = request(host, port, &format!("x={a}"), b, &sent, gz);
            let answer = send_bytes(p.addr, &raw).await;
            assert_eq!(answer.status, 403, "{host} gzip={gz}: {}", answer.body);
            assert!(answer.body.contains("/split"), "{}", answer.body);
            assert!(!answer.body.contains(c), "no piece in the refusal");
        }
        // All three pieces in the head alone.
        let raw = request(host, port, &format!("x={a}&y={c}"), b, b"{}", false);
        assert_eq!(send_bytes(p.addr, &raw).await.status, 403, "{host}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );

    // Two of the three pieces, to a bottle that has seen no piece: the value is not there, the
    // request goes.
    let p = proxy(vec![scanned("scan.test", "block")]).await;
    let raw = request(
        "scan.test",
        port,
        &format!("x={a}"),
        b,
        b"{\"msg\": \"hi\"}",
        false,
    );
    let answer = send_bytes(p.addr, &raw).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn pieces_sent_one_request_at_a_time_are_refused_when_they_complete_the_value() {
    let (port, seen) = start_fixed(response("", b"ok")).await;
    let p = proxy(vec![scanned("scan.test", "block")]).await;
    let (a, b, c) = (&TOKEN[..10], &TOKEN[10..21], &TOKEN[21..]);
    for piece in [a, b] {
        let raw = request(
            "scan.test",
            port,
            &format!("q={piece}"),
            "hello",
            b"{}",
            false,
        );
        assert_eq!(send_bytes(p.addr, &raw).await.status, 200);
    }
    let raw = request(
        "scan.test",
        port,
        "q=1",
        "hello",
        format!("{{\"v\": \"{c}\"}}").as_bytes(),
        false,
    );
    let answer = send_bytes(p.addr, &raw).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("/split"), "{}", answer.body);
    let sent = String::from_utf8_lossy(&seen.lock().unwrap().concat()).to_string();
    assert!(!sent.contains(c), "the last piece never left");
    // A request refused anyway does not use up the completion: the last piece sent alone
    // afterwards is still refused.
    let raw = request("scan.test", port, &format!("q={c}"), "hello", b"{}", false);
    assert_eq!(send_bytes(p.addr, &raw).await.status, 403);
    let sent = String::from_utf8_lossy(&seen.lock().unwrap().concat()).to_string();
    assert!(!sent.contains(c), "the last piece never left");
}
