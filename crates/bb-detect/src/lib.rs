//! Detectors of the egress proxy (and later of the git gate's pre-receive scanner).
//!
//! Outbound (DLP), over one buffer ([`Engine::scan`]) or a stream of chunks ([`Engine::stream`]):
//!
//! - `token_patterns`: well-known credential formats ([`TOKEN_RULES`]), found in the input and
//!   also inside base64, hex and percent-encoded runs of it (the rule then ends in `/base64`,
//!   `/hex` or `/url`). A literal prefilter (Aho-Corasick over distinctive prefixes and key
//!   words) finds candidates; each rule's regex runs only in a small window around a candidate.
//! - `known_secrets`: the values handed to [`Engine::new`] (token slots and the canary), plain
//!   and base64 (standard and URL-safe, any alignment inside a longer base64 string), base32
//!   (either case, any alignment), hex,
//!   percent-encoded once or twice, with separators inserted or removed, and any fragment of at
//!   least `max(8, len/2)` characters. Everything is one Aho-Corasick automaton built at
//!   [`Engine::new`], run over a view of the input with separators removed.
//! - `entropy` (opt-in, warn only): runs of `[A-Za-z0-9+/_-]` (an `=` ends a token) of at least
//!   20 bytes that look random ([`entropy`] documents the thresholds).
//!
//! Streaming keeps only what an undecided candidate needs between chunks (the separator-free
//! tail of `longest encoding + longest secret` bytes for known secrets, a few hundred bytes
//! for token rules, up to 16 KiB while a private key block or a JWT is open, up to 4 KiB of an
//! open base64/hex run), and reports every match once with stream offsets.
//!
//! Names whose case is lost (host names, header names): [`Engine::scan_name`] looks for known secrets case-folded across labels (plain,
//! hex, base32, base64, fragments) and for credential formats in a name before it is looked up.
//!
//! Inbound: [`Engine::scan_inbound`] finds prompt-injection phrasing in response bodies, with a
//! [`Confidence`]: `High` for imperative instructions aimed at the agent, `Low` for weaker
//! signals (a phrase quoted in an article, an install one-liner that pipes to a shell).
//!
//! No [`Finding`] ever carries a secret value: rules name secrets by their name only.

mod cards;
mod core;
mod crypto;
mod decode;
pub mod entropy;
mod host;
mod iban;
mod inbound;
mod masks;
mod placeholder;
mod secrets;
mod seed;
mod tokens;

use std::collections::HashSet;
use std::fmt;

pub use placeholder::without_placeholder_marks;
pub use tokens::{BROAD_TOKEN_RULES, TOKEN_RULES};

/// Values shorter than this are matched only whole and plain (no encodings, no fragments),
/// and only when not glued to other letters or digits.
pub const MIN_SECRET_LEN: usize = 8;

/// The rule of a payment card number (Luhn-valid, a known issuer's prefix).
pub const CARD_RULE: &str = "payment-card-number";
/// The rule of an IBAN (the country's length, the mod-97 checksum).
pub const IBAN_RULE: &str = "iban";

/// The rule suffix of a known value whose pieces, spread over one request or several,
/// completed it (`known-secret:NAME/split`).
pub const SPLIT_SUFFIX: &str = "/split";

/// Whether a finding is a value completed by pieces spread over the parts of a request or over
/// several requests: the other pieces already left or stand elsewhere, so it cannot be redacted,
/// only refused.
pub fn is_split(rule: &str) -> bool {
    rule.ends_with(SPLIT_SUFFIX)
}

/// The rule a finding's rule name was found by, without the layers a decoded match adds
/// (`aws-access-key-id/url/base64` → `aws-access-key-id`).
pub fn base_rule(rule: &str) -> &str {
    rule.split('/').next().unwrap_or(rule)
}

/// Whether a finding's rule names personal data (a payment card number, an IBAN) rather than a
/// credential: what it does on a route is the route's `dlp.personal_data`.
pub fn is_personal_data(rule: &str) -> bool {
    let base = base_rule(rule);
    base == CARD_RULE || base == IBAN_RULE
}

/// The name under which the canary is passed to [`Engine::new`]; its rules are `canary`,
/// `canary/base64`, ... instead of `known-secret:NAME...`.
pub const CANARY_NAME: &str = "canary";

/// The canary's one format, minted by the launcher and known here. Pass a canary to
/// [`Engine::new`] as `KnownSecret { name: CANARY_NAME, .. }`: it is found as a known value.
pub use bb_contract::canary::{CANARY_PREFIX, mint_canary};

/// Which detector produced a [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    TokenPatterns,
    KnownSecrets,
    Entropy,
    Injection,
}

