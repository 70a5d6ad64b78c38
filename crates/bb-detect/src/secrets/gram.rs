//! The known-secret search: a sampled 4-gram filter over the input, separators skipped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{next_nonsep, prev_nonsep};
use crate::MIN_SECRET_LEN;
use crate::decode::is_sep;

/// The search for every pattern, separators in the input skipped (patterns hold none).
///
/// Every pattern is at least `min_len` bytes long. The search samples the input every `stride`
/// (= `min_len` - 4 + 1) bytes: the gram of a sample point is the first 4 non-separator bytes
/// at or after it. Every occurrence then holds the whole gram of some sample point: the first
/// sample point at or after its start is at most `stride` - 1 bytes in, so at least
/// `min_len` - (`stride` - 1) = 4 of its non-separator bytes follow it. A gram is tested
/// against a bitmap of all grams of all patterns (at every offset); a hit is checked against
/// the patterns holding that gram. This finds every occurrence of every pattern (overlapping
/// ones included) at a fraction of the cost of an automaton that reads every byte.
pub(super) struct GramIndex {
    pub(super) pats: Vec<Vec<u8>>,
    bits: Vec<u64>,
    grams: GramMap,
    stride: usize,
    /// The grams of the short patterns (shorter than [`GramIndex::long_len`]): a hit on one of
    /// them is verified at once.
    short_bits: Vec<u64>,
    /// Every 8-gram of every pattern: a hit on a gram only long patterns hold is verified
    /// only when the eight non-separator bytes from its first one are an 8-gram of some
    /// pattern too. Long patterns (the encodings and spellings: hex, base64, character codes)
    /// have grams that ordinary data is full of (four digits, four hex digits).
    bits8: Vec<u64>,
}

/// A second gram as long again, for the second level of the filter.
const GRAM8: usize = 8;

const GRAM: usize = 4;

/// The patterns holding each gram. Keys are 4-byte grams: one multiplication hashes them (the
/// default hasher's cost showed on inputs whose grams hit the bitmap often, such as numbers
/// against the character-code spellings).
type GramMap = HashMap<u32, Vec<(u32, u32)>, BuildHasherDefault<GramHasher>>;

#[derive(Default)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, g: u32) {
        self.0 = u64::from(g).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // The table indexes by the low bits: fold the well-mixed high half into them.
        self.0 ^ (self.0 >> 32)
    }
}
const BITS_LOG2: u32 = 20;

#[inline(always)]
fn gram_hash(g: u32) -> usize {
    (g.wrapping_mul(0x9E37_79B1) >> (32 - BITS_LOG2)) as usize
}

impl GramIndex {
    pub(super) fn new(pats: Vec<Vec<u8>>) -> GramIndex {
        let mut bits = vec![0u64; 1 << (BITS_LOG2 - 6)];
        let mut grams = GramMap::default();
        for (pid, p) in pats.iter().enumerate() {
            debug_assert!(p.len() >= MIN_SECRET_LEN && !p.iter().any(|&b| is_sep(b)));
            for (off, w) in p.windows(GRAM).enumerate() {
                let g = u32::from_le_bytes(w.try_into().expect("gram"));
                let h = gram_hash(g);
                bits[h >> 6] |= 1 << (h & 63);
                grams.entry(g).or_default().push((pid as u32, off as u32));
            }
        }
        let min_len = pats.iter().map(Vec::len).min().unwrap_or(MIN_SECRET_LEN);
        assert!(
            min_len >= MIN_SECRET_LEN,
            "known-secret patterns are never that short"
        );
        let stride = min_len - GRAM + 1;
        let mut short_bits = vec![0u64; 1 << (BITS_LOG2 - 6)];
        let mut bits8 = vec![0u64; 1 << (BITS_LOG2 - 6)];
        let set = |bits: &mut Vec<u64>, h: usize| bits[h >> 6] |= 1 << (h & 63);
        for p in &pats {
            if p.len() < GramIndex::long_len(stride) {
                for w in p.windows(GRAM) {
                    set(
                        &mut short_bits,
                        gram_hash(u32::from_le_bytes(w.try_into().expect("gram"))),
                    );
                }
            }
            for w in p.windows(GRAM8) {
                set(
                    &mut bits8,
                    gram8_hash(u64::from_le_bytes(w.try_into().expect("8 bytes"))),
                );
            }
        }
        GramIndex {
            pats,
            bits,
            grams,
            stride,
            short_bits,
            bits8,
        }
    }

