//! Host names. A secret in the labels of a name the proxy would look up
//! (`<hex of a token>.attacker.example` on a wildcard route) must be found before the lookup:
//! the query itself carries it to the zone's name servers. Names are case-insensitive and cut
//! into labels, so the known secrets are matched case-folded with the separators (dots,
//! dashes, underscores) removed: plain, hex, base32, base64 and any fragment of at least
//! `max(8, len/2)` characters; and the token rules run over the name as written, in upper case,
//! and with the dots between neighbouring labels removed.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::decode::{b32_core, b64_core, hex_encode, is_sep, strip_separators, to_url_alphabet};
use crate::{Detector, Engine, Finding, KnownSecret, MIN_SECRET_LEN, OutboundConfig};

/// The known secrets' case-folded patterns for host names.
pub(crate) struct HostSecrets {
    matcher: Option<AhoCorasick>,
    /// The rule of each pattern.
    rules: Vec<String>,
}

impl HostSecrets {
    pub(crate) fn new(list: &[KnownSecret], prefix: impl Fn(&str) -> String) -> HostSecrets {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut rules = Vec::new();
        for secret in list {
            let value = secret.value.as_bytes();
            let plain = strip_separators(value).to_ascii_lowercase();
            if plain.len() < MIN_SECRET_LEN {
                continue;
            }
            let prefix = prefix(&secret.name);
            let mut add = |pattern: Vec<u8>, suffix: &str| {
                if pattern.len() >= MIN_SECRET_LEN {
                    patterns.push(pattern);
                    rules.push(format!("{prefix}{suffix}"));
                }
            };
            add(plain.clone(), "/host");
            add(hex_encode(value, false), "/host-hex");
            for align in 0..5 {
                add(b32_core(value, align).to_ascii_lowercase(), "/host-base32");
            }
            for align in 0..3 {
                let core = to_url_alphabet(&b64_core(value, align));
                add(strip_separators(&core).to_ascii_lowercase(), "/host-base64");
            }
            let min_fragment = (plain.len() / 2).max(MIN_SECRET_LEN);
            if min_fragment < plain.len() {
                for piece in plain.windows(min_fragment) {
                    add(piece.to_vec(), "/host-fragment");
                }
            }
        }
        let matcher = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                // The whole value before a fragment of it that ends first.
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("literal patterns always build")
        });
        HostSecrets { matcher, rules }
    }

    /// The rule of the first known secret in `host`.
    fn find(&self, host: &str) -> Option<&str> {
        let matcher = self.matcher.as_ref()?;
        let folded: Vec<u8> = host.bytes().filter(|&b| !is_sep(b)).collect();
        let found = matcher.find(&folded)?;
        Some(&self.rules[found.pattern().as_usize()])
    }
}

impl Engine {
    /// Scans a name whose case is not kept: a host name before it is looked up, an HTTP header
    /// name. Every finding spans the whole name (a name cannot be redacted, only refused);
    /// entropy is never applied to names.
    pub fn scan_name(&self, cfg: &OutboundConfig, host: &str) -> Vec<Finding> {
        let whole = |detector, rule: String| Finding {
            detector,
            rule,
            start: 0,
            end: host.len(),
        };
        let mut out = Vec::new();
        if let Some(rule) = self.host_secrets.find(host).filter(|_| cfg.known_secrets) {
            out.push(whole(Detector::KnownSecrets, rule.to_string()));
        }
        if cfg.token_patterns {
            let tokens = OutboundConfig {
                token_patterns: true,
                ..OutboundConfig::default()
            };
            for text in spellings(host) {
                for f in self.scan(&tokens, text.as_bytes()) {
                    if !out.iter().any(|o: &Finding| o.rule == f.rule) {
                        out.push(whole(f.detector, f.rule));
                    }
                }
            }
        }
        out
    }
}

/// How many neighbouring labels are joined to find a credential cut across them.
const MAX_JOINED: usize = 8;

/// The name as written and in upper case (token formats are case-sensitive, DNS is not), and
/// every run of 2 to [`MAX_JOINED`] neighbouring labels joined, in both cases.
fn spellings(host: &str) -> Vec<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let mut out = vec![host.to_ascii_lowercase(), host.to_ascii_uppercase()];
    for start in 0..labels.len() {
        for end in start + 2..=labels.len().min(start + MAX_JOINED) {
            let joined = labels[start..end].concat();
            out.push(joined.to_ascii_uppercase());
            out.push(joined.to_ascii_lowercase());
        }
    }
    out
}
