//! A token rule's search window, derived from its regex: how far before a literal hit a match
//! may start, how long a match may be, and which bytes a match may hold (so that the window
//! can stop at the first other byte).
//!
//! The literal is looked for in the leading parts of the regex (its top-level sequence, groups
//! opened): the shortest run of leading parts in every string of which a literal occurs, ASCII
//! case folded. A rule lists the case variants of its key word that the literal search looks
//! for (`ecret`, `ECRET`); a key word in another case is not looked for, so case is no concern
//! of the window. When no such run is found, the window reaches back as far as any match can.

use std::ops::Range;

use regex_syntax::ParserBuilder;
use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings a leading part of a regex is expanded to when the literal is looked for.
const MAX_STRINGS: usize = 4096;
/// Most bytes (case folded) of a class, and most repeats, expanded.
const MAX_CLASS: usize = 64;
const MAX_REPEAT: u32 = 16;

/// Where a rule's regex runs around a literal hit at `p`.
#[derive(Debug)]
pub(super) struct Window {
    /// How far before the literal a match may start.
    pub back: usize,
    /// The longest match: one that starts at or before `p` ends at or before `p + fwd`.
    pub fwd: usize,
    /// The bytes a match may hold, but for its last byte when the regex ends in a part of one
    /// byte at most (a boundary such as `(?:[^A-Za-z0-9]|$)`). None: any byte.
    pub body: Option<ByteSet>,
}

/// A set of bytes, as a table.
#[derive(Debug)]
pub(super) struct ByteSet([bool; 256]);

impl ByteSet {
    fn empty() -> ByteSet {
        ByteSet([false; 256])
    }

    #[inline]
    pub(super) fn contains(&self, b: u8) -> bool {
        self.0[b as usize]
    }

    fn insert_range(&mut self, from: u8, to: u8) {
        self.0[from as usize..=to as usize].fill(true);
    }

    fn is_full(&self) -> bool {
        self.0.iter().all(|&b| b)
    }

    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&b| self.contains(b))
    }
}

impl Window {
    /// Derives the window of `re` around `literals`; an error when `re` does not parse or
    /// when its matches have no maximum length.
    pub(super) fn derive(re: &str, literals: &[&str]) -> Result<Window, String> {
        let hir = ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(re)
            .map_err(|e| e.to_string())?;
        let fwd = hir
            .properties()
            .maximum_len()
            .ok_or("its matches have no maximum length")?;
        let parts = parts(&hir);
        let shortest = literals.iter().map(|l| l.len()).min().unwrap_or(0);
        let back = literal_offset(&parts, literals).unwrap_or(fwd.saturating_sub(shortest));
        Ok(Window {
            back,
            fwd,
            body: body(&parts),
        })
    }

    /// The window around the literal hit at `p`: `end` may lie past the end of `data` (more
    /// data is needed then, unless the data ends there). The byte after the longest match is
    /// in the window, so that `$` cannot match where the window cuts the data.
    pub(super) fn around(&self, data: &[u8], p: usize) -> Range<usize> {
        let start = p.saturating_sub(self.back);
        let reach = &data[p..data.len().min(p + self.fwd)];
        let end = match &self.body {
            Some(body) => reach.iter().position(|&b| !body.contains(b)),
            None => None,
        };
        start..p + end.unwrap_or(self.fwd) + 1
    }
}

/// The top-level sequence of `hir`, groups opened.
fn parts(hir: &Hir) -> Vec<&Hir> {
    match hir.kind() {
        HirKind::Concat(subs) => subs.iter().flat_map(parts).collect(),
        HirKind::Capture(c) => parts(&c.sub),
        _ => vec![hir],
    }
}

/// The largest offset of a literal in the shortest run of leading `parts` that holds one in
/// every string it matches (case folded); None when none is found within the limits.
fn literal_offset(parts: &[&Hir], literals: &[&str]) -> Option<usize> {
    let literals: Vec<Vec<u8>> = literals
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    let mut lead = vec![Vec::new()];
    for part in parts {
        lead = product(&lead, &strings(part)?)?;
        let offsets: Option<Vec<usize>> = lead.iter().map(|s| last_literal(s, &literals)).collect();
        if let Some(offsets) = offsets {
            return offsets.into_iter().max();
        }
    }
    None
}

/// The start of the last literal in `s`.
fn last_literal(s: &[u8], literals: &[Vec<u8>]) -> Option<usize> {
    literals
        .iter()
        .filter_map(|l| s.windows(l.len()).rposition(|w| w == l.as_slice()))
        .max()
}

