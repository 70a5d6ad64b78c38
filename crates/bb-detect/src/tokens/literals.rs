//! The literal search that finds where a token rule may match.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, Span, packed};

/// Teddy alone when the CPU and the literal count allow it (it reports matches itself, with
/// no automaton behind it), else a full Aho-Corasick automaton.
pub(super) enum Literals {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Literals {
    pub(super) fn new(lits: &[Vec<u8>]) -> Literals {
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(lits)
            .build();
        match packed {
            Some(searcher) => Literals::Packed(searcher),
            None => Literals::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(lits)
                    .expect("token prefilter"),
            ),
        }
    }

    /// The leftmost-longest literal in `data[from..]`: (start, end, literal).
    #[inline]
    pub(super) fn find(&self, data: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        let m = match self {
            Literals::Packed(s) => s.find_in(data, Span::from(from..data.len()))?,
            Literals::Automaton(ac) => ac.find(aho_corasick::Input::new(data).range(from..))?,
        };
        Some((m.start(), m.end(), m.pattern().as_usize()))
    }
}
