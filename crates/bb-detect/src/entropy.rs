//! The `entropy` detector (opt-in; the proxy only warns on it).
//!
//! A token is a maximal run of `[A-Za-z0-9+/_-]` with its trailing `=` padding, of at least
//! [`MIN_TOKEN_LEN`] bytes (an `=` inside a run ends the token: `request_id=<uuid>` is two
//! tokens, not one; runs longer than [`MAX_TOKEN_LEN`] are judged on their first
//! [`MAX_TOKEN_LEN`] bytes and reported whole). It is flagged when it looks random:
//!
//! - it has at least one letter and one digit, and is not made only of words and numbers
//!   between `- _ . / : +` (identifiers, paths such as `api/v1/users/12345/profile`, versions
//!   are never flagged), and
//! - its Shannon entropy (bits per byte, over the byte frequencies of the token) is at least
//!   `min(`[`MAX_THRESHOLD`]`, `[`LENGTH_FACTOR`]` * log2(len))`. The entropy of a short string
//!   is capped by `log2(len)` (20 distinct bytes give 4.32 bits), so a fixed threshold such as
//!   4.5 could never fire below 23 bytes; the factor keeps the bar at 86% of the maximum for
//!   short tokens. Random base62/base64 of 20 to 64 bytes passes about 95% of the time;
//!   camelCase identifiers, dotted versions, dates and file paths with a few digits stay
//!   below; and
//! - it is not hex-only shaped like a digest or an identifier: hex-only tokens (dashes
//!   ignored) are judged against [`HEX_THRESHOLD`] and never flagged when they are a UUID or
//!   exactly 32, 40, 64 or 128 hex digits (MD5/SHA-1/SHA-256/SHA-512, git object ids): those
//!   are everywhere in package and git traffic and are not credentials.

use std::sync::OnceLock;

/// Shortest token considered.
pub const MIN_TOKEN_LEN: usize = 20;
/// Longer runs are judged on this many bytes from their start.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Upper bound of the threshold, bits per byte (reached at about 31 bytes).
pub const MAX_THRESHOLD: f64 = 4.3;
/// For shorter tokens: this fraction of the maximum possible entropy `log2(len)`.
pub const LENGTH_FACTOR: f64 = 0.86;
/// Threshold for hex-only tokens (whose maximum is 4 bits per byte).
pub const HEX_THRESHOLD: f64 = 3.4;

/// `c * log2(c)` for counts up to MAX_TOKEN_LEN.
fn clogc(c: u32) -> f64 {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        (0..=MAX_TOKEN_LEN)
            .map(|c| {
                if c == 0 {
                    0.0
                } else {
                    c as f64 * (c as f64).log2()
                }
            })
            .collect()
    });
    match t.get(c as usize) {
        Some(&v) => v,
        None => c as f64 * (c as f64).log2(),
    }
}

/// Shannon entropy of `data`, in bits per byte: `log2(n) - sum(c * log2(c)) / n` over the
/// byte counts `c`.
pub fn shannon(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    let mut seen = [0u8; 256];
    let mut distinct = 0;
    for &b in data {
        let c = &mut counts[b as usize];
        if *c == 0 {
            seen[distinct] = b;
            distinct += 1;
        }
        *c += 1;
    }
    let n = data.len() as f64;
    let sum: f64 = seen[..distinct]
        .iter()
        .map(|&b| clogc(counts[b as usize]))
        .sum();
    (n.log2() - sum / n).max(0.0)
}

/// The threshold for a (non-hex) token of `len` bytes.
pub fn threshold(len: usize) -> f64 {
    (LENGTH_FACTOR * (len as f64).log2()).min(MAX_THRESHOLD)
}