/// Every string `hir` matches, ASCII lower-cased; None when there are too many.
fn strings(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut out = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![Vec::new()],
        HirKind::Literal(lit) => vec![lit.0.to_ascii_lowercase()],
        HirKind::Class(class) => {
            let mut folded: Vec<u8> = class_bytes(class)
                .bytes()
                .map(|b| b.to_ascii_lowercase())
                .collect();
            folded.sort_unstable();
            folded.dedup();
            if folded.len() > MAX_CLASS {
                return None;
            }
            folded.into_iter().map(|b| vec![b]).collect()
        }
        HirKind::Capture(c) => strings(&c.sub)?,
        HirKind::Concat(subs) => subs
            .iter()
            .try_fold(vec![Vec::new()], |acc, sub| product(&acc, &strings(sub)?))?,
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for sub in subs {
                all.extend(strings(sub)?);
            }
            all
        }
        HirKind::Repetition(rep) => {
            let max = rep.max.filter(|&m| m <= MAX_REPEAT)?;
            let sub = strings(&rep.sub)?;
            let mut all = Vec::new();
            let mut run = vec![Vec::new()];
            for n in 0..=max {
                if n >= rep.min {
                    all.extend(run.iter().cloned());
                }
                if n < max {
                    run = product(&run, &sub)?;
                }
            }
            all
        }
    };
    out.sort_unstable();
    out.dedup();
    (out.len() <= MAX_STRINGS).then_some(out)
}

/// Every `a` followed by every `b`; None when there are too many.
fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len().saturating_mul(b.len()) > MAX_STRINGS {
        return None;
    }
    Some(
        a.iter()
            .flat_map(|x| b.iter().map(move |y| [x.as_slice(), y].concat()))
            .collect(),
    )
}

/// The bytes the parts may consume, but a last part of one byte at most; None when that is
/// every byte.
fn body(parts: &[&Hir]) -> Option<ByteSet> {
    let held = match parts.split_last() {
        Some((last, rest)) if matches!(last.properties().maximum_len(), Some(0 | 1)) => rest,
        _ => parts,
    };
    let mut set = ByteSet::empty();
    for part in held {
        add_bytes(part, &mut set);
    }
    (!set.is_full()).then_some(set)
}

fn add_bytes(hir: &Hir, set: &mut ByteSet) {
    match hir.kind() {
        HirKind::Literal(lit) => lit.0.iter().for_each(|&b| set.insert_range(b, b)),
        HirKind::Class(class) => class_bytes(class)
            .bytes()
            .for_each(|b| set.insert_range(b, b)),
        kind => kind.subs().iter().for_each(|sub| add_bytes(sub, set)),
    }
}

/// The bytes a class may consume; any byte of a multi-byte character counts as `0x80..`.
fn class_bytes(class: &Class) -> ByteSet {
    let mut set = ByteSet::empty();
    match class {
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .for_each(|r| set.insert_range(r.start(), r.end())),
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (start, end) = (u32::from(r.start()), u32::from(r.end()));
                if start < 0x80 {
                    set.insert_range(start as u8, end.min(0x7f) as u8);
                }
                if end >= 0x80 {
                    set.insert_range(0x80, 0xff);
                }
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(re: &str, literals: &[&str]) -> Window {
        Window::derive(re, literals).expect("bounded")
    }

    #[test]
    fn unbounded_regex_is_rejected() {
        for re in [r"(?-u)ghp_[A-Za-z0-9]+", r"(?-u)ghp_\w{4}.*", r"(?-u)x{3,}"] {
            let err = Window::derive(re, &["ghp_"]).expect_err(re);
            assert!(err.contains("no maximum length"), "{re}: {err}");
        }
    }

    #[test]
    fn literal_at_the_start_looks_back_nothing() {
        let w = window(r"(?-u)xox[abprs]-[A-Za-z0-9-]{10,250}", &["xox"]);
        assert_eq!((w.back, w.fwd), (0, 255));
        let w = window(
            r"(?-u)((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?:[^A-Za-z0-9]|$)",
            &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        );
        assert_eq!((w.back, w.fwd), (0, 21));
    }

    #[test]
    fn back_is_the_farthest_literal_in_the_key_word() {
        let w = window(
            r"(?i-u)(?:secret|(?:api|encryption)[_.-]?key)[ \t]{0,4}=[A-Za-z0-9]{16,200}",
            &["ecret", "key", "KEY"],
        );
        // `encryption_key`: the literal is 11 bytes in; case does not matter.
        assert_eq!(w.back, 11);
        assert_eq!(w.fwd, 14 + 4 + 1 + 200);
    }

    #[test]
    fn a_literal_that_cannot_be_placed_looks_back_as_far_as_a_match_reaches() {
        let w = window(r"(?-u)[a-z0-9]{0,20}tok_[a-z]{8}", &["tok_"]);
        assert_eq!((w.back, w.fwd), (32 - 4, 32));
    }

    #[test]
    fn body_leaves_out_a_final_boundary_and_is_none_for_any_byte() {
        let w = window(r"(?-u)(hf_[A-Za-z]{34})(?:[^A-Za-z0-9]|$)", &["hf_"]);
        let body = w.body.expect("a body");
        assert!(b"hf_AZaz".iter().all(|&b| body.contains(b)));
        assert!(!body.contains(b'0') && !body.contains(b' '));
        let w = window(r"(?-u)key=[\x00-\xff]{1,8}", &["key"]);
        assert!(w.body.is_none());
    }

    #[test]
    fn around_stops_after_the_first_byte_out_of_the_body() {
        let w = window(r"(?-u)(npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)", &["npm_"]);
        let data = b"x npm_AbC0 tail";
        assert_eq!(w.around(data, 2), 2..11);
        let long = [b'a'; 100];
        assert_eq!(w.around(&long, 0), 0..42);
    }
}
