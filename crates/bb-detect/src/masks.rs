//! Bit masks of 64-byte blocks (bit i for byte i), one per byte class the run-based detectors
//! read, computed 16 bytes at a time with SIMD compares and move-masks (`wide`: SSE2 on
//! x86-64, NEON or plain code elsewhere).

use wide::u8x16;

/// The classes of a block's bytes.
pub(crate) struct Masks {
    /// Token / base64 segment bytes `[A-Za-z0-9+/_-]`.
    pub seg: u64,
    pub hex: u64,
    /// Upper-case letters (where an IBAN may start).
    pub upper: u64,
    pub digit: u64,
    /// Letters and the bytes between the words of a seed phrase ([`crate::seed`]).
    pub phrase: u64,
    /// Spaces and dashes (card number separators) and dots (a card number's context: a run of
    /// digits right after `digit.` is the fraction of a decimal number).
    pub card_sep: u64,
}

fn splat(c: u8) -> u8x16 {
    u8x16::splat(c)
}

/// Lanes where `t < n` (unsigned).
#[inline(always)]
fn below(t: u8x16, n: u8) -> u8x16 {
    t.min(splat(n - 1)).simd_eq(t)
}

#[inline(always)]
fn is(v: u8x16, c: u8) -> u8x16 {
    v.simd_eq(splat(c))
}

#[inline(always)]
fn lanes(b: &[u8; 64], k: usize) -> u8x16 {
    u8x16::new(b[16 * k..16 * k + 16].try_into().expect("16 bytes"))
}

/// Classifies each byte of a block once, for every run-based detector.
#[inline(always)]
pub(crate) fn block_masks(b: &[u8; 64]) -> Masks {
    let mut m = Masks {
        seg: 0,
        hex: 0,
        upper: 0,
        digit: 0,
        phrase: 0,
        card_sep: 0,
    };
    for k in 0..4 {
        let v = lanes(b, k);
        let digit = below(v - splat(b'0'), 10);
        let from_a = (v | splat(0x20)) - splat(b'a');
        let alpha = below(from_a, 26);
        let dash = is(v, b'-');
        let (space, dot) = (is(v, b' '), is(v, b'.'));
        let seg = digit | alpha | is(v, b'+') | is(v, b'/') | is(v, b'_') | dash;
        let gap = digit
            | space
            | is(v, b'\n')
            | is(v, b'\t')
            | is(v, b'\r')
            | is(v, b',')
            | is(v, b'"')
            | is(v, b'\'')
            | dot
            | is(v, b')')
            | is(v, b':')
            | is(v, b';')
            | dash;
        let at = 16 * k;
        let bits = |x: u8x16| u64::from(x.to_bitmask()) << at;
        m.seg |= bits(seg);
        m.hex |= bits(digit | below(from_a, 6));
        m.digit |= bits(digit);
        m.upper |= bits(below(v - splat(b'A'), 26));
        m.card_sep |= bits(dash | space | dot);
        m.phrase |= bits(alpha | gap);
    }
    m
}

/// ASCII letters of a block.
#[inline(always)]
pub(crate) fn letters(b: &[u8; 64]) -> u64 {
    (0..4).fold(0, |m, k| {
        let from_a = (lanes(b, k) | splat(0x20)) - splat(b'a');
        m | u64::from(below(from_a, 26).to_bitmask()) << (16 * k)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::block64;

    /// The classes byte by byte, as the masks must give them.
    fn classes(x: u8) -> [bool; 6] {
        let digit = x.is_ascii_digit();
        let alpha = x.is_ascii_alphabetic();
        let dash = x == b'-';
        [
            digit || alpha || matches!(x, b'+' | b'/' | b'_') || dash,
            x.is_ascii_hexdigit(),
            x.is_ascii_uppercase(),
            digit,
            alpha || crate::seed::is_gap_byte(x),
            matches!(x, b'-' | b' ' | b'.'),
        ]
    }

    #[test]
    fn every_byte_value_in_every_lane_is_classed_as_byte_by_byte() {
        for b in 0..=255u8 {
            for at in [0, 15, 16, 31, 47, 63] {
                let mut block = [b'x'; 64];
                block[at] = b;
                let m = block_masks(&block);
                let got = [m.seg, m.hex, m.upper, m.digit, m.phrase, m.card_sep]
                    .map(|mask| mask >> at & 1 == 1);
                assert_eq!(got, classes(b), "byte {b:#04x} at {at}");
                assert_eq!(letters(&block) >> at & 1 == 1, b.is_ascii_alphabetic());
            }
        }
    }

    #[test]
    fn masks_of_a_short_block() {
        let m = block_masks(&block64(b"ab=c d-4 .1"));
        assert_eq!(m.seg, 0b10011101011);
        assert_eq!(m.hex, 0b10010101011);
        assert_eq!(m.digit, 0b10010000000);
        assert_eq!(m.card_sep, 0b1101010000);
    }
}
