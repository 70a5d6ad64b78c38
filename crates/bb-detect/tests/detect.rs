//! Engine-level tests: known-secret encodings, streaming, redaction, no value in findings.

use bb_detect::{
    CANARY_NAME, Detector, Engine, Finding, KnownSecret, OutboundConfig, mint_canary, redact,
};

const NAME: &str = "EGRESS_TOKEN_1";
/// A token slot value with its own separators and reserved bytes.
const VALUE: &str = "Zx9-Qw7/Lm3+Np5_Rt2.Vb8@Kc4!Hs6";
/// A plain alphanumeric one.
const VALUE2: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy";

fn engine() -> Engine {
    Engine::new(vec![
        KnownSecret::new(NAME, VALUE),
        KnownSecret::new("OTHER", VALUE2),
    ])
}

fn ks_only() -> OutboundConfig {
    OutboundConfig {
        known_secrets: true,
        ..Default::default()
    }
}

fn rules(e: &Engine, cfg: &OutboundConfig, data: &[u8]) -> Vec<String> {
    e.scan(cfg, data).into_iter().map(|f| f.rule).collect()
}

fn assert_rule(e: &Engine, data: &[u8], rule: &str) {
    let got = rules(e, &ks_only(), data);
    assert!(
        got.iter().any(|r| r == rule),
        "{rule} in {:?}: {got:?}",
        String::from_utf8_lossy(data)
    );
}

fn assert_clean(e: &Engine, data: &[u8]) {
    let got = e.scan(&OutboundConfig::DEFAULT_ON, data);
    assert!(
        got.is_empty(),
        "{:?}: {got:?}",
        String::from_utf8_lossy(data)
    );
}

