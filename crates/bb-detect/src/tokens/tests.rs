//! The token rules on examples of what they must and must not match.

use super::Tokens;

fn run(data: &str) -> Vec<(String, String)> {
    static TOKENS: std::sync::OnceLock<Tokens> = std::sync::OnceLock::new();
    let t = TOKENS.get_or_init(|| Tokens::new(Vec::new(), true));
    let mut out = Vec::new();
    t.pass_whole(data.as_bytes(), &mut |_, r, s, e| {
        out.push((r.to_string(), data[s..e].to_string()))
    });
    out
}

fn hits(data: &str, rule: &str) -> Vec<String> {
    run(data)
        .into_iter()
        .filter(|(r, _)| r == rule)
        .map(|(_, m)| m)
        .collect()
}

fn pos(rule: &str, data: &str, want: &str) {
    assert_eq!(
        hits(data, rule),
        vec![want.to_string()],
        "{rule} in {data:?}"
    );
}

fn neg(rule: &str, data: &str) {
    assert!(
        hits(data, rule).is_empty(),
        "{rule} must not match {data:?}: {:?}",
        run(data)
    );
}

#[test]
fn aws_access_key_id() {
    pos(
        "aws-access-key-id",
        "key=AKIAIOSFODNN7EXAMPLE&x",
        "AKIAIOSFODNN7EXAMPLE",
    );
    pos(
        "aws-access-key-id",
        "\"ASIAY34FZKBOKMUTVV7A\"",
        "ASIAY34FZKBOKMUTVV7A",
    );
    pos(
        "aws-access-key-id",
        "%22AKIAIOSFODNN7EXAMPLE%22",
        "AKIAIOSFODNN7EXAMPLE",
    );
    neg("aws-access-key-id", "AKIAIOSFODNN7EXAMPLEX");
    neg("aws-access-key-id", "AKIAiosfodnn7example");
    neg("aws-access-key-id", "xAKIAIOSFODNN7EXAMPLE");
    neg("aws-access-key-id", "AKIA-short");
}

#[test]
fn aws_secret_access_key() {
    let k = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    pos(
        "aws-secret-access-key",
        &format!("AWS_SECRET_ACCESS_KEY={k}\n"),
        k,
    );
    pos(
        "aws-secret-access-key",
        &format!("aws_secret_access_key = \"{k}\""),
        k,
    );
    pos(
        "aws-secret-access-key",
        &format!("{{\"SecretAccessKey\": \"{k}\"}}"),
        k,
    );
    pos(
        "aws-secret-access-key",
        &format!("X-Amz-Secret-Key: {k}"),
        k,
    );
    neg(
        "aws-secret-access-key",
        &format!("aws_secret_access_key = {k}X"),
    );
    neg(
        "aws-secret-access-key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
    );
    neg("aws-secret-access-key", &format!("my_key = {k}"));
}

#[test]
fn github() {
    let t = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01";
    pos("github-pat", &format!("token={t}; lang=en"), t);
    pos(
        "github-oauth-token",
        &format!(" {}", t.replace("ghp_", "gho_")),
        &t.replace("ghp_", "gho_"),
    );
    pos(
        "github-user-token",
        &t.replace("ghp_", "ghu_"),
        &t.replace("ghp_", "ghu_"),
    );
    pos(
        "github-server-token",
        &t.replace("ghp_", "ghs_"),
        &t.replace("ghp_", "ghs_"),
    );
    pos(
        "github-refresh-token",
        &t.replace("ghp_", "ghr_"),
        &t.replace("ghp_", "ghr_"),
    );
    let f = "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456";
    pos("github-fine-grained-pat", f, f);
    neg("github-pat", "ghp_short123");
    neg("github-pat", "aghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01");
    neg("github-fine-grained-pat", "github_pat_short");
}

