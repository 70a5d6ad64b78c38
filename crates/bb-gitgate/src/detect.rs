//! Everything that decides whether a fragment holds a secret: the shared detectors of
//! `bb_detect` (the proxy's `token_patterns` and `known_secrets`) and the optional gitleaks rules.

use bb_contract::layout::env;

use crate::rules::Rules;

/// Environment variables whose values are known secrets: every token slot and the canary.
pub fn known_secret_vars() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, v)| {
            (k.starts_with(env::TOKEN_SLOT_PREFIX) || k == env::SIDECAR_CANARY) && !v.is_empty()
        })
        .collect();
    vars.sort();
    vars
}

/// One match in a fragment, before it is placed on a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `token_patterns:<rule>`, `known_secrets:<VAR>` or `gitleaks:<id>`.
    pub rule: String,
    pub start: usize,
    pub end: usize,
}

pub struct Detectors {
    engine: bb_detect::Engine,
    rules: Option<Rules>,
}

impl Detectors {
    pub fn new(known: Vec<(String, String)>, rules: Option<Rules>) -> Detectors {
        let secrets = known
            .into_iter()
            .map(|(var, value)| {
                // The canary is reported under bb_detect's own name for it.
                let name = if var == env::SIDECAR_CANARY {
                    bb_detect::CANARY_NAME.to_string()
                } else {
                    var
                };
                bb_detect::KnownSecret::new(name, value)
            })
            .collect();
        Detectors {
            engine: bb_detect::Engine::new(secrets),
            rules,
        }
    }

    pub fn rules(&self) -> Option<&Rules> {
        self.rules.as_ref()
    }

    /// Every hit in `data`, found at `path` in `commit`.
    pub fn scan(&self, data: &[u8], path: &str, commit: &str) -> Vec<Hit> {
        let config = bb_detect::OutboundConfig {
            token_patterns: true,
            known_secrets: true,
            entropy: false,
        };
        let mut hits: Vec<Hit> = self
            .engine
            .scan(&config, data)
            .into_iter()
            .map(|f| Hit {
                rule: format!("{}:{}", f.detector.as_str(), f.rule),
                start: f.start,
                end: f.end,
            })
            .collect();
        if let Some(rules) = &self.rules {
            hits.extend(rules.scan(data, path, commit).into_iter().map(|m| Hit {
                rule: format!("gitleaks:{}", m.rule),
                start: m.start,
                end: m.end,
            }));
        }
        hits
    }
}
