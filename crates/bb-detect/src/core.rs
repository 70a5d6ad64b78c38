//! One scan round over a buffer (the whole input, or a stream's kept tail plus a new chunk).
//!
//! Each pass keeps a frontier: what lies before it was decided by an earlier round and is not
//! reported again. A candidate that needs bytes past the end of the buffer (a literal hit whose
//! regex window is cut, a fragment that reaches the end, a run still growing) is held: the
//! round returns the position from which the buffer must be kept, and the candidate is decided
//! in a later round. Findings are also deduplicated against what was already returned, so a
//! match is reported once whatever the chunking.

use std::collections::HashSet;

use crate::cards;
use crate::decode::{
    b64_decode, block_masks, block64, has_pct_escape, hex_decode, is_b64, is_hex, is_urlch,
    pct_decode,
};
use crate::entropy::{self, MAX_TOKEN_LEN, MIN_TOKEN_LEN};
use crate::secrets::{Scratch, back_nonsep};
use crate::{Detector, Engine, Finding, OutboundConfig, sort_findings};

/// Long base64/hex segments are decoded in pieces of this many bytes...
const PIECE: usize = 4096;
/// ... starting this far apart (a multiple of 4: the base64 alignment is kept; the overlap of
/// 512 bytes covers any credential that straddles two pieces).
const STEP: usize = 3584;
/// Longest percent-encoded region decoded at once.
const PCT_CAP: usize = 4096;

#[derive(Default)]
pub(crate) struct State {
    /// Offset in the stream of the first byte of the buffer.
    pub base: usize,
    /// Bytes fed so far.
    pub consumed: usize,
    tok_done: usize,
    ks_done: usize,
    pct_done: usize,
    run_done: usize,
    card_done: usize,
    seg_open: Option<OpenRun>,
    hex_open: Option<OpenRun>,
    card_open: Option<usize>,
    emitted: HashSet<Finding>,
    scratch: Scratch,
}

#[derive(Clone, Copy)]
struct OpenRun {
    start: usize,
    /// Entropy runs: the verdict, once the first MAX_TOKEN_LEN bytes were seen.
    decided: Option<bool>,
    /// Segments: the start of the next piece to decode.
    next: usize,
}

/// Scans `data` (stream offsets `st.base..`); returns the stream offset from which the buffer
/// must be kept for the next round.
pub(crate) fn round(
    eng: &Engine,
    cfg: &OutboundConfig,
    st: &mut State,
    data: &[u8],
    at_end: bool,
    out: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let n = data.len();
    let at_start = base == 0;
    let mut keep = base + n;
    let mut found = Vec::new();
    {
        let mut sink = |detector: Detector, rule: &str, s: usize, e: usize| {
            found.push(Finding {
                detector,
                rule: rule.to_string(),
                start: base + s,
                end: base + e,
            })
        };
        let short_on = cfg.known_secrets && eng.tokens.has_short();
        if cfg.token_patterns || short_on {
            let from = st.tok_done.max(base) - base;
            let held = eng.tokens.pass(
                data,
                from,
                at_start,
                at_end,
                cfg.token_patterns,
                short_on,
                &mut sink,
            );
            let next = held.unwrap_or_else(|| n.saturating_sub(eng.tokens.lit_max - 1).max(from));
            st.tok_done = base + next;
            keep = keep.min((base + next).saturating_sub(eng.tokens.back_max + 1));
        }
        if cfg.known_secrets && eng.secrets.has_long() {
            let done = st.ks_done.max(base) - base;
            let from = back_nonsep(data, done, eng.secrets.overlap);
            let held = eng.secrets.pass(
                data,
                from,
                done,
                at_start && from == 0,
                at_end,
                &mut st.scratch,
                &mut sink,
            );
            let next = held.unwrap_or(n);
            st.ks_done = base + next;
            keep = keep.min(base + back_nonsep(data, next, eng.secrets.overlap));
        }
    }
    if cfg.token_patterns || cfg.entropy {
        keep = keep.min(run_pass(eng, cfg, st, data, at_end, &mut found));
    }
    if cfg.token_patterns {
        keep = keep.min(pct_pass(eng, st, data, at_end, &mut found));
    }
    sort_findings(&mut found);
    for f in found {
        if st.emitted.insert(f.clone()) {
            out.push(f);
        }
    }
    let keep = keep.max(base);
    st.emitted.retain(|f| f.start >= keep);
    keep
}

