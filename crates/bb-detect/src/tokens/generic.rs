//! The `generic-credential` rule: a key named like a credential, then a value that looks
//! random (see the module docs of [`super`] for what passes and what blocks).

use regex::bytes::Captures;

use super::accept::span;

/// How far before the key word [`generic`] reads the key's qualifier (`ClientRequest` in
/// `ClientRequestToken`) and what precedes the key.
pub(super) const LOOK_BEHIND: usize = 32;

/// Accepts a `generic-credential` match: the key word ends a word part, the key does not name
/// a reference or an identifier that is random by design, the key is not a segment of an ARN
/// or URN, and the value is no code and looks random (a UUID only under a credential key).
pub(super) fn generic(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let key_start = c.get(0)?.start();
    let qualifier = qualifier_before(d, key_start);
    if qualifier.start > 0 && d[qualifier.start - 1] == b':' && qualifier.start >= 2 {
        // `arn:aws:secretsmanager:…:123456789012:secret:Name`: a resource path, not a key.
        if d[qualifier.start - 2].is_ascii_alphanumeric() {
            return None;
        }
    }
    let qualifier = d[qualifier].to_ascii_lowercase();
    let key_word = d[key_start..c.get(1)?.start()].to_ascii_lowercase();
    let token = key_word == b"token";
    if token && ends_with_any(&qualifier, NOT_SECRET_TOKENS) {
        return None;
    }
    let raw = c.get(1).map_or(&b""[..], |m| m.as_bytes());
    let raw = raw
        .strip_suffix(b"\"")
        .or(raw.strip_suffix(b"'"))
        .unwrap_or(raw);
    let raw = raw.strip_suffix(b"]").unwrap_or(raw);
    // The key word must end a word part: `secret`, `SECRET_KEY`, `secretKey`, `tokens`, but
    // not `secretsmanager` or `tokenizer`.
    if let Some(&first) = raw.first() {
        let plural = first == b's' && raw.get(1).is_none_or(|b| !b.is_ascii_lowercase());
        let next_part = matches!(first, b'_' | b'.' | b'-') || first.is_ascii_digit();
        let camel = first.is_ascii_uppercase() && !d[c.get(0)?.start()].is_ascii_uppercase();
        let caps = first.is_ascii_uppercase() && raw.iter().all(|b| !b.is_ascii_lowercase());
        if !(plural || next_part || camel || caps) {
            return None;
        }
    }
    let suffix = raw.to_ascii_lowercase();
    const REFERENCE: &[&str] = &[
        "id", "name", "arn", "path", "url", "uri", "file", "type", "ref", "count", "len", "length",
        "size", "expiry", "expires", "at", "env", "var", "header", "param",
    ];
    if REFERENCE.iter().any(|r| suffix.ends_with(r.as_bytes())) {
        return None;
    }
    let (s, e) = span(c, 2);
    let v = &d[s..e];
    // Code, not a value: a call, a generic, an index or a path (`token = Token::new()`).
    let code = matches!(d.get(e), Some(b'(' | b'<' | b'[' | b'{'))
        || v.windows(2).any(|w| w == b"::" || w == b"->");
    if is_uuid(v)
        && token
        && !CREDENTIAL_QUALIFIERS
            .iter()
            .any(|q| contains(&qualifier, q))
    {
        // A UUID is random by design: under a bare or unqualified `token` it is an identifier.
        return None;
    }
    // A percent-encoded value is judged as what it encodes (`secret%3Dpassword` is two words).
    let decoded = crate::decode::has_pct_escape(v).then(|| {
        let (mut out, mut map) = (Vec::new(), Vec::new());
        crate::decode::pct_decode(v, &mut out, &mut map);
        out
    });
    (!code && looks_random_value(decoded.as_deref().unwrap_or(v))).then_some((s, e))
}

/// Qualifiers of `token` that name an identifier, not a credential: AWS's `ClientRequestToken`,
/// `ChangeToken`, `NextToken`, `LifecycleActionToken`, pagination and idempotency tokens.
const NOT_SECRET_TOKENS: &[&str] = &[
    "request",
    "change",
    "continuation",
    "next",
    "page",
    "pagination",
    "idempotency",
    "action",
    "sync",
    "cursor",
    "marker",
    "resume",
    "lock",
];