#[test]
fn gitlab_slack_stripe() {
    pos(
        "gitlab-pat",
        "PRIVATE-TOKEN: glpat-xYz12AbC3dEf45GhIj6K",
        "glpat-xYz12AbC3dEf45GhIj6K",
    );
    neg("gitlab-pat", "glpat-short");
    let s = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    pos("slack-token", &format!("token: {s}\n"), s);
    neg("slack-token", "xoxb-not-a-real-token-here");
    pos(
        "stripe-secret-key",
        "stripe_key: sk_live_FAKE_TEST_KEY_00000000000\n",
        "sk_live_FAKE_TEST_KEY_00000000000",
    );
    pos(
        "stripe-restricted-key",
        "rk_live_51H8abcdefGHIJKL0123",
        "rk_live_51H8abcdefGHIJKL0123",
    );
    // Test-mode keys reach the account's test data and settings: secrets too.
    pos(
        "stripe-secret-key",
        "STRIPE_KEY=sk_test_51H8abcdefGHIJKL0123",
        "sk_test_51H8abcdefGHIJKL0123",
    );
    pos(
        "stripe-restricted-key",
        "rk_test_51H8abcdefGHIJKL0123",
        "rk_test_51H8abcdefGHIJKL0123",
    );
    neg("stripe-secret-key", "sk_live_short");
    neg("stripe-secret-key", "mock_test_51H8abcdefGHIJKL0123");
}

#[test]
fn openai_anthropic_google() {
    let o = "sk-proj-FAKE00000000000000000000000000000000000000TEST0000";
    pos("openai-api-key", &format!("X-Trace-Id: {o}"), o);
    let legacy = "sk-AbCdEfGhIjKlMnOpQrStT3BlbkFJ0123456789abcdefghij";
    pos("openai-api-key", legacy, legacy);
    neg(
        "openai-api-key",
        "class=\"sk-fading-circle-animation-wrapper\"",
    );
    neg("openai-api-key", "task-0123456789ABCDEFGHIJKLMNOP");
    let a = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfAA";
    pos("anthropic-api-key", &format!("x-api-key: {a}"), a);
    neg("openai-api-key", a);
    neg("anthropic-api-key", "sk-ant-short");
    let g = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW";
    pos("google-api-key", &format!("?key={g}&q=1"), g);
    neg(
        "google-api-key",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvWXYZ",
    );
    neg("google-api-key", "AIzaShort");
}

#[test]
fn private_key() {
    let k = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n-----END RSA PRIVATE KEY-----";
    pos("private-key", &format!("x {k}\ny"), k);
    let o = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n";
    pos("private-key", o, o);
    neg(
        "private-key",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    );
    neg(
        "private-key",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    );
    neg(
        "private-key",
        "expects \"-----BEGIN PRIVATE KEY-----\" and \"-----END PRIVATE KEY-----\"",
    );
}

#[test]
fn jwt_rule() {
    let j = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    pos("jwt", &format!("/data/{j}/export"), j);
    pos("jwt", &format!("Bearer {j}"), j);
    neg(
        "jwt",
        "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
    );
    neg("jwt", "eyJhbGciOiJIUzI1NiJ9 only a header");
    // A token with a subject and an expiry is a credential; data signed for integrity
    // (`{"data":"hello"}`) grants nothing.
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    let sig = "q8Xv2LmN4pR7sT1wZ8vB3cD6fG1hJ5kM8nP0qR2sT4u";
    let granting = format!("{header}.eyJzdWIiOiI0MiIsImV4cCI6MTg5MzQ1NjAwMH0.{sig}");
    pos("jwt", &granting, &granting);
    neg("jwt", &format!("{header}.eyJkYXRhIjoiaGVsbG8ifQ.{sig}"));
}

#[test]
fn other_forges_and_registries() {
    let sg = "SG.FAKE_TEST_KEY_0000000000.FAKE_TEST_000000000000000000000000000000000000000";
    pos("sendgrid-api-key", &format!("X-Api-Key: {sg}"), sg);
    neg(
        "sendgrid-api-key",
        "MSG.FAKE_TEST_KEY_0000000000.FAKE_TEST_0000000000000000",
    );
    let npm = "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    pos(
        "npm-token",
        &format!("//registry.npmjs.org/:_authToken={npm}\n"),
        npm,
    );
    neg("npm-token", "npm_config_registry_url_for_the_project_x");
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", "AbCd0123456789-_".repeat(4));
    pos("pypi-token", &pypi, &pypi);
    neg("pypi-token", "pypi-AgEIcHlwaS5vcmcShort");
    let hft = "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh";
    pos("huggingface-token", &format!("HF_TOKEN={hft}\n"), hft);
    neg("huggingface-token", "hf_hub_download(repo_id, filename)");
    let d = "dckr_pat_AbCdEfGhIjKlMnOpQrStUvWxYz012";
    pos("docker-pat", d, d);
    neg("docker-pat", "dckr_pat_short");
}

