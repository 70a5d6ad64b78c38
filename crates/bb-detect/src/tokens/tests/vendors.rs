//! The vendor rules ([`crate::tokens::vendors`]): each on a token of its published shape
//! (bodies generated here, never a real credential), in the places tokens sit, and on the
//! near misses it must let through.

use super::{hits, neg, pos};

/// A deterministic body of `n` bytes over `alphabet`, with every class of the alphabet early.
fn body(alphabet: &str, n: usize, seed: u64) -> String {
    let a = alphabet.as_bytes();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // The first bytes walk the alphabet's ends: a digit, a capital and a small letter
            // are in any body of an alphanumeric alphabet.
            let k = match i {
                0 => 0,
                1 => a.len() - 1,
                2 => a.len() / 2,
                _ => (x % a.len() as u64) as usize,
            };
            a[k] as char
        })
        .collect()
}

const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWER_HEX: &str = "0123456789abcdef";
const LOWER_ALNUM: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
const URL_SAFE: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The token is found whole in the ways code and configuration carry it.
fn found(rule: &str, token: &str) {
    for ctx in [
        token.to_string(),
        format!("KEY={token}\n"),
        format!("{{\"token\": \"{token}\"}}"),
        format!("Authorization: Bearer {token}\r\n"),
    ] {
        pos(rule, &ctx, token);
    }
}

