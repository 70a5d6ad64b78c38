//! `token_patterns`: well-known credential formats.
//!
//! One literal search holds the distinctive literal of every rule (`AKIA`, `ghp_`, `sk-`,
//! `eyJ`, `-----BEGIN`, ...) and the key words of the labelled rules (`assword`, `ecret`,
//! `oken`, `key`, ...: case variants are listed, the search is case-sensitive so that it stays
//! a SIMD (Teddy) search, with an Aho-Corasick automaton where Teddy is not available). A rule's regex (`(?-u)`, over bytes) then runs only
//! in a window of at most `back + fwd` bytes around each literal hit. Known secrets shorter
//! than [`crate::MIN_SECRET_LEN`] ride in the same automaton.
//!
//! The one generic rule shipped is `generic-credential`: a key named like a credential
//! (`password`, `passwd`, `secret`, `token`, `credential(s)`, `api/access/secret/private/auth/
//! client/app/master/signing/encryption` + `key`, as the end of a word part: `DB_PASSWORD`,
//! `clientSecret`, `X-Api-Key`, but not `secretsmanager` or `tokenizer`), then `=`, `:`, `=>`
//! or `:=` (quotes allowed, as in JSON and YAML), then a value of 16 to 200 bytes that looks
//! random: not a placeholder (`${...}`, `{{...}}`, `your_...`, `changeme`, `example`, `xxxx`,
//! URLs, ARNs, `$VAR`), not only words and numbers between separators (`my-app-prod-db`,
//! `minimum-length-12`), and either three character classes (lower, upper, digit, symbol) with
//! at least 3.0 bits of entropy per byte, or two classes including digits with at least 3.5
//! (lower-case hex tokens). Keys ending in `id`, `name`, `type`, `url`, `path`, `file`, `arn`,
//! `ref`, `count`, `size`, `expires`, `at`, ... (`token_type`, `SecretId`, `secret_name`) name
//! a reference, not a credential, and are skipped. So an OAuth bearer token in a header, a
//! session cookie, `"max_tokens": 4096` or `"token_type": "Bearer"` pass; `password:
//! SuperSecretDBPass!2026` or `"api_key": "a8Fj3kL9..."` block. There is no rule for bare
//! `Authorization: Bearer <opaque>` values: the proxy strips and injects that header itself.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, Span, packed};
use regex::bytes::{Captures, Regex};

use crate::Detector;
use crate::decode::{b64_decode, is_alnum};

/// The names of the token rules (a decoded match adds `/base64`, `/hex` or `/url`).
pub const TOKEN_RULES: &[&str] = &[
    "aws-access-key-id",
    "aws-secret-access-key",
    "github-pat",
    "github-oauth-token",
    "github-user-token",
    "github-server-token",
    "github-refresh-token",
    "github-fine-grained-pat",
    "gitlab-pat",
    "slack-token",
    "stripe-secret-key",
    "stripe-restricted-key",
    "openai-api-key",
    "anthropic-api-key",
    "google-api-key",
    "private-key",
    "jwt",
    "sendgrid-api-key",
    "npm-token",
    "pypi-token",
    "huggingface-token",
    "docker-pat",
    "generic-credential",
];

type Accept = fn(&[u8], &Captures) -> Option<(usize, usize)>;

struct Spec {
    name: &'static str,
    literals: &'static [&'static str],
    re: &'static str,
    /// How far before the literal a match may start.
    back: usize,
    /// Upper bound of (end of a match, one boundary byte included) - (literal start).
    fwd: usize,
    /// The bytes a match can hold from the literal on, when that is a simple class: the first
    /// other byte ends any match, so the window can stop there.
    body: Option<fn(u8) -> bool>,
    accept: Accept,
    private_key: bool,
}

/// Rules whose key word must be followed by an assignment (`=`, `:`).
const ASSIGNED: &[&str] = &["aws-secret-access-key", "generic-credential"];

struct Rule {
    name: &'static str,
    re: Regex,
    back: usize,
    fwd: usize,
    body: Option<fn(u8) -> bool>,
    accept: Accept,
    private_key: bool,
    assigned: bool,
}

enum KeyEnd {
    At(usize),
    NoBody,
    NeedMore,
}

enum Action {
    Rule(usize),
    Short(usize),
}

