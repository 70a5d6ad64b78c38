//! Gitleaks-format rules (`[[rules]]` with `id`, `description`, `regex`, `keywords`, `path`,
//! `secretGroup`, `entropy`, per-rule `[rules.allowlist]` / `[[rules.allowlists]]`, and a
//! global `[allowlist]` / `[[allowlists]]`).
//!
//! Regexes are Go RE2 syntax, which the `regex` crate accepts almost entirely. They are compiled
//! as byte regexes with Unicode off (`(?-u)`), which compiles a large rule set ~80x faster and
//! scans bytes that are not UTF-8; a rule that only compiles with Unicode on gets it, and a rule
//! that does not compile at all is reported (once, by the loader) and skipped. Keywords are a
//! prefilter: a rule with keywords runs only on fragments that contain one of them
//! (ASCII case-insensitive), found with one Aho-Corasick pass.

use std::collections::BTreeSet;
use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use anyhow::{Context, Result};
use regex::bytes::{Regex as BytesRegex, RegexBuilder as BytesRegexBuilder};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileToml {
    #[serde(default)]
    rules: Vec<RuleToml>,
    #[serde(default)]
    allowlist: Option<AllowlistToml>,
    #[serde(default)]
    allowlists: Vec<AllowlistToml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleToml {
    #[serde(default)]
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlist: Option<AllowlistToml>,
    #[serde(default)]
    allowlists: Vec<AllowlistToml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowlistToml {
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Debug)]
struct Allowlist {
    and: bool,
    commits: Vec<String>,
    paths: Vec<regex::Regex>,
    regexes: Vec<BytesRegex>,
    target: Target,
    stopwords: Vec<String>,
    /// Global allowlists only: the rules it applies to (empty: all).
    target_rules: Vec<String>,
}

/// What one candidate finding looks like to an allowlist.
struct Candidate<'a> {
    commit: &'a str,
    path: &'a str,
    secret: &'a [u8],
    matched: &'a [u8],
    line: &'a [u8],
}

impl Allowlist {
    fn allows(&self, c: &Candidate<'_>) -> bool {
        let mut checks: Vec<bool> = Vec::new();
        if !self.commits.is_empty() {
            checks.push(
                self.commits
                    .iter()
                    .any(|x| !x.is_empty() && c.commit.starts_with(x.as_str())),
            );
        }
        if !self.paths.is_empty() {
            checks.push(self.paths.iter().any(|re| re.is_match(c.path)));
        }
        if !self.regexes.is_empty() {
            let hay = match self.target {
                Target::Secret => c.secret,
                Target::Match => c.matched,
                Target::Line => c.line,
            };
            checks.push(self.regexes.iter().any(|re| re.is_match(hay)));
        }
        if !self.stopwords.is_empty() {
            let lower = c.secret.to_ascii_lowercase();
            checks.push(
                self.stopwords.iter().any(|w| {
                    !w.is_empty() && lower.windows(w.len()).any(|win| win == w.as_bytes())
                }),
            );
        }
        if checks.is_empty() {
            return false;
        }
        if self.and {
            checks.iter().all(|&b| b)
        } else {
            checks.iter().any(|&b| b)
        }
    }

    /// Whether a path alone allows every finding of the fragment (OR lists with paths).
    fn allows_path(&self, path: &str) -> bool {
        !self.and && self.paths.iter().any(|re| re.is_match(path))
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    regex: Option<BytesRegex>,
    path: Option<regex::Regex>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    keywords: Vec<String>,
    allowlists: Vec<Allowlist>,
}

/// A rule that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// A match of one rule in a fragment: the secret's byte range.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    pub rule: String,
    pub start: usize,
    pub end: usize,
}

/// A loaded rules file.
#[derive(Debug)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
    global: Vec<Allowlist>,
    keywords: Option<AhoCorasick>,
    /// For each keyword pattern, the rules that list it.
    keyword_rules: Vec<Vec<usize>>,
}

/// Compiles a rule regex: Unicode off when it compiles so, else on.
fn compile_bytes(re: &str) -> Result<BytesRegex, String> {
    let build = |pattern: &str| {
        BytesRegexBuilder::new(pattern)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
    };
    match build(&format!("(?-u:{re})")) {
        Ok(r) => Ok(r),
        Err(_) => build(re).map_err(|e| one_line(&e.to_string())),
    }
}

fn compile_path(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|e| one_line(&e.to_string()))
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn build_allowlist(a: AllowlistToml, global: bool) -> Result<Allowlist, String> {
    let and = match a
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("") | Some("OR") => false,
        Some("AND") => true,
        Some(other) => return Err(format!("allowlist condition `{other}` is not OR or AND")),
    };
    let target = match a.regex_target.as_deref() {
        None | Some("") | Some("secret") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(format!(
                "allowlist regexTarget `{other}` is not secret, match or line"
            ));
        }
    };
    if !global && !a.target_rules.is_empty() {
        return Err("targetRules is only for global allowlists".into());
    }
    Ok(Allowlist {
        and,
        commits: a.commits,
        paths: a
            .paths
            .iter()
            .map(|p| compile_path(p))
            .collect::<Result<_, _>>()?,
        regexes: a
            .regexes
            .iter()
            .map(|r| compile_bytes(r))
            .collect::<Result<_, _>>()?,
        target,
        stopwords: a.stopwords.iter().map(|w| w.to_ascii_lowercase()).collect(),
        target_rules: a.target_rules,
    })
}