/// Whether a token (already a run of `[A-Za-z0-9+/=_-]`) looks random (see the module docs).
pub fn is_random_token(tok: &[u8]) -> bool {
    if tok.len() < MIN_TOKEN_LEN {
        return false;
    }
    let tok = &tok[..tok.len().min(MAX_TOKEN_LEN)];
    // Branch-free so that it vectorises: the classes seen in the token.
    let (mut digit, mut alpha, mut not_hex) = (0u8, 0u8, 0u8);
    for &b in tok {
        let d = (b.wrapping_sub(b'0') < 10) as u8;
        let lower = b | 0x20;
        let a = (lower.wrapping_sub(b'a') < 26) as u8;
        let h = (lower.wrapping_sub(b'a') < 6) as u8;
        digit |= d;
        alpha |= a;
        not_hex |= (1 ^ (d | h)) & (b != b'-') as u8;
    }
    let hex_only = not_hex == 0;
    if digit == 0 || alpha == 0 {
        return false;
    }
    if hex_only {
        if is_uuid(tok) {
            return false;
        }
        let digits = tok.iter().filter(|&&b| b != b'-').count();
        let mixed_case =
            tok.iter().any(u8::is_ascii_lowercase) && tok.iter().any(u8::is_ascii_uppercase);
        if !mixed_case && matches!(digits, 32 | 40 | 64 | 128) {
            return false;
        }
        return shannon_token(tok, true) >= HEX_THRESHOLD && !crate::tokens::words_and_numbers(tok);
    }
    shannon_token(tok, false) >= threshold(tok.len()) && !crate::tokens::words_and_numbers(tok)
}

/// [`shannon`] for a token (ASCII only, at most MAX_TOKEN_LEN bytes), without `-` when
/// `skip_dash`: small count arrays, no 256-entry pass.
fn shannon_token(tok: &[u8], skip_dash: bool) -> f64 {
    let mut counts = [0u16; 128];
    let mut seen = [0u8; 128];
    let mut distinct = 0;
    let mut n = 0u32;
    for &b in tok {
        if skip_dash && b == b'-' {
            continue;
        }
        let c = &mut counts[(b & 127) as usize];
        if *c == 0 {
            seen[distinct] = b & 127;
            distinct += 1;
        }
        *c += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = seen[..distinct]
        .iter()
        .map(|&b| clogc(counts[b as usize] as u32))
        .sum();
    let n = n as f64;
    (n.log2() - sum / n).max(0.0)
}

fn is_uuid(t: &[u8]) -> bool {
    t.len() == 36
        && t.iter().enumerate().all(|(i, &b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn shannon_basics() {
        assert_eq!(shannon(b""), 0.0);
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!((shannon(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn random_tokens_pass() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut seed = 7;
        for len in [20usize, 24, 32, 40, 64, 200] {
            let mut pass = 0;
            for _ in 0..400 {
                let t: Vec<u8> = (0..len)
                    .map(|_| alphabet[lcg(&mut seed) as usize % alphabet.len()])
                    .collect();
                pass += is_random_token(&t) as usize;
            }
            assert!(pass >= 360, "len {len}: {pass}/400");
        }
    }

    #[test]
    fn benign_tokens_fail() {
        for t in [
            "getUserAccountSettingsHandler2",
            "EcPrivateKeyRfc5915DerEncoding",
            "com/api/v1/users/12345/profile",
            "test_user_account_2024_v2_final",
            "node_modules/typescript/lib/lib",
            "ubuntu-22/amd64/linux-image-generic",
            "python3/site-packages/requests",
            "a3f8b2c1-4e5d-6f7a-8b9c-0d1e2f3a4b5c",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "2026-03-10T09/00/00-2026-03-10",
            "api/v1/users/12345/profile/settings",
            "request_id",
            "abcdefghijklmnopqrstuvwxyz",
            "1.2.3-alpha+20240101-build-5",
        ] {
            assert!(!is_random_token(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn random_looking_pass() {
        for t in [
            "x7Kp2mQ9vR4sL8nW1bY6cT3fA0jH5dE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08ff",
        ] {
            assert!(is_random_token(t.as_bytes()), "{t}");
        }
    }
}
