//! Credentials of every built-in token rule's shape, generated here (never a real one): the
//! rule tests of `bb-detect` and the comparison with gitleaks' default rules use the same
//! examples.

/// A deterministic body of `n` bytes over `alphabet`; its first three bytes are the
/// alphabet's first, last and middle characters, so an alphanumeric body holds a digit, a
/// capital and a small letter.
pub fn body(alphabet: &str, n: usize, seed: u64) -> String {
    let a = alphabet.as_bytes();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
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

pub const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const UPPER_ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const LOWER_HEX: &str = "0123456789abcdef";
pub const LOWER_ALNUM: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
pub const URL_SAFE: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
pub const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const DIGITS: &str = "0123456789";

/// (built-in rule, a token of its shape) for each token rule with a fixed prefix.
pub fn examples() -> Vec<(&'static str, String)> {
    let b = body;
    vec![
        (
            "aws-access-key-id",
            format!("AKIA{}", b("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 1)),
        ),
        ("github-pat", format!("ghp_{}", b(ALNUM, 36, 2))),
        ("github-oauth-token", format!("gho_{}", b(ALNUM, 36, 3))),
        ("github-user-token", format!("ghu_{}", b(ALNUM, 36, 4))),
        ("github-server-token", format!("ghs_{}", b(ALNUM, 36, 5))),
        ("github-refresh-token", format!("ghr_{}", b(ALNUM, 36, 6))),
        (
            "github-fine-grained-pat",
            format!("github_pat_{}_{}", b(ALNUM, 22, 7), b(ALNUM, 59, 8)),
        ),
        ("gitlab-pat", format!("glpat-{}", b(URL_SAFE, 20, 9))),
        (
            "slack-token",
            format!(
                "xoxb-{}-{}-{}",
                b(DIGITS, 12, 10),
                b(DIGITS, 13, 11),
                b(ALNUM, 24, 12)
            ),
        ),
        ("stripe-secret-key", format!("sk_live_{}", b(ALNUM, 99, 13))),
        (
            "stripe-restricted-key",
            format!("rk_test_{}", b(ALNUM, 99, 14)),
        ),
        (
            "openai-api-key",
            format!(
                "sk-proj-{}T3BlbkFJ{}",
                b(URL_SAFE, 74, 15),
                b(URL_SAFE, 74, 16)
            ),
        ),
        (
            "anthropic-api-key",
            format!("sk-ant-api03-{}AA", b(URL_SAFE, 93, 17)),
        ),
        ("google-api-key", format!("AIza{}", b(URL_SAFE, 35, 18))),
        (
            "sendgrid-api-key",
            format!("SG.{}.{}", b(URL_SAFE, 22, 19), b(URL_SAFE, 43, 20)),
        ),
        ("npm-token", format!("npm_{}", b(ALNUM, 36, 21))),
        (
            "pypi-token",
            format!("pypi-AgEIcHlwaS5vcmc{}", b(URL_SAFE, 70, 22)),
        ),
        ("huggingface-token", format!("hf_{}", b(LETTERS, 34, 23))),
        ("docker-pat", format!("dckr_pat_{}", b(URL_SAFE, 27, 24))),
        (
            "slack-webhook-url",
            format!(
                "hooks.slack.com/services/T{}/B{}/{}",
                b(UPPER_ALNUM, 10, 25),
                b(UPPER_ALNUM, 10, 26),
                b(ALNUM, 24, 27)
            ),
        ),
        (
            "slack-app-token",
            format!(
                "xapp-1-A{}-{}-{}",
                b(UPPER_ALNUM, 10, 28),
                b(DIGITS, 13, 29),
                b(LOWER_HEX, 64, 30)
            ),
        ),
        (
            "discord-webhook-url",
            format!(
                "discord.com/api/webhooks/{}/{}",
                b(DIGITS, 18, 31),
                b(URL_SAFE, 68, 32)
            ),
        ),
        (
            "teams-webhook-url",
            format!(
                "contoso.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
                b(LOWER_HEX, 36, 97),
                b(LOWER_HEX, 36, 98),
                b(LOWER_HEX, 32, 99),
                b(LOWER_HEX, 36, 100)
            ),
        ),
        (
            "telegram-bot-token",
            format!("{}:AA{}", b(DIGITS, 10, 33), b(URL_SAFE, 33, 34)),
        ),
        ("gitlab-token", format!("glptt-{}", b(LOWER_HEX, 40, 35))),
        (
            "atlassian-api-token",
            format!("ATATT3{}", b(URL_SAFE, 186, 36)),
        ),
        (
            "bitbucket-app-password",
            format!("ATBB{}", b(ALNUM, 32, 37)),
        ),
        ("aws-bedrock-api-key", format!("ABSK{}", b(ALNUM, 132, 38))),
        (
            "azure-ad-client-secret",
            format!("a1B8Q~{}", b(URL_SAFE, 34, 39)),
        ),
        (
            "digitalocean-token",
            format!("dop_v1_{}", b(LOWER_HEX, 64, 40)),
        ),
        ("alibaba-access-key-id", format!("LTAI{}", b(ALNUM, 20, 41))),
        ("tencent-secret-id", format!("AKID{}", b(ALNUM, 32, 42))),
        (
            "google-oauth-client-secret",
            format!("GOCSPX-{}", b(URL_SAFE, 28, 43)),
        ),
        (
            "google-oauth-access-token",
            format!("ya29.{}", b(URL_SAFE, 120, 44)),
        ),
        (
            "terraform-cloud-token",
            format!("{}.atlasv1.{}", b(ALNUM, 14, 45), b(URL_SAFE, 67, 46)),
        ),
        ("vault-token", format!("hvs.{}", b(URL_SAFE, 90, 47))),
        ("flyio-token", format!("fm2_{}", b(ALNUM, 200, 48))),
        ("heroku-api-key", format!("HRKU-AA{}", b(URL_SAFE, 58, 49))),
        ("netlify-token", format!("nfp_{}", b(ALNUM, 36, 50))),
        ("render-api-key", format!("rnd_{}", b(ALNUM, 32, 51))),
        ("supabase-key", format!("sbp_{}", b(LOWER_HEX, 40, 52))),
        (
            "cloudflare-origin-ca-key",
            format!("v1.0-{}-{}", b(LOWER_HEX, 24, 53), b(LOWER_HEX, 146, 54)),
        ),
        (
            "rubygems-api-key",
            format!("rubygems_{}", b(LOWER_HEX, 48, 55)),
        ),
        ("nuget-api-key", format!("oy2{}", b(LOWER_ALNUM, 43, 56))),
        ("crates-io-token", format!("cio{}", b(ALNUM, 32, 57))),
        ("jfrog-token", format!("AKCp{}", b(ALNUM, 69, 58))),
        (
            "clojars-token",
            format!("CLOJARS_{}", b(LOWER_ALNUM, 60, 59)),
        ),
        ("pulumi-token", format!("pul-{}", b(LOWER_HEX, 40, 60))),
        (
            "stripe-webhook-secret",
            format!("whsec_{}", b(ALNUM, 32, 61)),
        ),
        ("shopify-token", format!("shpat_{}", b(LOWER_HEX, 32, 62))),
        ("square-token", format!("sq0atp-{}", b(URL_SAFE, 22, 63))),
        (
            "paypal-braintree-token",
            format!(
                "access_token$production${}${}",
                b(LOWER_ALNUM, 16, 64),
                b(LOWER_HEX, 32, 65)
            ),
        ),
        (
            "flutterwave-secret-key",
            format!("FLWSECK_TEST-{}-X", b("0123456789abcdefgh", 32, 66)),
        ),
        (
            "shippo-token",
            format!("shippo_live_{}", b(LOWER_HEX, 40, 67)),
        ),
        (
            "duffel-token",
            format!("duffel_test_{}", b(URL_SAFE, 43, 68)),
        ),
        ("easypost-api-key", format!("EZAK{}", b(ALNUM, 54, 69))),
        (
            "huggingface-org-token",
            format!("api_org_{}", b(LETTERS, 34, 70)),
        ),
        ("replicate-token", format!("r8_{}", b(ALNUM, 37, 71))),
        ("groq-api-key", format!("gsk_{}", b(ALNUM, 52, 72))),
        ("xai-api-key", format!("xai-{}", b(ALNUM, 80, 73))),
        ("perplexity-api-key", format!("pplx-{}", b(ALNUM, 48, 74))),
        (
            "langsmith-api-key",
            format!("lsv2_pt_{}_{}", b(LOWER_HEX, 32, 75), b(LOWER_HEX, 10, 76)),
        ),
        (
            "planetscale-token",
            format!("pscale_tkn_{}", b(URL_SAFE, 43, 77)),
        ),
        ("databricks-token", format!("dapi{}", b(LOWER_HEX, 32, 78))),
        ("doppler-token", format!("dp.pt.{}", b(ALNUM, 43, 79))),
        ("linear-api-key", format!("lin_api_{}", b(ALNUM, 40, 80))),
        (
            "notion-token",
            format!("ntn_{}{}", b(DIGITS, 11, 81), b(ALNUM, 35, 82)),
        ),
        ("figma-token", format!("figd_{}", b(URL_SAFE, 40, 83))),
        ("contentful-token", format!("CFPAT-{}", b(URL_SAFE, 43, 84))),
        (
            "postman-api-key",
            format!("PMAK-{}-{}", b(LOWER_HEX, 24, 85), b(LOWER_HEX, 34, 86)),
        ),
        (
            "grafana-service-account-token",
            format!("glsa_{}_{}", b(ALNUM, 32, 87), b(LOWER_HEX, 8, 88)),
        ),
        ("grafana-cloud-token", format!("glc_{}", b(ALNUM, 96, 101))),
        (
            "newrelic-user-key",
            format!("NRAK-{}", b(UPPER_ALNUM, 27, 89)),
        ),
        ("sentry-token", format!("sntryu_{}", b(LOWER_HEX, 64, 90))),
        (
            "dynatrace-token",
            format!(
                "dt0c01.{}.{}",
                b(UPPER_ALNUM, 24, 91),
                b(UPPER_ALNUM, 64, 92)
            ),
        ),
        ("prefect-api-key", format!("pnu_{}", b(ALNUM, 36, 93))),
        (
            "mapbox-secret-token",
            format!("sk.eyJ1Ijoi{}.{}", b(URL_SAFE, 40, 94), b(URL_SAFE, 22, 95)),
        ),
        (
            "age-secret-key",
            format!(
                "AGE-SECRET-KEY-1{}",
                b("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, 96)
            ),
        ),
    ]
}
