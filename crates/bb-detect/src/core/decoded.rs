//! Base64 and hex segments decoded and scanned for credential formats, and what they decode
//! to decoded again (base64, hex, percent-encoding) up to [`DEPTH`] layers: base64 of hex of a
//! URL-encoded token is found too.

use crate::decode::{b64_decode, has_pct_escape, hex_decode, is_b64, is_hex, pct_decode};
use crate::secrets::Scratch;
use crate::{Detector, Engine};

/// How many encodings deep a segment is looked into.
const DEPTH: usize = 4;
use crate::entropy::MIN_TOKEN_LEN;

/// Whether decoded bytes hold 16 printable ASCII bytes in a row: every credential format is
/// at least that long, so random binary (digests, images) needs no further look.
fn has_text_run(b: &[u8]) -> bool {
    let mut run = 0;
    for &x in b {
        run = if (0x20..0x7f).contains(&x) || x == b'\n' {
            run + 1
        } else {
            0
        };
        if run >= 16 {
            return true;
        }
    }
    false
}

/// [`has_text_run`] on the bytes that hex digit pairs would decode to, without decoding: a
/// printable ASCII byte has a high nibble of 2 to 7.
fn hex_text_run(hex: &[u8]) -> bool {
    let mut run = 0;
    for pair in hex.chunks_exact(2) {
        run = if matches!(pair[0], b'2'..=b'7') || pair == b"0a" || pair == b"0A" {
            run + 1
        } else {
            0
        };
        if run >= 16 {
            return true;
        }
    }
    false
}

