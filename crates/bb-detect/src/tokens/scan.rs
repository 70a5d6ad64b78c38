//! The token scan: the literal search, then each hit's rules run in their windows (and short
//! known secrets matched whole).

use regex::bytes::Regex;

use super::accept::assignment_follows;
use super::literals::Literals;
use super::private_key::{KeyBlock, KeyEnd};
use super::rules::{BROAD_FROM, RULES, Spec};
use super::window::Window;
use crate::Detector;
use crate::decode::is_alnum;

/// A rule of the table, compiled.
struct Rule {
    spec: &'static Spec,
    /// Compiled on the rule's first literal hit: most rules never see one in a scan, and an
    /// engine is built per request in the gate's hook.
    re: std::sync::OnceLock<Regex>,
    window: Window,
}

impl Rule {
    /// Panics on a rule that cannot be used: a regex that does not compile or whose matches
    /// have no maximum length (the window must hold any match).
    fn compile(spec: &'static Spec) -> Rule {
        let fail = |e: &dyn std::fmt::Display| -> ! { panic!("token rule {}: {e}", spec.name) };
        Rule {
            spec,
            re: std::sync::OnceLock::new(),
            window: Window::derive(spec.re, spec.literals).unwrap_or_else(|e| fail(&e)),
        }
    }

    /// The regex (every built-in rule's compiles: the window test compiles them all).
    fn re(&self) -> &Regex {
        self.re.get_or_init(|| {
            Regex::new(self.spec.re)
                .unwrap_or_else(|e| panic!("token rule {}: {e}", self.spec.name))
        })
    }

    /// The bytes a literal hit needs before it: the window's and what the accept function
    /// reads before a match.
    fn left(&self) -> usize {
        self.window.back + self.spec.look_behind
    }
}

enum Action {
    Rule(usize),
    Short(usize),
}

pub(crate) struct ShortSecret {
    pub rule: String,
    pub value: Vec<u8>,
}

/// One literal search and, for each literal, what to run at its hits.
struct Search {
    literals: Literals,
    actions: Vec<Vec<Action>>,
    /// Longest literal.
    lit_max: usize,
}

impl Search {
    fn new(lits: Vec<Vec<u8>>, actions: Vec<Vec<Action>>) -> Search {
        Search {
            lit_max: lits.iter().map(Vec::len).max().unwrap_or(1),
            literals: Literals::new(&lits),
            actions,
        }
    }
}

/// Which literal search a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// The rules every engine runs, and the short known secrets.
    Main,
    /// [`super::vendors::BROAD`], in engines built with them.
    Broad,
}

pub(crate) struct Tokens {
    main: Search,
    broad: Option<Search>,
    rules: Vec<Rule>,
    short: Vec<ShortSecret>,
    key_block: KeyBlock,
    /// Largest `back` of any rule.
    pub back_max: usize,
}

/// Marks a token rule's finding in the sink: (detector, rule, start, end).
pub(crate) type Sink<'a> = dyn FnMut(Detector, &str, usize, usize) + 'a;

impl Tokens {
    pub(crate) fn new(short: Vec<ShortSecret>, broad: bool) -> Tokens {
        let rules = if broad { RULES } else { &RULES[..BROAD_FROM] };
        Tokens::with_rules(rules, short)
    }

    /// Rules from [`BROAD_FROM`] on get their own literal search.
    fn with_rules(specs: &'static [Spec], short: Vec<ShortSecret>) -> Tokens {
        let split = specs.len().min(BROAD_FROM);
        let search = |range: std::ops::Range<usize>, short: &[ShortSecret]| {
            let mut lits: Vec<Vec<u8>> = Vec::new();
            let mut actions: Vec<Vec<Action>> = Vec::new();
            let mut add = |lit: &[u8], a: Action| match lits.iter().position(|l| l == lit) {
                Some(i) => actions[i].push(a),
                None => {
                    lits.push(lit.to_vec());
                    actions.push(vec![a]);
                }
            };
            for i in range {
                for l in specs[i].literals {
                    add(l.as_bytes(), Action::Rule(i));
                }
            }
            for (i, s) in short.iter().enumerate() {
                add(&s.value, Action::Short(i));
            }
            Search::new(lits, actions)
        };
        let rules: Vec<Rule> = specs.iter().map(Rule::compile).collect();
        Tokens {
            main: search(0..split, &short),
            broad: (specs.len() > split).then(|| search(split..specs.len(), &[])),
            back_max: rules.iter().map(Rule::left).max().unwrap_or(0),
            rules,
            short,
            key_block: KeyBlock::new(),
        }
    }

