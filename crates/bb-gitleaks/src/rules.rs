//! Compiled gitleaks rules and the scan of one fragment (the added lines of a file in a
//! commit, or a whole object).
//!
//! Regexes are translated from Go RE2 ([`crate::re2`]) and compiled as byte regexes with
//! Unicode off (`(?-u)`), which compiles a large rule set ~80x faster and scans bytes that are
//! not UTF-8; a rule that only compiles with Unicode on gets it. Keywords are a prefilter: a
//! rule with keywords runs only on fragments that contain one of them (ASCII
//! case-insensitive), found with one Aho-Corasick pass.

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::builtin::builtin_rules;
use crate::model::{KeyError, RawAllowlist, RawConfig, RawRule};

mod allow;
mod lazy;
#[cfg(test)]
mod tests;

use allow::Allowlist;
pub use allow::Candidate;
use lazy::{LazyBytes, LazyPath, bytes_pattern, path_pattern};

/// A rule's findings in a fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    pub rule: String,
    /// The secret's byte range (0..0 for a path-only rule: the file itself).
    pub start: usize,
    pub end: usize,
}

/// Another rule whose finding must be near a finding of this one (`[[rules.required]]`).
#[derive(Debug)]
struct Required {
    rule: usize,
    within_lines: Option<u64>,
    within_columns: Option<u64>,
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    regex: Option<LazyBytes>,
    path: Option<LazyPath>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    keywords: Vec<String>,
    allowlists: Vec<Allowlist>,
    required: Vec<Required>,
    skip_report: bool,
}

/// What a config adds to a built-in rule that a rule of its extends by id.
#[derive(Debug, Default)]
struct Overlay {
    entropy: Option<f64>,
    allowlists: Vec<Allowlist>,
}

/// The compiled rules of a config.
#[derive(Debug)]
pub struct Rules {
    pub rules: Vec<Rule>,
    global: Vec<Allowlist>,
    keywords: Option<AhoCorasick>,
    /// For each keyword pattern, the rules that list it.
    keyword_rules: Vec<Vec<usize>>,
    /// Built-in rules the config disables (`useDefault` with `disabledRules`, or a rule that
    /// replaces a built-in one's regex).
    disabled_builtins: BTreeSet<String>,
    overlays: BTreeMap<String, Overlay>,
}

/// Whether a Go RE2 pattern is one gitleaks accepts and this crate can run.
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    bytes_pattern(pattern).map(|_| ())
}

/// Whether a Go RE2 path pattern is one gitleaks accepts and this crate can run.
pub(crate) fn check_path(pattern: &str) -> Result<(), String> {
    path_pattern(pattern).map(|_| ())
}

/// Shannon entropy of a byte string, in bits per byte (the detectors' own).
pub use bb_detect::entropy::shannon as shannon_entropy;

fn build_allowlists(list: &[RawAllowlist], key: &str) -> Result<Vec<Allowlist>, KeyError> {
    list.iter()
        .enumerate()
        .map(|(i, a)| Allowlist::build(a).map_err(|e| KeyError::new(format!("{key}[{i}]"), e)))
        .collect()
}

