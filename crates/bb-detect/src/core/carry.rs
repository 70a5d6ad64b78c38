//! Known values spread with filler of any length through a stream. Between rounds a stream
//! keeps at most 64 KiB of raw tail for the known-secret pass ([`back_nonsep`]); when a long
//! run of separators (spaces, dashes, line breaks: what the pass skips) pushes the bytes a
//! match still needs past that, they are carried apart, separator-free with their stream
//! offsets, and joined to the start of the next round's data. A finding that reaches into the
//! carry is reported from the round's first byte: what came before was already decided (and
//! may have left), and the match is completed only now.

use super::State;
use crate::decode::is_sep;
use crate::secrets::PIECES_WITHIN;
use crate::{Detector, Engine, Finding};

/// Separator-free bytes from before the kept buffer, with their stream offsets.
#[derive(Default)]
pub(super) struct Carry {
    bytes: Vec<u8>,
    pos: Vec<usize>,
}

/// Scans the carry joined to the separator-free start of `data` (stream offsets `st.base..`).
pub(super) fn junction(eng: &Engine, st: &mut State, data: &[u8], found: &mut Vec<Finding>) {
    if st.carry.bytes.is_empty() {
        return;
    }
    let base = st.base;
    let overlap = eng.secrets.overlap;
    let (mut bytes, mut pos) = (st.carry.bytes.clone(), st.carry.pos.clone());
    let joined_at = bytes.len();
    for (i, &b) in data.iter().enumerate() {
        if bytes.len() - joined_at >= overlap {
            break;
        }
        if !is_sep(b) {
            bytes.push(b);
            pos.push(base + i);
        }
    }
    // Matches that end before what the last round left undecided were reported then.
    let done = pos.partition_point(|&p| p < st.ks_done);
    let mut sink = |detector: Detector, rule: &str, s: usize, e: usize| {
        found.push(Finding {
            detector,
            rule: rule.to_string(),
            start: pos[s].max(base),
            end: pos[e - 1] + 1,
        })
    };
    let pieces = base < PIECES_WITHIN;
    eng.secrets.pass(
        &bytes,
        0,
        done,
        true,
        true,
        pieces,
        &mut st.scratch,
        &mut sink,
    );
}

/// Once the round's `keep` is known: carries the separator-free bytes before it that a match
/// ending after the known-secret pass's frontier may still need (none when the kept data holds
/// enough of them).
pub(super) fn update(eng: &Engine, st: &mut State, data: &[u8], keep: usize) {
    let base = st.base;
    let overlap = eng.secrets.overlap;
    let frontier = st.ks_done.clamp(keep, base + data.len());
    let kept = data[keep - base..frontier - base]
        .iter()
        .rev()
        .filter(|&&b| !is_sep(b))
        .take(overlap)
        .count();
    if kept >= overlap {
        st.carry = Carry::default();
        return;
    }
    let need = overlap - kept;
    let mut taken: Vec<(u8, usize)> = data[..keep - base]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| !is_sep(**b))
        .take(need)
        .map(|(i, &b)| (b, base + i))
        .collect();
    let old = std::mem::take(&mut st.carry);
    let from_old = (need - taken.len()).min(old.bytes.len());
    let split = old.bytes.len() - from_old;
    taken.reverse();
    st.carry = Carry {
        bytes: old.bytes[split..]
            .iter()
            .copied()
            .chain(taken.iter().map(|t| t.0))
            .collect(),
        pos: old.pos[split..]
            .iter()
            .copied()
            .chain(taken.iter().map(|t| t.1))
            .collect(),
    };
}
