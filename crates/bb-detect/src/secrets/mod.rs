//! `known_secrets`: the token slot values and the canary, in every encoding an agent might use.
//!
//! Matching runs over a view of the input with [`SEPARATORS`](crate::decode::SEPARATORS)
//! removed, against patterns with separators removed too; so a value with separators inserted
//! between its characters (`A-K-I-A...`, `41:4b:49...`, base64 wrapped at 76 columns) or with
//! its own separators dropped is the same string there. Patterns per secret (deduplicated):
//! plain, and all lower or all upper case; base64 (standard and URL-safe alphabets) at the
//! three alignments a value can have in a longer base64 string (only the characters that do not depend on the neighbours: the
//! "core"); base32, upper and lower case, at the five alignments; hex lower and upper, also
//! as escapes (`\x41\x4b`) or byte lists (`0x41, 0x4b`); percent-encoding of every byte and of the reserved bytes only,
//! lower and upper hex digits, once and twice; reversed, ROT13 and character codes
//! ([`spellings`]); and seeds for fragments: any piece of at least
//! `max(8, len/5)` characters is found by a seed it contains and then extended byte by byte
//! against the secret. A fragment of half the value or more is a finding on its own; shorter
//! ones are pieces of a value cut up and spread over a request or several (see [`pieces`]). The search itself is a sampled 4-gram filter (`gram::GramIndex`) that
//! reads the input in place, skipping separators, with no stripped copy.

use std::collections::HashMap;

mod gram;
mod pieces;
mod spellings;

use gram::GramIndex;
pub(crate) use pieces::PIECES_WITHIN;
use pieces::{Ledger, PIECE_MIN, PieceIndex};
use spellings::{decimal_codes, octal_codes, prefixed_hex, reversed, rot13};

use crate::decode::{
    b32_core, b64_core, hex_encode, is_sep, pct_encode, strip_separators, to_url_alphabet,
};
use crate::tokens::{ShortSecret, Sink};
use crate::{CANARY_NAME, Detector, KnownSecret, MIN_SECRET_LEN};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Enc {
    Plain,
    /// The value in lower or upper case: a case change a receiver undoes by trying the few
    /// thousand spellings, offline.
    Case,
    Base64,
    Base32,
    Hex,
    Url,
    Url2,
    Reversed,
    Rot13,
    /// Character codes: decimal, octal, HTML entities, `\u` escapes.
    CharCodes,
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
    /// The shortest piece that counts towards a split value.
    min_piece: usize,
}

pub(crate) struct Secrets {
    index: Option<GramIndex>,
    /// The seeds of pieces shorter than a fragment: searched apart, and only where
    /// [`PIECES_WITHIN`] says (the search samples the input about twice as densely).
    pieces: Option<PieceIndex>,
    /// The pieces seen lately, by every scan of the engine.
    ledger: Ledger,
    labels: Vec<Vec<Label>>,
    infos: Vec<Info>,
    short: Vec<(String, Vec<u8>)>,
    names: Vec<String>,
    /// Separator-free bytes to keep between two calls: longest pattern + longest secret.
    pub overlap: usize,
}