/// Shannon entropy of a byte string, in bits per byte.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

impl Rules {
    pub fn load(path: &Path) -> Result<Rules> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the rules file {}", path.display()))?;
        Rules::parse(&text).with_context(|| format!("rules file {}", path.display()))
    }

    /// Parses a rules file. A TOML error is an error; a rule that cannot be compiled is put in
    /// [`Rules::skipped`]. A broken global allowlist is an error (skipping it would turn its
    /// exceptions into findings on every push, which is safe but confusing; failing says why).
    pub fn parse(text: &str) -> Result<Rules> {
        let file: FileToml =
            toml::from_str(text).map_err(|e| anyhow::anyhow!(one_line(&e.to_string())))?;
        let mut global = Vec::new();
        for a in file.allowlist.into_iter().chain(file.allowlists) {
            global.push(
                build_allowlist(a, true).map_err(|e| anyhow::anyhow!("global allowlist: {e}"))?,
            );
        }
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in file.rules.into_iter().enumerate() {
            let id = if r.id.is_empty() {
                format!("rule-{}", i + 1)
            } else {
                r.id.clone()
            };
            match Rules::build_rule(id.clone(), r) {
                Ok(rule) if seen.insert(id.clone()) => rules.push(rule),
                Ok(_) => skipped.push(Skipped {
                    id,
                    reason: "a rule with this id comes earlier in the file".into(),
                }),
                Err(reason) => skipped.push(Skipped { id, reason }),
            }
        }
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
        let keywords = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .context("building the keyword prefilter")?,
            )
        };
        Ok(Rules {
            rules,
            skipped,
            global,
            keywords,
            keyword_rules,
        })
    }

    fn build_rule(id: String, r: RuleToml) -> Result<Rule, String> {
        let regex = match r.regex.as_deref().filter(|s| !s.is_empty()) {
            Some(re) => Some(compile_bytes(re)?),
            None => None,
        };
        let path = match r.path.as_deref().filter(|s| !s.is_empty()) {
            Some(p) => Some(compile_path(p)?),
            None => None,
        };
        if regex.is_none() && path.is_none() {
            return Err("a rule needs a regex or a path".into());
        }
        if let (Some(re), Some(g)) = (&regex, r.secret_group)
            && g >= re.captures_len()
        {
            return Err(format!(
                "secretGroup {g} but the regex has {} groups",
                re.captures_len() - 1
            ));
        }
        let mut allowlists = Vec::new();
        for a in r.allowlist.into_iter().chain(r.allowlists) {
            allowlists.push(build_allowlist(a, false)?);
        }
        Ok(Rule {
            id,
            description: r.description,
            regex,
            path,
            secret_group: r.secret_group.filter(|&g| g > 0),
            entropy: r.entropy.filter(|&e| e > 0.0),
            keywords: r
                .keywords
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
            allowlists,
        })
    }

    /// The rules whose keywords occur in `data` (and those without keywords).
    fn candidates(&self, data: &[u8]) -> Vec<usize> {
        let mut wanted = vec![false; self.rules.len()];
        for (i, r) in self.rules.iter().enumerate() {
            wanted[i] = r.keywords.is_empty();
        }
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
            .iter()
            .enumerate()
            .filter_map(|(i, &w)| w.then_some(i))
            .collect()
    }

    /// Scans one fragment (the added lines of a file in a commit, or a whole object) found at
    /// `path` in `commit`.
    pub fn scan(&self, data: &[u8], path: &str, commit: &str) -> Vec<RuleMatch> {
        let mut out = Vec::new();
        let global: Vec<&Allowlist> = self.global.iter().collect();
        let path_allowed_for = |rule: &Rule| {
            global
                .iter()
                .filter(|a| a.target_rules.is_empty() || a.target_rules.contains(&rule.id))
                .chain(rule.allowlists.iter().collect::<Vec<_>>().iter())
                .any(|a| a.allows_path(path))
        };
        for ri in self.candidates(data) {
            let rule = &self.rules[ri];
            if let Some(p) = &rule.path
                && !p.is_match(path)
            {
                continue;
            }
            if path_allowed_for(rule) {
                continue;
            }
            let Some(re) = &rule.regex else {
                // A path-only rule: the file itself is the finding.
                out.push(RuleMatch {
                    rule: rule.id.clone(),
                    start: 0,
                    end: 0,
                });
                continue;
            };
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
                if let Some(min) = rule.entropy
                    && shannon_entropy(secret.as_bytes()) < min
                {
                    continue;
                }
                let line_start = data[..whole.start()]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let line_end = data[whole.end()..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |i| whole.end() + i);
                let cand = Candidate {
                    commit,
                    path,
                    secret: secret.as_bytes(),
                    matched: whole.as_bytes(),
                    line: &data[line_start..line_end],
                };
                let allowed = global
                    .iter()
                    .filter(|a| a.target_rules.is_empty() || a.target_rules.contains(&rule.id))
                    .any(|a| a.allows(&cand))
                    || rule.allowlists.iter().any(|a| a.allows(&cand));
                if !allowed {
                    out.push(RuleMatch {
                        rule: rule.id.clone(),
                        start: secret.start(),
                        end: secret.end(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