pub(crate) struct ShortSecret {
    pub rule: String,
    pub value: Vec<u8>,
}

/// The literal search: Teddy alone when the CPU and the literal count allow it (it reports
/// matches itself, with no automaton behind it), else a full Aho-Corasick automaton.
enum Literals {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Literals {
    fn new(lits: &[Vec<u8>]) -> Literals {
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(lits)
            .build();
        match packed {
            Some(searcher) => Literals::Packed(searcher),
            None => Literals::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(lits)
                    .expect("token prefilter"),
            ),
        }
    }

    /// The leftmost-longest literal in `data[from..]`: (start, end, literal).
    #[inline]
    fn find(&self, data: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        let m = match self {
            Literals::Packed(s) => s.find_in(data, Span::from(from..data.len()))?,
            Literals::Automaton(ac) => ac.find(aho_corasick::Input::new(data).range(from..))?,
        };
        Some((m.start(), m.end(), m.pattern().as_usize()))
    }
}

pub(crate) struct Tokens {
    literals: Literals,
    actions: Vec<Vec<Action>>,
    rules: Vec<Rule>,
    short: Vec<ShortSecret>,
    end_re: Regex,
    /// Longest literal.
    pub lit_max: usize,
    /// Largest `back` of any rule.
    pub back_max: usize,
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn alnum_us(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn alnum_us_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn alnum_us_dash_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// False when the key word at `p` is certainly not followed by `=` or `:` (after the rest of
/// the identifier, a closing quote and a few spaces) and then a value of at least 16 bytes.
/// True when it is, or when `data` ends before that can be told.
fn assignment_follows(data: &[u8], p: usize) -> bool {
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

/// Not glued to a letter or digit on the left (a `%XX` escape right before is fine).
fn left_ok(data: &[u8], s: usize) -> bool {
    s == 0 || !is_alnum(data[s - 1]) || (s >= 3 && data[s - 3] == b'%')
}

fn span(c: &Captures, g: usize) -> (usize, usize) {
    let m = c.get(g).expect("group");
    (m.start(), m.end())
}

fn whole_lb(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let s = span(c, 0);
    left_ok(d, s.0).then_some(s)
}
fn g1_lb(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let s = span(c, 1);
    left_ok(d, s.0).then_some(s)
}
fn g1(_: &[u8], c: &Captures) -> Option<(usize, usize)> {
    Some(span(c, 1))
}
fn has_digit_upper(b: &[u8]) -> bool {
    b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_uppercase)
}
fn openai(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 0);
    let body = &d[s + 3..e];
    (left_ok(d, s) && !body.starts_with(b"ant-") && has_digit_upper(body)).then_some((s, e))
}
fn slack(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 0);
    (left_ok(d, s) && d[s + 5..e].iter().any(u8::is_ascii_digit)).then_some((s, e))
}
fn hf(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    let body = &d[s + 3..e];
    let mixed = body.iter().any(u8::is_ascii_uppercase) && body.iter().any(u8::is_ascii_lowercase);
    (left_ok(d, s) && mixed).then_some((s, e))
}
fn npm(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    (left_ok(d, s) && has_digit_upper(&d[s + 4..e])).then_some((s, e))
}
fn jwt(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
    let (s, e) = span(c, 1);
    let header = d[s..e].split(|&b| b == b'.').next().unwrap_or_default();
    let mut json = Vec::new();
    b64_decode(header, &mut json);
    let ok = json.windows(5).any(|w| w == b"\"alg\"" || w == b"\"typ\"");
    (left_ok(d, s) && ok).then_some((s, e))
}
fn generic(d: &[u8], c: &Captures) -> Option<(usize, usize)> {
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
    (!code && looks_random_value(v)).then_some((s, e))
}

