//! `known_secrets`: the token slot values and the canary, in every encoding an agent might use.
//!
//! Matching runs over a view of the input with [`SEPARATORS`](crate::decode::SEPARATORS)
//! removed, against patterns with separators removed too; so a value with separators inserted
//! between its characters (`A-K-I-A...`, `41:4b:49...`, base64 wrapped at 76 columns) or with
//! its own separators dropped is the same string there. Patterns per secret (deduplicated):
//! plain; base64 (standard and URL-safe alphabets) at the three alignments a value can have in
//! a longer base64 string (only the characters that do not depend on the neighbours: the
//! "core"); hex lower and upper; percent-encoding of every byte and of the reserved bytes only,
//! lower and upper hex digits, once and twice; and seeds for fragments: any piece of at least
//! `max(8, len/2)` characters is found by an 8-byte seed it contains and then extended byte by
//! byte against the secret. The search itself is a sampled 4-gram filter ([`GramIndex`]).

use std::collections::HashMap;

use crate::decode::{
    b64_core, block64, hex_encode, is_sep, keep_flags, pct_encode, strip_separators,
    to_url_alphabet,
};
use crate::tokens::{ShortSecret, Sink};
use crate::{CANARY_NAME, Detector, KnownSecret, MIN_SECRET_LEN};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Enc {
    Plain,
    Base64,
    Hex,
    Url,
    Url2,
}

#[derive(Clone, Copy, Debug)]
enum Label {
    Exact { secret: usize, enc: Enc },
    Seed { secret: usize, off: usize },
}

struct Info {
    prefix: String,
    value: Vec<u8>,
    stripped: Vec<u8>,
    min_frag: usize,
}

pub(crate) struct Secrets {
    index: Option<GramIndex>,
    labels: Vec<Vec<Label>>,
    infos: Vec<Info>,
    short: Vec<(String, Vec<u8>)>,
    names: Vec<String>,
    /// Separator-free bytes to keep between two calls: longest pattern + longest secret.
    pub overlap: usize,
}

/// The rule prefix of a secret: `canary` or `known-secret:NAME`.
fn prefix(name: &str) -> String {
    if name == CANARY_NAME {
        name.to_string()
    } else {
        format!("known-secret:{name}")
    }
}