/// Qualifiers that make a `token` a credential even when its value is a UUID.
const CREDENTIAL_QUALIFIERS: &[&str] = &[
    "auth", "access", "api", "bearer", "refresh", "session", "oauth", "secret", "private",
    "personal", "deploy", "service",
];

/// The identifier bytes glued before the key word (at most [`LOOK_BEHIND`]), separators and
/// case kept: `ClientRequest` of `ClientRequestToken`, `aws_session_` of `aws_session_token`.
fn qualifier_before(d: &[u8], key_start: usize) -> std::ops::Range<usize> {
    let from = key_start.saturating_sub(LOOK_BEHIND);
    let len = d[from..key_start]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    key_start - len..key_start
}

fn ends_with_any(qualifier: &[u8], words: &[&str]) -> bool {
    let trimmed = qualifier
        .strip_suffix(b"_")
        .or(qualifier.strip_suffix(b"-"))
        .or(qualifier.strip_suffix(b"."))
        .unwrap_or(qualifier);
    words.iter().any(|w| trimmed.ends_with(w.as_bytes()))
}

fn contains(haystack: &[u8], word: &str) -> bool {
    haystack.windows(word.len()).any(|w| w == word.as_bytes())
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The `generic-credential` value test: long, not a placeholder or a reference, not made of
/// words and numbers only, and mixed enough (see the crate docs for the numbers).
fn looks_random_value(v: &[u8]) -> bool {
    if v.len() < 16 {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[
        "xxxx",
        "****",
        "...",
        "changeme",
        "change_me",
        "placeholder",
        "example",
        "your_",
        "your-",
        "redacted",
        "dummy",
        "${",
        "{{",
        "://",
    ];
    if PLACEHOLDERS
        .iter()
        .any(|p| lower.windows(p.len()).any(|w| w == p.as_bytes()))
        || matches!(v[0], b'$' | b'%' | b'#' | b'@')
        || lower.starts_with(b"arn:")
    {
        return false;
    }
    // Words and numbers, or a SCREAMING_SNAKE constant name.
    let constant = v.contains(&b'_')
        && v.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_');
    if constant || words_and_numbers(v) {
        return false;
    }
    let lo = v.iter().any(u8::is_ascii_lowercase) as u8;
    let up = v.iter().any(u8::is_ascii_uppercase) as u8;
    let dg = v.iter().any(u8::is_ascii_digit);
    let sy = v.iter().any(|b| !b.is_ascii_alphanumeric()) as u8;
    let classes = lo + up + dg as u8 + sy;
    let h = crate::entropy::shannon(v);
    (classes >= 3 && h >= 3.0) || (classes == 2 && dg && h >= 3.5)
}

/// Whether every part of `v` between `- _ . / : + #` reads like a word or an identifier: letters
/// then digits (`v2`, `base64`, `2026`), at most 3 letters and digits, or camelCase humps of 3
/// bytes or more on average (`CancellationToken`, `EcPrivateKeyRfc5915Der`). Random strings
/// change case or class every byte or two and fail. Paths, identifiers and versions pass.
pub(crate) fn words_and_numbers(v: &[u8]) -> bool {
    v.split(|b| matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'+' | b'#'))
        .filter(|p| !p.is_empty())
        .all(word_like)
}

fn word_like(p: &[u8]) -> bool {
    if !p.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let letters = p.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if p.len() <= 3 || p[letters..].iter().all(u8::is_ascii_digit) {
        return true;
    }
    // A hump starts where digits and letters alternate, where an upper-case letter follows a
    // lower-case one, and at the last capital of an acronym before a lower-case letter
    // (`DBPass`). Branch-free, as random tokens would defeat the branch predictor.
    let digit = |b: u8| (b.wrapping_sub(b'0') < 10) as usize;
    let upper = |b: u8| (b.wrapping_sub(b'A') < 26) as usize;
    let lower = |b: u8| (b.wrapping_sub(b'a') < 26) as usize;
    let mut humps = 1;
    for (i, w) in p.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let next_lower = p.get(i + 2).map_or(0, |&c| lower(c));
        humps += (digit(a) ^ digit(b)) | (upper(b) & lower(a)) | (upper(b) & upper(a) & next_lower);
    }
    p.len() >= 3 * humps
}