/// The `generic-credential` value test: long, not a placeholder or a reference, not made of
/// words and numbers only, and mixed enough (see the crate docs for the numbers).
pub(crate) fn looks_random_value(v: &[u8]) -> bool {
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

/// Whether every part of `v` between `- _ . / : +` reads like a word or an identifier: letters
/// then digits (`v2`, `base64`, `2026`), at most 3 letters and digits, or camelCase humps of 3
/// bytes or more on average (`CancellationToken`, `EcPrivateKeyRfc5915Der`). Random strings
/// change case or class every byte or two and fail. Paths, identifiers and versions pass.
pub(crate) fn words_and_numbers(v: &[u8]) -> bool {
    v.split(|b| matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'+'))
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

const KEYWORDS: &[&str] = &[
    "assword",
    "ASSWORD",
    "asswd",
    "ASSWD",
    "ecret",
    "ECRET",
    "oken",
    "OKEN",
    "key",
    "Key",
    "KEY",
    "redential",
    "REDENTIAL",
];

fn specs() -> Vec<Spec> {
    let gh = |name, lit: &'static [&'static str], re| Spec {
        name,
        literals: lit,
        re,
        back: 0,
        fwd: 4 + 251 + 1,
        body: Some(alnum_us),
        accept: whole_lb,
        private_key: false,
    };
    vec![
        Spec {
            name: "aws-access-key-id",
            literals: &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
            re: r"(?-u)((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?:[^A-Za-z0-9]|$)",
            back: 0,
            fwd: 21,
            body: Some(alnum),
            accept: g1_lb,
            private_key: false,
        },
        Spec {
            name: "aws-secret-access-key",
            literals: &["ecret", "ECRET"],
            re: r#"(?i-u)(?:(?:aws|amz)[_.-]?secret[_.-]?(?:access[_.-]?)?key|secret[_.-]?access[_.-]?key)["'\]]?[ \t]{0,4}(?:[:=]|=>|:=)[ \t]{0,4}["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            back: 5,
            fwd: 80,
            body: None,
            accept: g1,
            private_key: false,
        },
        // Classic tokens have 36 characters after the prefix; 30 or more are accepted (the
        // prefix is distinctive, and shortened test tokens are still blocked).
        gh("github-pat", &["ghp_"], r"(?-u)ghp_[A-Za-z0-9]{30,251}"),
        gh(
            "github-oauth-token",
            &["gho_"],
            r"(?-u)gho_[A-Za-z0-9]{30,251}",
        ),
        gh(
            "github-user-token",
            &["ghu_"],
            r"(?-u)ghu_[A-Za-z0-9]{30,251}",
        ),
        gh(
            "github-server-token",
            &["ghs_"],
            r"(?-u)ghs_[A-Za-z0-9]{30,251}",
        ),
        gh(
            "github-refresh-token",
            &["ghr_"],
            r"(?-u)ghr_[A-Za-z0-9]{30,251}",
        ),
        Spec {
            name: "github-fine-grained-pat",
            literals: &["github_pat_"],
            re: r"(?-u)github_pat_[A-Za-z0-9_]{22,255}",
            back: 0,
            fwd: 11 + 255 + 1,
            body: Some(alnum_us),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "gitlab-pat",
            literals: &["glpat-"],
            re: r"(?-u)glpat-[A-Za-z0-9_.-]{20,100}",
            back: 0,
            fwd: 6 + 100 + 1,
            body: Some(alnum_us_dash_dot),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "slack-token",
            literals: &["xox"],
            re: r"(?-u)xox[abprs]-[A-Za-z0-9-]{10,250}",
            back: 0,
            fwd: 5 + 250 + 1,
            body: Some(alnum_us_dash),
            accept: slack,
            private_key: false,
        },
        Spec {
            name: "stripe-secret-key",
            literals: &["sk_live_"],
            re: r"(?-u)sk_live_[A-Za-z0-9_]{10,247}",
            back: 0,
            fwd: 8 + 247 + 1,
            body: Some(alnum_us),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "stripe-restricted-key",
            literals: &["rk_live_"],
            re: r"(?-u)rk_live_[A-Za-z0-9_]{10,247}",
            back: 0,
            fwd: 8 + 247 + 1,
            body: Some(alnum_us),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "openai-api-key",
            literals: &["sk-"],
            re: r"(?-u)sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}",
            back: 0,
            fwd: 3 + 8 + 250 + 1,
            body: Some(alnum_us_dash),
            accept: openai,
            private_key: false,
        },
        Spec {
            name: "anthropic-api-key",
            literals: &["sk-"],
            re: r"(?-u)sk-ant-[A-Za-z0-9_-]{20,250}",
            back: 0,
            fwd: 7 + 250 + 1,
            body: Some(alnum_us_dash),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "google-api-key",
            literals: &["AIza"],
            re: r"(?-u)(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
            back: 0,
            fwd: 40,
            body: Some(alnum_us_dash),
            accept: g1_lb,
            private_key: false,
        },
        Spec {
            name: "private-key",
            literals: &["-----BEGIN"],
            re: r"(?-u)-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----",
            back: 0,
            fwd: 80,
            body: None,
            accept: |_, c| Some(span(c, 0)),
            private_key: true,
        },
        Spec {
            name: "jwt",
            literals: &["eyJ"],
            re: r"(?-u)(eyJ[A-Za-z0-9_-]{4,2048}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,2048})(?:[^A-Za-z0-9_-]|$)",
            back: 0,
            fwd: 3 + 2048 + 4 + 8192 + 1 + 2048 + 1,
            body: Some(alnum_us_dash_dot),
            accept: jwt,
            private_key: false,
        },
        Spec {
            name: "sendgrid-api-key",
            literals: &["SG."],
            re: r"(?-u)SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
            back: 0,
            fwd: 3 + 32 + 1 + 64 + 1,
            body: Some(alnum_us_dash_dot),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "npm-token",
            literals: &["npm_"],
            re: r"(?-u)(npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)",
            back: 0,
            fwd: 41,
            body: Some(alnum_us),
            accept: npm,
            private_key: false,
        },
        Spec {
            name: "pypi-token",
            literals: &["pypi-AgEIcHlwaS5vcmc"],
            re: r"(?-u)pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}",
            back: 0,
            fwd: 20 + 1000 + 1,
            body: Some(alnum_us_dash),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "huggingface-token",
            literals: &["hf_"],
            re: r"(?-u)(hf_[A-Za-z]{34})(?:[^A-Za-z0-9]|$)",
            back: 0,
            fwd: 38,
            body: Some(alnum_us),
            accept: hf,
            private_key: false,
        },
        Spec {
            name: "docker-pat",
            literals: &["dckr_pat_"],
            re: r"(?-u)dckr_pat_[A-Za-z0-9_-]{27,100}",
            back: 0,
            fwd: 9 + 100 + 1,
            body: Some(alnum_us_dash),
            accept: whole_lb,
            private_key: false,
        },
        Spec {
            name: "generic-credential",
            literals: KEYWORDS,
            re: r#"(?i-u)(?:pass(?:word|wd)|secret|token|credentials?|(?:api|access|secret|private|auth|client|app|master|signing|encryption)[_.-]?key)([A-Za-z0-9_.-]{0,24}["'\]]?)[ \t]{0,4}(?:[:=]|=>|:=)[ \t]{0,4}["']?([^\s"'`,;&<>(){}\[\]\\|]{16,200})"#,
            back: 12,
            fwd: 260,
            body: None,
            accept: generic,
            private_key: false,
        },
    ]
}

