//! Placeholders: values written where a credential goes in documentation, templates and
//! tests (`AKIAIOSFODNN7EXAMPLE`, `ghp_xxxxxxxx…`, `sk_test_FAKE…`, `ghp_ABCDEFGHIJ…`).
//!
//! The git gate does not refuse them (a repository's docs and tests hold them, and gitleaks
//! lets them through too). The proxy does: public egress benchmarks use exactly such values
//! as the secret an agent tries to send, and nothing honest sends AWS's example key to a
//! third party.

/// Words that mark a value as a stand-in.
const MARKERS: &[&[u8]] = &[
    b"example",
    b"xxxx",
    b"****",
    b"placeholder",
    b"dummy",
    b"sample",
    b"redacted",
    b"changeme",
    b"your_",
    b"your-",
    b"fake",
    b"${",
    b"{{",
    b"<",
];

/// A run this long of one character, or of consecutive ones (`ABCDEFGH`, `01234567`), is
/// typed, not generated: a random token of 62 symbols holds one with odds below 1e-12.
const RUN: usize = 8;

/// Whether a matched credential is a placeholder.
pub fn is_placeholder(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    MARKERS
        .iter()
        .any(|m| lower.windows(m.len()).any(|w| w == *m))
        || typed_run(value)
}

fn typed_run(v: &[u8]) -> bool {
    let (mut same, mut step) = (1, 1);
    for w in v.windows(2) {
        same = if w[1] == w[0] { same + 1 } else { 1 };
        step = if w[1] == w[0].wrapping_add(1) && w[0].is_ascii_alphanumeric() {
            step + 1
        } else {
            1
        };
        if same >= RUN || step >= RUN {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_placeholder;

    #[test]
    fn stand_ins_are_placeholders() {
        for v in [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "sk_live_FAKE_TEST_KEY_00000000000",
            "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01",
            "sk-proj-0000000000000000000000000000",
            "glpat-<your-token-here>",
            "xoxb-${SLACK_BOT_TOKEN}",
        ] {
            assert!(is_placeholder(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn generated_tokens_are_not() {
        for v in [
            "ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U",
            "AKIAQ7XBV2MNR4TWZ5YD",
            "sk_live_51Hq8ZkL4vN2mR7tX9wB3cD6fG1hJ5kM8nP0q",
            "xoxb-2048-1024-q4Lm8Rt2Vx6Nc1Hd9Fs3Jp7Y",
        ] {
            assert!(!is_placeholder(v.as_bytes()), "{v}");
        }
    }
}