#[test]
fn generic_credential() {
    neg(
        "generic-credential",
        "pub PresentHistoryToken: D3DKMT_PRESENTHISTORYTOKEN,",
    );
    pos(
        "generic-credential",
        "  password: SuperSecretDBPass!2026\n",
        "SuperSecretDBPass!2026",
    );
    pos(
        "generic-credential",
        "{\"api_key\": \"a8Fj3kL9qW2eR7tY5uI1oP0zX\"}",
        "a8Fj3kL9qW2eR7tY5uI1oP0zX",
    );
    pos(
        "generic-credential",
        "DB_PASSWORD=Zq8vN2mK5xR1pL7w",
        "Zq8vN2mK5xR1pL7w",
    );
    pos(
        "generic-credential",
        "access_token=ya29.a0AfH6SMBx3kQ9zT2v&x=1",
        "ya29.a0AfH6SMBx3kQ9zT2v",
    );
    pos(
        "generic-credential",
        "X-Api-Key: 3f9a8c7e6d5b4a3928171615141312aa",
        "3f9a8c7e6d5b4a3928171615141312aa",
    );
    neg("generic-credential", "session_id=abc123def456; theme=dark");
    neg(
        "generic-credential",
        "Authorization: Bearer mF_9.B5f-4.1JqM",
    );
    neg(
        "generic-credential",
        "\"max_tokens\": 4096, \"token_type\": \"Bearer\"",
    );
    neg(
        "generic-credential",
        "password_policy: minimum-length-12-chars",
    );
    neg(
        "generic-credential",
        "secret_name: my-app-prod-db-credentials",
    );
    neg(
        "generic-credential",
        "\"SecretId\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf\"",
    );
    neg(
        "generic-credential",
        "password = \"${DB_PASSWORD_FROM_ENV}\"",
    );
    neg("generic-credential", "api_key: your_api_key_goes_here_123");
    neg(
        "generic-credential",
        "token_url = https://oauth2.example.com/token?x=1",
    );
    neg("generic-credential", "password: short1!");
    neg(
        "generic-credential",
        "    let token = CancellationToken::new();",
    );
    neg(
        "generic-credential",
        "    let mut tokens = TokenStream::from_iter([x]);",
    );
    neg(
        "generic-credential",
        "pub token_stream: __IncompleteArrayField<__u8>,",
    );
    neg(
        "generic-credential",
        "let der_private_key_buffer: EcPrivateKeyRfc5915Der = x;",
    );
    neg(
        "generic-credential",
        "pub LmOwfPassword: super::super::System::PasswordManagement::LM,",
    );
    neg(
        "generic-credential",
        "const SECRET_KEY: MyCompanyProdApiKey2024 = 1;",
    );
    // Percent-encoded values are judged as what they encode.
    neg(
        "generic-credential",
        "oauth_token_secret=secret%3Dpassword&oauth_token=lock%26key",
    );
    pos(
        "generic-credential",
        "client_secret=Xk9%2Fq2LmN4pR7sT1wZ8vB3",
        "Xk9%2Fq2LmN4pR7sT1wZ8vB3",
    );
}