impl Rules {
    /// Compiles a merged config (see [`crate::load`]). A rule with the id of a built-in rule and
    /// neither regex nor path extends the built-in rule under `useDefault`; with a regex it
    /// replaces it.
    pub(crate) fn compile(
        raw: &RawConfig,
        use_default: bool,
        disabled: &BTreeSet<String>,
    ) -> Result<Rules, KeyError> {
        let mut disabled_builtins = disabled.clone();
        let mut overlays: BTreeMap<String, Overlay> = BTreeMap::new();
        let mut rules = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            let builtins = if use_default {
                builtin_rules(&r.id)
            } else {
                Vec::new()
            };
            if r.regex.is_none() && r.path.is_none() && !builtins.is_empty() {
                for b in builtins {
                    let overlay = overlays.entry(b.to_string()).or_default();
                    overlay.entropy = (r.entropy > 0.0).then_some(r.entropy).or(overlay.entropy);
                    overlay.allowlists.extend(build_allowlists(
                        &r.allowlists,
                        &format!("{key}.allowlists"),
                    )?);
                }
                continue;
            }
            disabled_builtins.extend(builtins.into_iter().map(str::to_string));
            rules.push(build_rule(r, &key)?);
        }
        for (i, r) in raw.rules.iter().enumerate() {
            let Some(at) = rules.iter().position(|x| x.id == r.id) else {
                continue;
            };
            for (j, req) in r.required.iter().enumerate() {
                let index = rules.iter().position(|x| x.id == req.id).ok_or_else(|| {
                    KeyError::new(
                        format!("rules[{i}].required[{j}]"),
                        format!("rule `{}` requires `{}`, which is not loaded", r.id, req.id),
                    )
                })?;
                rules[at].required.push(Required {
                    rule: index,
                    within_lines: req.within_lines,
                    within_columns: req.within_columns,
                });
            }
        }
        let mut global = Vec::new();
        for (i, a) in raw.allowlists.iter().enumerate() {
            let key = format!("allowlists[{i}]");
            let build = || Allowlist::build(a).map_err(|e| KeyError::new(key.clone(), e));
            if a.target_rules.is_empty() {
                global.push(build()?);
                continue;
            }
            for target in &a.target_rules {
                if let Some(rule) = rules.iter_mut().find(|r| r.id == *target) {
                    rule.allowlists.push(build()?);
                    continue;
                }
                let builtins = if use_default {
                    builtin_rules(target)
                } else {
                    Vec::new()
                };
                if builtins.is_empty() {
                    return Err(KeyError::new(
                        format!("{key}.targetRules"),
                        format!("`{target}` is not a rule of this config"),
                    ));
                }
                for b in builtins {
                    overlays
                        .entry(b.to_string())
                        .or_default()
                        .allowlists
                        .push(build()?);
                }
            }
        }
        let (keywords, keyword_rules) = keyword_index(&rules);
        Ok(Rules {
            rules,
            global,
            keywords,
            keyword_rules,
            disabled_builtins,
            overlays,
        })
    }

    /// Compiles every regex now (they are otherwise compiled when a scan first needs them):
    /// the first that cannot be, as (key, why).
    pub fn compile_all(&self) -> Result<(), (String, String)> {
        for rule in &self.rules {
            let at = |what: &str| format!("rules.{}.{what}", rule.id);
            if let Some(Err(e)) = rule.regex.as_ref().map(|r| r.get()) {
                return Err((at("regex"), e.to_string()));
            }
            if let Some(Err(e)) = rule.path.as_ref().map(|p| p.get()) {
                return Err((at("path"), e.to_string()));
            }
            for a in &rule.allowlists {
                a.compile_all().map_err(|e| (at("allowlists"), e))?;
            }
        }
        let global = self.global.iter();
        for a in global.chain(self.overlays.values().flat_map(|o| &o.allowlists)) {
            a.compile_all().map_err(|e| ("allowlists".to_string(), e))?;
        }
        Ok(())
    }

    /// The built-in rules this config disables.
    pub fn disabled_builtins(&self) -> &BTreeSet<String> {
        &self.disabled_builtins
    }

    /// Whether the config silences a built-in detector's finding: its rule is disabled, or the
    /// allowlists and entropy of a rule extending it, or an allowlist that targets it, allow it.
    /// Untargeted global allowlists do not: they are written for the file's own rules (gitleaks'
    /// defaults allow `vendor/`, `node_modules/`, images, lock files by path), and the agent
    /// chooses the paths of what it pushes. `rule` is the built-in rule name (a decoded match's
    /// suffix is ignored).
    pub fn silences_builtin(&self, rule: &str, c: &Candidate<'_>) -> bool {
        let base = crate::builtin::base_rule(rule);
        if self.disabled_builtins.contains(base) {
            return true;
        }
        let Some(overlay) = self.overlays.get(base) else {
            return false;
        };
        overlay
            .entropy
            .is_some_and(|min| shannon_entropy(c.secret) < min)
            || overlay
                .allowlists
                .iter()
                .any(|a| a.allows_path(c.path) || a.allows(c))
    }

    /// The rules whose keywords occur in `data` (and those without keywords).
    fn candidates(&self, data: &[u8]) -> Vec<bool> {
        let mut wanted: Vec<bool> = self.rules.iter().map(|r| r.keywords.is_empty()).collect();
        if let Some(ac) = &self.keywords {
            let mut found = vec![false; self.keyword_rules.len()];
            let mut left = found.len();
            for m in ac.find_overlapping_iter(data) {
                let p = m.pattern().as_usize();
                if !found[p] {
                    found[p] = true;
                    for &ri in &self.keyword_rules[p] {
                        wanted[ri] = true;
                    }
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
        wanted
    }

    /// Scans one fragment found at `path` in `commit`: the reported findings (not those of
    /// `skipReport` rules, and those of rules with `[[rules.required]]` only when every
    /// required rule has a finding near enough).
    pub fn scan(&self, data: &[u8], path: &str, commit: &str) -> Vec<RuleMatch> {
        let wanted = self.candidates(data);
        let mut cache: BTreeMap<usize, Vec<Found>> = BTreeMap::new();
        let mut out = Vec::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            if !wanted[ri] || rule.skip_report {
                continue;
            }
            let found = self.found(ri, data, path, commit, &mut cache).to_vec();
            for f in found {
                if self.required_near(rule, &f, data, path, commit, &mut cache) {
                    out.push(RuleMatch {
                        rule: rule.id.clone(),
                        start: f.start,
                        end: f.end,
                    });
                }
            }
        }
        out
    }

    fn required_near(
        &self,
        rule: &Rule,
        primary: &Found,
        data: &[u8],
        path: &str,
        commit: &str,
        cache: &mut BTreeMap<usize, Vec<Found>>,
    ) -> bool {
        rule.required.iter().all(|req| {
            self.found(req.rule, data, path, commit, cache)
                .iter()
                .any(|other| {
                    let near = |limit: Option<u64>, a: usize, b: usize| {
                        limit.is_none_or(|l| a.abs_diff(b) as u64 <= l)
                    };
                    near(req.within_lines, primary.line, other.line)
                        && near(req.within_columns, primary.column, other.column)
                })
        })
    }

    /// A rule's findings in the fragment (allowlists applied), computed once per scan.
    fn found<'c>(
        &self,
        ri: usize,
        data: &[u8],
        path: &str,
        commit: &str,
        cache: &'c mut BTreeMap<usize, Vec<Found>>,
    ) -> &'c [Found] {
        cache
            .entry(ri)
            .or_insert_with(|| self.rule_findings(&self.rules[ri], data, path, commit))
    }

    fn rule_findings(&self, rule: &Rule, data: &[u8], path: &str, commit: &str) -> Vec<Found> {
        // A regex that cannot be compiled (its size limits; `compile_all` reports it earlier)
        // fails closed: the rule applies, and finds the file itself.
        if rule
            .path
            .as_ref()
            .is_some_and(|p| p.get().is_ok_and(|p| !p.is_match(path)))
        {
            return Vec::new();
        }
        let path_allowed = self
            .global
            .iter()
            .chain(&rule.allowlists)
            .any(|a| a.allows_path(path));
        if path_allowed {
            return Vec::new();
        }
        let Some(Ok(re)) = rule.regex.as_ref().map(|r| r.get()) else {
            // A path-only rule: the file itself is the finding.
            return vec![Found::at(data, 0, 0)];
        };
        let mut out = Vec::new();
        for caps in re.captures_iter(data) {
            let whole = caps.get(0).expect("group 0");
            let secret = match rule.secret_group {
                Some(g) => caps.get(g),
                None => (1..caps.len())
                    .filter_map(|g| caps.get(g))
                    .find(|m| !m.is_empty())
                    .or(Some(whole)),
            };
            let Some(secret) = secret else { continue };
            if rule
                .entropy
                .is_some_and(|min| shannon_entropy(secret.as_bytes()) < min)
            {
                continue;
            }
            let cand = Candidate::new(data, whole.range(), secret.range(), path, commit);
            let allowed = self
                .global
                .iter()
                .chain(&rule.allowlists)
                .any(|a| a.allows(&cand));
            if !allowed {
                out.push(Found::at(data, secret.start(), secret.end()));
            }
        }
        out
    }
}

