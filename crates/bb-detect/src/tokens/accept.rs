//! The accept functions of the token rules (each picks the reported span of a match or
//! rejects it) and the cheap test run before the regex of the labelled rules.

use regex::bytes::Captures;

use crate::decode::{b64_decode, is_alnum};

/// Not glued to a letter or digit on the left (a `%XX` escape right before is fine).
pub(super) fn left_ok(data: &[u8], s: usize) -> bool {
    s == 0 || !is_alnum(data[s - 1]) || (s >= 3 && data[s - 3] == b'%')
}

pub(super) fn span(c: &Captures, g: usize) -> (usize, usize) {
    let m = c.get(g).expect("group");
    (m.start(), m.end())
}

/// The whole match.
pub(super) fn whole(_: &[u8], c: &Captures) -> Option<(usize, usize)> {
    Some(span(c, 0))
}

/// The whole match, not glued to a letter or digit on the left.
pub(super) fn whole_lb(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let s = span(c, 0);
    left_ok(d, s.0).then_some(s)
}

/// Group 1, not glued to a letter or digit on the left.
pub(super) fn g1_lb(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let s = span(c, 1);
    left_ok(d, s.0).then_some(s)
}

/// A BIP-32 extended private key (group 1) whose Base58Check checksum holds.
pub(super) fn extended_key(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = g1_lb(d, c)?;
    crate::crypto::is_extended_private_key(&d[s..e]).then_some((s, e))
}

/// Group 1.
pub(super) fn g1(_: &[u8], c: &Captures) -> Option<(usize, usize)> {
    Some(span(c, 1))
}

/// The first group that took part in the match (one per alternative, each with the end its
/// alphabet needs), not glued on the left.
pub(super) fn first_group_lb(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let m = (1..c.len()).find_map(|g| c.get(g))?;
    left_ok(d, m.start()).then_some((m.start(), m.end()))
}

/// Group 1, not glued on the left, holding a digit and an upper-case letter: a token drawn
/// from `[A-Za-z0-9]` has both (a word or a constant after the prefix has not).
pub(super) fn g1_lb_random(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = g1_lb(d, c)?;
    has_digit_upper(&d[s..e]).then_some((s, e))
}

/// Group 1, not glued on the left, with upper- and lower-case letters.
pub(super) fn mixed_case(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = g1_lb(d, c)?;
    let t = &d[s..e];
    (t.iter().any(u8::is_ascii_uppercase) && t.iter().any(u8::is_ascii_lowercase)).then_some((s, e))
}

/// The password of a database URL (group 1), unless it is a placeholder ([`crate::placeholder`]
/// marks, or a word of its own: `password`, `secret`, `your…`, `%s`) or a run of one or two
/// characters.
pub(super) fn url_password(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    let v = d[s..e].to_ascii_lowercase();
    const WORDS: &[&[u8]] = &[
        b"pass",
        b"secret",
        b"change_me",
        b"xxx",
        b"***",
        b"your",
        b"%s",
    ];
    let placeholder = crate::placeholder::without_placeholder_marks(&v).is_some()
        || WORDS.iter().any(|p| v.windows(p.len()).any(|w| w == *p));
    let mut distinct = v.clone();
    distinct.sort_unstable();
    distinct.dedup();
    (left_ok(d, span(c, 0).0) && !placeholder && distinct.len() > 2).then_some((s, e))
}

fn has_digit_upper(b: &[u8]) -> bool {
    b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_uppercase)
}

pub(super) fn openai(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 0);
    let body = &d[s + 3..e];
    (left_ok(d, s) && !body.starts_with(b"ant-") && has_digit_upper(body)).then_some((s, e))
}

pub(super) fn slack(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 0);
    // The `xoxp-…` inside a refresh-wrapped `xoxe.xoxp-…` is part of that one token.
    let inner = s >= 5 && &d[s - 5..s] == b"xoxe.";
    (left_ok(d, s) && !inner && d[s + 5..e].iter().any(u8::is_ascii_digit)).then_some((s, e))
}

pub(super) fn hf(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    let body = &d[s + 3..e];
    let mixed = body.iter().any(u8::is_ascii_uppercase) && body.iter().any(u8::is_ascii_lowercase);
    (left_ok(d, s) && mixed).then_some((s, e))
}

pub(super) fn npm(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    (left_ok(d, s) && has_digit_upper(&d[s + 4..e])).then_some((s, e))
}

/// Claims of a token that grants something: registered ones (RFC 7519) and the usual
/// authorisation claims. A JWT whose payload holds none is data signed for integrity (a
/// library's documentation example: `{"some": "payload"}`), not a credential.
const CREDENTIAL_CLAIMS: &[&[u8]] = &[
    b"\"sub\"",
    b"\"iss\"",
    b"\"aud\"",
    b"\"exp\"",
    b"\"nbf\"",
    b"\"iat\"",
    b"\"jti\"",
    b"\"scope\"",
    b"\"scp\"",
    b"\"azp\"",
    b"\"client_id\"",
    b"\"uid\"",
    b"\"user",
    b"\"role",
    b"\"email\"",
    b"\"sid\"",
    b"\"session",
];

pub(super) fn jwt(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    let mut parts = d[s..e].split(|&b| b == b'.');
    let (header, payload) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut json = Vec::new();
    b64_decode(header, &mut json);
    let ok = json.windows(5).any(|w| w == b"\"alg\"" || w == b"\"typ\"");
    b64_decode(payload, &mut json);
    // A payload that is no JSON object (encrypted, compressed) is judged a credential.
    let object = json.first() == Some(&b'{');
    let grants = !object
        || CREDENTIAL_CLAIMS
            .iter()
            .any(|k| json.windows(k.len()).any(|w| w == *k));
    (left_ok(d, s) && ok && grants).then_some((s, e))
}

/// False when the key word at `p` is certainly not followed by `=` or `:` (after the rest of
/// the identifier, a closing quote and a few spaces) and then a value of at least 16 bytes.
/// True when it is, or when `data` ends before that can be told.
pub(super) fn assignment_follows(data: &[u8], p: usize) -> bool {
    let n = data.len();
    let mut i = p;
    let lim = n.min(p + 48);
    while i < lim && (data[i].is_ascii_alphanumeric() || matches!(data[i], b'_' | b'.' | b'-')) {
        i += 1;
    }
    if i < n && matches!(data[i], b'"' | b'\'' | b']') {
        i += 1;
    }
    let lim = n.min(i + 4);
    while i < lim && matches!(data[i], b' ' | b'\t') {
        i += 1;
    }
    if i >= n {
        return true;
    }
    if !matches!(data[i], b':' | b'=') {
        return false;
    }
    i += 1;
    if i < n && matches!(data[i], b'>' | b'=') {
        i += 1;
    }
    let lim = n.min(i + 4);
    while i < lim && matches!(data[i], b' ' | b'\t') {
        i += 1;
    }
    if i < n && matches!(data[i], b'"' | b'\'') {
        i += 1;
    }
    let value = data[i..n.min(i + 16)]
        .iter()
        .take_while(|&&b| !(b.is_ascii_whitespace() || b"\"'`,;&<>(){}[]\\|".contains(&b)))
        .count();
    value == 16 || i + value == n
}
