//! A known value cut into pieces and spread over query parameters, headers, body fields or
//! several requests. A piece of at least a fifth of the value (and [`PIECE_MIN`] bytes) is
//! found by seeds of its own and extended against the value; the engine keeps, for each value,
//! which of its bytes the pieces seen in the last [`WINDOW`] cover, across every scan (one
//! engine serves one bottle). Once they cover the whole value, the scan that completes it has a
//! finding (`known-secret:NAME/split`), and so has every later scan with a piece of it while
//! the pieces are fresh: that request is refused, so the value never leaves whole.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::gram::GramIndex;
use super::{Scratch, Secrets, extend};
use crate::Detector;
use crate::tokens::Sink;

/// The shortest piece looked for: shorter ones match ordinary text by chance far too often to
/// be told apart (eight hex digits of a hex token already turn up in hashes and ids, but
/// covering the whole value with such chance hits within the window does not happen).
pub(super) const PIECE_MIN: usize = 8;

/// Pieces are looked for in the first MiB of a stream (and in every URL and header, scanned on
/// their own): there the proxy holds a body whole before it leaves, and a search for short
/// pieces over every byte of a large upload samples the input more than twice as densely.
pub(crate) const PIECES_WITHIN: usize = 1 << 20;

/// How long a piece counts.
pub(crate) const WINDOW: Duration = Duration::from_secs(3600);

pub(super) struct PieceIndex {
    pub(super) index: GramIndex,
    /// Per pattern: the secret and the seed's offset in it.
    pub(super) seeds: Vec<(usize, usize)>,
}

/// When each byte of each known value was last seen in a piece.
#[derive(Default)]
pub(super) struct Ledger(Mutex<HashMap<usize, Vec<Option<Instant>>>>);

impl Ledger {
    /// Records a piece seen at `now`; true when the pieces of the last [`WINDOW`] cover the
    /// value whole. The record is not reset by a finding: once the value is covered, every
    /// piece of it is a finding until its pieces age out (a reset would let a refused request
    /// use up the completion, and the last piece go out alone in the next one).
    pub(super) fn cover(
        &self,
        secret: usize,
        len: usize,
        piece: std::ops::Range<usize>,
        now: Instant,
    ) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return false;
        };
        let seen = map.entry(secret).or_insert_with(|| vec![None; len]);
        seen[piece].fill(Some(now));
        let fresh = |t: &Option<Instant>| t.is_some_and(|t| now.duration_since(t) <= WINDOW);
        seen.iter().all(fresh)
    }
}

impl Secrets {
    /// Pieces of known values shorter than a fragment, recorded in the ledger; a finding when
    /// one completes a value. Returns the new `done` when a piece reaches the end of `data`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn piece_pass(
        &self,
        pieces: &PieceIndex,
        data: &[u8],
        from: usize,
        done: usize,
        at_start: bool,
        at_end: bool,
        scratch: &mut Scratch,
        sink: &mut Sink<'_>,
    ) -> Option<usize> {
        let region = &data[from..];
        let mut hits = std::mem::take(&mut scratch.matches);
        pieces.index.find_all(region, &mut hits);
        let mut held: Option<usize> = None;
        for &(ms, me, pid) in &hits {
            if from + me <= done {
                continue;
            }
            let (secret, off) = pieces.seeds[pid];
            let info = &self.infos[secret];
            let seed_len = pieces.index.pats[pid].len();
            let frag = extend(region, &info.stripped, ms, me, off, seed_len);
            if frag.at_region_start && !at_start {
                continue;
            }
            if frag.at_region_end && !at_end {
                held = Some(held.map_or(from + me - 1, |h| h.min(from + me - 1)));
                continue;
            }
            let piece = frag.len >= info.min_piece && frag.len < info.min_frag;
            let len = info.stripped.len();
            if piece
                && self
                    .ledger
                    .cover(secret, len, frag.covers(), Instant::now())
            {
                let rule = format!("{}{}", info.prefix, crate::SPLIT_SUFFIX);
                let (s, e) = (from + frag.start, from + frag.end);
                sink(Detector::KnownSecrets, &rule, s, e);
            }
        }
        scratch.matches = hits;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_add_up_within_the_window_only() {
        let ledger = Ledger::default();
        let t0 = Instant::now();
        assert!(!ledger.cover(0, 30, 0..10, t0));
        assert!(!ledger.cover(0, 30, 10..20, t0 + Duration::from_secs(60)));
        assert!(!ledger.cover(1, 30, 20..30, t0), "another value");
        assert!(ledger.cover(0, 30, 20..30, t0 + Duration::from_secs(120)));
        // Covered: any piece of it is a finding, until the pieces age out.
        assert!(ledger.cover(0, 30, 5..15, t0 + Duration::from_secs(180)));
        let late = t0 + WINDOW + Duration::from_secs(150);
        assert!(
            !ledger.cover(0, 30, 20..30, late),
            "0..5 and 15..20 are stale"
        );
        assert!(ledger.cover(0, 30, 0..20, late));
    }
}
