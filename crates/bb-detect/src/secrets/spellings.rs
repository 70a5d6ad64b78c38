//! Spellings of a known value an agent reaches for when told to hide it, beyond the standard
//! encodings: reversed, ROT13, character codes in decimal or octal (`[113, 56, 87]`,
//! `String.fromCharCode(113,56)`, `\161\070`), HTML entities (`&#113;`, `&#x71;`) and `\u`
//! escapes (`\u0071`). Matching skips separators (commas, spaces, semicolons, backslashes,
//! quotes), so each is one pattern: what is left between the separators.

use crate::decode::hex_encode;

/// The value's bytes in reverse order.
pub(super) fn reversed(v: &[u8]) -> Vec<u8> {
    v.iter().rev().copied().collect()
}

/// ROT13 of the value's letters.
pub(super) fn rot13(v: &[u8]) -> Vec<u8> {
    v.iter()
        .map(|&b| match b {
            b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
            b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
            _ => b,
        })
        .collect()
}

/// Each byte as a decimal number after `prefix` (`&#` for HTML entities, nothing for a list).
pub(super) fn decimal_codes(v: &[u8], prefix: &[u8]) -> Vec<u8> {
    v.iter()
        .flat_map(|b| prefix.iter().copied().chain(b.to_string().into_bytes()))
        .collect()
}

/// Each byte as three octal digits (`\161` with its backslash skipped).
pub(super) fn octal_codes(v: &[u8]) -> Vec<u8> {
    v.iter()
        .flat_map(|b| format!("{b:03o}").into_bytes())
        .collect()
}

/// Each byte as two hex digits after `prefix` (`u00` for `\u0071`, `&#x` for `&#x71;`,
/// `x` for `\x71`, `0x` for `0x71, …`).
pub(super) fn prefixed_hex(v: &[u8], prefix: &[u8], upper: bool) -> Vec<u8> {
    hex_encode(v, upper)
        .chunks(2)
        .flat_map(|pair| prefix.iter().chain(pair).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(reversed(b"abc1"), b"1cba");
        assert_eq!(rot13(b"Hello-9z"), b"Uryyb-9m");
        assert_eq!(decimal_codes(b"q8", b""), b"11356");
        assert_eq!(decimal_codes(b"q8", b"&#"), b"&#113&#56");
        assert_eq!(octal_codes(b"q8"), b"161070");
        assert_eq!(prefixed_hex(b"q8", b"u00", false), b"u0071u0038");
    }
}
