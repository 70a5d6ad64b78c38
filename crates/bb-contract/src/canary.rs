//! The canary: a honeytoken minted per launch, put in the agent's environment, and blocked by
//! the sidecar wherever it appears. Minted here only, so the launcher, the detectors and the
//! tests agree on its one format.

/// Every canary starts with this (the detectors' literal for it).
pub const CANARY_PREFIX: &str = "bbcanary_";
/// The number of random characters after the prefix.
pub const CANARY_RANDOM_LEN: usize = 32;
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh canary: [`CANARY_PREFIX`] and 32 random base62 characters (about 190 bits, from the
/// thread-local CSPRNG).
pub fn mint_canary() -> String {
    let mut canary = String::from(CANARY_PREFIX);
    for _ in 0..CANARY_RANDOM_LEN {
        canary.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    canary
}

/// Whether `text` has the canary's shape (the prefix, then 32 base62 characters).
pub fn is_canary(text: &str) -> bool {
    text.strip_prefix(CANARY_PREFIX).is_some_and(|rest| {
        rest.len() == CANARY_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_have_one_shape_and_differ() {
        let (a, b) = (mint_canary(), mint_canary());
        assert!(is_canary(&a) && is_canary(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_canary("bbcanary_short"));
        assert!(!is_canary(&format!("{CANARY_PREFIX}{}", "-".repeat(32))));
    }
}
