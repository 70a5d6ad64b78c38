//! Byte classes, encoders (to build known-secret patterns) and decoders (to look inside
//! encoded runs for credential formats).

pub(crate) const B64_STD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Bytes removed from both the secrets and the input before known-secret matching: the
/// separators an agent (or a tool) puts between the characters of a value.
pub(crate) const SEPARATORS: &[u8] = b"-_.:/,;|\\\"' \t\r\n";

const fn sep_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < SEPARATORS.len() {
        t[SEPARATORS[i] as usize] = true;
        i += 1;
    }
    t
}

pub(crate) static IS_SEP: [bool; 256] = sep_table();

#[inline(always)]
pub(crate) fn is_sep(b: u8) -> bool {
    IS_SEP[b as usize]
}

#[inline(always)]
pub(crate) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[inline(always)]
pub(crate) fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// A byte of a base64 segment (either alphabet, no padding).
#[inline(always)]
pub(crate) fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

/// A byte that may appear in a percent-encoded URL component.
#[inline(always)]
pub(crate) fn is_urlch(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'.' | b'_' | b'~' | b'-' | b'+' | b'/')
}

/// A block of 64 bytes (zero-padded when `b` is shorter).
#[inline(always)]
pub(crate) fn block64(b: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..b.len()].copy_from_slice(b);
    out
}

pub(crate) fn strip_separators(v: &[u8]) -> Vec<u8> {
    v.iter().copied().filter(|&b| !is_sep(b)).collect()
}

pub(crate) fn hex_encode(v: &[u8], upper: bool) -> Vec<u8> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(v.len() * 2);
    for &b in v {
        out.push(digits[(b >> 4) as usize]);
        out.push(digits[(b & 15) as usize]);
    }
    out
}

/// Standard base64 with padding.
pub(crate) fn b64_encode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len().div_ceil(3) * 4);
    for c in v.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(B64_STD[(n >> 18) as usize & 63]);
        out.push(B64_STD[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            B64_STD[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            B64_STD[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

/// The characters of the base64 encoding of `v` that do not depend on what surrounds it when
/// `v` starts `align` bytes (0, 1 or 2) into a 3-byte group of a longer encoded string.
pub(crate) fn b64_core(v: &[u8], align: usize) -> Vec<u8> {
    encoding_core(v, align, 6, b64_encode)
}

/// The part of `encode(v)` that a longer input holding `v` at byte `align` of an encoding
/// group also encodes to: the characters (of `bits` bits each) made of `v`'s bits only.
fn encoding_core(v: &[u8], align: usize, bits: usize, encode: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut padded = vec![0u8; align];
    padded.extend_from_slice(v);
    let enc = encode(&padded);
    let first = (8 * align).div_ceil(bits);
    let last = (8 * (align + v.len())) / bits; // exclusive
    enc[first..last.max(first)].to_vec()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648 alphabet, upper case, no padding).
pub(crate) fn b32_encode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in v {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((acc >> bits) & 31) as usize]);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(B32[((acc << (5 - bits)) & 31) as usize]);
    }
    out
}

/// The characters of the base32 encoding of `v` that do not depend on what surrounds it when
/// `v` starts `align` bytes (0 to 4) into a 5-byte group of a longer encoded string.
pub(crate) fn b32_core(v: &[u8], align: usize) -> Vec<u8> {
    encoding_core(v, align, 5, b32_encode)
}

pub(crate) fn to_url_alphabet(v: &[u8]) -> Vec<u8> {
    v.iter()
        .map(|&b| match b {
            b'+' => b'-',
            b'/' => b'_',
            b => b,
        })
        .collect()
}

/// Percent-encodes every byte (`all`) or only the bytes outside RFC 3986's unreserved set.
pub(crate) fn pct_encode(v: &[u8], all: bool, upper: bool) -> Vec<u8> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if !all && (b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(digits[(b >> 4) as usize]);
            out.push(digits[(b & 15) as usize]);
        }
    }
    out
}

const fn b64_table() -> [u8; 256] {
    let mut t = [63u8; 256]; // '/', '_' (callers pass base64 bytes only)
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t
}

static B64_VAL: [u8; 256] = b64_table();

#[inline(always)]
fn b64_val(b: u8) -> u8 {
    B64_VAL[b as usize]
}