impl Detector {
    /// The detector's name as in the configuration and the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::TokenPatterns => "token_patterns",
            Detector::KnownSecrets => "known_secrets",
            Detector::Entropy => "entropy",
            Detector::Injection => "injection",
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outbound match: which rule, where. Never the matched bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    pub detector: Detector,
    /// e.g. `aws-access-key-id`, `github-pat/base64`, `known-secret:EGRESS_TOKEN_1/hex`,
    /// `canary/fragment`, `entropy`.
    pub rule: String,
    /// Byte offsets of the match in the scanned input (for a stream: from its first byte).
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {}..{}",
            self.detector, self.rule, self.start, self.end
        )
    }
}

/// A value the proxy must never let out (a token slot's value, the canary).
#[derive(Clone, PartialEq, Eq)]
pub struct KnownSecret {
    pub name: String,
    pub value: String,
}

impl KnownSecret {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> KnownSecret {
        KnownSecret {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for KnownSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownSecret")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Which outbound detectors run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundConfig {
    pub token_patterns: bool,
    pub known_secrets: bool,
    pub entropy: bool,
}

impl OutboundConfig {
    /// Every outbound detector on.
    pub const ALL: OutboundConfig = OutboundConfig {
        token_patterns: true,
        known_secrets: true,
        entropy: true,
    };
    /// The blocking detectors on, entropy (warn only, opt-in) off.
    pub const DEFAULT_ON: OutboundConfig = OutboundConfig {
        token_patterns: true,
        known_secrets: true,
        entropy: false,
    };

    fn any(&self) -> bool {
        self.token_patterns || self.known_secrets || self.entropy
    }
}

/// How sure an inbound finding is. `High` => the proxy blocks; `Low` => it warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    Low,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One inbound (prompt-injection) match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InjectionFinding {
    /// e.g. `injection:ignore-previous`.
    pub rule: String,
    pub confidence: Confidence,
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for InjectionFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) at {}..{}",
            self.rule, self.confidence, self.start, self.end
        )
    }
}

/// The compiled detectors. Built once per configuration (re)load and shared across requests
/// (`Send + Sync`); scanning never allocates anything shared.
pub struct Engine {
    tokens: tokens::Tokens,
    secrets: secrets::Secrets,
    host_secrets: host::HostSecrets,
    /// Built on the first inbound scan: the gate and routes that do not scan answers never
    /// need it.
    inbound: std::sync::OnceLock<inbound::Inbound>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("token_rules", &TOKEN_RULES.len())
            .field("secrets", &self.secrets.names())
            .finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(Vec::new())
    }
}

impl Engine {
    /// Compiles the detectors for these known secrets. Empty values are ignored.
    pub fn new(secrets: Vec<KnownSecret>) -> Engine {
        Engine::build(secrets, false)
    }

    /// The same, with the broad tier of vendor token rules too: a second literal search over
    /// each buffer, for scans whose throughput matters less than breadth (the git gate).
    pub fn with_broad_rules(secrets: Vec<KnownSecret>) -> Engine {
        Engine::build(secrets, true)
    }

    fn build(secrets: Vec<KnownSecret>, broad: bool) -> Engine {
        let host_secrets = host::HostSecrets::new(&secrets, secrets::prefix);
        let secrets = secrets::Secrets::new(&secrets);
        let tokens = tokens::Tokens::new(secrets.short_literals(), broad);
        Engine {
            tokens,
            secrets,
            host_secrets,
            inbound: std::sync::OnceLock::new(),
        }
    }

    /// The names of the known secrets (for logs; never the values).
    pub fn secret_names(&self) -> Vec<String> {
        self.secrets.names()
    }

    /// Scans one buffer (a URL, a header value, a small body). Findings are sorted by offset.
    pub fn scan(&self, cfg: &OutboundConfig, data: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        if cfg.any() && !data.is_empty() {
            let mut st = core::State::default();
            core::round(self, cfg, &mut st, data, true, &mut out);
        }
        out
    }

    /// Scans a large body chunk by chunk; see [`Stream`].
    pub fn stream(&self, cfg: OutboundConfig) -> Stream<'_> {
        Stream {
            engine: self,
            cfg,
            buf: Vec::new(),
            st: core::State::default(),
        }
    }

    /// Scans a response body for prompt-injection phrasing. Sorted by offset.
    pub fn scan_inbound(&self, data: &[u8]) -> Vec<InjectionFinding> {
        self.inbound.get_or_init(inbound::Inbound::new).scan(data)
    }
}

/// Bytes of a new chunk scanned together with the kept tail of the previous ones.
const BRIDGE: usize = 4096;