/// The rule prefix of a secret: `canary` or `known-secret:NAME`.
pub(crate) fn prefix(name: &str) -> String {
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
        let mut piece_seeds: Vec<(Vec<u8>, (usize, usize))> = Vec::new();
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
            add(sv.to_ascii_lowercase(), exact(Enc::Case), secret);
            add(sv.to_ascii_uppercase(), exact(Enc::Case), secret);
            for align in 0..3 {
                let core = b64_core(v, align);
                add(strip_separators(&core), exact(Enc::Base64), secret);
                add(
                    strip_separators(&to_url_alphabet(&core)),
                    exact(Enc::Base64),
                    secret,
                );
            }
            for align in 0..5 {
                let core = b32_core(v, align);
                add(core.to_ascii_lowercase(), exact(Enc::Base32), secret);
                add(core, exact(Enc::Base32), secret);
            }
            for upper in [false, true] {
                add(hex_encode(v, upper), exact(Enc::Hex), secret);
                // `\x41\x4b…` and `0x41, 0x4b, …` (backslashes, commas and spaces are
                // separators, so these are the prefixes left between the pairs).
                for prefix in [&b"x"[..], b"0x"] {
                    add(prefixed_hex(v, prefix, upper), exact(Enc::Hex), secret);
                }
                for all in [true, false] {
                    let once = pct_encode(v, all, upper);
                    let twice = pct_encode(&once, false, upper);
                    add(strip_separators(&once), exact(Enc::Url), secret);
                    add(strip_separators(&twice), exact(Enc::Url2), secret);
                }
            }
            add(reversed(&sv), exact(Enc::Reversed), secret);
            add(rot13(&sv), exact(Enc::Rot13), secret);
            add(decimal_codes(v, b""), exact(Enc::CharCodes), secret);
            add(decimal_codes(v, b"&#"), exact(Enc::CharCodes), secret);
            add(octal_codes(v), exact(Enc::CharCodes), secret);
            for upper in [false, true] {
                for prefix in [&b"u00"[..], b"&#x"] {
                    add(
                        prefixed_hex(v, prefix, upper),
                        exact(Enc::CharCodes),
                        secret,
                    );
                }
            }
            let ns = sv.len();
            let min_frag = (ns / 2).max(MIN_SECRET_LEN);
            // Seeds of up to SEED_MAX bytes, spaced so that every piece of min_len bytes holds
            // one; a seed hit is extended against the secret. Longer seeds let the search
            // sample the input more sparsely (see GramIndex).
            let seeds = |min_len: usize| {
                let k = min_len.min(SEED_MAX);
                (0..=ns.saturating_sub(k))
                    .step_by(min_len - k + 1)
                    .map(move |off| (off, k))
            };
            if min_frag < ns {
                for (off, k) in seeds(min_frag) {
                    add(
                        sv[off..off + k].to_vec(),
                        Label::Seed { secret, off },
                        secret,
                    );
                }
            }
            let min_piece = (ns / 5).max(PIECE_MIN).min(min_frag);
            if min_piece < min_frag {
                for (off, k) in seeds(min_piece) {
                    piece_seeds.push((sv[off..off + k].to_vec(), (secret, off)));
                }
            }
            infos.push(Info {
                prefix: prefix(&ks.name),
                value: v.to_vec(),
                stripped: sv,
                min_frag,
                min_piece,
            });
        }
        let max_pat = pats.iter().map(Vec::len).max().unwrap_or(0);
        let max_sec = infos.iter().map(|i| i.stripped.len()).max().unwrap_or(0);
        let index = (!pats.is_empty()).then(|| GramIndex::new(pats));
        let pieces = (!piece_seeds.is_empty()).then(|| {
            let (pats, seeds) = piece_seeds.into_iter().unzip();
            PieceIndex {
                index: GramIndex::new(pats),
                seeds,
            }
        });
        Secrets {
            index,
            pieces,
            ledger: Ledger::default(),
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
        pieces: bool,
        scratch: &mut Scratch,
        sink: &mut Sink<'_>,
    ) -> Option<usize> {
        let index = self.index.as_ref()?;
        let piece_held = match &self.pieces {
            Some(p) if pieces => {
                self.piece_pass(p, data, from, done, at_start, at_end, scratch, sink)
            }
            _ => None,
        };
        let region = &data[from..];
        index.find_all(region, &mut scratch.matches);
        let mut held: Option<usize> = None;
        for &(ms, me, pid) in &scratch.matches {
            let (os, oe) = (from + ms, from + me);
            if oe <= done {
                continue;
            }
            for label in &self.labels[pid] {
                match *label {
                    Label::Exact { secret, enc } => {
                        let info = &self.infos[secret];
                        let rule = rule_name(info, enc, &data[os..oe]);
                        sink(Detector::KnownSecrets, &rule, os, oe);
                    }
                    Label::Seed { secret, off } => {
                        let info = &self.infos[secret];
                        let seed_len = self.index_len(pid);
                        let frag = extend(region, &info.stripped, ms, me, off, seed_len);
                        if frag.at_region_start && !at_start {
                            continue; // its start was decided by an earlier call
                        }
                        if frag.at_region_end && !at_end {
                            held = Some(held.map_or(oe - 1, |h| h.min(oe - 1)));
                            continue;
                        }
                        let (fs, fe) = (from + frag.start, from + frag.end);
                        if frag.len == info.stripped.len() {
                            let rule = rule_name(info, Enc::Plain, &data[fs..fe]);
                            sink(Detector::KnownSecrets, &rule, fs, fe);
                        } else if frag.len >= info.min_frag {
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
        match (held, piece_held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn index_len(&self, pid: usize) -> usize {
        self.index.as_ref().map_or(0, |i| i.pats[pid].len())
    }
}

impl Fragment {
    /// The bytes of the secret it covers.
    fn covers(&self) -> std::ops::Range<usize> {
        self.from..self.from + self.len
    }
}

/// A seed hit extended against its secret, separators skipped.
struct Fragment {
    /// Offsets in the region of its first byte and past its last byte.
    start: usize,
    end: usize,
    /// Where in the (separator-free) secret it starts, and how many bytes it covers.
    from: usize,
    len: usize,
    /// It could extend further back / on, but the region stops there.
    at_region_start: bool,
    at_region_end: bool,
}

/// Extends the seed `sv[off..off + seed_len]`, found at `region[ms..me]`, backwards and
/// forwards while the bytes around it (separators skipped) go on matching the secret `sv`.
fn extend(region: &[u8], sv: &[u8], ms: usize, me: usize, off: usize, seed_len: usize) -> Fragment {
    let (mut a, mut j) = (ms, off);
    let mut at_region_start = false;
    while j > 0 {
        match prev_nonsep(region, a) {
            Some(q) if region[q] == sv[j - 1] => (a, j) = (q, j - 1),
            Some(_) => break,
            None => {
                at_region_start = true;
                break;
            }
        }
    }
    let (mut b, mut jj) = (me, off + seed_len);
    let mut at_region_end = false;
    while jj < sv.len() {
        match next_nonsep(region, b) {
            Some(q) if region[q] == sv[jj] => (b, jj) = (q + 1, jj + 1),
            Some(_) => break,
            None => {
                at_region_end = true;
                break;
            }
        }
    }
    Fragment {
        start: a,
        end: b,
        from: j,
        len: jj - j,
        at_region_start,
        at_region_end,
    }
}

/// The last non-separator byte before `i`.
fn prev_nonsep(data: &[u8], i: usize) -> Option<usize> {
    data[..i].iter().rposition(|&b| !is_sep(b))
}

/// The first non-separator byte at or after `i`.
fn next_nonsep(data: &[u8], i: usize) -> Option<usize> {
    data[i..].iter().position(|&b| !is_sep(b)).map(|p| i + p)
}

fn rule_name(info: &Info, enc: Enc, span: &[u8]) -> String {
    let suffix = match enc {
        Enc::Plain if span == info.value.as_slice() => "",
        Enc::Plain => "/separated",
        Enc::Case => "/case-changed",
        Enc::Base64 if span.iter().any(|&b| b == b'-' || b == b'_') => "/base64url",
        Enc::Base64 => "/base64",
        Enc::Base32 => "/base32",
        Enc::Hex => "/hex",
        Enc::Url => "/url",
        Enc::Url2 => "/url2",
        Enc::Reversed => "/reversed",
        Enc::Rot13 => "/rot13",
        Enc::CharCodes => "/char-codes",
    };
    format!("{}{suffix}", info.prefix)
}

/// Buffers reused from one round to the next.
#[derive(Default)]
pub(crate) struct Scratch {
    matches: Vec<(usize, usize, usize)>,
}

/// The longest fragment seed (see [`Secrets::new`]).
const SEED_MAX: usize = 20;

/// The most separators a stream keeps raw for the known-secret pass; past that the bytes a match
/// still needs are carried separator-free (`core::carry`).
pub(crate) const RAW_TAIL: usize = 64 * 1024;

/// The position from which `data[..end]` holds `count` separator-free bytes (at most
/// [`RAW_TAIL`] more than `count` bytes back).
pub(crate) fn back_nonsep(data: &[u8], end: usize, count: usize) -> usize {
    let floor = end.saturating_sub(count + RAW_TAIL);
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
    use super::gram::{match_backwards, match_forwards};
    use super::*;

    #[test]
    fn back_nonsep_counts_only_non_separators() {
        assert_eq!(back_nonsep(b"ab--cd", 6, 3), 1);
        assert_eq!(match_backwards(b"ab--cd", 4, b"ab"), Some(0));
        assert_eq!(match_backwards(b"ab--cd", 4, b"xb"), None);
        assert_eq!(match_backwards(b"ab--cd", 4, b"zab"), None);
        assert_eq!(match_forwards(b"ab--cd", 1, b"bc"), Some(5));
    }

    /// Every occurrence of every pattern in the input with its separators removed, as spans
    /// of the input (first pattern byte, past the last).
    fn naive(pats: &[Vec<u8>], hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let pos: Vec<usize> = (0..hay.len()).filter(|&i| !is_sep(hay[i])).collect();
        let stripped: Vec<u8> = pos.iter().map(|&i| hay[i]).collect();
        let mut want = Vec::new();
        for (pid, p) in pats.iter().enumerate() {
            for s in 0..stripped.len().saturating_sub(p.len() - 1) {
                if stripped[s..s + p.len()] == p[..] {
                    want.push((pos[s], pos[s + p.len() - 1] + 1, pid));
                }
            }
        }
        want.sort_unstable();
        want.dedup();
        want
    }

    #[test]
    fn gram_index_finds_every_occurrence_separators_skipped() {
        let mut seed = 3u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for round in 0..400 {
            // A small alphabet makes overlapping and repeated occurrences common.
            let pats: Vec<Vec<u8>> = (0..1 + rnd(6))
                .map(|_| (0..8 + rnd(20)).map(|_| b"abc"[rnd(3)]).collect())
                .collect();
            let index = GramIndex::new(pats.clone());
            // Half the rounds with separators: single ones, runs, and between the bytes of
            // planted occurrences.
            let seps: &[u8] = if round % 2 == 0 { b"" } else { b" -\n:/" };
            let byte = |r: &mut dyn FnMut(usize) -> usize| {
                if !seps.is_empty() && r(4) == 0 {
                    seps[r(seps.len())]
                } else {
                    b"abcd"[r(4)]
                }
            };
            let mut hay: Vec<u8> = (0..rnd(400)).map(|_| byte(&mut rnd)).collect();
            for _ in 0..rnd(4) {
                let p = &pats[rnd(pats.len())];
                let mut planted = Vec::new();
                for &c in p {
                    planted.push(c);
                    while !seps.is_empty() && rnd(5) == 0 {
                        planted.push(seps[rnd(seps.len())]);
                    }
                }
                planted.pop_if(|b| is_sep(*b));
                let at = rnd(hay.len() + 1);
                hay.splice(at..at, planted);
            }
            if !seps.is_empty() && rnd(3) == 0 {
                let at = rnd(hay.len() + 1);
                hay.splice(at..at, std::iter::repeat_n(b' ', rnd(200)));
            }
            let mut got = Vec::new();
            index.find_all(&hay, &mut got);
            assert_eq!(got, naive(&pats, &hay), "{}", String::from_utf8_lossy(&hay));
        }
    }
}
