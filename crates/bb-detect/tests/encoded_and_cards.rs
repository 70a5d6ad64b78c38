//! Card numbers and random secrets hidden inside hex or base64, through the public API.

use bb_detect::{Engine, OutboundConfig};

fn rules(data: &[u8]) -> Vec<String> {
    let engine = Engine::new(Vec::new());
    let cfg = OutboundConfig {
        token_patterns: true,
        known_secrets: true,
        entropy: false,
    };
    engine
        .scan(&cfg, data)
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_random_secret_inside_hex_is_a_finding() {
    let payload = format!(
        "cafe0011{}0a00ff",
        hex("Zq8uXf3kLmP2rT9vNs7Wb4Yc6Hd1Jg5Ke0MaQxR2")
    );
    assert!(
        rules(payload.as_bytes())
            .iter()
            .any(|r| r == "encoded-high-entropy-secret/hex"),
        "{:?}",
        rules(payload.as_bytes())
    );
}

#[test]
fn ordinary_text_inside_hex_is_not() {
    let payload = hex("The quick brown fox jumps over the lazy dog, version 2.14.1 build 20261125");
    assert!(
        rules(payload.as_bytes()).is_empty(),
        "{:?}",
        rules(payload.as_bytes())
    );
}

#[test]
fn card_numbers_in_a_body_and_split_across_chunks() {
    assert_eq!(
        rules(b"name,card\nAlice,4111111111111111\n"),
        ["payment-card-number"]
    );
    let engine = Engine::new(Vec::new());
    let cfg = OutboundConfig {
        token_patterns: true,
        known_secrets: false,
        entropy: false,
    };
    let body = b"Bob,5500000000000004,03/27\n";
    for cut in 1..body.len() {
        let mut stream = engine.stream(cfg);
        let mut found = stream.feed(&body[..cut]);
        found.extend(stream.feed(&body[cut..]));
        found.extend(stream.finish());
        assert_eq!(found.len(), 1, "cut at {cut}: {found:?}");
        assert_eq!((found[0].start, found[0].end), (4, 20));
    }
}

#[test]
fn ibans_whole_printed_and_streamed() {
    assert_eq!(rules(b"iban=DE89370400440532013000&amount=12"), ["iban"]);
    assert_eq!(
        rules(b"{\"iban\": \"GB82 WEST 1234 5698 7654 32\"}"),
        ["iban"]
    );
    assert!(
        rules(b"{\"iban\": \"GB82 WEST 1234 5698 7654 33\"}").is_empty(),
        "checksum"
    );
    assert!(bb_detect::is_personal_data("iban"));
    assert!(bb_detect::is_personal_data("payment-card-number"));
    assert!(!bb_detect::is_personal_data("github-pat"));
    let engine = Engine::new(Vec::new());
    let cfg = OutboundConfig {
        token_patterns: true,
        ..Default::default()
    };
    let body = b"pay: DE89 3704 0044 0532 0130 00.\n";
    for cut in 1..body.len() {
        let mut stream = engine.stream(cfg);
        let mut found = stream.feed(&body[..cut]);
        found.extend(stream.feed(&body[cut..]));
        found.extend(stream.finish());
        let spans: Vec<(usize, usize)> = found.iter().map(|f| (f.start, f.end)).collect();
        assert_eq!(spans, [(5, 32)], "cut at {cut}: {found:?}");
    }
}
