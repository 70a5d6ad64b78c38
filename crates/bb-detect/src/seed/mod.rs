//! Wallet seed phrases: 12, 15, 18, 21 or 24 consecutive words of the BIP-39 English list
//! whose last word carries the checksum of the others (so ordinary text made of list words is
//! taken once in 16 to once in 256 even when it has twelve in a row), at the start or the end
//! of a run of list words. Words may be separated
//! by up to [`MAX_GAP`] bytes of anything but letters: spaces, commas, quotes, line breaks,
//! numbering (`1. abandon 2. ability`).
//!
//! The word list is BIP-39's English list (`bip39_english.txt`, as shipped by the reference
//! implementation python-mnemonic, MIT licence), sorted, with unique 4-letter prefixes.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

mod words;

pub(crate) use words::Words;

const WORDS_TEXT: &str = include_str!("bip39_english.txt");
/// The most bytes between two words of a phrase.
pub(crate) const MAX_GAP: usize = 8;
/// The shortest text a phrase can take (twelve words of three letters, one byte between):
/// only runs of letters and gap bytes this long are read word by word.
pub(crate) const MIN_SPAN: usize = 12 * 3 + 11;
const LENGTHS: [usize; 5] = [24, 21, 18, 15, 12];
const MIN_WORDS: usize = 12;
const LONGEST: usize = 24;

struct List {
    words: Vec<&'static [u8]>,
    /// The first four letters of each word packed in a `u32` (5 bits a letter, sorted as
    /// the words are): unique in BIP-39's list, small enough to stay in the L1 cache.
    prefixes: Vec<u32>,
    /// Where the words of each first letter begin in `prefixes` (27 entries).
    by_letter: [u16; 27],
}

/// The first four letters of `word`, lower-cased and packed (`None` for a non-letter).
fn packed_prefix(word: &[u8]) -> u32 {
    let mut key = 0u32;
    for i in 0..4 {
        let letter = word
            .get(i)
            .map_or(0, |b| u32::from((b | 0x20).wrapping_sub(b'a')) + 1);
        key = (key << 5) | letter;
    }
    key
}

fn list() -> &'static List {
    static LIST: OnceLock<List> = OnceLock::new();
    LIST.get_or_init(|| {
        let words: Vec<&'static [u8]> = WORDS_TEXT.split_whitespace().map(str::as_bytes).collect();
        let prefixes: Vec<u32> = words.iter().map(|w| packed_prefix(w)).collect();
        let mut by_letter = [0u16; 27];
        for (letter, slot) in by_letter.iter_mut().enumerate() {
            *slot = words
                .iter()
                .position(|w| usize::from(w[0] - b'a') >= letter)
                .unwrap_or(words.len()) as u16;
        }
        List {
            words,
            prefixes,
            by_letter,
        }
    })
}

/// The word's index in the list (any case).
fn index(word: &[u8]) -> Option<u16> {
    if !(3..=8).contains(&word.len()) {
        return None;
    }
    let list = list();
    let letter = usize::from((word[0] | 0x20).wrapping_sub(b'a'));
    if letter >= 26 {
        return None;
    }
    let (from, to) = (
        usize::from(list.by_letter[letter]),
        usize::from(list.by_letter[letter + 1]).max(usize::from(list.by_letter[letter])),
    );
    let key = packed_prefix(word);
    let at = from + list.prefixes[from..to].binary_search(&key).ok()?;
    list.words[at]
        .eq_ignore_ascii_case(word)
        .then_some(at as u16)
}

/// Generated phrases draw each word from 2048 at random: one word four times or more (in
/// `word word word …` filler or a test vector of zeros) is text, not a wallet.
fn repetitive(indices: &[u16]) -> bool {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.chunk_by(|a, b| a == b).any(|same| same.len() > 3)
}

/// The last word's checksum bits match the SHA-256 of the entropy the others encode.
fn checksum_ok(indices: &[u16]) -> bool {
    let bits = indices.len() * 11;
    let check_bits = bits / 33;
    let entropy_bytes = (bits - check_bits) / 8;
    // At most 24 words: 264 bits.
    let mut all = [0u8; 33];
    let mut acc = 0u32;
    let mut held = 0;
    let mut at = 0;
    for &index in indices {
        acc = (acc << 11) | u32::from(index);
        held += 11;
        while held >= 8 {
            held -= 8;
            all[at] = (acc >> held) as u8;
            at += 1;
        }
        acc &= (1 << held) - 1;
    }
    if held > 0 {
        all[at] = (acc << (8 - held)) as u8;
    }
    let hash = Sha256::digest(&all[..entropy_bytes]);
    // The checksum is 4 to 8 bits: the top bits of the byte after the entropy.
    let mask = (0xff00u16 >> check_bits) as u8;
    all[entropy_bytes] & mask == hash[0] & mask
}

