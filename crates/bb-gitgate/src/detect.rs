//! Everything that decides whether a fragment holds a secret: the shared detectors of
//! `bb_detect` (the proxy's `token_patterns` and `known_secrets`) and the optional gitleaks rules.
//!
//! The built-in token rules stand for gitleaks' defaults: `disabledRules`, rules extending a
//! default rule by id and allowlists targeting a built-in rule apply to them
//! ([`bb_gitleaks::Rules::silences_builtin`]); untargeted global allowlists do not. Placeholders
//! are let through. A known secret (a token of this bottle, the canary) is never silenced. Hits
//! of several rules on one secret are one hit naming them all. The gate's engine runs the
//! broad tier of vendor rules over whole buffers ([`bb_detect::Engine::with_broad_rules`]).

use bb_contract::layout::env;
use bb_gitleaks::Rules;
use bb_gitleaks::rules::Candidate;

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

/// Findings longer than this (private key blocks) are never taken for placeholders.
const MAX_PLACEHOLDER: usize = 256;

/// One secret in a fragment, before it is placed on a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `token_patterns:<rule>`, `known_secrets:<VAR>` or `gitleaks:<id>`; every rule that
    /// matched the secret, joined with `, `.
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
            engine: bb_detect::Engine::with_broad_rules(secrets),
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
            .filter(|f| !self.silenced(f, data, path, commit))
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
        merge_overlapping(hits)
    }

    /// Whether a built-in token finding is let through: a placeholder (documentation and
    /// tests hold them), or silenced by the rules file.
    fn silenced(&self, f: &bb_detect::Finding, data: &[u8], path: &str, commit: &str) -> bool {
        if f.detector != bb_detect::Detector::TokenPatterns {
            return false;
        }
        let (start, end) = (f.start.min(data.len()), f.end.min(data.len()));
        if end - start <= MAX_PLACEHOLDER && self.is_placeholder(&f.rule, &data[start..end]) {
            return true;
        }
        let Some(rules) = &self.rules else {
            return false;
        };
        let candidate = Candidate::new(data, start..end, start..end, path, commit);
        rules.silences_builtin(&f.rule, &candidate)
    }
}

impl Detectors {
    /// A match with placeholder marks (`EXAMPLE`, `xxxx`, a typed run) whose rest, the marks
    /// cut out, is no longer a credential of the same rule: `AKIAIOSFODNN7EXAMPLE`, not
    /// `ghp_<a real token>EXAMPLE`.
    fn is_placeholder(&self, rule: &str, matched: &[u8]) -> bool {
        let Some(rest) = bb_detect::without_placeholder_marks(matched) else {
            return false;
        };
        let kind = bb_gitleaks::builtin::base_rule(rule);
        let cfg = bb_detect::OutboundConfig {
            token_patterns: true,
            ..Default::default()
        };
        !self
            .engine
            .scan(&cfg, &rest)
            .iter()
            .any(|g| bb_gitleaks::builtin::base_rule(&g.rule) == kind)
    }
}

/// One hit per secret: hits whose spans overlap (or that both name the whole file) become one,
/// spanning them all and naming every rule once.
fn merge_overlapping(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|h| (h.start, h.end));
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        match out.last_mut() {
            Some(last)
                if hit.start < last.end || (hit.start, hit.end) == (last.start, last.end) =>
            {
                last.end = last.end.max(hit.end);
                if !last.rule.split(", ").any(|r| r == hit.rule) {
                    last.rule = format!("{}, {}", last.rule, hit.rule);
                }
            }
            _ => out.push(hit),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: &str, start: usize, end: usize) -> Hit {
        Hit {
            rule: rule.into(),
            start,
            end,
        }
    }

    #[test]
    fn overlapping_hits_are_one_naming_every_rule() {
        let merged = merge_overlapping(vec![
            hit("gitleaks:aws-access-token", 4, 24),
            hit("token_patterns:aws-access-key-id", 4, 24),
            hit("gitleaks:generic-api-key", 0, 24),
            hit("gitleaks:other", 30, 40),
            hit("gitleaks:pem-file", 0, 0),
            hit("gitleaks:key-file", 0, 0),
        ]);
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert_eq!(merged[0].rule, "gitleaks:pem-file, gitleaks:key-file");
        assert_eq!((merged[1].start, merged[1].end), (0, 24));
        assert_eq!(
            merged[1].rule,
            "gitleaks:generic-api-key, gitleaks:aws-access-token, token_patterns:aws-access-key-id"
        );
        assert_eq!(merged[2].rule, "gitleaks:other");
    }

    #[test]
    fn a_rules_file_silences_builtin_patterns_but_never_known_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.toml");
        std::fs::write(
            &file,
            "[extend]\nuseDefault = true\n[[allowlists]]\ntargetRules = [\"github-pat\"]\npaths = [\"^fixtures/\"]\n[[allowlists]]\npaths = [\"^vendor/\"]\n",
        )
        .unwrap();
        let rules = bb_gitleaks::load(&file).unwrap().rules;
        let token = "ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U";
        let detectors = Detectors::new(
            vec![(
                "EGRESS_TOKEN_0".into(),
                "s3cr3t-value-of-this-bottle".into(),
            )],
            Some(rules),
        );
        let data = format!("a = {token}\nb = s3cr3t-value-of-this-bottle\n");
        let rules_of = |path: &str| -> Vec<String> {
            detectors
                .scan(data.as_bytes(), path, "c0ffee")
                .into_iter()
                .map(|h| h.rule)
                .collect()
        };
        assert_eq!(rules_of("src/a").len(), 2, "{:?}", rules_of("src/a"));
        assert_eq!(
            rules_of("vendor/a").len(),
            2,
            "an untargeted path allowlist"
        );
        assert_eq!(
            rules_of("fixtures/a"),
            ["known_secrets:known-secret:EGRESS_TOKEN_0"]
        );
    }

    #[test]
    fn placeholders_pass_the_gate_and_generated_tokens_do_not() {
        let detectors = Detectors::new(Vec::new(), None);
        let rules = |text: &str| -> Vec<String> {
            detectors
                .scan(text.as_bytes(), "README.md", "c0ffee")
                .into_iter()
                .map(|h| h.rule)
                .collect()
        };
        assert!(rules("aws_access_key_id = AKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(rules("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").is_empty());
        assert_eq!(
            rules("aws_access_key_id = AKIAQ7XBV2MNR4TWZ5YD"),
            ["token_patterns:aws-access-key-id"]
        );
        // A mark added to a real token, at the end or inside, hides nothing.
        for token in [
            "ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7UEXAMPLE",
            "ghp_R7kq2Vx9Lm4Tz8Wb3Nxxxxxxxxc6Hd1Fs5Jp0Ya2Qe7U",
            "ghp_ABCDEFGHR7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U",
        ] {
            assert_eq!(
                rules(&format!("t = {token}")),
                ["token_patterns:github-pat"],
                "{token}"
            );
        }
        // The broad tier of vendor rules runs in the gate.
        assert_eq!(
            rules("groq: 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"),
            ["token_patterns:groq-api-key"]
        );
    }
}