/// An outbound scan over a body that arrives in chunks. A match split across chunks is found
/// once, with offsets from the first byte of the stream. Only a small tail of the data is
/// kept between chunks (a few hundred bytes, more only while a candidate is undecided).
pub struct Stream<'a> {
    engine: &'a Engine,
    cfg: OutboundConfig,
    buf: Vec<u8>,
    st: core::State,
}

impl Stream<'_> {
    /// Scans the next chunk; returns the findings decided so far that were not returned yet.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        self.st.consumed += chunk.len();
        if chunk.is_empty() || !self.cfg.any() {
            return out;
        }
        // The chunk is scanned where it lies; only the kept tail and the start of the chunk
        // (a bridge long enough for the tail's candidates to be decided) are copied.
        let chunk_at = self.st.base + self.buf.len();
        let mut rest = chunk;
        if !self.buf.is_empty() {
            let bridge = chunk.len().min((2 * self.buf.len()).max(BRIDGE));
            self.buf.extend_from_slice(&chunk[..bridge]);
            self.round(&mut out);
            rest = &chunk[bridge..];
            if rest.is_empty() {
                return out;
            }
            if self.st.base < chunk_at {
                // The tail is still needed: go on in the buffer.
                self.buf.extend_from_slice(rest);
                self.round(&mut out);
                return out;
            }
            rest = &chunk[self.st.base - chunk_at..];
            self.buf.clear();
        }
        let keep = core::round(self.engine, &self.cfg, &mut self.st, rest, false, &mut out);
        self.buf.extend_from_slice(&rest[keep - self.st.base..]);
        self.st.base = keep;
        out
    }

    /// One round over the buffer; drops what it no longer needs.
    fn round(&mut self, out: &mut Vec<Finding>) {
        let keep = core::round(self.engine, &self.cfg, &mut self.st, &self.buf, false, out);
        self.buf.drain(..keep - self.st.base);
        self.st.base = keep;
    }

    /// Ends the stream: returns the findings that needed the end of the data to be decided.
    /// The stream is then reset and can scan a new body (offsets start at 0 again).
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.cfg.any() && !self.buf.is_empty() {
            core::round(
                self.engine,
                &self.cfg,
                &mut self.st,
                &self.buf,
                true,
                &mut out,
            );
        }
        self.buf.clear();
        self.st = core::State::default();
        out
    }

    /// How many bytes were fed since the start (or the last [`Stream::finish`]).
    pub fn offset(&self) -> usize {
        self.st.consumed
    }

    /// The stream offset before which every byte is decided: no later `feed` or `finish`
    /// returns a finding of the token pattern or known secret detectors that starts before it
    /// (an entropy warning may: it is reported when its run ends). A proxy may send these
    /// bytes on while it scans the rest.
    pub fn decided(&self) -> usize {
        self.st.base
    }

    /// How many bytes of the data fed so far the stream holds (its memory for the data).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Replaces each finding's span by `[REDACTED:<rule>]`. Overlapping spans are merged into one
/// marker naming every rule involved (joined by `,`). Spans past the end are clipped.
pub fn redact(data: &[u8], findings: &[Finding]) -> Vec<u8> {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter_map(|f| {
            let end = f.end.min(data.len());
            (f.start < end).then_some((f.start, end, f.rule.as_str()))
        })
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = Vec::with_capacity(data.len());
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end, rule) = spans[i];
        let mut rules = vec![rule];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            if !rules.contains(&spans[i].2) {
                rules.push(spans[i].2);
            }
            i += 1;
        }
        out.extend_from_slice(&data[pos..start]);
        out.extend_from_slice(b"[REDACTED:");
        out.extend_from_slice(rules.join(",").as_bytes());
        out.push(b']');
        pos = end;
    }
    out.extend_from_slice(&data[pos..]);
    out
}

/// Sorts findings by (start, end, rule) and drops exact duplicates.
fn sort_findings(v: &mut Vec<Finding>) {
    v.sort_by(|a, b| {
        (a.start, a.end, a.detector, &a.rule).cmp(&(b.start, b.end, b.detector, &b.rule))
    });
    let mut seen = HashSet::new();
    v.retain(|f| seen.insert(f.clone()));
}

/// `data` fed to a stream in chunks of `size` bytes, and what it found (for the tests).
#[cfg(test)]
pub(crate) fn streamed(
    engine: &Engine,
    cfg: OutboundConfig,
    data: &[u8],
    size: usize,
) -> Vec<Finding> {
    let mut stream = engine.stream(cfg);
    let mut found = Vec::new();
    for chunk in data.chunks(size) {
        found.extend(stream.feed(chunk));
    }
    found.extend(stream.finish());
    found
}