impl Secrets {
    pub(crate) fn new(list: &[KnownSecret]) -> Secrets {
        let mut pats: Vec<Vec<u8>> = Vec::new();
        let mut labels: Vec<Vec<Label>> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut infos = Vec::new();
        let mut short = Vec::new();
        let mut names = Vec::new();
        let mut add = |pat: Vec<u8>, label: Label, secret: usize| {
            let i = *index.entry(pat.clone()).or_insert_with(|| {
                pats.push(pat);
                labels.push(Vec::new());
                labels.len() - 1
            });
            // One exact label per secret and pattern (the first encoding wins: plain first).
            let dup = matches!(label, Label::Exact { .. })
                && labels[i]
                    .iter()
                    .any(|l| matches!(*l, Label::Exact { secret: s, .. } if s == secret));
            if !dup {
                labels[i].push(label);
            }
        };
        for ks in list {
            let v = ks.value.as_bytes();
            if v.is_empty() {
                continue;
            }
            names.push(ks.name.clone());
            let sv = strip_separators(v);
            if v.len() < MIN_SECRET_LEN || sv.len() < MIN_SECRET_LEN {
                short.push((prefix(&ks.name), v.to_vec()));
                continue;
            }
            let secret = infos.len();
            let exact = |enc| Label::Exact { secret, enc };
            add(sv.clone(), exact(Enc::Plain), secret);
            for align in 0..3 {
                let core = b64_core(v, align);
                add(strip_separators(&core), exact(Enc::Base64), secret);
                add(
                    strip_separators(&to_url_alphabet(&core)),
                    exact(Enc::Base64),
                    secret,
                );
            }
            for upper in [false, true] {
                add(hex_encode(v, upper), exact(Enc::Hex), secret);
                for all in [true, false] {
                    let once = pct_encode(v, all, upper);
                    let twice = pct_encode(&once, false, upper);
                    add(strip_separators(&once), exact(Enc::Url), secret);
                    add(strip_separators(&twice), exact(Enc::Url2), secret);
                }
            }
            let ns = sv.len();
            let min_frag = (ns / 2).max(MIN_SECRET_LEN);
            if min_frag < ns {
                // Seeds of MIN_SECRET_LEN bytes, spaced so that every piece of min_frag
                // bytes holds one; a seed hit is extended against the secret.
                let k = MIN_SECRET_LEN;
                let stride = min_frag - k + 1;
                let mut off = 0;
                while off + k <= ns {
                    add(
                        sv[off..off + k].to_vec(),
                        Label::Seed { secret, off },
                        secret,
                    );
                    off += stride;
                }
            }
            infos.push(Info {
                prefix: prefix(&ks.name),
                value: v.to_vec(),
                stripped: sv,
                min_frag,
            });
        }
        let max_pat = pats.iter().map(Vec::len).max().unwrap_or(0);
        let max_sec = infos.iter().map(|i| i.stripped.len()).max().unwrap_or(0);
        let index = (!pats.is_empty()).then(|| GramIndex::new(pats));
        Secrets {
            index,
            labels,
            infos,
            short,
            names,
            overlap: max_pat + max_sec,
        }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    pub(crate) fn has_long(&self) -> bool {
        self.index.is_some()
    }

    /// Known secrets too short for encodings: matched whole by the token prefilter.
    pub(crate) fn short_literals(&self) -> Vec<ShortSecret> {
        self.short
            .iter()
            .map(|(r, v)| ShortSecret {
                rule: r.clone(),
                value: v.clone(),
            })
            .collect()
    }

    /// Finds known secrets in `data[from..]` whose match ends after `done`. `at_start`:
    /// `data[from]` is the first byte of the input; `at_end`: nothing follows `data`. Returns
    /// Some(new done) when a fragment reaches the end of `data` and must wait for more.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pass(
        &self,
        data: &[u8],
        from: usize,
        done: usize,
        at_start: bool,
        at_end: bool,
        scratch: &mut Scratch,
        sink: &mut Sink<'_>,
    ) -> Option<usize> {
        let index = self.index.as_ref()?;
        let region = &data[from..];
        strip(region, &mut scratch.sbuf, &mut scratch.cps);
        index.find_all(&scratch.sbuf, &mut scratch.matches);
        let (sbuf, cps) = (&scratch.sbuf, &scratch.cps);
        let orig = |s: usize| from + orig_of(region, cps, s);
        let mut held: Option<usize> = None;
        for &(ss, se, pid) in &scratch.matches {
            let oe = orig(se - 1) + 1;
            if oe <= done {
                continue;
            }
            let os = orig(ss);
            for label in &self.labels[pid] {
                match *label {
                    Label::Exact { secret, enc } => {
                        let info = &self.infos[secret];
                        let rule = rule_name(info, enc, &data[os..oe]);
                        sink(Detector::KnownSecrets, &rule, os, oe);
                    }
                    Label::Seed { secret, off } => {
                        let info = &self.infos[secret];
                        let sv = &info.stripped;
                        let (mut a, mut j) = (ss, off);
                        while a > 0 && j > 0 && sbuf[a - 1] == sv[j - 1] {
                            a -= 1;
                            j -= 1;
                        }
                        if a == 0 && j > 0 && !at_start {
                            continue; // its start was decided by an earlier call
                        }
                        let (mut b, mut jj) = (se, off + (se - ss));
                        while b < sbuf.len() && jj < sv.len() && sbuf[b] == sv[jj] {
                            b += 1;
                            jj += 1;
                        }
                        if b == sbuf.len() && jj < sv.len() && !at_end {
                            held = Some(held.map_or(oe - 1, |h| h.min(oe - 1)));
                            continue;
                        }
                        let (fs, fe) = (orig(a), orig(b - 1) + 1);
                        if jj - j == sv.len() {
                            let rule = rule_name(info, Enc::Plain, &data[fs..fe]);
                            sink(Detector::KnownSecrets, &rule, fs, fe);
                        } else if jj - j >= info.min_frag {
                            sink(
                                Detector::KnownSecrets,
                                &format!("{}/fragment", info.prefix),
                                fs,
                                fe,
                            );
                        }
                    }
                }
            }
        }
        held
    }
}

fn rule_name(info: &Info, enc: Enc, span: &[u8]) -> String {
    let suffix = match enc {
        Enc::Plain if span == info.value.as_slice() => "",
        Enc::Plain => "/separated",
        Enc::Base64 if span.iter().any(|&b| b == b'-' || b == b'_') => "/base64url",
        Enc::Base64 => "/base64",
        Enc::Hex => "/hex",
        Enc::Url => "/url",
        Enc::Url2 => "/url2",
    };
    format!("{}{suffix}", info.prefix)
}

/// Buffers reused from one round to the next.
#[derive(Default)]
pub(crate) struct Scratch {
    sbuf: Vec<u8>,
    cps: Vec<usize>,
    matches: Vec<(usize, usize, usize)>,
}

/// Every pattern is at least [`MIN_SECRET_LEN`] bytes long, so every occurrence contains a
/// 4-byte gram starting at a multiple of `STRIDE` (= 8 - 4 + 1) that lies wholly inside it.
/// The search reads one gram every `STRIDE` bytes and tests it against a bitmap of all grams
/// of all patterns (at every offset); a hit is checked against the patterns holding that gram.
/// This finds every occurrence of every pattern (overlapping ones included) at a fraction of
/// the cost of an automaton that reads every byte.
struct GramIndex {
    pats: Vec<Vec<u8>>,
    bits: Vec<u64>,
    grams: HashMap<u32, Vec<(u32, u32)>>,
}

const GRAM: usize = 4;
const STRIDE: usize = MIN_SECRET_LEN - GRAM + 1;
const BITS_LOG2: u32 = 20;

#[inline(always)]
fn gram_hash(g: u32) -> usize {
    (g.wrapping_mul(0x9E37_79B1) >> (32 - BITS_LOG2)) as usize
}