/// Finds maximal runs of a byte class of at least MIN bytes (at most 64), 64 bytes at a time.
struct Finder<const MIN: usize> {
    open: Option<usize>,
    runs: Vec<(usize, usize)>,
}

impl<const MIN: usize> Finder<MIN> {
    fn new(open: Option<usize>) -> Self {
        Finder {
            open,
            runs: Vec::new(),
        }
    }

    fn close(&mut self, s: usize, e: usize) {
        if e - s >= MIN {
            self.runs.push((s, e));
        }
    }

    /// `m`: class bits of the `width` bytes at stream offset `at`.
    #[inline]
    fn block(&mut self, mut m: u64, at: usize, width: u32) {
        let full = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        m &= full;
        if let Some(s) = self.open {
            let lead = m.trailing_ones();
            if lead >= width {
                return;
            }
            self.close(s, at + lead as usize);
            self.open = None;
            m &= !((1u64 << lead) - 1);
        }
        if m == 0 {
            return;
        }
        if (m >> (width - 1)) & 1 == 1 {
            let zeros = !m & full;
            let start = if zeros == 0 {
                0
            } else {
                64 - zeros.leading_zeros()
            };
            self.open = Some(at + start as usize);
            m &= if start == 0 { 0 } else { (1u64 << start) - 1 };
        }
        // Runs inside the block: bit i of `a` is set when bits i..i+MIN are all set.
        let mut a = m;
        let mut covered = 1;
        while covered < MIN {
            let shift = covered.min(MIN - covered);
            a &= a >> shift;
            covered += shift;
        }
        while a != 0 {
            let p = a.trailing_zeros();
            let e = p + (!(m >> p)).trailing_zeros();
            self.close(at + p as usize, at + e as usize);
            a &= u64::MAX << e;
        }
    }
}