/// Where a scan ends: the offset from which the data must be kept, and whether the kept data
/// starts inside a run of list words whose start-aligned phrases were already judged.
pub(crate) struct Held {
    pub keep: usize,
    pub continues: bool,
}

/// Finds seed phrases in `data`; calls `sink(start, end)` for each.
///
/// A phrase is judged where it stands alone: a maximal run of consecutive list words joined by
/// phrase gaps ([`phrase_gap`]) is a phrase when it starts or ends with 12 to 24 words whose
/// checksum holds (longest first). So a wallet's phrase is found however it is laid out, and
/// ordinary text costs at most ten checksums a run. Words are looked up sparingly: of twelve
/// words the last is looked up first, and when it is no list word no phrase holds it and the
/// search moves twelve words on, without visiting the words in between ([`Words`]).
/// `continues`: `data` starts inside a run of list words whose start was judged before.
pub(crate) fn scan(
    data: &[u8],
    at_end: bool,
    continues: bool,
    words: &mut Words,
    sink: &mut dyn FnMut(usize, usize),
) -> Held {
    let cut = cut_word(data, at_end);
    words.load(data, cut);
    let words = &*words;
    let word = |start: usize| {
        let end = words.end(start);
        index(&data[start..end]).map(|index| Word { index, start, end })
    };
    let joined = |a: &Word, b: &Word| phrase_gap(&data[a.end..b.start]);
    let Some(first_start) = words.next_start(0) else {
        return Held {
            keep: cut,
            continues: false,
        };
    };
    // No phrase starts before `j`, and the word before `j` is no list word or is not joined.
    let mut j = first_start;
    loop {
        let Some(probe) = words.nth_start(j, MIN_WORDS - 1) else {
            return tail(words, data, j, cut, at_end, continues && j == first_start);
        };
        let Some(hit) = word(probe) else {
            match words.next_start(probe + 1) {
                Some(next) => {
                    j = next;
                    continue;
                }
                None => break,
            }
        };
        // The run of joined list words around the hit, counted; its words are collected only
        // when it is long enough to judge (ordinary text rarely gets there).
        let (mut first, mut count) = (hit, 1);
        while first.start > j {
            let before = words.prev_start(first.start).and_then(word);
            match before.filter(|w| joined(w, &first)) {
                Some(w) => (first, count) = (w, count + 1),
                None => break,
            }
        }
        let mut last = hit;
        let next = loop {
            let next = words.next_start(last.end);
            match next.and_then(word).filter(|w| joined(&last, w)) {
                Some(w) => (last, count) = (w, count + 1),
                None => break next,
            }
        };
        let continued = continues && first.start == first_start;
        let open = next.is_none() && !at_end && gap_may_join(&data[last.end..cut]);
        let run = || -> Vec<Word> {
            let mut run = Vec::with_capacity(count);
            let mut at = Some(first.start);
            while let Some(start) = at.filter(|&s| s <= last.start) {
                run.extend(word(start));
                at = words.next_start(start + 1);
            }
            run
        };
        if open {
            return hold(&run(), continued, cut, sink);
        }
        if count >= MIN_WORDS {
            judge(&run(), !continued, true, sink);
        }
        match next {
            Some(next) => j = next,
            None => break,
        }
    }
    Held {
        keep: cut,
        continues: false,
    }
}

/// Fewer than twelve words are left from `j`: when more data may come, they may start a phrase
/// with the words to come, from the last word not joined to the one before.
fn tail(words: &Words, data: &[u8], j: usize, cut: usize, at_end: bool, continued: bool) -> Held {
    let closed = Held {
        keep: cut,
        continues: false,
    };
    if at_end {
        return closed;
    }
    let mut chain = j;
    let mut end = words.end(j);
    while let Some(next) = words.next_start(end) {
        if !phrase_gap(&data[end..next]) {
            chain = next;
        }
        end = words.end(next);
    }
    if !gap_may_join(&data[end..cut]) {
        return closed;
    }
    Held {
        keep: chain,
        continues: continued && chain == j,
    }
}

