//! gitleaks' own default config (`../shared/gitleaks/gitleaks.toml`, a test fixture beside
//! the clone) loads with every rule. Not checked (with a note) when the file is not there,
//! except under CI.

use std::path::PathBuf;

fn default_config() -> Option<PathBuf> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/gitleaks/gitleaks.toml");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} not found",
        path.display()
    );
    eprintln!("{} not found: not checked", path.display());
    None
}

fn rule_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .collect()
}

#[test]
fn gitleaks_default_config_loads_every_rule() {
    let Some(path) = default_config() else { return };
    let text = std::fs::read_to_string(&path).unwrap();
    let config = bb_gitleaks::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let ids = rule_ids(&text);
    assert!(ids.len() > 200, "{} rule ids", ids.len());
    let loaded: Vec<&str> = config.rules.rules.iter().map(|r| r.id.as_str()).collect();
    for id in &ids {
        assert!(loaded.contains(&id.as_str()), "{id} not loaded");
    }
    assert_eq!(loaded.len(), ids.len());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn gitleaks_default_config_finds_what_its_rules_describe() {
    let Some(path) = default_config() else { return };
    let config = bb_gitleaks::load(&path).unwrap();
    // Written here from the vendors' published formats, not taken from the config.
    let cases = [
        (
            "github-pat",
            "token = ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U",
        ),
        (
            "slack-webhook-url",
            "https://hooks.slack.com/services/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a",
        ),
        (
            "stripe-access-token",
            "sk_test_51Hq8ZkL4vN2mR7tX9wB3cD6fG1hJ5kM8nP0q",
        ),
    ];
    for (rule, text) in cases {
        let ids: Vec<String> = config
            .rules
            .scan(text.as_bytes(), "src/settings.py", "c0ffee")
            .into_iter()
            .map(|m| m.rule)
            .collect();
        assert!(ids.iter().any(|i| i == rule), "{rule}: {ids:?} on {text}");
    }
    // Its global allowlist: a lock file is not scanned.
    let lock = config.rules.scan(
        b"token = ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U",
        "web/package-lock.json",
        "c0ffee",
    );
    assert!(lock.is_empty(), "{lock:?}");
}

/// The built-in rules' examples (`bb_testkit::tokens`) through gitleaks' default config and
/// through the built-in detectors the gate runs. Where the alias table says a gitleaks default
/// rule stands for the built-in one, gitleaks must find the example too (unless its rule
/// wants the vendor's name beside the token); the rest is printed.
#[test]
fn gitleaks_defaults_and_the_builtins_agree_on_the_rule_examples() {
    let Some(path) = default_config() else { return };
    let config = bb_gitleaks::load(&path).unwrap();
    let engine = bb_detect::Engine::with_broad_rules(Vec::new());
    let cfg = bb_detect::OutboundConfig::DEFAULT_ON;
    let (mut both, mut only_builtin, mut disagree) = (0, Vec::new(), Vec::new());
    for (rule, token) in bb_testkit::tokens::examples() {
        let text = format!("value = \"{token}\"\n");
        let builtin = engine.scan(&cfg, text.as_bytes());
        assert!(
            builtin.iter().any(|f| f.rule == rule),
            "built-in {rule} misses its example: {builtin:?}"
        );
        let ids: Vec<String> = config
            .rules
            .scan(text.as_bytes(), "src/config.py", "c0ffee")
            .into_iter()
            .map(|m| m.rule)
            .collect();
        let aliases = bb_gitleaks::builtin::gitleaks_ids(rule);
        if ids.is_empty() {
            only_builtin.push(rule);
        } else {
            both += 1;
        }
        if !aliases.is_empty()
            && !KEYWORD_BOUND.contains(&rule)
            && !aliases.iter().any(|a| ids.iter().any(|i| i == a))
        {
            disagree.push((rule, aliases, ids));
        }
    }
    eprintln!(
        "rule examples found by gitleaks' defaults too: {both}; by the built-ins only: {} {only_builtin:?}",
        only_builtin.len()
    );
    assert!(disagree.is_empty(), "{disagree:#?}");
}

/// Built-in rules whose gitleaks counterpart only matches next to the vendor's name (or, for
/// Teams, with the `https://` in front).
const KEYWORD_BOUND: &[&str] = &[
    "telegram-bot-token",
    "newrelic-user-key",
    "netlify-token",
    "contentful-token",
    "teams-webhook-url",
];