/// Runs of `[A-Za-z0-9+/_-]` (entropy tokens, base64 segments) and of hex digits; each byte
/// is classified once.
fn run_pass(
    eng: &Engine,
    cfg: &OutboundConfig,
    st: &mut State,
    data: &[u8],
    at_end: bool,
    found: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let n = data.len();
    let end = base + n;
    let mut keep = end;
    let mut seg = Finder::<MIN_TOKEN_LEN>::new(st.seg_open.map(|o| o.start));
    let mut hex = Finder::<MIN_TOKEN_LEN>::new(st.hex_open.map(|o| o.start));
    let mut card = Finder::<{ cards::MIN_LEN }>::new(st.card_open);
    let decode = cfg.token_patterns;
    let mut i = st.run_done.max(base) - base;
    while i < n {
        let w = (n - i).min(64);
        let m = if w == 64 {
            block_masks(data[i..i + 64].try_into().expect("64 bytes"))
        } else {
            block_masks(&block64(&data[i..i + w]))
        };
        seg.block(m.seg, base + i, w as u32);
        if decode {
            hex.block(m.hex, base + i, w as u32);
            // A space or dash at the end of the data may yet be followed by a digit.
            let next_digit = data.get(i + w).map_or(!at_end, u8::is_ascii_digit);
            let c = cards::card_bytes(m.digit, m.space_dash, next_digit, w as u32);
            card.block(c, base + i, w as u32);
        }
        i += w;
    }
    st.run_done = end;
    if at_end {
        for f in [&mut seg, &mut hex] {
            if let Some(s) = f.open.take() {
                f.close(s, end);
            }
        }
        if let Some(s) = card.open.take() {
            card.close(s, end);
        }
    }
    if decode {
        keep = keep.min(card_runs(st, data, &card, found));
    }
    let local = |a: usize, b: usize| &data[a - base..b - base];

    // Entropy: judged on the first MAX_TOKEN_LEN bytes, reported when the run ends.
    let prev = st.seg_open.take();
    let carried = |s: usize| prev.filter(|o| o.start == s).and_then(|o| o.decided);
    if cfg.entropy {
        for &(s, e) in &seg.runs {
            let high = match carried(s) {
                Some(d) => d,
                None if s >= base => entropy::is_random_token(local(s, e.min(s + MAX_TOKEN_LEN))),
                None => false,
            };
            if high {
                found.push(Finding {
                    detector: Detector::Entropy,
                    rule: "entropy".into(),
                    start: s,
                    end: e,
                });
            }
        }
    }
    let mut open = seg.open.map(|s| {
        let mut decided = carried(s);
        if cfg.entropy && decided.is_none() && s >= base && end - s >= MAX_TOKEN_LEN {
            decided = Some(entropy::is_random_token(local(s, s + MAX_TOKEN_LEN)));
        }
        if cfg.entropy && decided.is_none() {
            keep = keep.min(s.max(base));
        }
        OpenRun {
            start: s,
            decided,
            next: s,
        }
    });
    if !decode {
        st.seg_open = open;
        return keep;
    }

    let mut report = |ps: usize, rule: &str, suffix: &str, s: usize, e: usize| {
        found.push(Finding {
            detector: Detector::TokenPatterns,
            rule: format!("{rule}{suffix}"),
            start: ps + s,
            end: ps + e,
        })
    };
    let seg_next = pieces(&seg, prev, base, end, &mut |ps, pe| {
        decode_b64(eng, local(ps, pe), &mut |r, x, s, e| report(ps, r, x, s, e))
    });
    if let (Some(o), Some(next)) = (open.as_mut(), seg_next) {
        o.next = next;
        keep = keep.min(next.max(base));
    }
    st.seg_open = open;
    let hex_next = pieces(&hex, st.hex_open.take(), base, end, &mut |ps, pe| {
        decode_hex(eng, local(ps, pe), &mut |r, x, s, e| report(ps, r, x, s, e))
    });
    st.hex_open = hex.open.zip(hex_next).map(|(start, next)| OpenRun {
        start,
        decided: None,
        next,
    });
    if let Some(o) = st.hex_open {
        keep = keep.min(o.next.max(base));
    }
    keep
}

/// Checks the runs of card bytes for card numbers; for the run still open, the candidates
/// that cannot reach the end of the data. Returns the stream offset from which to keep the data.
fn card_runs(
    st: &mut State,
    data: &[u8],
    card: &Finder<{ cards::MIN_LEN }>,
    found: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let mut sink = |s: usize, e: usize| {
        found.push(Finding {
            detector: Detector::TokenPatterns,
            rule: "payment-card-number".to_string(),
            start: base + s,
            end: base + e,
        })
    };
    let from = |s: usize| s.max(st.card_done).max(base) - base;
    for &(s, e) in &card.runs {
        // A closed run ends before the end of the data, or at the end of the input: no
        // candidate in it waits for more.
        let _ = cards::scan(data, from(s), e - base, true, &mut sink);
    }
    st.card_open = card.open;
    let Some(s) = card.open else {
        st.card_done = base + data.len();
        return base + data.len();
    };
    let limit = data.len().saturating_sub(cards::MAX_LEN + 1);
    let next = match cards::scan(data, from(s), limit, false, &mut sink) {
        Err(next) | Ok(next) => next,
    };
    st.card_done = base + next;
    // One byte more: the scan must see whether its first candidate is glued to a number.
    (base + next).saturating_sub(1)
}