/// Decodes base64 (either alphabet, no padding) from the start of `s` into `out` (cleared).
pub(crate) fn b64_decode(s: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(s.len() / 4 * 3 + 3);
    let mut chunks = s.chunks_exact(4);
    for c in &mut chunks {
        let n = (b64_val(c[0]) as u32) << 18
            | (b64_val(c[1]) as u32) << 12
            | (b64_val(c[2]) as u32) << 6
            | b64_val(c[3]) as u32;
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let r = chunks.remainder();
    if r.len() >= 2 {
        let mut n = (b64_val(r[0]) as u32) << 18 | (b64_val(r[1]) as u32) << 12;
        out.push((n >> 16) as u8);
        if r.len() == 3 {
            n |= (b64_val(r[2]) as u32) << 6;
            out.push((n >> 8) as u8);
        }
    }
}

#[inline]
fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b.wrapping_sub(b'A').wrapping_add(10) & 15,
    }
}

/// Decodes pairs of hex digits from the start of `s` into `out` (cleared).
pub(crate) fn hex_decode(s: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for c in s.chunks_exact(2) {
        out.push(hex_val(c[0]) << 4 | hex_val(c[1]));
    }
}

/// Decodes `%XX` escapes. `map[j]` is the offset in `s` where decoded byte `j` comes from.
pub(crate) fn pct_decode(s: &[u8], out: &mut Vec<u8>, map: &mut Vec<usize>) {
    out.clear();
    map.clear();
    let mut i = 0;
    while i < s.len() {
        map.push(i);
        if s[i] == b'%' && i + 2 < s.len() && is_hex(s[i + 1]) && is_hex(s[i + 2]) {
            out.push(hex_val(s[i + 1]) << 4 | hex_val(s[i + 2]));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
}

/// Whether `s` holds at least one `%XX` escape.
pub(crate) fn has_pct_escape(s: &[u8]) -> bool {
    s.windows(3)
        .any(|w| w[0] == b'%' && is_hex(w[1]) && is_hex(w[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_cores() {
        let v = b"AKIAIOSFODNN7EXAMPLE";
        let enc = b64_encode(v);
        assert_eq!(enc, b"QUtJQUlPU0ZPRE5ON0VYQU1QTEU=");
        let mut dec = Vec::new();
        b64_decode(&enc[..enc.len() - 1], &mut dec);
        assert_eq!(dec, v);
        for align in 0..3 {
            let core = b64_core(v, align);
            for pre in 0..6usize {
                for post in 0..4usize {
                    let mut s = vec![b'x'; pre];
                    s.extend_from_slice(v);
                    s.extend(std::iter::repeat_n(b'y', post));
                    let e = b64_encode(&s);
                    if pre % 3 == align {
                        assert!(
                            e.windows(core.len()).any(|w| w == core.as_slice()),
                            "align {align} pre {pre} post {post}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hex_and_percent() {
        assert_eq!(hex_encode(b"AK", false), b"414b");
        assert_eq!(hex_encode(b"AK", true), b"414B");
        let mut out = Vec::new();
        hex_decode(b"414b", &mut out);
        assert_eq!(out, b"AK");
        assert_eq!(pct_encode(b"a/b", false, true), b"a%2Fb");
        assert_eq!(pct_encode(b"ab", true, false), b"%61%62");
        let mut map = Vec::new();
        pct_decode(b"x%41y%4", &mut out, &mut map);
        assert_eq!(out, b"xAy%4");
        assert_eq!(map, vec![0, 1, 4, 5, 6]);
        assert!(has_pct_escape(b"a%2fb"));
        assert!(!has_pct_escape(b"100%"));
    }

    #[test]
    fn base32_and_its_core() {
        assert_eq!(b32_encode(b""), b"");
        assert_eq!(b32_encode(b"f"), b"MY");
        assert_eq!(b32_encode(b"foobar"), b"MZXW6YTBOI");
        // The core of a value inside a longer string is a substring of that string's encoding.
        let secret = b"s3cr3t-v4lue-0f-s0me-l3ngth";
        for align in 0..5 {
            let mut whole = b"prefix"[..align].to_vec();
            whole.extend_from_slice(secret);
            whole.extend_from_slice(b"!tail");
            let enc = b32_encode(&whole);
            let core = b32_core(secret, align);
            assert!(core.len() >= secret.len() * 8 / 5 - 2, "{align}");
            assert!(enc.windows(core.len()).any(|w| w == core), "{align}");
        }
    }
}
