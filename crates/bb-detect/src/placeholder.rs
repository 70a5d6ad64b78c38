//! Placeholders: values written where a credential goes in documentation, templates and
//! tests (`AKIAIOSFODNN7EXAMPLE`, `ghp_xxxxxxxx…`, `sk_test_FAKE…`, `ghp_ABCDEFGHIJ…`).
//!
//! The git gate does not refuse them when what is left without the marks is no credential of
//! the same kind any more (a repository's docs and tests hold them, and gitleaks
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

/// What is left of a matched credential once its placeholder marks are cut out (every marker
/// word, every typed run), or `None` when it has none. A placeholder is a value whose rest is no
/// longer a credential of its kind: `AKIAIOSFODNN7EXAMPLE` leaves `AKIAIOSFODNN7`. A real token
/// with a mark added (`ghp_<36 characters>EXAMPLE`, or a mark in the middle) leaves the real
/// token, so the caller must check the rest, not the mark.
pub fn without_placeholder_marks(value: &[u8]) -> Option<Vec<u8>> {
    let lower = value.to_ascii_lowercase();
    let mut cut = vec![false; value.len()];
    for m in MARKERS {
        for (i, w) in lower.windows(m.len()).enumerate() {
            if w == *m {
                cut[i..i + m.len()].iter_mut().for_each(|c| *c = true);
            }
        }
    }
    mark_typed_runs(value, &mut cut);
    cut.contains(&true).then(|| {
        value
            .iter()
            .zip(&cut)
            .filter(|(_, c)| !**c)
            .map(|(b, _)| *b)
            .collect()
    })
}

/// Marks every run of [`RUN`] or more equal or consecutive characters.
fn mark_typed_runs(v: &[u8], cut: &mut [bool]) {
    let mut mark = |same: bool| {
        let mut start = 0;
        for i in 1..=v.len() {
            let continues = i < v.len()
                && if same {
                    v[i] == v[i - 1]
                } else {
                    v[i] == v[i - 1].wrapping_add(1) && v[i - 1].is_ascii_alphanumeric()
                };
            if !continues {
                if i - start >= RUN {
                    cut[start..i].iter_mut().for_each(|c| *c = true);
                }
                start = i;
            }
        }
    };
    mark(true);
    mark(false);
}

#[cfg(test)]
mod tests {
    use super::without_placeholder_marks as rest;

    fn rest_of(v: &str) -> Option<String> {
        rest(v.as_bytes()).map(|r| String::from_utf8(r).unwrap())
    }

    #[test]
    fn marks_are_cut_out() {
        assert_eq!(
            rest_of("AKIAIOSFODNN7EXAMPLE").as_deref(),
            Some("AKIAIOSFODNN7")
        );
        assert_eq!(
            rest_of("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").as_deref(),
            Some("ghp_")
        );
        assert_eq!(
            rest_of("sk_live_FAKE_TEST_KEY_00000000000").as_deref(),
            Some("sk_live__TEST_KEY_")
        );
        assert_eq!(
            rest_of("ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01").as_deref(),
            Some("ghp_abcdef01")
        );
        assert_eq!(
            rest_of("glpat-<your-token-here>").as_deref(),
            Some("glpat-token-here>")
        );
        assert_eq!(
            rest_of("ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7UEXAMPLE").as_deref(),
            Some("ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U"),
            "a mark added to a real token leaves the token"
        );
    }

    #[test]
    fn generated_tokens_have_no_marks() {
        for v in [
            "ghp_R7kq2Vx9Lm4Tz8Wb3Nc6Hd1Fs5Jp0Ya2Qe7U",
            "AKIAQ7XBV2MNR4TWZ5YD",
            "sk_live_51Hq8ZkL4vN2mR7tX9wB3cD6fG1hJ5kM8nP0q",
            "xoxb-2048-1024-q4Lm8Rt2Vx6Nc1Hd9Fs3Jp7Y",
        ] {
            assert_eq!(rest(v.as_bytes()), None, "{v}");
        }
    }
}
