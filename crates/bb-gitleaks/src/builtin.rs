//! bot-bottle's built-in detectors stand for gitleaks' default rules: `[extend] useDefault =
//! true` keeps them (they always run), `disabledRules` and rules that extend a default rule by
//! id reach them through this table. A built-in rule is also named by its own name.

/// gitleaks default rule id → the built-in token rules that cover it.
const ALIASES: &[(&str, &[&str])] = &[
    ("aws-access-token", &["aws-access-key-id"]),
    ("github-pat", &["github-pat"]),
    ("github-oauth", &["github-oauth-token"]),
    (
        "github-app-token",
        &["github-user-token", "github-server-token"],
    ),
    ("github-refresh-token", &["github-refresh-token"]),
    ("github-fine-grained-pat", &["github-fine-grained-pat"]),
    ("gitlab-pat", &["gitlab-pat"]),
    ("slack-bot-token", &["slack-token"]),
    ("slack-user-token", &["slack-token"]),
    ("slack-app-token", &["slack-token"]),
    ("slack-legacy-token", &["slack-token"]),
    ("slack-legacy-bot-token", &["slack-token"]),
    ("slack-legacy-workspace-token", &["slack-token"]),
    ("slack-config-access-token", &["slack-token"]),
    ("slack-config-refresh-token", &["slack-token"]),
    (
        "stripe-access-token",
        &["stripe-secret-key", "stripe-restricted-key"],
    ),
    ("openai-api-key", &["openai-api-key"]),
    ("anthropic-api-key", &["anthropic-api-key"]),
    ("gcp-api-key", &["google-api-key"]),
    ("private-key", &["private-key"]),
    ("jwt", &["jwt"]),
    ("sendgrid-api-token", &["sendgrid-api-key"]),
    ("npm-access-token", &["npm-token"]),
    ("pypi-upload-token", &["pypi-token"]),
    ("huggingface-access-token", &["huggingface-token"]),
    ("huggingface-organization-api-token", &["huggingface-token"]),
    ("generic-api-key", &["generic-credential"]),
];

/// The built-in rules an id names: a built-in rule's own name, or a gitleaks default id the
/// table maps. Empty when the id names no built-in rule.
pub fn builtin_rules(id: &str) -> Vec<&'static str> {
    if let Some(own) = bb_detect::TOKEN_RULES.iter().find(|r| **r == id) {
        return vec![own];
    }
    ALIASES
        .iter()
        .filter(|(alias, _)| *alias == id)
        .flat_map(|(_, rules)| rules.iter().copied())
        .collect()
}

/// The built-in rule of a finding's rule name (`aws-access-key-id/base64` → `aws-access-key-id`).
pub fn base_rule(rule: &str) -> &str {
    rule.split('/').next().unwrap_or(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_names_a_builtin_rule() {
        for (alias, rules) in ALIASES {
            for rule in *rules {
                assert!(
                    bb_detect::TOKEN_RULES.contains(rule),
                    "{alias} -> {rule} is not a built-in rule"
                );
            }
        }
    }

    #[test]
    fn ids_resolve_to_builtin_rules() {
        assert_eq!(builtin_rules("aws-access-token"), ["aws-access-key-id"]);
        assert_eq!(builtin_rules("aws-access-key-id"), ["aws-access-key-id"]);
        assert_eq!(builtin_rules("github-app-token").len(), 2);
        assert!(builtin_rules("adobe-client-secret").is_empty());
        assert_eq!(base_rule("jwt/base64"), "jwt");
    }
}