/// Calls `piece(start, end)` for the pieces of each run found and for the complete pieces of
/// the run still open; returns the open run's state.
fn pieces(
    f: &Finder<MIN_TOKEN_LEN>,
    prev: Option<OpenRun>,
    base: usize,
    end: usize,
    piece: &mut dyn FnMut(usize, usize),
) -> Option<usize> {
    let next_of = |s: usize| prev.filter(|o| o.start == s).map_or(s, |o| o.next);
    for &(s, e) in &f.runs {
        let mut next = next_of(s);
        while next >= base {
            let pe = (next + PIECE).min(e);
            piece(next, pe);
            if pe == e {
                break;
            }
            next += STEP;
        }
    }
    f.open.map(|s| {
        let mut next = next_of(s);
        while next >= base && next + PIECE <= end {
            piece(next, next + PIECE);
            next += STEP;
        }
        next
    })
}

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
fn for_runs(data: &[u8], class: impl Fn(u8) -> bool, min: usize, mut f: impl FnMut(usize, usize)) {
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

type DecodeSink<'a> = dyn FnMut(&str, &str, usize, usize) + 'a;

/// Decodes a base64/hex segment and looks for credential formats in what comes out. Calls
/// `sink(rule, "/base64" | "/hex", start, end)` with offsets in `seg`.
fn decode_segment(eng: &Engine, seg: &[u8], sink: &mut DecodeSink<'_>) {
    decode_b64(eng, seg, sink);
    for_runs(seg, is_hex, MIN_TOKEN_LEN, |i, j| {
        decode_hex(eng, &seg[i..j], &mut |r, x, s, e| sink(r, x, i + s, i + e));
    });
}

fn decode_b64(eng: &Engine, seg: &[u8], sink: &mut DecodeSink<'_>) {
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
        eng.tokens
            .pass(&buf, 0, true, true, true, false, &mut |_, rule, ds, de| {
                let cs = ds * 4 / 3;
                let ce = ((de * 4).div_ceil(3)).min(part.len());
                sink(rule, "/base64", off + cs, off + ce)
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
fn decode_hex(eng: &Engine, run: &[u8], sink: &mut DecodeSink<'_>) {
    let mut buf = Vec::new();
    for off in 0..2 {
        if run.len() - off >= MIN_TOKEN_LEN && hex_text_run(&run[off..]) {
            hex_decode(&run[off..], &mut buf);
            if !has_text_run(&buf) {
                continue;
            }
            eng.tokens
                .pass(&buf, 0, true, true, true, false, &mut |_, rule, ds, de| {
                    sink(rule, "/hex", off + 2 * ds, off + 2 * de)
                });
            random_tokens(&buf, &mut |ds, de| {
                sink(
                    "encoded-high-entropy-secret",
                    "/hex",
                    off + 2 * ds,
                    off + 2 * de,
                )
            });
        }
    }
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

/// Percent-encoded regions: decoded (twice if needed) and scanned for credential formats,
/// also inside base64/hex segments of the decoded text.
fn pct_pass(
    eng: &Engine,
    st: &mut State,
    data: &[u8],
    at_end: bool,
    found: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let n = data.len();
    let left = |q: usize| {
        let mut l = q;
        while l > 0 && q - l < PCT_CAP && is_urlch(data[l - 1]) {
            l -= 1;
        }
        l
    };
    let mut i = st.pct_done.max(base) - base;
    while let Some(off) = memchr::memchr(b'%', &data[i..]) {
        let q = i + off;
        if q + 2 >= n {
            if !at_end {
                st.pct_done = base + q;
                return base + left(q);
            }
            break;
        }
        if !(is_hex(data[q + 1]) && is_hex(data[q + 2])) {
            i = q + 1;
            continue;
        }
        let l = left(q);
        let mut r = q;
        while r < n && r - l < PCT_CAP && is_urlch(data[r]) {
            r += 1;
        }
        if r == n && !at_end && r - l < PCT_CAP {
            st.pct_done = base + q;
            return base + l;
        }
        pct_region(eng, data, l, r, &mut |rule, s, e| {
            found.push(Finding {
                detector: Detector::TokenPatterns,
                rule: rule.to_string(),
                start: base + s,
                end: base + e,
            })
        });
        i = r.max(q + 1);
    }
    st.pct_done = base + n;
    base + left(n)
}

fn pct_region(
    eng: &Engine,
    data: &[u8],
    l: usize,
    r: usize,
    sink: &mut dyn FnMut(&str, usize, usize),
) {
    let reg = &data[l..r];
    let (mut dec, mut map) = (Vec::new(), Vec::new());
    pct_decode(reg, &mut dec, &mut map);
    if has_pct_escape(&dec) {
        let (mut dec2, mut map2) = (Vec::new(), Vec::new());
        pct_decode(&dec, &mut dec2, &mut map2);
        map = map2.iter().map(|&j| map[j]).collect();
        dec = dec2;
    }
    let mut report = |rule: &str, suffix: &str, ds: usize, de: usize| {
        let s = l + map[ds];
        let e = l + map.get(de).copied().unwrap_or(reg.len());
        if data[s..e].contains(&b'%') {
            sink(&format!("{rule}/url{suffix}"), s, e);
        }
    };
    eng.tokens
        .pass(&dec, 0, true, true, true, false, &mut |_, rule, s, e| {
            report(rule, "", s, e)
        });
    for_runs(&dec, is_b64, MIN_TOKEN_LEN, |i, j| {
        decode_segment(eng, &dec[i..j], &mut |rule, suffix, s, e| {
            report(rule, suffix, i + s, i + e)
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(data: &[u8], chunk: usize) -> Vec<(usize, usize)> {
        let mut f = Finder::<MIN_TOKEN_LEN>::new(None);
        let mut i = 0;
        while i < data.len() {
            let w = (data.len() - i).min(chunk).min(64);
            f.block(block_masks(&block64(&data[i..i + w])).seg, i, w as u32);
            i += w;
        }
        if let Some(s) = f.open {
            f.close(s, data.len());
        }
        f.runs
    }

    #[test]
    fn finder_matches_naive() {
        let mut seed = 1u64;
        for _ in 0..200 {
            let len = 1 + (seed % 300) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if (seed >> 40).is_multiple_of(23) {
                        b' '
                    } else {
                        b'a'
                    }
                })
                .collect();
            let mut naive = Vec::new();
            let mut s = None;
            for (i, &b) in data.iter().chain(std::iter::once(&b' ')).enumerate() {
                match (b == b'a', s) {
                    (true, None) => s = Some(i),
                    (false, Some(st)) => {
                        if i - st >= MIN_TOKEN_LEN {
                            naive.push((st, i));
                        }
                        s = None;
                    }
                    _ => {}
                }
            }
            for chunk in [1, 7, 64] {
                assert_eq!(runs(&data, chunk), naive, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn card_runs_find_what_a_byte_by_byte_scan_finds_in_any_chunking() {
        let engine = Engine::default();
        let cfg = OutboundConfig {
            token_patterns: true,
            ..Default::default()
        };
        let cards_of = |found: Vec<Finding>| -> Vec<(usize, usize)> {
            let mut v: Vec<_> = found
                .into_iter()
                .filter(|f| f.rule == "payment-card-number")
                .map(|f| (f.start, f.end))
                .collect();
            v.sort_unstable();
            v
        };
        let numbers = [
            "4111111111111111",
            "5500 0000 0000 0004",
            "6011-1111-1111-1117",
        ];
        let mut seed = 7u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut seen = 0;
        for _ in 0..300 {
            let mut text = Vec::new();
            while text.len() < 400 {
                match rand(6) {
                    0 => text.extend_from_slice(numbers[rand(3) as usize].as_bytes()),
                    1 => text.push(b' '),
                    2 => text.push(b'-'),
                    3 => text.push(b'x'),
                    _ => text.push(b'0' + rand(10) as u8),
                }
            }
            let mut want = Vec::new();
            let naive = cards::scan(&text, 0, text.len(), true, &mut |s, e| want.push((s, e)));
            assert!(naive.is_err());
            seen += want.len();
            let shown = String::from_utf8_lossy(&text).into_owned();
            assert_eq!(cards_of(engine.scan(&cfg, &text)), want, "{shown}");
            let mut stream = engine.stream(cfg);
            let mut found = Vec::new();
            let mut at = 0;
            while at < text.len() {
                let next = (at + 1 + rand(60) as usize).min(text.len());
                found.extend(stream.feed(&text[at..next]));
                at = next;
            }
            found.extend(stream.finish());
            assert_eq!(cards_of(found), want, "{shown}");
        }
        assert!(seen > 100, "the texts hold card numbers: {seen}");
    }
}