/// A finding of one rule with its place, for `[[rules.required]]` proximity.
#[derive(Debug, Clone)]
struct Found {
    start: usize,
    end: usize,
    line: usize,
    column: usize,
}

impl Found {
    fn at(data: &[u8], start: usize, end: usize) -> Found {
        let before = &data[..start];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Found {
            start,
            end,
            line: before.iter().filter(|&&b| b == b'\n').count(),
            column: start - line_start,
        }
    }
}

fn build_rule(r: &RawRule, key: &str) -> Result<Rule, KeyError> {
    if r.id.trim().is_empty() {
        return Err(KeyError::new(format!("{key}.id"), "is missing or empty"));
    }
    let (regex, groups) = match &r.regex {
        Some(re) => {
            let (lazy, groups) =
                bytes_pattern(re).map_err(|e| KeyError::new(format!("{key}.regex"), e))?;
            (Some(lazy), groups)
        }
        None => (None, 0),
    };
    let path = match &r.path {
        Some(p) => Some(path_pattern(p).map_err(|e| KeyError::new(format!("{key}.path"), e))?),
        None => None,
    };
    if regex.is_none() && path.is_none() {
        return Err(KeyError::new(
            key,
            format!(
                "rule `{}`: both regex and path are empty, so it would find nothing",
                r.id
            ),
        ));
    }
    if regex.is_some() && r.secret_group > groups {
        return Err(KeyError::new(
            format!("{key}.secretGroup"),
            format!("is {} but the regex has {groups} group(s)", r.secret_group),
        ));
    }
    Ok(Rule {
        id: r.id.clone(),
        description: r.description.clone(),
        regex,
        path,
        secret_group: (r.secret_group > 0).then_some(r.secret_group),
        entropy: (r.entropy > 0.0).then_some(r.entropy),
        keywords: r
            .keywords
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect(),
        allowlists: build_allowlists(&r.allowlists, &format!("{key}.allowlists"))?,
        required: Vec::new(),
        skip_report: r.skip_report,
    })
}

fn keyword_index(rules: &[Rule]) -> (Option<AhoCorasick>, Vec<Vec<usize>>) {
    let mut patterns: Vec<String> = Vec::new();
    let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
    for (ri, rule) in rules.iter().enumerate() {
        for k in &rule.keywords {
            match patterns.iter().position(|p| p == k) {
                Some(pi) => keyword_rules[pi].push(ri),
                None => {
                    patterns.push(k.clone());
                    keyword_rules.push(vec![ri]);
                }
            }
        }
    }
    let keywords = (!patterns.is_empty()).then(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("keywords are plain strings")
    });
    (keywords, keyword_rules)
}
