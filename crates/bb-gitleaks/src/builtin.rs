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
    ("slack-webhook-url", &["slack-webhook-url"]),
    ("slack-app-token", &["slack-app-token"]),
    ("microsoft-teams-webhook", &["teams-webhook-url"]),
    ("telegram-bot-api-token", &["telegram-bot-token"]),
    ("gitlab-deploy-token", &["gitlab-token"]),
    ("gitlab-ptt", &["gitlab-token"]),
    ("gitlab-runner-authentication-token", &["gitlab-token"]),
    ("gitlab-cicd-job-token", &["gitlab-token"]),
    ("gitlab-scim-token", &["gitlab-token"]),
    ("gitlab-rrt", &["gitlab-token"]),
    ("atlassian-api-token", &["atlassian-api-token"]),
    (
        "aws-amazon-bedrock-api-key-long-lived",
        &["aws-bedrock-api-key"],
    ),
    ("azure-ad-client-secret", &["azure-ad-client-secret"]),
    ("digitalocean-access-token", &["digitalocean-token"]),
    ("digitalocean-pat", &["digitalocean-token"]),
    ("digitalocean-refresh-token", &["digitalocean-token"]),
    ("alibaba-access-key-id", &["alibaba-access-key-id"]),
    ("hashicorp-tf-api-token", &["terraform-cloud-token"]),
    ("vault-service-token", &["vault-token"]),
    ("vault-batch-token", &["vault-token"]),
    ("flyio-access-token", &["flyio-token"]),
    ("heroku-api-key-v2", &["heroku-api-key"]),
    ("netlify-access-token", &["netlify-token"]),
    ("cloudflare-origin-ca-key", &["cloudflare-origin-ca-key"]),
    ("rubygems-api-token", &["rubygems-api-key"]),
    ("jfrog-api-key", &["jfrog-token"]),
    ("artifactory-api-key", &["jfrog-token"]),
    ("artifactory-reference-token", &["jfrog-token"]),
    ("clojars-api-token", &["clojars-token"]),
    ("pulumi-api-token", &["pulumi-token"]),
    ("shopify-access-token", &["shopify-token"]),
    ("shopify-custom-access-token", &["shopify-token"]),
    ("shopify-private-app-access-token", &["shopify-token"]),
    ("shopify-shared-secret", &["shopify-token"]),
    ("square-access-token", &["square-token"]),
    ("flutterwave-secret-key", &["flutterwave-secret-key"]),
    ("shippo-api-token", &["shippo-token"]),
    ("duffel-api-token", &["duffel-token"]),
    ("easypost-api-token", &["easypost-api-key"]),
    ("easypost-test-api-token", &["easypost-api-key"]),
    ("perplexity-api-key", &["perplexity-api-key"]),
    ("planetscale-api-token", &["planetscale-token"]),
    ("planetscale-oauth-token", &["planetscale-token"]),
    ("planetscale-password", &["planetscale-token"]),
    ("databricks-api-token", &["databricks-token"]),
    ("doppler-api-token", &["doppler-token"]),
    ("linear-api-key", &["linear-api-key"]),
    ("notion-api-token", &["notion-token"]),
    ("contentful-delivery-api-token", &["contentful-token"]),
    ("postman-api-token", &["postman-api-key"]),
    ("grafana-cloud-api-token", &["grafana-cloud-token"]),
    (
        "grafana-service-account-token",
        &["grafana-service-account-token"],
    ),
    ("new-relic-user-api-key", &["newrelic-user-key"]),
    ("sentry-user-token", &["sentry-token"]),
    ("sentry-org-token", &["sentry-token"]),
    ("dynatrace-api-token", &["dynatrace-token"]),
    ("prefect-api-token", &["prefect-api-key"]),
    ("age-secret-key", &["age-secret-key"]),
];

/// The gitleaks default ids that stand for a built-in rule (empty for a format gitleaks has
/// no rule for).
pub fn gitleaks_ids(builtin: &str) -> Vec<&'static str> {
    ALIASES
        .iter()
        .filter(|(_, rules)| rules.contains(&builtin))
        .map(|(id, _)| *id)
        .collect()
}

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

pub use bb_detect::base_rule;

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