/// The last run of list words may grow with the data to come: its start is judged once 24
/// words are known, and its last 24 words are kept.
fn hold(run: &[Word], head_judged: bool, cut: usize, sink: &mut dyn FnMut(usize, usize)) -> Held {
    match run.first() {
        None => Held {
            keep: cut,
            continues: false,
        },
        Some(first) if run.len() < LONGEST => Held {
            keep: first.start,
            continues: head_judged,
        },
        Some(_) => {
            judge(run, !head_judged, false, sink);
            Held {
                keep: run[run.len() - LONGEST].start,
                continues: true,
            }
        }
    }
}

/// Bytes that may stand between two words of a phrase: at most [`MAX_GAP`] of white space,
/// commas, quotes, digits and numbering punctuation, with at least one space or comma (so
/// `memory_usage`, `a.b` and `f(x=y)` join nothing).
fn phrase_gap(gap: &[u8]) -> bool {
    gap.len() <= MAX_GAP
        && gap.iter().all(|&b| is_gap_byte(b))
        && gap
            .iter()
            .any(|&b| matches!(b, b' ' | b'\n' | b'\t' | b'\r' | b','))
}

/// A byte that may stand between two words of a phrase (the same set as the `phrase` mask of
/// [`crate::decode::block_masks`]).
pub(crate) fn is_gap_byte(b: u8) -> bool {
    matches!(
        b,
        b'0'..=b'9'
            | b' '
            | b'\n'
            | b'\t'
            | b'\r'
            | b','
            | b'"'
            | b'\''
            | b'.'
            | b')'
            | b':'
            | b';'
            | b'-'
    )
}

/// The bytes after the last word could still become a phrase gap when more data comes.
fn gap_may_join(tail: &[u8]) -> bool {
    tail.len() <= MAX_GAP && tail.iter().all(|&b| is_gap_byte(b))
}

/// Reports the longest phrase at the start of `run` (when `head`) and at its end (when `tail`).
fn judge(run: &[Word], head: bool, tail: bool, sink: &mut dyn FnMut(usize, usize)) {
    let n = run.len();
    if n < LENGTHS[LENGTHS.len() - 1] {
        return;
    }
    let indices: Vec<u16> = run.iter().map(|w| w.index).collect();
    let first = |range: &dyn Fn(usize) -> std::ops::Range<usize>| {
        LENGTHS
            .iter()
            .filter(|&&len| len <= n)
            .map(|&len| range(len))
            .find(|r| !repetitive(&indices[r.clone()]) && checksum_ok(&indices[r.clone()]))
    };
    let at_start = if head { first(&|len| 0..len) } else { None };
    let at_end = if tail { first(&|len| n - len..n) } else { None };
    if let Some(r) = &at_start {
        sink(run[r.start].start, run[r.end - 1].end);
    }
    if let Some(r) = at_end.filter(|r| Some(r) != at_start.as_ref()) {
        sink(run[r.start].start, run[r.end - 1].end);
    }
}

/// A word of the list: its index and byte span.
#[derive(Clone, Copy)]
struct Word {
    index: u16,
    start: usize,
    end: usize,
}