fn b64(v: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in v.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn hex(v: &[u8], upper: bool) -> String {
    v.iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

fn pct(v: &[u8], all: bool, upper: bool) -> String {
    v.iter()
        .map(|&b| {
            if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
                (b as char).to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

#[test]
fn plain_and_separated() {
    let e = engine();
    assert_rule(
        &e,
        format!("x={VALUE}&y").as_bytes(),
        "known-secret:EGRESS_TOKEN_1",
    );
    assert_rule(&e, VALUE2.as_bytes(), "known-secret:OTHER");
    // The secret's own separators removed.
    let bare: String = VALUE.chars().filter(|c| !"-/_.".contains(*c)).collect();
    assert_rule(&e, bare.as_bytes(), "known-secret:EGRESS_TOKEN_1/separated");
    // Separators inserted between every character, each kind.
    for sep in ["-", "_", ".", ":", "/", " ", ", ", "\n"] {
        let s: Vec<String> = VALUE2.chars().map(String::from).collect();
        assert_rule(
            &e,
            format!("[{}]", s.join(sep)).as_bytes(),
            "known-secret:OTHER/separated",
        );
    }
    // Groups of four.
    let g: Vec<String> = VALUE2
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into())
        .collect();
    assert_rule(&e, g.join("-").as_bytes(), "known-secret:OTHER/separated");
}

#[test]
fn base64_every_alignment_and_alphabet() {
    let e = engine();
    for v in [VALUE, VALUE2] {
        let name = if v == VALUE { NAME } else { "OTHER" };
        for pre in ["", "a", "ab", "abc", "{\"k\":\"", "token=\""] {
            for post in ["", "x", "xy", "\"}\n"] {
                let enc = b64(format!("{pre}{v}{post}").as_bytes());
                let found = rules(&e, &ks_only(), enc.as_bytes());
                assert!(
                    found
                        .iter()
                        .any(|r| r == &format!("known-secret:{name}/base64")),
                    "std {pre:?}{post:?}: {found:?}"
                );
                let unpadded = enc.trim_end_matches('=');
                assert!(!rules(&e, &ks_only(), unpadded.as_bytes()).is_empty());
                let url = enc.replace('+', "-").replace('/', "_");
                let found = rules(&e, &ks_only(), url.as_bytes());
                assert!(
                    found
                        .iter()
                        .any(|r| r.starts_with(&format!("known-secret:{name}/base64"))),
                    "url {pre:?}{post:?}: {found:?}"
                );
                // Wrapped at 76 columns like MIME.
                let wrapped: Vec<String> = enc
                    .as_bytes()
                    .chunks(20)
                    .map(|c| String::from_utf8_lossy(c).into())
                    .collect();
                assert!(!rules(&e, &ks_only(), wrapped.join("\r\n").as_bytes()).is_empty());
            }
        }
    }
    assert_clean(&e, b64(b"some other value entirely 1234567").as_bytes());
}

/// RFC 4648 base32, bit by bit (independent of the crate's encoder).
fn b32(data: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits: Vec<u8> = data
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    bits.chunks(5)
        .map(|c| {
            let v = c.iter().chain(std::iter::repeat(&0)).take(5);
            alphabet[v.fold(0usize, |a, &b| a * 2 + b as usize)] as char
        })
        .collect()
}

#[test]
fn base32_either_case_every_alignment_and_split() {
    let e = engine();
    for v in [VALUE, VALUE2] {
        let name = if v == VALUE { NAME } else { "OTHER" };
        let want = format!("known-secret:{name}/base32");
        for pre in ["", "a", "ab", "abc", "abcd", "env="] {
            let enc = b32(format!("{pre}{v}!").as_bytes());
            for text in [
                enc.clone(),
                enc.to_ascii_lowercase(),
                // Cut into DNS-label-sized pieces.
                enc.as_bytes()
                    .chunks(30)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("."),
            ] {
                let found = rules(&e, &ks_only(), text.as_bytes());
                assert!(found.contains(&want), "{pre:?} {text}: {found:?}");
            }
        }
    }
    assert_clean(&e, b32(b"some other value entirely 1234567").as_bytes());
}

#[test]
fn hex_and_percent() {
    let e = engine();
    for v in [VALUE, VALUE2] {
        let name = if v == VALUE { NAME } else { "OTHER" };
        for upper in [false, true] {
            let h = hex(v.as_bytes(), upper);
            assert_rule(
                &e,
                format!("payload={h}").as_bytes(),
                &format!("known-secret:{name}/hex"),
            );
            let colon: Vec<String> = h
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into())
                .collect();
            assert_rule(
                &e,
                colon.join(":").as_bytes(),
                &format!("known-secret:{name}/hex"),
            );
            let once = pct(v.as_bytes(), true, upper);
            assert_rule(
                &e,
                format!("?s={once}").as_bytes(),
                &format!("known-secret:{name}/url"),
            );
            let twice = once.replace('%', "%25");
            assert_rule(
                &e,
                format!("?s={twice}").as_bytes(),
                &format!("known-secret:{name}/url2"),
            );
        }
    }
    // Only the reserved bytes encoded (VALUE has '/', '+', '@', '!').
    for upper in [false, true] {
        let r = pct(VALUE.as_bytes(), false, upper);
        assert!(r.contains('%'));
        assert_rule(
            &e,
            format!("q={r}").as_bytes(),
            "known-secret:EGRESS_TOKEN_1/url",
        );
        assert_rule(
            &e,
            format!("q={}", r.replace('%', "%25")).as_bytes(),
            "known-secret:EGRESS_TOKEN_1/url2",
        );
    }
    assert_clean(
        &e,
        hex(b"another value of the same len!!!", false).as_bytes(),
    );
    assert_clean(
        &e,
        pct(b"another value of the same len!!!", true, true).as_bytes(),
    );
}

#[test]
fn spellings_an_agent_reaches_for() {
    let e = engine();
    let v = VALUE2.as_bytes();
    let reversed: String = VALUE2.chars().rev().collect();
    assert_rule(
        &e,
        format!("x={reversed}").as_bytes(),
        "known-secret:OTHER/reversed",
    );
    let rot13: String = VALUE2
        .chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect();
    assert_rule(
        &e,
        format!("x={rot13}").as_bytes(),
        "known-secret:OTHER/rot13",
    );
    let codes =
        |f: &dyn Fn(&u8) -> String, sep: &str| v.iter().map(f).collect::<Vec<_>>().join(sep);
    for text in [
        format!("String.fromCharCode({})", codes(&|b| b.to_string(), ",")),
        format!("[{}]", codes(&|b| b.to_string(), ", ")),
        codes(&|b| format!("&#{b};"), ""),
        codes(&|b| format!("&#x{b:x};"), ""),
        format!("\"{}\"", codes(&|b| format!("\\u{:04x}", b), "")),
        format!("'{}'", codes(&|b| format!("\\{b:03o}"), "")),
    ] {
        assert_rule(&e, text.as_bytes(), "known-secret:OTHER/char-codes");
    }
    // Ordinary numbers and text stay clean.
    assert_clean(
        &e,
        b"[113, 56, 87, 109, 50, 76, 120, 55] are the first eight",
    );
    assert_clean(&e, b"Uryyb jbeyq, guvf vf EBG13 grkg.");
}

#[test]
fn fragments_and_short_values() {
    let e = engine();
    let n = VALUE2.len();
    // Each half of a secret sent separately is caught on its own.
    assert_rule(
        &e,
        format!("a={}", &VALUE2[..n / 2]).as_bytes(),
        "known-secret:OTHER/fragment",
    );
    assert_rule(
        &e,
        format!("b={}", &VALUE2[n / 2..]).as_bytes(),
        "known-secret:OTHER/fragment",
    );
    assert_rule(
        &e,
        format!("b={}", &VALUE2[5..5 + n / 2]).as_bytes(),
        "known-secret:OTHER/fragment",
    );
    // Shorter than max(8, len/2): not flagged.
    assert_clean(&e, format!("b={}", &VALUE2[..n / 2 - 1]).as_bytes());
    // A fragment's span is exactly the fragment.
    let f = e.scan(&ks_only(), format!("...{}...", &VALUE2[3..25]).as_bytes());
    assert_eq!((f[0].start, f[0].end), (3, 25));

    let short = Engine::new(vec![KnownSecret::new("PIN", "h4x0r7")]);
    assert_eq!(
        rules(&short, &ks_only(), b"pin=h4x0r7&x"),
        vec!["known-secret:PIN"]
    );
    assert!(rules(&short, &ks_only(), b"xh4x0r7y").is_empty());
    assert!(rules(&short, &ks_only(), hex(b"h4x0r7", false).as_bytes()).is_empty());
    // Minimum length boundary: 8 characters get encodings.
    let eight = Engine::new(vec![KnownSecret::new("E", "Ab3dEf7h")]);
    assert_eq!(
        rules(&eight, &ks_only(), hex(b"Ab3dEf7h", false).as_bytes()),
        vec!["known-secret:E/hex"]
    );
}

#[test]
fn canary() {
    let c = mint_canary();
    assert!(c.starts_with("bbcanary_") && c.len() == 9 + 32);
    assert!(c[9..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(c, mint_canary());
    let e = Engine::new(vec![KnownSecret::new(CANARY_NAME, c.clone())]);
    assert_eq!(rules(&e, &ks_only(), c.as_bytes()), vec!["canary"]);
    assert_eq!(
        rules(&e, &ks_only(), hex(c.as_bytes(), false).as_bytes()),
        vec!["canary/hex"]
    );
    assert_eq!(
        rules(&e, &ks_only(), b64(c.as_bytes()).as_bytes()),
        vec!["canary/base64"]
    );
}

#[test]
fn token_patterns_inside_encodings() {
    let e = Engine::default();
    let tp = OutboundConfig {
        token_patterns: true,
        ..Default::default()
    };
    let key = b"AKIAIOSFODNN7EXAMPLE";
    assert_eq!(
        rules(&e, &tp, format!("/sync?data={}", b64(key)).as_bytes()),
        vec!["aws-access-key-id/base64"]
    );
    assert_eq!(
        rules(&e, &tp, format!("/sync/{}", b64(key)).as_bytes()),
        vec!["aws-access-key-id/base64"]
    );
    assert_eq!(
        rules(&e, &tp, hex(key, false).as_bytes()),
        vec!["aws-access-key-id/hex"]
    );
    assert_eq!(
        rules(&e, &tp, format!("?s={}", pct(key, true, false)).as_bytes()),
        vec!["aws-access-key-id/url"]
    );
    let env = b"HOME=/root\nGITHUB_TOKEN=ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123\n";
    let found = e.scan(&tp, b64(env).as_bytes());
    assert!(
        found.iter().any(|f| f.rule == "github-pat/base64"),
        "{found:?}"
    );
    // Encoded but harmless.
    assert!(
        rules(
            &e,
            &tp,
            b64(b"{\"name\": \"Jane Smith\", \"theme\": \"dark\"}").as_bytes()
        )
        .is_empty()
    );
    assert!(rules(&e, &tp, b"q=how+to+fix+%22permission+denied%22+error").is_empty());
}

fn mixed_doc() -> Vec<u8> {
    let mut d = String::new();
    for i in 0..40 {
        d.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"item-{i}\", \"path\": \"src/module_{i}/lib.rs\", \"tags\": [\"a\", \"b\"]}},\n"
        ));
        match i {
            3 => d.push_str(&format!("secret={VALUE}\n")),
            7 => d.push_str(&format!("blob: {}\n", b64(format!("xy{VALUE2}z").as_bytes()))),
            11 => d.push_str("auth: ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123\n"),
            15 => d.push_str(&format!("hex: {}\n", hex(VALUE2.as_bytes(), true))),
            19 => d.push_str("jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U.\n"),
            23 => d.push_str("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oOr3HMGN4hWIoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"),
            27 => d.push_str(&format!("u={}\n", pct(VALUE.as_bytes(), true, false).replace('%', "%25"))),
            31 => d.push_str("rand x7Kp2mQ9vR4sL8nW1bY6cT3fA0jH5dE end\n"),
            33 => d.push_str(&format!("q=%2Fsync%2F{}\n", pct(&hex(b"AKIAIOSFODNN7EXAMPLE", false).into_bytes(), true, true))),
            35 => d.push_str(&format!("half {} and {}\n", &VALUE2[..16], &VALUE2[16..])),
            _ => {}
        }
    }
    d.into_bytes()
}

fn sorted(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by(|a, b| (a.start, a.end, &a.rule).cmp(&(b.start, b.end, &b.rule)));
    v
}

fn stream_scan(e: &Engine, cfg: OutboundConfig, data: &[u8], cuts: &[usize]) -> Vec<Finding> {
    let mut s = e.stream(cfg);
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        out.extend(s.feed(&data[prev..c]));
        prev = c;
    }
    assert_eq!(s.offset(), data.len());
    out.extend(s.finish());
    sorted(out)
}

#[test]
fn mixed_doc_expected_findings() {
    let e = engine();
    let doc = mixed_doc();
    let got: Vec<String> = e
        .scan(&OutboundConfig::ALL, &doc)
        .into_iter()
        .map(|f| f.rule)
        .collect();
    for want in [
        "known-secret:EGRESS_TOKEN_1",
        "known-secret:OTHER/base64",
        "github-pat",
        "known-secret:OTHER/hex",
        "jwt",
        "private-key",
        "known-secret:EGRESS_TOKEN_1/url2",
        "entropy",
        "aws-access-key-id/url/hex",
        "known-secret:OTHER/fragment",
    ] {
        assert!(got.iter().any(|r| r == want), "{want}: {got:?}");
    }
}

#[test]
fn split_at_every_position() {
    let e = engine();
    let cfg = OutboundConfig::ALL;
    for input in [
        format!("pre {VALUE} post"),
        format!("x={}&", b64(format!("ab{VALUE2}").as_bytes())),
        format!("h={}", hex(VALUE.as_bytes(), false)),
        format!("u={}!", pct(VALUE2.as_bytes(), true, true)),
        format!("frag {} end", &VALUE2[2..20]),
        "tok ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123 and AKIAIOSFODNN7EXAMPLE.".to_string(),
        "k eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U z"
            .to_string(),
        format!("d={}", b64(b"AKIAIOSFODNN7EXAMPLE")),
    ] {
        let data = input.as_bytes();
        let whole = sorted(e.scan(&cfg, data));
        assert!(!whole.is_empty(), "{input}");
        for i in 0..=data.len() {
            assert_eq!(stream_scan(&e, cfg, data, &[i]), whole, "{input} split at {i}");
        }
        let every: Vec<usize> = (1..data.len()).collect();
        assert_eq!(stream_scan(&e, cfg, data, &every), whole, "{input} byte by byte");
    }
}

#[test]
fn random_chunkings_match_one_shot() {
    let e = engine();
    let doc = mixed_doc();
    for cfg in [OutboundConfig::ALL, OutboundConfig::DEFAULT_ON, ks_only()] {
        let whole = sorted(e.scan(&cfg, &doc));
        let mut seed = 0x9E3779B97F4A7C15u64;
        for round in 0..60 {
            let max = [3usize, 17, 64, 200, 1000, 5000][round % 6];
            let mut cuts = Vec::new();
            let mut at = 0;
            loop {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                at += 1 + (seed >> 33) as usize % max;
                if at >= doc.len() {
                    break;
                }
                cuts.push(at);
            }
            assert_eq!(stream_scan(&e, cfg, &doc, &cuts), whole, "max chunk {max}");
        }
    }
}

#[test]
fn no_blocking_finding_starts_before_what_was_decided() {
    // What a proxy forwards while it scans: a finding reported later must not reach back
    // into bytes already declared decided.
    let e = engine();
    let mut doc = mixed_doc();
    doc.extend_from_slice(b"card 4111 1111 1111 1111 and 5500-0000-0000-0004\n");
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut checked = 0;
    for round in 0..60 {
        let max = [1usize, 7, 64, 300, 2000][round % 5];
        let mut s = e.stream(OutboundConfig::DEFAULT_ON);
        let mut at = 0;
        let mut decided = 0;
        while at < doc.len() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let next = (at + 1 + (seed >> 33) as usize % max).min(doc.len());
            for f in s.feed(&doc[at..next]) {
                assert!(
                    f.start >= decided,
                    "{f:?} before {decided} (max chunk {max})"
                );
                checked += 1;
            }
            assert!(s.decided() >= decided && s.decided() <= next);
            decided = s.decided();
            at = next;
        }
        for f in s.finish() {
            assert!(f.start >= decided, "{f:?} before {decided} at the end");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn long_runs_stream_with_bounded_memory() {
    // A 1 MiB base64 body with a token inside: found once, offsets absolute.
    let e = Engine::default();
    let mut body = vec![b'A'; 1 << 20];
    let tok = b64(b"xx ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123 xx");
    body[700_000..700_000 + tok.len()].copy_from_slice(tok.as_bytes());
    let whole = e.scan(&OutboundConfig::ALL, &body);
    assert!(
        whole.iter().any(|f| f.rule == "github-pat/base64"),
        "{whole:?}"
    );
    let cuts: Vec<usize> = (1..body.len()).step_by(8192).collect();
    assert_eq!(
        stream_scan(&e, OutboundConfig::ALL, &body, &cuts),
        sorted(whole)
    );
}

#[test]
fn findings_never_hold_the_value() {
    let e = engine();
    let doc = mixed_doc();
    let findings = e.scan(&OutboundConfig::ALL, &doc);
    assert!(findings.len() >= 10);
    for f in &findings {
        for text in [format!("{f:?}"), f.to_string()] {
            for v in [VALUE, VALUE2] {
                for w in v.as_bytes().windows(8) {
                    assert!(!text.contains(std::str::from_utf8(w).unwrap()), "{text}");
                }
            }
        }
    }
    let ks = KnownSecret::new(NAME, VALUE);
    assert!(!format!("{ks:?}").contains(VALUE));
    assert!(!format!("{e:?}").contains(VALUE));
    assert!(format!("{e:?}").contains(NAME));
}

#[test]
fn redact_spans_and_rescan() {
    let e = engine();
    let doc = mixed_doc();
    let cfg = OutboundConfig::DEFAULT_ON;
    let findings = e.scan(&cfg, &doc);
    let red = redact(&doc, &findings);
    let again = e.scan(&cfg, &red);
    assert!(
        again.is_empty(),
        "{again:?} {:?}",
        again
            .iter()
            .map(|f| String::from_utf8_lossy(&red[f.start.saturating_sub(20)..f.end]))
            .collect::<Vec<_>>()
    );
    let f = |rule: &str, start, end| Finding {
        detector: Detector::TokenPatterns,
        rule: rule.into(),
        start,
        end,
    };
    let out = redact(b"0123456789", &[f("a", 2, 5), f("b", 4, 7), f("c", 8, 20)]);
    assert_eq!(out, b"01[REDACTED:a,b]7[REDACTED:c]");
    assert_eq!(redact(b"abc", &[]), b"abc");
}

#[test]
fn text_that_looks_like_a_redaction_marker_hides_nothing() {
    // Markers are not exempt: an agent could otherwise write one in front of a secret.
    let e = engine();
    for doc in [
        format!("[REDACTED:{VALUE}]"),
        format!("[REDACTED: see {VALUE}"),
        "[REDACTED:x] ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123".to_string(),
    ] {
        assert!(
            !e.scan(&OutboundConfig::DEFAULT_ON, doc.as_bytes())
                .is_empty(),
            "{doc}"
        );
    }
}

#[test]
fn config_switches_detectors() {
    let e = engine();
    let doc = mixed_doc();
    let none = e.scan(&OutboundConfig::default(), &doc);
    assert!(none.is_empty());
    let tp = e.scan(
        &OutboundConfig {
            token_patterns: true,
            ..Default::default()
        },
        &doc,
    );
    assert!(tp.iter().all(|f| f.detector == Detector::TokenPatterns));
    let ks = e.scan(&ks_only(), &doc);
    assert!(!ks.is_empty() && ks.iter().all(|f| f.detector == Detector::KnownSecrets));
    let en = e.scan(
        &OutboundConfig {
            entropy: true,
            ..Default::default()
        },
        &doc,
    );
    assert!(!en.is_empty() && en.iter().all(|f| f.detector == Detector::Entropy));
    assert_eq!(Detector::Injection.as_str(), "injection");
    assert_eq!(Detector::KnownSecrets.to_string(), "known_secrets");
}

#[test]
fn engine_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
}

/// `text` cut into DNS labels of `n` characters under `zone`.
fn labels(text: &str, n: usize, zone: &str) -> String {
    let mut name: Vec<String> = text
        .as_bytes()
        .chunks(n)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    name.push(zone.to_string());
    name.join(".").to_ascii_lowercase()
}

#[test]
fn host_names_carrying_a_secret_are_found_before_the_lookup() {
    let e = engine();
    let cfg = OutboundConfig::DEFAULT_ON;
    let hex: String = VALUE2.bytes().map(|b| format!("{b:02x}")).collect();
    let half = &VALUE2[..VALUE2.len() / 2 + 1];
    for (host, want) in [
        (labels(VALUE2, 63, "x.example"), "known-secret:OTHER/host"),
        (labels(VALUE2, 7, "x.example"), "known-secret:OTHER/host"),
        (labels(&hex, 30, "x.example"), "known-secret:OTHER/host-hex"),
        (
            labels(&b32(VALUE.as_bytes()), 20, "x.example"),
            "known-secret:EGRESS_TOKEN_1/host-base32",
        ),
        (
            labels(&b32(format!("k={VALUE2}").as_bytes()), 50, "x.example"),
            "known-secret:OTHER/host-base32",
        ),
        (
            labels(half, 5, "x.example"),
            "known-secret:OTHER/host-fragment",
        ),
    ] {
        let found: Vec<String> = e
            .scan_name(&cfg, &host)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert!(found.iter().any(|r| r == want), "{host}: {found:?}");
    }
    // A credential format in a label, in the lower case DNS gives it, or cut across labels.
    let found = e.scan_name(&cfg, "akiaqwertyuiopasdfgh.x.example");
    assert!(
        found.iter().any(|f| f.rule == "aws-access-key-id"),
        "{found:?}"
    );
    let found = e.scan_name(&cfg, "akiaqwer.tyuiopasdfgh.x.example");
    assert!(
        found.iter().any(|f| f.rule == "aws-access-key-id"),
        "{found:?}"
    );
    // The detectors a route turned off stay off.
    let tokens_only = OutboundConfig {
        token_patterns: true,
        ..Default::default()
    };
    assert!(
        e.scan_name(&tokens_only, &labels(VALUE2, 20, "x.example"))
            .is_empty()
    );
}

#[test]
fn ordinary_host_names_are_clean() {
    let e = Engine::new(vec![
        KnownSecret::new(NAME, VALUE),
        KnownSecret::new(CANARY_NAME, mint_canary()),
    ]);
    for host in [
        "api.github.com",
        "d2949o5mkkp72v.cloudfront.net",
        "s3.dualstack.us-west-2.amazonaws.com",
        "storage.googleapis.com",
        "7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f4a7b.blob.core.windows.net",
        "registry-1.docker.io",
        "a1b2c3d4e5f6a7b8c9d0.lambda-url.eu-west-1.on.aws",
    ] {
        let found = e.scan_name(&OutboundConfig::DEFAULT_ON, host);
        assert!(found.is_empty(), "{host}: {found:?}");
    }
}

#[test]
fn a_value_in_lower_or_upper_case_is_found() {
    let e = engine();
    for v in [VALUE, VALUE2] {
        let name = if v == VALUE { NAME } else { "OTHER" };
        for text in [v.to_ascii_lowercase(), v.to_ascii_uppercase()] {
            let found = rules(&e, &ks_only(), format!("x={text}&y").as_bytes());
            assert!(
                found.contains(&format!("known-secret:{name}/case-changed")),
                "{text}: {found:?}"
            );
        }
    }
}

#[test]
fn hex_escapes_and_byte_lists_are_found() {
    let e = engine();
    for v in [VALUE, VALUE2] {
        let name = if v == VALUE { NAME } else { "OTHER" };
        let escaped: String = v.bytes().map(|b| format!("\\x{b:02x}")).collect();
        let listed: Vec<String> = v.bytes().map(|b| format!("0x{b:02X}")).collect();
        for text in [
            escaped,
            listed.join(", "),
            format!("{{{}}}", listed.join(",")),
        ] {
            let found = rules(&e, &ks_only(), text.as_bytes());
            assert!(
                found.contains(&format!("known-secret:{name}/hex")),
                "{text}: {found:?}"
            );
        }
    }
}

#[test]
fn a_credential_under_several_encodings_is_found() {
    let e = Engine::new(Vec::new());
    let tokens = OutboundConfig {
        token_patterns: true,
        ..Default::default()
    };
    let pct = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let key = "aws_key=AKIAQWERTYUIOPASDFGH;";
    for (text, layers) in [
        (b64(hex(key).as_bytes()), "/hex/base64"),
        (b64(pct(key).as_bytes()), "/url/base64"),
        (b64(hex(&pct(key)).as_bytes()), "/url/hex/base64"),
        (hex(&b64(pct(key).as_bytes())), "/url/base64/hex"),
    ] {
        let found = rules(&e, &tokens, format!("data={text}").as_bytes());
        let want = format!("aws-access-key-id{layers}");
        assert!(found.contains(&want), "{want} in {found:?}");
    }
    // Ordinary base64 of text decodes to nothing.
    assert!(
        rules(
            &e,
            &tokens,
            b64("a long and harmless sentence, twice over".as_bytes()).as_bytes()
        )
        .is_empty()
    );
}

#[test]
fn a_known_value_under_several_encodings_is_found() {
    let e = engine();
    let pct = |s: &[u8]| s.iter().map(|b| format!("%{b:02X}")).collect::<String>();
    let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let value = format!("token {VALUE2} end");
    for (text, layers) in [
        (b64(hex(value.as_bytes()).as_bytes()), "/hex/base64"),
        (hex(b64(value.as_bytes()).as_bytes()), "/base64/hex"),
        (b64(pct(value.as_bytes()).as_bytes()), "/url/base64"),
        (
            b64(b64(hex(value.as_bytes()).as_bytes()).as_bytes()),
            "/hex/base64/base64",
        ),
    ] {
        let found = e.scan(&OutboundConfig::DEFAULT_ON, format!("x={text}").as_bytes());
        let hit = found
            .iter()
            .find(|f| f.rule.starts_with("known-secret:OTHER") && f.rule.ends_with(layers));
        assert!(
            hit.is_some_and(|f| f.detector == Detector::KnownSecrets),
            "{layers}: {found:?}"
        );
    }
}