/// Marks a token rule's finding in the sink: (detector, rule, start, end).
pub(crate) type Sink<'a> = dyn FnMut(Detector, &str, usize, usize) + 'a;

impl Tokens {
    pub(crate) fn new(short: Vec<ShortSecret>) -> Tokens {
        let specs = specs();
        debug_assert_eq!(specs.len(), TOKEN_RULES.len());
        let mut lits: Vec<Vec<u8>> = Vec::new();
        let mut actions: Vec<Vec<Action>> = Vec::new();
        let mut add = |lit: &[u8], a: Action| match lits.iter().position(|l| l == lit) {
            Some(i) => actions[i].push(a),
            None => {
                lits.push(lit.to_vec());
                actions.push(vec![a]);
            }
        };
        let mut rules = Vec::new();
        for (i, s) in specs.into_iter().enumerate() {
            for l in s.literals {
                add(l.as_bytes(), Action::Rule(i));
            }
            rules.push(Rule {
                name: s.name,
                re: Regex::new(s.re).expect("token rule regex"),
                back: s.back,
                fwd: s.fwd,
                body: s.body,
                accept: s.accept,
                private_key: s.private_key,
                assigned: ASSIGNED.contains(&s.name),
            });
        }
        for (i, s) in short.iter().enumerate() {
            add(&s.value, Action::Short(i));
        }
        let lit_max = lits.iter().map(Vec::len).max().unwrap_or(1);
        let back_max = rules.iter().map(|r| r.back).max().unwrap_or(0);
        let literals = Literals::new(&lits);
        let end_re = Regex::new(r"(?-u)\A-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----")
            .expect("end regex");
        Tokens {
            literals,
            actions,
            rules,
            short,
            end_re,
            lit_max,
            back_max,
        }
    }