    /// All occurrences (start, end, pattern) in `hay`, separators skipped (`start` is the
    /// pattern's first byte, `end` is past its last), each once, in no particular order.
    pub(super) fn find_all(&self, hay: &[u8], out: &mut Vec<(usize, usize, usize)>) {
        out.clear();
        let mut p = 0;
        while let Some((g, first)) = gram_at(hay, p) {
            let h = gram_hash(g);
            if self.bits[h >> 6] & (1 << (h & 63)) != 0 && self.second_level(hay, first, h) {
                self.verify(hay, first, g, out);
            }
            // Points up to `first` have the same gram: skipping them keeps the argument above
            // (no occurrence starts on a separator) and the separator runs read once. Usually
            // `first` is close and the step is the stride: a branch rather than a `max` lets
            // the next sample's loads start before this one's gram is known.
            let skip = first - p;
            p += if skip < self.stride {
                self.stride
            } else {
                skip + 1
            };
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    /// How long a pattern must be for the 8-gram from the first byte of any sample point's
    /// gram to lie inside each of its occurrences: the first sample point is at most
    /// `stride - 1` bytes into an occurrence.
    fn long_len(stride: usize) -> usize {
        stride - 1 + GRAM8
    }

    /// Whether a gram hit at `first` is worth verifying: a gram of a short pattern always;
    /// else the 8-gram from `first` must be one of some pattern (or the input ends first).
    #[inline(always)]
    fn second_level(&self, hay: &[u8], first: usize, h: usize) -> bool {
        if self.short_bits[h >> 6] & (1 << (h & 63)) != 0 {
            return true;
        }
        match gram8_from(hay, first) {
            Some(g8) => {
                let h8 = gram8_hash(g8);
                self.bits8[h8 >> 6] & (1 << (h8 & 63)) != 0
            }
            None => true,
        }
    }

    #[cold]
    fn verify(&self, hay: &[u8], first: usize, g: u32, out: &mut Vec<(usize, usize, usize)>) {
        let Some(list) = self.grams.get(&g) else {
            return;
        };
        for &(pid, off) in list {
            let pat = &self.pats[pid as usize];
            let (before, from_gram) = pat.split_at(off as usize);
            // Both walks stop at the first byte that differs: a gram shared by many patterns
            // (`%25` in the percent-encoded ones) costs little per pattern.
            let Some(s) = match_backwards(hay, first, before) else {
                continue;
            };
            if let Some(e) = match_forwards(hay, first, from_gram) {
                out.push((s, e, pid as usize));
            }
        }
    }
}

/// The gram of sample point `p` (its first [`GRAM`] non-separator bytes, little-endian) and
/// where its first byte is; `None` when fewer than [`GRAM`] such bytes are left.
#[inline(always)]
fn gram_at(hay: &[u8], p: usize) -> Option<(u32, usize)> {
    // Usually four non-separators are among the next eight bytes: their positions come from a
    // table indexed by the separator pattern, without a branch per byte.
    if let Some(w) = hay.get(p..p + 8) {
        let w: [u8; 8] = w.try_into().expect("8 bytes");
        let mut m = 0usize;
        for (i, &b) in w.iter().enumerate() {
            m |= usize::from(!is_sep(b)) << i;
        }
        let at = FIRST_FOUR[m];
        if at != NOT_FOUR {
            let x = u64::from_le_bytes(w);
            let byte = |k: u32| ((x >> (8 * ((at >> (8 * k)) & 7))) & 0xff) as u32;
            let g = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
            return Some((g, p + (at & 7) as usize));
        }
    }
    gram_with_separators(hay, p)
}

#[inline(always)]
fn gram8_hash(g: u64) -> usize {
    (g.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS_LOG2)) as usize
}

/// The first [`GRAM8`] non-separator bytes from `first` (a non-separator), little-endian.
fn gram8_from(hay: &[u8], first: usize) -> Option<u64> {
    let mut g = 0u64;
    let mut k = 0;
    for &b in hay.get(first..)? {
        if !is_sep(b) {
            g |= u64::from(b) << (8 * k);
            k += 1;
            if k == GRAM8 {
                return Some(g);
            }
        }
    }
    None
}

const NOT_FOUR: u32 = u32::MAX;

/// For each 8-bit pattern of non-separator bytes, the positions of the first four, one per
/// byte; [`NOT_FOUR`] when there are fewer.
static FIRST_FOUR: [u32; 256] = first_four_table();

const fn first_four_table() -> [u32; 256] {
    let mut t = [NOT_FOUR; 256];
    let mut m = 0;
    while m < 256 {
        let (mut packed, mut found, mut i) = (0u32, 0, 0);
        while i < 8 && found < 4 {
            if m & (1 << i) != 0 {
                packed |= (i as u32) << (8 * found);
                found += 1;
            }
            i += 1;
        }
        if found == 4 {
            t[m] = packed;
        }
        m += 1;
    }
    t
}

#[inline(never)]
fn gram_with_separators(hay: &[u8], p: usize) -> Option<(u32, usize)> {
    let mut bytes = hay
        .get(p..)?
        .iter()
        .enumerate()
        .filter(|(_, b)| !is_sep(**b));
    let (first, &b0) = bytes.next()?;
    let mut g = u32::from(b0);
    for k in 1..GRAM {
        g |= u32::from(*bytes.next()?.1) << (8 * k);
    }
    Some((g, p + first))
}

/// Where `hay` before `i` ends with `pat` (separators skipped): the position of its first
/// byte (`i` for an empty `pat`).
pub(super) fn match_backwards(hay: &[u8], mut i: usize, pat: &[u8]) -> Option<usize> {
    for &c in pat.iter().rev() {
        i = prev_nonsep(hay, i)?;
        if hay[i] != c {
            return None;
        }
    }
    Some(i)
}

/// Where `pat` ends when `hay` from `s` holds it, separators skipped.
pub(super) fn match_forwards(hay: &[u8], s: usize, pat: &[u8]) -> Option<usize> {
    let mut i = s;
    for &c in pat {
        i = next_nonsep(hay, i)?;
        if hay[i] != c {
            return None;
        }
        i += 1;
    }
    Some(i)
}
