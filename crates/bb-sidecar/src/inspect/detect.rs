//! [`DetectInspector`]: the `bb-detect` engine behind the [`Inspector`] trait, with the route's
//! policies (which detectors, what personal data does, what may be redacted).

use std::fmt;

use bb_contract::plan::{OnMatch, PersonalData, Route};

use super::{BodyScanner, Finding, Inspector, Part, Verdict};
use crate::secrets::Secrets;

/// The `bb-detect` engine behind the [`Inspector`] trait.
///
/// - Outbound: the route's detectors (`token_patterns`, `known_secrets`, `entropy`) over the
///   part; `entropy` findings only warn. The known secrets are every token slot value and the
///   canary, blocked on every route, its own included: the agent never holds a token, so one in
///   its request is a leak (the injected header is added after the scan). A blocking finding comes with the part redacted
///   (`[REDACTED:<rule>]`) for routes that say `on_match: redact`.
/// - Inbound: prompt-injection phrasing; `High` confidence blocks, `Low` warns.
pub struct DetectInspector {
    engine: bb_detect::Engine,
    /// Verdicts on names already scanned: a client sends the same host and header names on
    /// every request of a connection, and a name is scanned in many spellings.
    names: NameCache,
}

/// At most [`NameCache::MAX`] names (cleared when full), keyed by the name and the detectors.
#[derive(Default)]
struct NameCache(std::sync::Mutex<std::collections::HashMap<(String, u8), Option<Finding>>>);

impl NameCache {
    const MAX: usize = 4096;

    fn get_or(
        &self,
        name: &str,
        key: u8,
        scan: impl FnOnce() -> Option<Finding>,
    ) -> Option<Finding> {
        let entry = (name.to_string(), key);
        if let Some(hit) = self.0.lock().ok().and_then(|m| m.get(&entry).cloned()) {
            return hit;
        }
        let verdict = scan();
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(entry, verdict.clone());
        }
        verdict
    }
}

impl std::fmt::Debug for DetectInspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectInspector")
            .field("secrets", &self.engine.secret_names())
            .finish()
    }
}

impl DetectInspector {
    pub fn new(secrets: &Secrets) -> DetectInspector {
        let known = secrets
            .known()
            .into_iter()
            .map(|(name, value)| bb_detect::KnownSecret::new(name, value))
            .collect();
        DetectInspector {
            engine: bb_detect::Engine::new(known),
            names: NameCache::default(),
        }
    }
}

fn outbound_config(route: &Route) -> bb_detect::OutboundConfig {
    use bb_contract::plan::OutboundDetector as D;
    let on = |d: D| route.dlp.outbound.contains(&d);
    bb_detect::OutboundConfig {
        token_patterns: on(D::TokenPatterns),
        known_secrets: on(D::KnownSecrets),
        entropy: on(D::Entropy),
    }
}

fn finding_of(f: &bb_detect::Finding) -> Finding {
    Finding::new(f.detector.as_str(), f.rule.clone())
}

/// [`DetectInspector`]'s body scanner: a `bb-detect` stream.
struct DetectBodyScanner<'a> {
    stream: bb_detect::Stream<'a>,
    policy: Policy,
    warning: Option<Finding>,
}

impl DetectBodyScanner<'_> {
    fn judge(&mut self, findings: Vec<bb_detect::Finding>) -> Option<Finding> {
        let (warnings, blocking) = self.policy.sort_out(findings);
        if self.warning.is_none() {
            self.warning = warnings.first().map(finding_of);
        }
        blocking.first().map(finding_of)
    }
}

/// What a route makes of a finding beyond its detectors.
struct Policy {
    personal_data: PersonalData,
    /// `token_patterns` rules the operator released on the route.
    released: Vec<String>,
}

impl Policy {
    fn of(route: &Route) -> Policy {
        Policy {
            personal_data: route.dlp.personal_data(),
            released: route.dlp.released.clone(),
        }
    }

    fn is_released(&self, f: &bb_detect::Finding) -> bool {
        f.detector == bb_detect::Detector::TokenPatterns && self.released.contains(&f.rule)
    }

    /// Splits findings into warnings (entropy; personal data on a `warn` route; a rule the
    /// operator released) and blocking ones (personal data on an `off` route is dropped).
    fn sort_out(
        &self,
        findings: Vec<bb_detect::Finding>,
    ) -> (Vec<bb_detect::Finding>, Vec<bb_detect::Finding>) {
        let mut warnings = Vec::new();
        let mut blocking = Vec::new();
        for f in findings {
            let personal = bb_detect::is_personal_data(&f.rule);
            if personal && self.personal_data == PersonalData::Off {
                continue;
            }
            if f.detector == bb_detect::Detector::Entropy
                || (personal && self.personal_data == PersonalData::Warn)
                || self.is_released(&f)
            {
                warnings.push(f);
            } else {
                blocking.push(f);
            }
        }
        (warnings, blocking)
    }
}

