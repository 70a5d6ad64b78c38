//! Financial identifiers (payment card numbers, IBANs) follow the route's
//! `dlp.personal_data`: refused, redacted, warned about or let through, apart from what a
//! credential does on the same route.

mod common;

use common::*;
use serde_json::json;

const TOKEN: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy";
const CARD: &str = "4111 1111 1111 1111";
const IBAN: &str = "DE89370400440532013000";

async fn proxy(routes: Vec<serde_json::Value>) -> Proxy {
    start_detecting(routes, TOKEN).await
}

fn scanned(host: &str, on_match: &str, personal_data: &str) -> serde_json::Value {
    let mut r = route(host);
    r["dlp"] = json!({
        "outbound": ["token_patterns", "known_secrets"],
        "inbound": [],
        "on_match": on_match,
        "personal_data": personal_data,
    });
    r
}

fn post(host: &str, port: u16, body: &str) -> Vec<u8> {
    format!(
        "POST http://{host}:{port}/pay HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn each_route_applies_its_personal_data_policy() {
    let (port, seen) = start_fixed(response("", b"ok")).await;
    let p = proxy(vec![
        scanned("scan.test", "block", "redact"),
        scanned("redact.test", "redact", "block"),
        scanned("api.test", "block", "warn"),
        scanned("other.test", "block", "off"),
    ])
    .await;
    let card = format!("{{\"card\": \"{CARD}\", \"iban\": \"{IBAN}\"}}");

    // Redacted on a route that blocks credentials; a credential there still refuses.
    let a = send_bytes(p.addr, &post("scan.test", port, &card)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = String::from_utf8_lossy(&seen.lock().unwrap().concat()).to_string();
    assert!(!sent.contains(CARD) && !sent.contains(IBAN), "{sent}");
    assert!(sent.contains("[REDACTED:payment-card-number]"), "{sent}");
    assert!(sent.contains("[REDACTED:iban]"), "{sent}");
    let both = format!("{{\"card\": \"{CARD}\", \"key\": \"{TOKEN}\"}}");
    let a = send_bytes(p.addr, &post("scan.test", port, &both)).await;
    assert_eq!(a.status, 403, "{}", a.body);

    // Refused on a route that redacts credentials.
    seen.lock().unwrap().clear();
    let a = send_bytes(p.addr, &post("redact.test", port, &card)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(seen.lock().unwrap().is_empty(), "nothing left");

    // Warned about: sent as it is, the decision line says what was seen.
    let a = send_bytes(p.addr, &post("api.test", port, &card)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = String::from_utf8_lossy(&seen.lock().unwrap().concat()).to_string();
    assert!(sent.contains(CARD), "{sent}");
    let warned = p
        .lines
        .json()
        .into_iter()
        .any(|l| l["verdict"] == "allow" && l.to_string().contains("payment-card-number"));
    assert!(warned, "{:?}", p.lines.all());

    // Off: not looked for.
    let a = send_bytes(p.addr, &post("other.test", port, &card)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let log = p.lines.all().concat();
    assert!(
        !log.contains(CARD) && !log.contains(IBAN),
        "no value logged"
    );
}
