//! Runs of a byte class over the buffer, 64 bytes at a time: entropy tokens, base64 and hex
//! segments (decoded and scanned piece by piece) and card numbers.

use super::decoded::{decode_b64, decode_hex};
use super::{OpenRun, State};
use crate::cards;
use crate::decode::block64;
use crate::entropy::{self, MAX_TOKEN_LEN, MIN_TOKEN_LEN};
use crate::masks::block_masks;
use crate::seed;
use crate::{Detector, Engine, Finding, OutboundConfig};

/// Long base64/hex segments are decoded in pieces of this many bytes...
const PIECE: usize = 4096;
/// ... starting this far apart (a multiple of 4: the base64 alignment is kept; the overlap of
/// 512 bytes covers any credential that straddles two pieces).
const STEP: usize = 3584;

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
pub(super) fn run_pass(
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
    let mut phrase = Finder::<{ seed::MIN_SPAN }>::new(st.phrase_open);
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
            let c = cards::card_bytes(m.digit, m.card_sep, next_digit, w as u32);
            card.block(c, base + i, w as u32);
            phrase.block(m.phrase, base + i, w as u32);
            // Two upper-case letters then two digits (country code, check digits): where an
            // IBAN may start. The last three bytes of a block are checked byte by byte.
            let next_upper = data.get(i + w).is_some_and(u8::is_ascii_uppercase);
            let pairs = m.upper & ((m.upper >> 1) | (u64::from(next_upper) << (w - 1)));
            let edge = u64::MAX << w.saturating_sub(3);
            let checked = pairs & (m.digit >> 2) & (m.digit >> 3);
            iban_candidates(st, data, i, checked | (pairs & edge));
        }
        i += w;
    }
    if decode && !at_end && n > st.run_done.max(base) - base {
        // A letter at the very end may start an IBAN whose second letter is still to come.
        if data[n - 1].is_ascii_uppercase() && crate::iban::may_start(data, n - 1) {
            st.iban_pending.push(base + n - 1);
        }
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
        if let Some(s) = phrase.open.take() {
            phrase.close(s, end);
        }
    }
    if decode {
        keep = keep.min(card_runs(st, data, &card, found));
        keep = keep.min(seed_runs(st, data, &phrase, found));
        keep = keep.min(ibans(st, data, at_end, found));
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
    if decode {
        wif_keys(&seg, base, data, found);
        if let Some(s) = seg.open.filter(|&s| end - s <= WIF_MAX) {
            // Still short enough to be a WIF key once it ends.
            keep = keep.min(s.max(base));
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

    let known = cfg.known_secrets;
    let mut report = |ps: usize, detector, rule: &str, suffix: &str, s: usize, e: usize| {
        found.push(Finding {
            detector,
            rule: format!("{rule}{suffix}"),
            start: ps + s,
            end: ps + e,
        })
    };
    let seg_next = pieces(&seg, prev, base, end, &mut |ps, pe| {
        decode_b64(eng, known, local(ps, pe), &mut |d, r, x, s, e| {
            report(ps, d, r, x, s, e)
        })
    });
    if let (Some(o), Some(next)) = (open.as_mut(), seg_next) {
        o.next = next;
        keep = keep.min(next.max(base));
    }
    st.seg_open = open;
    let hex_next = pieces(&hex, st.hex_open.take(), base, end, &mut |ps, pe| {
        decode_hex(eng, known, local(ps, pe), &mut |d, r, x, s, e| {
            report(ps, d, r, x, s, e)
        })
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
            rule: crate::CARD_RULE.to_string(),
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
    // The bytes before: the scan must see whether its first candidate is glued to a number or
    // stands in a numeric table.
    (base + next).saturating_sub(cards::TABLE_REACH)
}

/// Reads the runs of letters and gap bytes long enough to hold a seed phrase, and the run
/// still open, word by word; returns the stream offset from which to keep the data.
fn seed_runs(
    st: &mut State,
    data: &[u8],
    phrase: &Finder<{ seed::MIN_SPAN }>,
    found: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let mut read = |st: &mut State, s: usize, e: Option<usize>| -> usize {
        let from = s.max(st.seed_from).max(base);
        let continues = st.seed_continues && from == st.seed_from;
        let end = e.unwrap_or(base + data.len());
        if from >= end {
            return end;
        }
        let held = seed::scan(
            &data[from - base..end - base],
            e.is_some(),
            continues,
            &mut st.seed_words,
            &mut |a, b| {
                found.push(Finding {
                    detector: Detector::TokenPatterns,
                    rule: "bip39-seed-phrase".to_string(),
                    start: from + a,
                    end: from + b,
                })
            },
        );
        st.seed_from = from + held.keep;
        st.seed_continues = held.continues;
        st.seed_from
    };
    for &(s, e) in &phrase.runs {
        read(st, s, Some(e));
    }
    st.phrase_open = phrase.open;
    match phrase.open {
        Some(s) => read(st, s, None),
        None => {
            st.seed_from = base + data.len();
            st.seed_continues = false;
            base + data.len()
        }
    }
}

/// Notes the IBAN candidates among the pairs of upper-case letters of the block at `data[i..]`.
fn iban_candidates(st: &mut State, data: &[u8], i: usize, mut pairs: u64) {
    while pairs != 0 {
        let at = i + pairs.trailing_zeros() as usize;
        if crate::iban::may_start(data, at) {
            st.iban_pending.push(st.base + at);
        }
        pairs &= pairs - 1;
    }
}

/// Judges the IBAN candidates noted; returns the stream offset from which to keep the data (a
/// candidate cut by the end of the data, and the byte before it).
fn ibans(st: &mut State, data: &[u8], at_end: bool, found: &mut Vec<Finding>) -> usize {
    let base = st.base;
    let mut keep = base + data.len();
    st.iban_pending.retain(|&at| {
        match crate::iban::judge(data, at - base, at_end) {
            crate::iban::Judged::Iban(end) => found.push(Finding {
                detector: Detector::TokenPatterns,
                rule: crate::IBAN_RULE.to_string(),
                start: at,
                end: base + end,
            }),
            crate::iban::Judged::No => {}
            crate::iban::Judged::NeedMore => {
                keep = keep.min(at.saturating_sub(1).max(base));
                return true;
            }
        }
        false
    });
    keep
}

/// The longest WIF private key.
const WIF_MAX: usize = 52;

/// Segments of exactly a WIF key's length that decode to one (checksum verified).
fn wif_keys(seg: &Finder<MIN_TOKEN_LEN>, base: usize, data: &[u8], found: &mut Vec<Finding>) {
    for &(s, e) in &seg.runs {
        if s >= base && matches!(e - s, 51 | 52) && crate::crypto::is_wif(&data[s - base..e - base])
        {
            found.push(Finding {
                detector: Detector::TokenPatterns,
                rule: "crypto-wif-private-key".to_string(),
                start: s,
                end: e,
            });
        }
    }
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
                match rand(7) {
                    0 => text.extend_from_slice(numbers[rand(3) as usize].as_bytes()),
                    1 => text.push(b' '),
                    2 => text.push(b'-'),
                    3 => text.push(b'x'),
                    4 => text.push(b'.'),
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