impl GramIndex {
    fn new(pats: Vec<Vec<u8>>) -> GramIndex {
        let mut bits = vec![0u64; 1 << (BITS_LOG2 - 6)];
        let mut grams: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        for (pid, p) in pats.iter().enumerate() {
            debug_assert!(p.len() >= MIN_SECRET_LEN);
            for (off, w) in p.windows(GRAM).enumerate() {
                let g = u32::from_le_bytes(w.try_into().expect("gram"));
                let h = gram_hash(g);
                bits[h >> 6] |= 1 << (h & 63);
                grams.entry(g).or_default().push((pid as u32, off as u32));
            }
        }
        GramIndex { pats, bits, grams }
    }

    /// All occurrences (start, end, pattern) in `hay`, each once, in no particular order.
    fn find_all(&self, hay: &[u8], out: &mut Vec<(usize, usize, usize)>) {
        out.clear();
        if hay.len() < MIN_SECRET_LEN {
            return;
        }
        let last = hay.len() - GRAM;
        let mut p = 0;
        while p <= last {
            let g = u32::from_le_bytes(hay[p..p + GRAM].try_into().expect("gram"));
            let h = gram_hash(g);
            if self.bits[h >> 6] & (1 << (h & 63)) != 0 {
                self.verify(hay, p, g, out);
            }
            p += STRIDE;
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    #[cold]
    fn verify(&self, hay: &[u8], p: usize, g: u32, out: &mut Vec<(usize, usize, usize)>) {
        let Some(list) = self.grams.get(&g) else {
            return;
        };
        for &(pid, off) in list {
            let pat = &self.pats[pid as usize];
            let Some(s) = p.checked_sub(off as usize) else {
                continue;
            };
            let e = s + pat.len();
            if e <= hay.len() && hay[s..e] == pat[..] {
                out.push((s, e, pid as usize));
            }
        }
    }
}

/// `region` without separators into `out`, and in `cps` the separator-free length before
/// each 64-byte block.
fn strip(region: &[u8], out: &mut Vec<u8>, cps: &mut Vec<usize>) {
    out.clear();
    cps.clear();
    out.reserve(region.len());
    cps.reserve(region.len() / 64 + 1);
    for block in region.chunks(64) {
        cps.push(out.len());
        let b = block64(block);
        let keep = keep_flags(&b);
        let kept: usize = keep.iter().map(|&k| k as usize).sum();
        if kept == 64 {
            out.extend_from_slice(block);
            continue;
        }
        let mut tmp = [0u8; 65];
        let mut o = 0;
        for (&x, &k) in b.iter().zip(&keep).take(block.len()) {
            tmp[o] = x;
            o += k as usize;
        }
        out.extend_from_slice(&tmp[..o]);
    }
}

/// The offset in `region` of separator-free byte `s`.
fn orig_of(region: &[u8], cps: &[usize], s: usize) -> usize {
    let k = cps.partition_point(|&c| c <= s) - 1;
    let mut count = cps[k];
    let mut i = k * 64;
    loop {
        if !is_sep(region[i]) {
            if count == s {
                return i;
            }
            count += 1;
        }
        i += 1;
    }
}

/// The position from which `data[..end]` holds `count` separator-free bytes (at most 64 KiB
/// more than `count` bytes back).
pub(crate) fn back_nonsep(data: &[u8], end: usize, count: usize) -> usize {
    let floor = end.saturating_sub(count + 64 * 1024);
    let mut i = end;
    let mut seen = 0;
    while i > floor && seen < count {
        i -= 1;
        seen += !is_sep(data[i]) as usize;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_and_map() {
        let r = b"a-b c".repeat(40);
        let (mut s, mut cps) = (Vec::new(), Vec::new());
        strip(&r, &mut s, &mut cps);
        assert_eq!(s.len(), 120);
        for (k, &b) in s.iter().enumerate() {
            assert_eq!(r[orig_of(&r, &cps, k)], b);
        }
        assert_eq!(back_nonsep(b"ab--cd", 6, 3), 1);
    }

    #[test]
    fn gram_index_finds_every_occurrence() {
        let mut seed = 3u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..50 {
            // A small alphabet makes overlapping and repeated occurrences common.
            let pats: Vec<Vec<u8>> = (0..1 + rnd(6))
                .map(|_| (0..8 + rnd(12)).map(|_| b"abc"[rnd(3)]).collect())
                .collect();
            let index = GramIndex::new(pats.clone());
            let mut hay: Vec<u8> = (0..rnd(400)).map(|_| b"abcd"[rnd(4)]).collect();
            for _ in 0..rnd(4) {
                let p = &pats[rnd(pats.len())];
                let at = rnd(hay.len() + 1);
                hay.splice(at..at, p.iter().copied());
            }
            let mut want = Vec::new();
            for (pid, p) in pats.iter().enumerate() {
                for s in 0..hay.len().saturating_sub(p.len() - 1) {
                    if hay[s..s + p.len()] == p[..] {
                        want.push((s, s + p.len(), pid));
                    }
                }
            }
            want.sort_unstable();
            want.dedup();
            let mut got = Vec::new();
            index.find_all(&hay, &mut got);
            assert_eq!(got, want);
        }
    }
}