    /// Whether the engine runs the [`Tier::Broad`] rules.
    pub(crate) fn has_broad(&self) -> bool {
        self.broad.is_some()
    }

    /// The longest literal of a tier's search.
    pub(crate) fn lit_max(&self, tier: Tier) -> usize {
        self.search(tier).map_or(1, |s| s.lit_max)
    }

    fn search(&self, tier: Tier) -> Option<&Search> {
        match tier {
            Tier::Main => Some(&self.main),
            Tier::Broad => self.broad.as_ref(),
        }
    }

    /// Every token rule over a whole buffer (decoded text): both tiers, no short secrets.
    pub(crate) fn pass_whole(&self, data: &[u8], sink: &mut Sink<'_>) {
        for tier in [Tier::Main, Tier::Broad] {
            self.pass(tier, data, 0, true, true, true, false, sink);
        }
    }

    pub(crate) fn has_short(&self) -> bool {
        !self.short.is_empty()
    }

    /// Finds token rule matches (and short known secrets) whose literal starts at or after
    /// `from` in `data`. `at_start`: `data[0]` is the first byte of the input; `at_end`: no
    /// byte follows `data`. Returns the position of the first literal hit that needs bytes
    /// past the end of `data` to be decided (hits from there on are left for the next call).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pass(
        &self,
        tier: Tier,
        data: &[u8],
        from: usize,
        at_start: bool,
        at_end: bool,
        rules_on: bool,
        short_on: bool,
        sink: &mut Sink<'_>,
    ) -> Option<usize> {
        let search = self.search(tier)?;
        if from >= data.len() {
            return None;
        }
        let mut at = from;
        while let Some((p, end, lit)) = search.literals.find(data, at) {
            for a in &search.actions[lit] {
                let done = match *a {
                    Action::Rule(r) if rules_on => self.rule(r, data, p, at_start, at_end, sink),
                    Action::Short(i) if short_on => self.short(i, data, p, end, at_end, sink),
                    _ => true,
                };
                if !done {
                    return Some(p);
                }
            }
            at = end;
        }
        None
    }

    fn short(
        &self,
        i: usize,
        data: &[u8],
        s: usize,
        e: usize,
        at_end: bool,
        sink: &mut Sink<'_>,
    ) -> bool {
        if e == data.len() && !at_end {
            return false;
        }
        let v = &self.short[i].value;
        let left = s == 0 || !(is_alnum(v[0]) && is_alnum(data[s - 1]));
        let right = e == data.len() || !(is_alnum(v[v.len() - 1]) && is_alnum(data[e]));
        if left && right {
            sink(Detector::KnownSecrets, &self.short[i].rule, s, e);
        }
        true
    }

    /// Runs rule `r` around the literal hit at `p`; false when more data is needed.
    fn rule(
        &self,
        r: usize,
        data: &[u8],
        p: usize,
        at_start: bool,
        at_end: bool,
        sink: &mut Sink<'_>,
    ) -> bool {
        let rule = &self.rules[r];
        let spec = rule.spec;
        if !at_start && p <= rule.left() {
            // Its left context is gone: it was decided by an earlier call.
            return true;
        }
        if spec.assigned && !assignment_follows(data, p) {
            return true;
        }
        let mut window = rule.window.around(data, p);
        if window.end > data.len() {
            if !at_end {
                return false;
            }
            window.end = data.len();
        }
        let hay = &data[..window.end];
        let mut pos = window.start;
        while pos <= p {
            // Most literal hits match nothing: `find_at` tells without allocating captures.
            let Some(found) = rule.re().find_at(hay, pos) else {
                break;
            };
            if found.start() > p {
                break;
            }
            let Some(c) = rule.re().captures_at(hay, found.start()) else {
                break;
            };
            let m = c.get(0).expect("match");
            let accepted = if m.end() > p {
                (spec.accept)(data, &c)
            } else {
                None
            };
            if let Some((s, e)) = accepted {
                if spec.private_key {
                    match self.key_block.end(data, e, at_end) {
                        KeyEnd::At(end) => sink(Detector::TokenPatterns, spec.name, s, end),
                        KeyEnd::NoBody => {}
                        KeyEnd::NeedMore => return false,
                    }
                } else {
                    sink(Detector::TokenPatterns, spec.name, s, e);
                }
            }
            // A refused match must not hide one that starts inside it (`SecretAccessKey: …`
            // refused from `Secret`, taken from `AccessKey`): the next try starts one byte on.
            pos = if accepted.is_some() && m.end() > m.start() {
                m.end()
            } else {
                m.start() + 1
            };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use regex_syntax::ParserBuilder;
    use regex_syntax::hir::{Class, Hir, HirKind};

    use super::*;
    use crate::tokens::accept::whole;

    #[test]
    fn literal_count_keeps_teddy() {
        // One action list per literal; Teddy takes at most 64 literals. The broad tier is a
        // search of its own (an automaton is fine there).
        let t = Tokens::new(Vec::new(), true);
        assert!(t.main.actions.len() <= 64, "{}", t.main.actions.len());
        assert!(t.broad.is_some());
        assert!(Tokens::new(Vec::new(), false).broad.is_none());
    }

    #[test]
    #[should_panic(expected = "token rule unbounded: its matches have no maximum length")]
    fn a_rule_without_a_longest_match_is_rejected() {
        const UNBOUNDED: &[Spec] = &[Spec::new(
            "unbounded",
            &["ghp_"],
            r"(?-u)ghp_[A-Za-z0-9]+",
            whole,
        )];
        Tokens::with_rules(UNBOUNDED, Vec::new());
    }

    /// One of the longest strings `hir` matches: the longest branch of each alternation (the
    /// first of equal ones), the most repeats, the lowest byte of each class.
    fn longest(hir: &Hir, out: &mut Vec<u8>) {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(lit) => out.extend_from_slice(&lit.0),
            HirKind::Class(Class::Bytes(c)) => out.push(c.ranges()[0].start()),
            HirKind::Class(Class::Unicode(c)) => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.ranges()[0].start().encode_utf8(&mut utf8).as_bytes());
            }
            HirKind::Repetition(rep) => {
                for _ in 0..rep.max.expect("bounded") {
                    longest(&rep.sub, out);
                }
            }
            HirKind::Capture(c) => longest(&c.sub, out),
            HirKind::Concat(subs) => subs.iter().for_each(|sub| longest(sub, out)),
            HirKind::Alternation(subs) => {
                let first_longest = subs
                    .iter()
                    .rev()
                    .max_by_key(|sub| sub.properties().maximum_len())
                    .expect("branches");
                longest(first_longest, out);
            }
        }
    }

    #[test]
    fn the_window_of_every_rule_holds_its_longest_match() {
        let tokens = Tokens::new(Vec::new(), true);
        let parser = || ParserBuilder::new().utf8(false).build();
        for rule in &tokens.rules {
            let name = rule.spec.name;
            let mut m = Vec::new();
            longest(&parser().parse(rule.spec.re).expect("parses"), &mut m);
            assert_eq!(m.len(), rule.window.fwd, "{name}: the longest match");
            let pad = [b'\n'; 64];
            let data = [&pad[..], &m, &pad].concat();
            let full = rule.re().find(&data).map(|m| m.range());
            assert_eq!(full, Some(64..64 + m.len()), "{name}: matches whole");
            let p = (rule.spec.literals.iter())
                .filter_map(|l| memchr::memmem::find(&data, l.as_bytes()))
                .min()
                .expect("a literal");
            let w = rule.window.around(&data, p);
            let hay = &data[..w.end.min(data.len())];
            let found = rule.re().find_at(hay, w.start).map(|m| m.range());
            assert_eq!(found, full, "{name}: in the window {w:?} around {p}");
        }
    }
}