    pub(crate) fn has_short(&self) -> bool {
        !self.short.is_empty()
    }

    /// Finds token rule matches (and short known secrets) whose literal starts at or after
    /// `from` in `data`. `at_start`: `data[0]` is the first byte of the input; `at_end`: no
    /// byte follows `data`. Returns the position of the first literal hit that needs bytes
    /// past the end of `data` to be decided (hits from there on are left for the next call).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pass(
        &self,
        data: &[u8],
        from: usize,
        at_start: bool,
        at_end: bool,
        rules_on: bool,
        short_on: bool,
        sink: &mut Sink<'_>,
    ) -> Option<usize> {
        if from >= data.len() {
            return None;
        }
        let mut at = from;
        while let Some((p, end, lit)) = self.literals.find(data, at) {
            for a in &self.actions[lit] {
                let done = match *a {
                    Action::Rule(r) if rules_on => self.rule(r, data, p, at_start, at_end, sink),
                    Action::Short(i) if short_on => self.short(i, data, p, end, at_end, sink),
                    _ => true,
                };
                if !done {
                    return Some(p);
                }
            }
            at = end;
        }
        None
    }

    fn short(
        &self,
        i: usize,
        data: &[u8],
        s: usize,
        e: usize,
        at_end: bool,
        sink: &mut Sink<'_>,
    ) -> bool {
        if e == data.len() && !at_end {
            return false;
        }
        let v = &self.short[i].value;
        let left = s == 0 || !(is_alnum(v[0]) && is_alnum(data[s - 1]));
        let right = e == data.len() || !(is_alnum(v[v.len() - 1]) && is_alnum(data[e]));
        if left && right {
            sink(Detector::KnownSecrets, &self.short[i].rule, s, e);
        }
        true
    }

    /// Runs rule `r` around the literal hit at `p`; false when more data is needed.
    fn rule(
        &self,
        r: usize,
        data: &[u8],
        p: usize,
        at_start: bool,
        at_end: bool,
        sink: &mut Sink<'_>,
    ) -> bool {
        let rule = &self.rules[r];
        let n = data.len();
        if !at_start && p <= rule.back {
            // Its left context is gone: it was decided by an earlier call.
            return true;
        }
        if rule.assigned && !assignment_follows(data, p) {
            return true;
        }
        let win_start = p.saturating_sub(rule.back);
        let mut win_end = p + rule.fwd + 1;
        if let Some(body) = rule.body
            && let Some(q) = data[p..n.min(p + rule.fwd)].iter().position(|&b| !body(b))
        {
            win_end = p + q + 1;
        }
        if win_end > n {
            if !at_end {
                return false;
            }
            win_end = n;
        }
        let hay = &data[..win_end];
        let mut pos = win_start;
        while pos <= p {
            let Some(c) = rule.re.captures_at(hay, pos) else {
                break;
            };
            let m = c.get(0).expect("match");
            if m.start() > p {
                break;
            }
            if m.end() > p
                && let Some((s, e)) = (rule.accept)(data, &c)
            {
                if rule.private_key {
                    match self.private_key_end(data, e, at_end) {
                        KeyEnd::At(end) => sink(Detector::TokenPatterns, rule.name, s, end),
                        KeyEnd::NoBody => {}
                        KeyEnd::NeedMore => return false,
                    }
                } else {
                    sink(Detector::TokenPatterns, rule.name, s, e);
                }
            }
            pos = if m.end() > m.start() {
                m.end()
            } else {
                m.start() + 1
            };
        }
        true
    }

    /// The end of a private key block whose header ends at `h`: through the `-----END ...`
    /// line when it comes within 16 KiB, else through the base64 body. A header without a
    /// body (40 base64 bytes within the next 300, as in code that only names the format) is
    /// no key.
    fn private_key_end(&self, data: &[u8], h: usize, at_end: bool) -> KeyEnd {
        const MAX_BODY: usize = 16 * 1024;
        const BODY_WITHIN: usize = 300;
        let mut near = &data[h..data.len().min(h + BODY_WITHIN)];
        let mut ended = false;
        if let Some(q) = memchr::memmem::find(near, b"-----") {
            near = &near[..q];
            ended = true;
        }
        let mut run = 0;
        let has_body = near.iter().any(|&b| {
            run = if b.is_ascii_alphanumeric() || b"+/=".contains(&b) {
                run + 1
            } else {
                0
            };
            run >= 40
        });
        if !has_body {
            return if !ended && near.len() < BODY_WITHIN && !at_end {
                KeyEnd::NeedMore
            } else {
                KeyEnd::NoBody
            };
        }
        let limit = data.len().min(h + MAX_BODY);
        if let Some(q) = memchr::memmem::find(&data[h..limit], b"-----END") {
            let at = h + q;
            let tail = &data[at..data.len().min(at + 80)];
            if let Some(m) = self.end_re.find(tail) {
                return KeyEnd::At(at + m.end());
            }
            if tail.len() < 80 && !at_end {
                return KeyEnd::NeedMore;
            }
            return KeyEnd::At(at);
        }
        if h + MAX_BODY > data.len() && !at_end {
            return KeyEnd::NeedMore;
        }
        let body = data[h..limit]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b"+/=\r\n\t \\".contains(&b)))
            .unwrap_or(limit - h);
        KeyEnd::At(h + body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &str) -> Vec<(String, String)> {
        let t = Tokens::new(Vec::new());
        let mut out = Vec::new();
        t.pass(
            data.as_bytes(),
            0,
            true,
            true,
            true,
            false,
            &mut |_, r, s, e| out.push((r.to_string(), data[s..e].to_string())),
        );
        out
    }

    fn hits(data: &str, rule: &str) -> Vec<String> {
        run(data)
            .into_iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, m)| m)
            .collect()
    }

    fn pos(rule: &str, data: &str, want: &str) {
        assert_eq!(
            hits(data, rule),
            vec![want.to_string()],
            "{rule} in {data:?}"
        );
    }

    fn neg(rule: &str, data: &str) {
        assert!(
            hits(data, rule).is_empty(),
            "{rule} must not match {data:?}: {:?}",
            run(data)
        );
    }

    #[test]
    fn literal_count_keeps_teddy() {
        // One action list per literal; Teddy takes at most 64 literals.
        let t = Tokens::new(Vec::new());
        assert!(t.actions.len() <= 64, "{}", t.actions.len());
    }

    #[test]
    fn aws_access_key_id() {
        pos(
            "aws-access-key-id",
            "key=AKIAIOSFODNN7EXAMPLE&x",
            "AKIAIOSFODNN7EXAMPLE",
        );
        pos(
            "aws-access-key-id",
            "\"ASIAY34FZKBOKMUTVV7A\"",
            "ASIAY34FZKBOKMUTVV7A",
        );
        pos(
            "aws-access-key-id",
            "%22AKIAIOSFODNN7EXAMPLE%22",
            "AKIAIOSFODNN7EXAMPLE",
        );
        neg("aws-access-key-id", "AKIAIOSFODNN7EXAMPLEX");
        neg("aws-access-key-id", "AKIAiosfodnn7example");
        neg("aws-access-key-id", "xAKIAIOSFODNN7EXAMPLE");
        neg("aws-access-key-id", "AKIA-short");
    }

    #[test]
    fn aws_secret_access_key() {
        let k = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        pos(
            "aws-secret-access-key",
            &format!("AWS_SECRET_ACCESS_KEY={k}\n"),
            k,
        );
        pos(
            "aws-secret-access-key",
            &format!("aws_secret_access_key = \"{k}\""),
            k,
        );
        pos(
            "aws-secret-access-key",
            &format!("{{\"SecretAccessKey\": \"{k}\"}}"),
            k,
        );
        pos(
            "aws-secret-access-key",
            &format!("X-Amz-Secret-Key: {k}"),
            k,
        );
        neg(
            "aws-secret-access-key",
            &format!("aws_secret_access_key = {k}X"),
        );
        neg(
            "aws-secret-access-key",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
        );
        neg("aws-secret-access-key", &format!("my_key = {k}"));
    }

    #[test]
    fn github() {
        let t = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01";
        pos("github-pat", &format!("token={t}; lang=en"), t);
        pos(
            "github-oauth-token",
            &format!(" {}", t.replace("ghp_", "gho_")),
            &t.replace("ghp_", "gho_"),
        );
        pos(
            "github-user-token",
            &t.replace("ghp_", "ghu_"),
            &t.replace("ghp_", "ghu_"),
        );
        pos(
            "github-server-token",
            &t.replace("ghp_", "ghs_"),
            &t.replace("ghp_", "ghs_"),
        );
        pos(
            "github-refresh-token",
            &t.replace("ghp_", "ghr_"),
            &t.replace("ghp_", "ghr_"),
        );
        let f = "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456";
        pos("github-fine-grained-pat", f, f);
        neg("github-pat", "ghp_short123");
        neg("github-pat", "aghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01");
        neg("github-fine-grained-pat", "github_pat_short");
    }

    #[test]
    fn gitlab_slack_stripe() {
        pos(
            "gitlab-pat",
            "PRIVATE-TOKEN: glpat-xYz12AbC3dEf45GhIj6K",
            "glpat-xYz12AbC3dEf45GhIj6K",
        );
        neg("gitlab-pat", "glpat-short");
        let s = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
        pos("slack-token", &format!("token: {s}\n"), s);
        neg("slack-token", "xoxb-not-a-real-token-here");
        pos(
            "stripe-secret-key",
            "stripe_key: sk_live_FAKE_TEST_KEY_00000000000\n",
            "sk_live_FAKE_TEST_KEY_00000000000",
        );
        pos(
            "stripe-restricted-key",
            "rk_live_51H8abcdefGHIJKL0123",
            "rk_live_51H8abcdefGHIJKL0123",
        );
        neg("stripe-secret-key", "sk_test_51H8abcdefGHIJKL0123");
        neg("stripe-secret-key", "sk_live_short");
    }

    #[test]
    fn openai_anthropic_google() {
        let o = "sk-proj-FAKE00000000000000000000000000000000000000TEST0000";
        pos("openai-api-key", &format!("X-Trace-Id: {o}"), o);
        let legacy = "sk-AbCdEfGhIjKlMnOpQrStT3BlbkFJ0123456789abcdefghij";
        pos("openai-api-key", legacy, legacy);
        neg(
            "openai-api-key",
            "class=\"sk-fading-circle-animation-wrapper\"",
        );
        neg("openai-api-key", "task-0123456789ABCDEFGHIJKLMNOP");
        let a = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfAA";
        pos("anthropic-api-key", &format!("x-api-key: {a}"), a);
        neg("openai-api-key", a);
        neg("anthropic-api-key", "sk-ant-short");
        let g = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW";
        pos("google-api-key", &format!("?key={g}&q=1"), g);
        neg(
            "google-api-key",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvWXYZ",
        );
        neg("google-api-key", "AIzaShort");
    }

    #[test]
    fn private_key() {
        let k = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n-----END RSA PRIVATE KEY-----";
        pos("private-key", &format!("x {k}\ny"), k);
        let o = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n";
        pos("private-key", o, o);
        neg(
            "private-key",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        );
        neg(
            "private-key",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        );
        neg(
            "private-key",
            "expects \"-----BEGIN PRIVATE KEY-----\" and \"-----END PRIVATE KEY-----\"",
        );
    }

    #[test]
    fn jwt_rule() {
        let j = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        pos("jwt", &format!("/data/{j}/export"), j);
        pos("jwt", &format!("Bearer {j}"), j);
        neg(
            "jwt",
            "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
        );
        neg("jwt", "eyJhbGciOiJIUzI1NiJ9 only a header");
    }

    #[test]
    fn other_forges_and_registries() {
        let sg = "SG.FAKE_TEST_KEY_0000000000.FAKE_TEST_000000000000000000000000000000000000000";
        pos("sendgrid-api-key", &format!("X-Api-Key: {sg}"), sg);
        neg(
            "sendgrid-api-key",
            "MSG.FAKE_TEST_KEY_0000000000.FAKE_TEST_0000000000000000",
        );
        let npm = "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        pos(
            "npm-token",
            &format!("//registry.npmjs.org/:_authToken={npm}\n"),
            npm,
        );
        neg("npm-token", "npm_config_registry_url_for_the_project_x");
        let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", "AbCd0123456789-_".repeat(4));
        pos("pypi-token", &pypi, &pypi);
        neg("pypi-token", "pypi-AgEIcHlwaS5vcmcShort");
        let hft = "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh";
        pos("huggingface-token", &format!("HF_TOKEN={hft}\n"), hft);
        neg("huggingface-token", "hf_hub_download(repo_id, filename)");
        let d = "dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz012";
        pos("docker-pat", d, d);
        neg("docker-pat", "dckr_pat_short");
    }

    #[test]
    fn generic_credential() {
        neg(
            "generic-credential",
            "pub PresentHistoryToken: D3DKMT_PRESENTHISTORYTOKEN,",
        );
        pos(
            "generic-credential",
            "  password: SuperSecretDBPass!2026\n",
            "SuperSecretDBPass!2026",
        );
        pos(
            "generic-credential",
            "{\"api_key\": \"a8Fj3kL9qW2eR7tY5uI1oP0zX\"}",
            "a8Fj3kL9qW2eR7tY5uI1oP0zX",
        );
        pos(
            "generic-credential",
            "DB_PASSWORD=Zq8vN2mK5xR1pL7w",
            "Zq8vN2mK5xR1pL7w",
        );
        pos(
            "generic-credential",
            "access_token=ya29.a0AfH6SMBx3kQ9zT2v&x=1",
            "ya29.a0AfH6SMBx3kQ9zT2v",
        );
        pos(
            "generic-credential",
            "X-Api-Key: 3f9a8c7e6d5b4a3928171615141312aa",
            "3f9a8c7e6d5b4a3928171615141312aa",
        );
        neg("generic-credential", "session_id=abc123def456; theme=dark");
        neg(
            "generic-credential",
            "Authorization: Bearer mF_9.B5f-4.1JqM",
        );
        neg(
            "generic-credential",
            "\"max_tokens\": 4096, \"token_type\": \"Bearer\"",
        );
        neg(
            "generic-credential",
            "password_policy: minimum-length-12-chars",
        );
        neg(
            "generic-credential",
            "secret_name: my-app-prod-db-credentials",
        );
        neg(
            "generic-credential",
            "\"SecretId\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf\"",
        );
        neg(
            "generic-credential",
            "password = \"${DB_PASSWORD_FROM_ENV}\"",
        );
        neg("generic-credential", "api_key: your_api_key_goes_here_123");
        neg(
            "generic-credential",
            "token_url = https://oauth2.example.com/token?x=1",
        );
        neg("generic-credential", "password: short1!");
        neg(
            "generic-credential",
            "    let token = CancellationToken::new();",
        );
        neg(
            "generic-credential",
            "    let mut tokens = TokenStream::from_iter([x]);",
        );
        neg(
            "generic-credential",
            "pub token_stream: __IncompleteArrayField<__u8>,",
        );
        neg(
            "generic-credential",
            "let der_private_key_buffer: EcPrivateKeyRfc5915Der = x;",
        );
        neg(
            "generic-credential",
            "pub LmOwfPassword: super::super::System::PasswordManagement::LM,",
        );
        neg(
            "generic-credential",
            "const SECRET_KEY: MyCompanyProdApiKey2024 = 1;",
        );
    }

    #[test]
    fn benign_headers_and_bodies() {
        for s in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "application/json, text/plain, */*",
            "a3f8b2c1-4e5d-6f7a-8b9c-0d1e2f3a4b5c",
            "session_id=abc123def456; theme=dark; _ga=GA1.2.1234567890.1234567890; consent=accepted",
            "Bearer mF_9.B5f-4.1JqM",
            "{\"name\": \"Jane Smith\", \"email\": \"jane@example.com\", \"preferences\": {\"theme\": \"dark\", \"language\": \"en\"}}",
            "q=golang+http+proxy+tutorial&category=programming&sort=relevance",
            "https://www.google.com/search?q=how+to+fix+%22permission+denied%22+error+in+golang+test&hl=en&num=10",
        ] {
            assert!(run(s).is_empty(), "{s}: {:?}", run(s));
        }
    }
}