#[test]
fn messaging() {
    let hook = format!(
        "https://hooks.slack.com/services/T{}/B{}/{}",
        body("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10, 1),
        body("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10, 2),
        body(ALNUM, 24, 3)
    );
    pos(
        "slack-webhook-url",
        &format!("url = \"{hook}\""),
        &hook["https://".len()..],
    );
    neg(
        "slack-webhook-url",
        "see https://hooks.slack.com/services/ for details",
    );
    found(
        "slack-app-token",
        &format!(
            "xapp-1-A{}-{}-{}",
            body(ALNUM, 10, 4),
            body("0123456789", 13, 5),
            body(LOWER_HEX, 64, 6)
        ),
    );
    found(
        "slack-token",
        &format!("xoxe.xoxp-1-{}", body(ALNUM, 40, 7)),
    );
    let discord = format!(
        "https://discord.com/api/webhooks/{}/{}",
        body("0123456789", 18, 8),
        body(URL_SAFE, 68, 9)
    );
    pos(
        "discord-webhook-url",
        &discord,
        &discord["https://".len()..],
    );
    neg(
        "discord-webhook-url",
        "https://example.com/api/webhooks/123/abc",
    );
    let teams = format!(
        "https://contoso.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
        body(LOWER_HEX, 36, 10),
        body(LOWER_HEX, 36, 11),
        body(LOWER_HEX, 32, 12),
        body(LOWER_HEX, 36, 13)
    );
    assert_eq!(hits(&teams, "teams-webhook-url").len(), 1, "{teams}");
    found(
        "telegram-bot-token",
        &format!(
            "{}:AA{}",
            body("0123456789", 10, 14),
            body(URL_SAFE, 33, 15)
        ),
    );
    neg("telegram-bot-token", "12:30:AAbc");
}

#[test]
fn forges_clouds_and_registries() {
    found("gitlab-token", &format!("gldt-{}", body(URL_SAFE, 20, 20)));
    found("gitlab-token", &format!("glrt-{}", body(URL_SAFE, 20, 21)));
    found(
        "gitlab-token",
        &format!("glptt-{}", body(LOWER_HEX, 40, 22)),
    );
    neg("gitlab-token", "gldt-short");
    found(
        "atlassian-api-token",
        &format!("ATATT3{}", body(URL_SAFE, 186, 23)),
    );
    found(
        "bitbucket-app-password",
        &format!("ATBB{}", body(ALNUM, 32, 24)),
    );
    found(
        "aws-bedrock-api-key",
        &format!("ABSK{}", body(ALNUM, 132, 25)),
    );
    let azure = format!("a1B8Q~{}", body(URL_SAFE, 34, 26));
    pos(
        "azure-ad-client-secret",
        &format!("\"secret\": \"{azure}\""),
        &azure,
    );
    found(
        "digitalocean-token",
        &format!("dop_v1_{}", body(LOWER_HEX, 64, 27)),
    );
    neg(
        "digitalocean-token",
        &format!("dop_v1_{}", body(LOWER_HEX, 60, 27)),
    );
    found(
        "alibaba-access-key-id",
        &format!("LTAI{}", body(ALNUM, 20, 28)),
    );
    neg("alibaba-access-key-id", "LTAIABCDEFGHIJKLMNOPQRST");
    found("tencent-secret-id", &format!("AKID{}", body(ALNUM, 32, 29)));
    found(
        "google-oauth-client-secret",
        &format!("GOCSPX-{}", body(URL_SAFE, 28, 30)),
    );
    found(
        "google-oauth-access-token",
        &format!("ya29.{}", body(URL_SAFE, 120, 31)),
    );
    found(
        "terraform-cloud-token",
        &format!("{}.atlasv1.{}", body(ALNUM, 14, 32), body(URL_SAFE, 67, 33)),
    );
    found("vault-token", &format!("hvs.{}", body(URL_SAFE, 90, 34)));
    neg("vault-token", "obj.hvs.x");
    found("flyio-token", &format!("fm2_{}", body(URL_SAFE, 200, 35)));
    found(
        "heroku-api-key",
        &format!("HRKU-{}", body(URL_SAFE, 60, 36)),
    );
    found("netlify-token", &format!("nfp_{}", body(ALNUM, 36, 37)));
    found("render-api-key", &format!("rnd_{}", body(ALNUM, 32, 38)));
    neg("render-api-key", "rnd_generator_seed_value_for_tests");
    found("supabase-key", &format!("sbp_{}", body(LOWER_HEX, 40, 39)));
    found(
        "cloudflare-origin-ca-key",
        &format!(
            "v1.0-{}-{}",
            body(LOWER_HEX, 24, 40),
            body(LOWER_HEX, 146, 41)
        ),
    );
    found(
        "rubygems-api-key",
        &format!("rubygems_{}", body(LOWER_HEX, 48, 42)),
    );
    found(
        "nuget-api-key",
        &format!("oy2{}", body(LOWER_ALNUM, 43, 43)),
    );
    found("crates-io-token", &format!("cio{}", body(ALNUM, 32, 44)));
    neg("crates-io-token", "precious_delicious_specious_capricious");
    found("jfrog-token", &format!("AKCp{}", body(ALNUM, 69, 45)));
    found(
        "clojars-token",
        &format!("CLOJARS_{}", body(LOWER_ALNUM, 60, 46)),
    );
    found("pulumi-token", &format!("pul-{}", body(LOWER_HEX, 40, 47)));
}

#[test]
fn payment_ai_data_and_observability() {
    found(
        "stripe-webhook-secret",
        &format!("whsec_{}", body(ALNUM, 32, 50)),
    );
    found(
        "shopify-token",
        &format!("shpat_{}", body(LOWER_HEX, 32, 51)),
    );
    found(
        "square-token",
        &format!("sq0atp-{}", body(URL_SAFE, 22, 52)),
    );
    let braintree = format!(
        "access_token$production${}${}",
        body(LOWER_ALNUM, 16, 53),
        body(LOWER_HEX, 32, 54)
    );
    found("paypal-braintree-token", &braintree);
    found(
        "flutterwave-secret-key",
        &format!("FLWSECK_TEST-{}-X", body("0123456789abcdefgh", 32, 55)),
    );
    found(
        "shippo-token",
        &format!("shippo_live_{}", body(LOWER_HEX, 40, 56)),
    );
    found(
        "duffel-token",
        &format!("duffel_test_{}", body(URL_SAFE, 43, 57)),
    );
    found("easypost-api-key", &format!("EZAK{}", body(ALNUM, 54, 58)));
    found(
        "huggingface-org-token",
        &format!("api_org_{}", body(LETTERS, 34, 59)),
    );
    neg(
        "huggingface-org-token",
        "api_org_abcdefghijklmnopqrstuvwxyzabcdefgh",
    );
    found("replicate-token", &format!("r8_{}", body(ALNUM, 37, 60)));
    found("groq-api-key", &format!("gsk_{}", body(ALNUM, 52, 61)));
    found("xai-api-key", &format!("xai-{}", body(ALNUM, 80, 62)));
    found(
        "perplexity-api-key",
        &format!("pplx-{}", body(ALNUM, 48, 63)),
    );
    found(
        "langsmith-api-key",
        &format!(
            "lsv2_pt_{}_{}",
            body(LOWER_HEX, 32, 64),
            body(LOWER_HEX, 10, 65)
        ),
    );
    found(
        "planetscale-token",
        &format!("pscale_tkn_{}", body(URL_SAFE, 43, 66)),
    );
    found(
        "databricks-token",
        &format!("dapi{}", body(LOWER_HEX, 32, 67)),
    );
    found("doppler-token", &format!("dp.pt.{}", body(ALNUM, 43, 68)));
    found(
        "linear-api-key",
        &format!("lin_api_{}", body(ALNUM, 40, 69)),
    );
    found(
        "notion-token",
        &format!("ntn_{}{}", body("0123456789", 11, 70), body(ALNUM, 35, 71)),
    );
    found("notion-token", &format!("secret_{}", body(ALNUM, 43, 72)));
    neg(
        "notion-token",
        "secret_key_base_for_the_development_environment_x",
    );
    found("figma-token", &format!("figd_{}", body(URL_SAFE, 40, 73)));
    found(
        "contentful-token",
        &format!("CFPAT-{}", body(URL_SAFE, 43, 74)),
    );
    found(
        "postman-api-key",
        &format!(
            "PMAK-{}-{}",
            body(LOWER_HEX, 24, 75),
            body(LOWER_HEX, 34, 76)
        ),
    );
    found(
        "grafana-token",
        &format!("glsa_{}_{}", body(ALNUM, 32, 77), body(LOWER_HEX, 8, 78)),
    );
    found(
        "newrelic-user-key",
        &format!(
            "NRAK-{}",
            body("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 27, 79)
        ),
    );
    found(
        "sentry-token",
        &format!("sntryu_{}", body(LOWER_HEX, 64, 80)),
    );
    found(
        "dynatrace-token",
        &format!(
            "dt0c01.{}.{}",
            body("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 24, 81),
            body("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 64, 82)
        ),
    );
    found("prefect-api-key", &format!("pnu_{}", body(ALNUM, 36, 83)));
    found(
        "mapbox-secret-token",
        &format!(
            "sk.eyJ1Ijoi{}.{}",
            body(URL_SAFE, 40, 84),
            body(URL_SAFE, 22, 85)
        ),
    );
    found(
        "age-secret-key",
        &format!(
            "AGE-SECRET-KEY-1{}",
            body("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, 86)
        ),
    );
}

#[test]
fn database_urls_with_a_password() {
    let pw = body(ALNUM, 20, 90);
    for scheme in [
        "postgres",
        "postgresql",
        "mysql",
        "mongodb+srv",
        "redis",
        "amqps",
    ] {
        pos(
            "database-url-password",
            &format!("DATABASE_URL={scheme}://app:{pw}@db.internal:5432/shop"),
            &pw,
        );
    }
    for url in [
        "postgres://user:password@localhost/db",
        "mysql://root:changeme@127.0.0.1/app",
        "redis://:${REDIS_PASSWORD}@cache:6379",
        "mongodb://admin:<password>@host/db",
        "postgres://app@db/shop",
        "postgres://user:xxxxxxxx@db/x",
    ] {
        neg("database-url-password", url);
    }
}