/// Where a word cut by the end of `data` starts: `data.len()` at the end of the input or when
/// the data does not end in a letter.
fn cut_word(data: &[u8], at_end: bool) -> usize {
    if at_end {
        return data.len();
    }
    data.iter()
        .rposition(|b| !b.is_ascii_alphabetic())
        .map_or(0, |p| p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan(
            text.as_bytes(),
            true,
            false,
            &mut Words::default(),
            &mut |s, e| out.push(&text[s..e]),
        );
        out
    }

    /// A phrase of `n` words drawn by a fixed generator, its last word chosen so that the
    /// checksum holds (as a wallet's would).
    fn phrase(n: usize, seed: u64) -> String {
        let mut x = seed;
        let mut indices: Vec<u16> = (0..n - 1)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 2048) as u16
            })
            .collect();
        indices.push(0);
        let last = (0..2048u16)
            .find(|&w| {
                indices[n - 1] = w;
                checksum_ok(&indices)
            })
            .unwrap();
        indices[n - 1] = last;
        let words = &list().words;
        indices
            .iter()
            .map(|&i| std::str::from_utf8(words[usize::from(i)]).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_list_loads_with_unique_prefixes() {
        assert_eq!(list().words.len(), 2048);
        assert_eq!(index(b"abandon"), Some(0));
        assert_eq!(index(b"Zoo"), Some(2047));
        assert_eq!(index(b"abando"), None);
        assert_eq!(index(b"the"), None);
    }

    #[test]
    fn phrases_with_a_valid_checksum_are_found_in_any_layout() {
        for n in LENGTHS {
            let p = phrase(n, n as u64);
            assert_eq!(find(&p), [p.as_str()], "{n} words");
        }
        let p12 = phrase(12, 7);
        let numbered: String = p12
            .split(' ')
            .enumerate()
            .map(|(i, w)| format!("{}. {w}\n", i + 1))
            .collect();
        assert_eq!(find(&numbered).len(), 1);
        let json = format!("{{\"seed\": [\"{}\"]}}", p12.replace(' ', "\", \""));
        assert_eq!(find(&json).len(), 1);
        assert_eq!(find(&p12.to_ascii_uppercase()).len(), 1);
        // List words around it: the phrase is found at the start or the end of the run.
        assert_eq!(find(&format!("{p12} able able")).len(), 1);
        assert_eq!(find(&format!("able able {p12}")).len(), 1);
    }

    #[test]
    fn list_words_without_the_checksum_or_a_random_draw_are_not() {
        let p = phrase(12, 3);
        let (head, last) = p.rsplit_once(' ').unwrap();
        let wrong = (0..2048)
            .map(|i| std::str::from_utf8(list().words[i]).unwrap())
            .find(|w| *w != last && find(&format!("{head} {w}")).is_empty())
            .unwrap();
        assert!(find(&format!("{head} {wrong}")).is_empty());
        assert!(
            find(&p.replacen(' ', "_", 3)).is_empty(),
            "identifiers join nothing"
        );
        let eleven = "abandon ability able about above absent absorb abstract absurd abuse access";
        assert!(find(eleven).is_empty());
        let prose = "We often walk along the river to see birds and trees in early spring light";
        assert!(find(prose).is_empty());
        // BIP-39's all-zero test vector: one word eleven times, no wallet's draw.
        let zeros = format!("{} about", ["abandon"; 11].join(" "));
        assert!(find(&zeros).is_empty());
    }

    #[test]
    fn a_stream_cut_anywhere_finds_the_same() {
        // The last phrase ends a run of 34 list words: found from the run's end.
        let (p24, p12) = (phrase(24, 1), phrase(12, 2));
        let padded = format!("{} {p24}", ["able"; 10].join(" "));
        let text = format!("log: {p24} done. again {p12}. {padded}!");
        let mut whole = Vec::new();
        scan(
            text.as_bytes(),
            true,
            false,
            &mut Words::default(),
            &mut |s, e| whole.push((s, e)),
        );
        assert_eq!(whole.len(), 3, "{whole:?}");
        let bytes = text.as_bytes();
        for cut in 1..text.len() {
            let mut spans = Vec::new();
            let held = scan(
                &bytes[..cut],
                false,
                false,
                &mut Words::default(),
                &mut |s, e| spans.push((s, e)),
            );
            let keep = held.keep;
            let rest = [&bytes[keep..cut], &bytes[cut..]].concat();
            let mut more = |s: usize, e: usize| spans.push((s + keep, e + keep));
            scan(
                &rest,
                true,
                held.continues,
                &mut Words::default(),
                &mut more,
            );
            // A phrase judged from both sides of a cut is reported twice; the engine keeps one.
            spans.sort_unstable();
            spans.dedup();
            assert_eq!(spans, whole, "cut at {cut}");
        }
    }

    #[test]
    fn the_engine_finds_a_phrase_whole_and_streamed() {
        let engine = crate::Engine::new(Vec::new());
        let cfg = crate::OutboundConfig {
            token_patterns: true,
            ..Default::default()
        };
        let text = format!("{{\"mnemonic\": \"{}\"}}", phrase(24, 9));
        let spans = |found: Vec<crate::Finding>| -> Vec<(usize, usize)> {
            found
                .into_iter()
                .filter(|f| f.rule == "bip39-seed-phrase")
                .map(|f| (f.start, f.end))
                .collect()
        };
        let whole = spans(engine.scan(&cfg, text.as_bytes()));
        assert_eq!(whole.len(), 1);
        for size in [1, 5, 33, 200] {
            let found = crate::streamed(&engine, cfg, text.as_bytes(), size);
            assert_eq!(spans(found), whole, "chunks of {size}");
        }
    }
}
