//! A known value cut into pieces and spread over a request (query parameters, headers, body
//! fields) or over several requests, in any order.

use bb_detect::{Engine, KnownSecret, OutboundConfig};

const VALUE: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0GyT3mPx8Lk2";
const SPLIT: &str = "known-secret:TOKEN/split";

fn engine() -> Engine {
    Engine::new(vec![KnownSecret::new("TOKEN", VALUE)])
}

fn known() -> OutboundConfig {
    OutboundConfig {
        known_secrets: true,
        ..Default::default()
    }
}

/// `VALUE` cut into pieces of `size` bytes.
fn pieces(size: usize) -> Vec<&'static str> {
    (0..VALUE.len())
        .step_by(size)
        .map(|i| &VALUE[i..(i + size).min(VALUE.len())])
        .collect()
}

fn rules(data: &[u8]) -> Vec<String> {
    engine()
        .scan(&known(), data)
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn pieces_spread_over_body_fields_are_found_in_any_order() {
    for size in [8, 10, 14, 15] {
        let mut parts = pieces(size);
        let json: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\"field{i}\": \"{p}\""))
            .collect();
        let body = format!("{{{}, \"note\": \"ordinary text\"}}", json.join(", "));
        assert!(
            rules(body.as_bytes()).contains(&SPLIT.to_string()),
            "{size}"
        );
        parts.reverse();
        let query = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("p{i}={p}"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(
            rules(query.as_bytes()).contains(&SPLIT.to_string()),
            "{size}"
        );
    }
}

#[test]
fn pieces_that_leave_part_of_the_value_out_are_not_a_finding() {
    let parts = pieces(10);
    let most = parts[..parts.len() - 1].join(" and ");
    assert!(
        rules(most.as_bytes()).is_empty(),
        "{:?}",
        rules(most.as_bytes())
    );
    // Shorter than eight bytes: too short to tell from ordinary text.
    let tiny = pieces(7).join(", ");
    assert!(!rules(tiny.as_bytes()).contains(&SPLIT.to_string()));
}

#[test]
fn a_streamed_body_completes_pieces_of_the_head_across_chunks() {
    let parts = pieces(10);
    let filler = "x".repeat(100_000);
    let body = format!(
        "{{\"a\": \"{}\", \"pad\": \"{filler}\", \"b\": \"{}\"}}",
        parts[2], parts[3]
    );
    for chunk in [7, 4096, 65536] {
        let e = engine();
        let mut stream = e.stream(known());
        // The request's URL and a header, scanned first (the proxy scans each part).
        let url = format!("api.example.test/v1?x={}", parts[0]);
        assert!(e.scan(&known(), url.as_bytes()).is_empty());
        let header = format!("Bearer {}", parts[1]);
        assert!(e.scan(&known(), header.as_bytes()).is_empty());
        let mut found: Vec<String> = Vec::new();
        for c in body.as_bytes().chunks(chunk) {
            found.extend(stream.feed(c).into_iter().map(|f| f.rule));
        }
        found.extend(stream.finish().into_iter().map(|f| f.rule));
        assert_eq!(found, [SPLIT], "chunks of {chunk}");
        // Without the head's pieces the body holds half the value: no finding.
        let e = engine();
        let mut alone = e.stream(known());
        let mut none: Vec<String> = Vec::new();
        for c in body.as_bytes().chunks(chunk) {
            none.extend(alone.feed(c).into_iter().map(|f| f.rule));
        }
        none.extend(alone.finish().into_iter().map(|f| f.rule));
        assert!(none.is_empty(), "{none:?}");
    }
}

#[test]
fn pieces_sent_one_request_at_a_time_add_up() {
    let e = engine();
    let parts = pieces(10);
    for (i, p) in parts.iter().enumerate() {
        let found: Vec<String> = e
            .scan(&known(), format!("GET /?page={i}&q={p}").as_bytes())
            .into_iter()
            .map(|f| f.rule)
            .collect();
        if i + 1 < parts.len() {
            assert!(found.is_empty(), "piece {i}: {found:?}");
        } else {
            assert_eq!(found, [SPLIT], "the request that completes the value");
        }
    }
    // Covered: from now on any piece of it is refused (a refused request cannot use up the
    // completion and let the last piece go out alone afterwards).
    for p in &parts {
        let again: Vec<String> = e
            .scan(&known(), p.as_bytes())
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(again, [SPLIT]);
    }
}