#[test]
fn benign_headers_and_bodies() {
    for s in [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "application/json, text/plain, */*",
        "a3f8b2c1-4e5d-6f7a-8b9c-0d1e2f3a4b5c",
        "session_id=abc123def456; theme=dark; _ga=GA1.2.1234567890.1234567890; consent=accepted",
        "Bearer mF_9.B5f-4.1JqM",
        "{\"name\": \"Jane Smith\", \"email\": \"jane@example.com\", \"preferences\": {\"theme\": \"dark\", \"language\": \"en\"}}",
        "q=golang+http+proxy+tutorial&category=programming&sort=relevance",
        "https://www.google.com/search?q=how+to+fix+%22permission+denied%22+error+in+golang+test&hl=en&num=10",
    ] {
        assert!(run(s).is_empty(), "{s}: {:?}", run(s));
    }
}

#[test]
fn a_refused_match_does_not_hide_one_inside_it() {
    // `PasswordApiKey` is refused as a password key (`Password` is followed by another word
    // part); the match starting at `ApiKey` inside it is taken. The scan used to resume after
    // the refused match's end, and every literal's window starts at `P`.
    pos(
        "generic-credential",
        "PasswordApiKey = Zq8vN2mK5xR1pL7wQ",
        "Zq8vN2mK5xR1pL7wQ",
    );
}

#[test]
fn identifiers_random_by_design_are_not_credentials() {
    let g = "generic-credential";
    // Request, change and pagination tokens name an operation, not a credential.
    neg(
        g,
        r#""ClientRequestToken": "a8ca07e4-61ec-4399-99f4-19853801bcd5""#,
    );
    neg(
        g,
        r#""ChangeToken": "abcd12f2-46da-4fdb-b8d5-fbd4c466928f""#,
    );
    neg(
        g,
        r#""NextContinuationToken": "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==""#,
    );
    neg(g, "idempotency_token=Zq8vN2mK5xR1pL7wQ3tY");
    // A UUID under a bare `token` is an identifier; under a credential qualifier it is not.
    neg(g, "token: 1d2129a1-3d38-460a-9756-e5b91fddb951");
    pos(
        g,
        "HEROKU_API_TOKEN=1d2129a1-3d38-460a-9756-e5b91fddb951",
        "1d2129a1-3d38-460a-9756-e5b91fddb951",
    );
    pos(
        g,
        "client_secret = 1d2129a1-3d38-460a-9756-e5b91fddb951",
        "1d2129a1-3d38-460a-9756-e5b91fddb951",
    );
    // A random value under `token` stays a credential, whatever the qualifier is not.
    pos(
        g,
        "deploy_token=Zq8vN2mK5xR1pL7wQ3tY",
        "Zq8vN2mK5xR1pL7wQ3tY",
    );
    pos(g, "token=Zq8vN2mK5xR1pL7wQ3tY", "Zq8vN2mK5xR1pL7wQ3tY");
    // A key word inside an ARN is a path segment.
    neg(
        g,
        r#""ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestDatabaseSecret-a1b2c3""#,
    );
    pos(g, "x :secret: Zq8vN2mK5xR1pL7wQ3tY", "Zq8vN2mK5xR1pL7wQ3tY");
    // A path with a fragment reads as words.
    neg(g, "credentials: yegor256/home#assets/crates-credentials");
}

#[test]
fn a_long_qualifier_is_read_the_same_in_a_stream() {
    // The qualifier before the key word is read from up to LOOK_BEHIND bytes: a stream cut
    // anywhere must decide as the whole buffer does.
    let engine = crate::Engine::new(Vec::new());
    let cfg = crate::OutboundConfig {
        token_patterns: true,
        ..Default::default()
    };
    for text in [
        r#"{"VeryLongLifecycleActionToken": "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635"}"#,
        r#"{"x": 1, "token": "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635", "api_token": "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635"}"#,
    ] {
        let whole: Vec<_> = engine
            .scan(&cfg, text.as_bytes())
            .into_iter()
            .map(|f| (f.start, f.end))
            .collect();
        for cut in 1..text.len() {
            let mut stream = engine.stream(cfg);
            let mut found = stream.feed(&text.as_bytes()[..cut]);
            found.extend(stream.feed(&text.as_bytes()[cut..]));
            found.extend(stream.finish());
            let got: Vec<_> = found.into_iter().map(|f| (f.start, f.end)).collect();
            assert_eq!(got, whole, "cut at {cut} of {text}");
        }
    }
}

mod vendors;