/// Calls `f(start, end)` for every maximal run of bytes in `class` at least `min` long.
pub(super) fn for_runs(
    data: &[u8],
    class: impl Fn(u8) -> bool,
    min: usize,
    mut f: impl FnMut(usize, usize),
) {
    let mut i = 0;
    while i < data.len() {
        if !class(data[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < data.len() && class(data[j]) {
            j += 1;
        }
        if j - i >= min {
            f(i, j);
        }
        i = j;
    }
}

pub(super) type DecodeSink<'a> = dyn FnMut(Detector, &str, &str, usize, usize) + 'a;

/// Decodes a base64/hex segment and looks for credential formats in what comes out (and, with
/// `known`, for the known values under a further layer). Calls
/// `sink(detector, rule, "/base64" | "/hex", start, end)` with offsets in `seg`.
pub(super) fn decode_segment(eng: &Engine, known: bool, seg: &[u8], sink: &mut DecodeSink<'_>) {
    decode_b64(eng, known, seg, sink);
    for_runs(seg, is_hex, MIN_TOKEN_LEN, |i, j| {
        decode_hex(eng, known, &seg[i..j], &mut |d, r, x, s, e| {
            sink(d, r, x, i + s, i + e)
        });
    });
}

pub(super) fn decode_b64(eng: &Engine, known: bool, seg: &[u8], sink: &mut DecodeSink<'_>) {
    // Base64 worth decoding has upper and lower case letters and digits (or is long); this
    // skips identifiers, words and paths.
    let upper = seg.iter().any(u8::is_ascii_uppercase);
    let lower = seg.iter().any(u8::is_ascii_lowercase);
    let digit = seg.iter().any(u8::is_ascii_digit);
    if !(upper && lower && (digit || seg.len() >= 32)) {
        return;
    }
    let mut buf = Vec::new();
    let mut b64 = |part: &[u8], off: usize, sink: &mut DecodeSink<'_>| {
        b64_decode(part, &mut buf);
        if !has_text_run(&buf) {
            return;
        }
        eng.tokens.pass_whole(&buf, &mut |_, rule, ds, de| {
            let cs = ds * 4 / 3;
            let ce = ((de * 4).div_ceil(3)).min(part.len());
            sink(Detector::TokenPatterns, rule, "/base64", off + cs, off + ce)
        });
        nested(eng, &buf, DEPTH - 1, known, &mut |d, rule| {
            sink(d, rule, "/base64", off, off + part.len())
        });
    };
    b64(seg, 0, sink);
    // A base64 value after a path separator (`/sync/QUtJ...`) has its own alignment.
    let mut start = 0;
    for (k, &b) in seg.iter().enumerate() {
        if b == b'/' {
            if start > 0 && k - start >= MIN_TOKEN_LEN {
                b64(&seg[start..k], start, sink);
            }
            start = k + 1;
        }
    }
    if start > 0 && seg.len() - start >= MIN_TOKEN_LEN {
        b64(&seg[start..], start, sink);
    }
}

/// A run of hex digits, decoded at both alignments.
pub(super) fn decode_hex(eng: &Engine, known: bool, run: &[u8], sink: &mut DecodeSink<'_>) {
    let mut buf = Vec::new();
    for off in 0..2 {
        if run.len() - off >= MIN_TOKEN_LEN && hex_text_run(&run[off..]) {
            hex_decode(&run[off..], &mut buf);
            if !has_text_run(&buf) {
                continue;
            }
            eng.tokens.pass_whole(&buf, &mut |_, rule, ds, de| {
                sink(
                    Detector::TokenPatterns,
                    rule,
                    "/hex",
                    off + 2 * ds,
                    off + 2 * de,
                )
            });
            nested(eng, &buf, DEPTH - 1, known, &mut |d, rule| {
                sink(d, rule, "/hex", off, run.len())
            });
            random_tokens(&buf, &mut |ds, de| {
                sink(
                    Detector::TokenPatterns,
                    "encoded-high-entropy-secret",
                    "/hex",
                    off + 2 * ds,
                    off + 2 * de,
                )
            });
        }
    }
}

/// Credential formats (and, with `known`, the known values) in the encodings inside decoded
/// `text` (percent-encoding, base64 and hex runs), `depth` layers further down;
/// `found(detector, rule)` names each with its layers (`aws-access-key-id/url/hex`).
fn nested(
    eng: &Engine,
    text: &[u8],
    depth: usize,
    known: bool,
    found: &mut dyn FnMut(Detector, &str),
) {
    if depth == 0 || !has_text_run(text) {
        return;
    }
    let layer = |decoded: &[u8], suffix: &str, found: &mut dyn FnMut(Detector, &str)| {
        eng.tokens.pass_whole(decoded, &mut |_, rule, _, _| {
            found(Detector::TokenPatterns, &format!("{rule}{suffix}"))
        });
        if known && eng.secrets.has_long() {
            let mut scratch = Scratch::default();
            eng.secrets.pass(
                decoded,
                0,
                0,
                true,
                true,
                false,
                &mut scratch,
                &mut |_, rule, _, _| found(Detector::KnownSecrets, &format!("{rule}{suffix}")),
            );
        }
        nested(eng, decoded, depth - 1, known, &mut |d, rule| {
            found(d, &format!("{rule}{suffix}"))
        });
    };
    if has_pct_escape(text) {
        let (mut decoded, mut map) = (Vec::new(), Vec::new());
        pct_decode(text, &mut decoded, &mut map);
        layer(&decoded, "/url", found);
    }
    let mut buf = Vec::new();
    for_runs(text, is_b64, MIN_TOKEN_LEN, |i, j| {
        let run = &text[i..j];
        let mixed =
            run.iter().any(u8::is_ascii_uppercase) && run.iter().any(u8::is_ascii_lowercase);
        if mixed {
            b64_decode(run, &mut buf);
            if has_text_run(&buf) {
                layer(&buf.clone(), "/base64", found);
            }
        }
    });
    for_runs(text, is_hex, MIN_TOKEN_LEN, |i, j| {
        for off in 0..2 {
            if hex_text_run(&text[i + off..j]) {
                hex_decode(&text[i + off..j], &mut buf);
                layer(&buf.clone(), "/hex", found);
            }
        }
    });
}

/// In decoded base64/hex text, a credential-shaped token (32–64 bytes of `[A-Za-z0-9+/]` with
/// upper and lower case and digits) that looks random: encoding a random secret inside another
/// encoding is how exfiltration hides one, so this is a finding, not an entropy warning.
fn random_tokens(text: &[u8], sink: &mut dyn FnMut(usize, usize)) {
    let token_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    for_runs(text, token_byte, 32, |i, j| {
        let tok = &text[i..j];
        let classes = tok.iter().any(u8::is_ascii_uppercase)
            && tok.iter().any(u8::is_ascii_lowercase)
            && tok.iter().any(u8::is_ascii_digit);
        if tok.len() <= 64 && classes && crate::entropy::is_random_token(tok) {
            sink(i, j);
        }
    });
}
