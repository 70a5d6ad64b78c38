//! A known value whose characters are spread with filler (the separators the known-secret
//! pass skips) of any length is found in a streamed body, whatever the chunking, with memory
//! that stays bounded.

use bb_detect::{Engine, Finding, KnownSecret, OutboundConfig};

const VALUE: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0GyT3mPx8Lk2";

fn known() -> OutboundConfig {
    OutboundConfig {
        known_secrets: true,
        ..Default::default()
    }
}

fn spread(value: &str, filler: &str) -> Vec<u8> {
    let mut body = b"{\"note\": \"".to_vec();
    for c in value.bytes() {
        body.push(c);
        body.extend_from_slice(filler.as_bytes());
    }
    body.extend_from_slice(b"\"}");
    body
}

fn streamed(e: &Engine, body: &[u8], chunk: usize) -> (Vec<Finding>, usize) {
    let mut s = e.stream(known());
    let mut found = Vec::new();
    let mut most_kept = 0;
    for c in body.chunks(chunk) {
        found.extend(s.feed(c));
        most_kept = most_kept.max(s.buffered());
    }
    found.extend(s.finish());
    (found, most_kept)
}

#[test]
fn filler_of_any_length_between_the_characters_is_found() {
    let e = Engine::new(vec![KnownSecret::new("TOKEN", VALUE)]);
    for (filler, chunk) in [
        (" ".repeat(5_000), 4096),
        (" \n-".repeat(25_000), 65_536),
        ("\t".repeat(100_000), 16_384),
        ("-".repeat(70_000), 1_000_000),
    ] {
        let body = spread(VALUE, &filler);
        let whole = e.scan(&known(), &body);
        assert!(
            whole
                .iter()
                .any(|f| f.rule == "known-secret:TOKEN/separated"),
            "{whole:?}"
        );
        let (found, most_kept) = streamed(&e, &body, chunk);
        assert!(
            found
                .iter()
                .any(|f| f.rule.starts_with("known-secret:TOKEN")),
            "filler {} bytes, chunks of {chunk}: {found:?}",
            filler.len()
        );
        // The raw tail's bound (64 KiB), the value's length and a chunk.
        assert!(most_kept <= 65_536 + 1024 + chunk, "kept {most_kept} bytes");
    }
}

#[test]
fn filler_around_other_text_finds_nothing() {
    let e = Engine::new(vec![KnownSecret::new("TOKEN", VALUE)]);
    // The same characters in another order (each pair swapped), spread the same way.
    let shuffled: String = VALUE
        .as_bytes()
        .chunks(2)
        .flat_map(|pair| pair.iter().rev())
        .map(|&b| b as char)
        .collect();
    let body = spread(&shuffled, &" ".repeat(100_000));
    let (found, _) = streamed(&e, &body, 8192);
    assert!(found.is_empty(), "{found:?}");
}
