//! One scan round over a buffer (the whole input, or a stream's kept tail plus a new chunk).
//!
//! Each pass keeps a frontier: what lies before it was decided by an earlier round and is not
//! reported again. A candidate that needs bytes past the end of the buffer (a literal hit whose
//! regex window is cut, a fragment that reaches the end, a run still growing) is held: the
//! round returns the position from which the buffer must be kept, and the candidate is decided
//! in a later round. Findings are also deduplicated against what was already returned, so a
//! match is reported once whatever the chunking.

mod carry;
mod decoded;
mod percent;
mod runs;

use std::collections::HashSet;

use crate::secrets::{PIECES_WITHIN, RAW_TAIL, Scratch, back_nonsep};
use crate::tokens::{Sink, Tier};
use crate::{Detector, Engine, Finding, OutboundConfig, sort_findings};

#[derive(Default)]
pub(crate) struct State {
    /// Offset in the stream of the first byte of the buffer.
    pub base: usize,
    /// Bytes fed so far.
    pub consumed: usize,
    /// Per tier of token rules ([`Tier`]): where the next round's literal search starts.
    tok_done: [usize; 2],
    ks_done: usize,
    pct_done: usize,
    run_done: usize,
    card_done: usize,
    /// Seed phrases: where the next round's scan starts (a run of list words still open),
    /// whether that run's start was judged, and the phrase-class run still open.
    seed_from: usize,
    seed_continues: bool,
    seed_words: crate::seed::Words,
    /// Stream offsets of IBAN candidates not judged yet.
    iban_pending: Vec<usize>,
    /// Known values spread with long filler: see [`carry`].
    carry: carry::Carry,
    phrase_open: Option<usize>,
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

/// One tier's token pass over `data` from where the last round stopped (`done`, a stream
/// offset, moved on); returns the stream offset from which the data must be kept.
#[allow(clippy::too_many_arguments)]
fn token_pass(
    eng: &Engine,
    tier: Tier,
    done: &mut usize,
    base: usize,
    data: &[u8],
    at_end: bool,
    rules_on: bool,
    short_on: bool,
    sink: &mut Sink<'_>,
) -> usize {
    let n = data.len();
    let from = (*done).max(base) - base;
    let held = eng.tokens.pass(
        tier,
        data,
        from,
        base == 0,
        at_end,
        rules_on,
        short_on,
        sink,
    );
    let next = held.unwrap_or_else(|| n.saturating_sub(eng.tokens.lit_max(tier) - 1).max(from));
    *done = base + next;
    (base + next).saturating_sub(eng.tokens.back_max + 1)
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
    if cfg.known_secrets && eng.secrets.has_long() {
        carry::junction(eng, st, data, &mut found);
    }
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
        for (tier, rules_on, short_on) in [
            (Tier::Main, cfg.token_patterns, short_on),
            (
                Tier::Broad,
                cfg.token_patterns && eng.tokens.has_broad(),
                false,
            ),
        ] {
            if rules_on || short_on {
                let done = &mut st.tok_done[tier as usize];
                keep = keep.min(token_pass(
                    eng, tier, done, base, data, at_end, rules_on, short_on, &mut sink,
                ));
            }
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
                base + from < PIECES_WITHIN,
                &mut st.scratch,
                &mut sink,
            );
            let next = held.unwrap_or(n);
            st.ks_done = base + next;
            // A fragment held far back (a value spread with long filler) keeps no more than
            // the raw tail's bound: the carry holds what it still needs.
            let bound = n.saturating_sub(RAW_TAIL + eng.secrets.overlap);
            keep = keep.min(base + back_nonsep(data, next, eng.secrets.overlap).max(bound));
        }
    }
    if cfg.token_patterns || cfg.entropy {
        keep = keep.min(runs::run_pass(eng, cfg, st, data, at_end, &mut found));
    }
    if cfg.token_patterns {
        keep = keep.min(percent::pct_pass(eng, st, data, at_end, &mut found));
    }
    sort_findings(&mut found);
    for f in found {
        if st.emitted.insert(f.clone()) {
            out.push(f);
        }
    }
    let keep = keep.max(base);
    if cfg.known_secrets && eng.secrets.has_long() && !at_end {
        carry::update(eng, st, data, keep);
    }
    st.emitted.retain(|f| f.start >= keep);
    keep
}