/// Whether a blocking finding may be redacted on the route: never a value completed by pieces
/// (the others stand elsewhere), personal data by the route's `personal_data`, anything else by
/// its `on_match`.
fn redactable(route: &Route, rule: &str) -> bool {
    if bb_detect::is_split(rule) {
        false
    } else if bb_detect::is_personal_data(rule) {
        route.dlp.personal_data() == PersonalData::Redact
    } else {
        route.dlp.on_match == OnMatch::Redact
    }
}

impl BodyScanner for DetectBodyScanner<'_> {
    fn feed(&mut self, chunk: &[u8]) -> Option<Finding> {
        let findings = self.stream.feed(chunk);
        self.judge(findings)
    }

    fn decided(&self) -> u64 {
        self.stream.decided() as u64
    }

    fn finish(&mut self) -> Verdict {
        let findings = self.stream.finish();
        match self.judge(findings) {
            Some(finding) => Verdict::Found {
                finding,
                redacted: None,
            },
            None => self.warning.take().map_or(Verdict::Clean, Verdict::Warn),
        }
    }
}

impl Inspector for DetectInspector {
    fn body_scanner(&self, route: &Route) -> Option<Box<dyn BodyScanner + '_>> {
        Some(Box::new(DetectBodyScanner {
            stream: self.engine.stream(outbound_config(route)),
            policy: Policy::of(route),
            warning: None,
        }))
    }

    fn name(&self, route: &Route, name: &str) -> Option<Finding> {
        let cfg = bb_detect::OutboundConfig {
            entropy: false,
            ..outbound_config(route)
        };
        let key = u8::from(cfg.token_patterns) | u8::from(cfg.known_secrets) << 1;
        let policy = Policy::of(route);
        let found = |name: &str| {
            let findings = self.engine.scan_name(&cfg, name);
            findings
                .iter()
                .find(|f| !policy.is_released(f))
                .map(finding_of)
        };
        if policy.released.is_empty() {
            self.names.get_or(name, key, || found(name))
        } else {
            // The cache keys no route: a name released on one route is not on another.
            found(name)
        }
    }

    fn secret_in(&self, text: &str, thorough: bool) -> Option<String> {
        let all = bb_detect::OutboundConfig {
            token_patterns: thorough,
            known_secrets: true,
            entropy: false,
        };
        let findings = self.engine.scan(&all, text.as_bytes());
        findings.first().map(|f| f.rule.clone()).or_else(|| {
            // A host name or a header name carries a value in lower case.
            let folded = bb_detect::OutboundConfig {
                known_secrets: true,
                ..Default::default()
            };
            let found = self.engine.scan_name(&folded, text);
            found.first().map(|f| f.rule.clone())
        })
    }

    fn outbound(&self, route: &Route, _part: Part<'_>, data: &[u8]) -> Verdict {
        // The agent's request is scanned before the route's credential is injected, so a token
        // value in it, even on its own route, means the agent got hold of a secret: a block.
        let findings = self.engine.scan(&outbound_config(route), data);
        let (warnings, blocking) = Policy::of(route).sort_out(findings);
        // Redacted only when every finding may be: one that must be refused refuses them all.
        let all_redactable = blocking.iter().all(|f| redactable(route, &f.rule));
        // The finding named is one that refuses, when any does: what the route would redact is
        // never what stops a request (nor what the operator is asked to let through).
        let named = blocking
            .iter()
            .find(|f| !redactable(route, &f.rule))
            .or(blocking.first());
        match named {
            Some(first) => Verdict::Found {
                finding: finding_of(first),
                redacted: all_redactable.then(|| bb_detect::redact(data, &blocking)),
            },
            None => match warnings.first() {
                Some(w) => Verdict::Warn(finding_of(w)),
                None => Verdict::Clean,
            },
        }
    }

    fn may_redact(&self, route: &Route, finding: &Finding) -> bool {
        redactable(route, &finding.rule)
    }

    fn inbound(&self, route: &Route, data: &[u8]) -> Verdict {
        if route.dlp.inbound.is_empty() {
            return Verdict::Clean;
        }
        let findings = self.engine.scan_inbound(data);
        let high = findings
            .iter()
            .find(|f| f.confidence == bb_detect::Confidence::High);
        match high.or(findings.first()) {
            None => Verdict::Clean,
            Some(f) => {
                let finding = Finding::new("injection", f.rule.clone());
                if f.confidence == bb_detect::Confidence::High {
                    Verdict::Found {
                        finding,
                        redacted: None,
                    }
                } else {
                    Verdict::Warn(finding)
                }
            }
        }
    }
}
