//! Allowlists: what a rule (or every rule) lets through.

use super::lazy::{LazyBytes, LazyPath, bytes_pattern, path_pattern};
use crate::model::RawAllowlist;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Secret,
    Match,
    Line,
}

#[derive(Debug)]
pub(super) struct Allowlist {
    and: bool,
    commits: Vec<String>,
    paths: Vec<LazyPath>,
    regexes: Vec<LazyBytes>,
    target: Target,
    stopwords: Vec<String>,
}

/// What one candidate finding looks like to an allowlist.
pub struct Candidate<'a> {
    pub commit: &'a str,
    pub path: &'a str,
    pub secret: &'a [u8],
    pub matched: &'a [u8],
    pub line: &'a [u8],
}

impl<'a> Candidate<'a> {
    /// The candidate of a match `whole` with its secret `secret` (byte ranges of `data`).
    pub fn new(
        data: &'a [u8],
        whole: std::ops::Range<usize>,
        secret: std::ops::Range<usize>,
        path: &'a str,
        commit: &'a str,
    ) -> Candidate<'a> {
        let line_start = data[..whole.start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = data[whole.end..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| whole.end + i);
        Candidate {
            commit,
            path,
            secret: &data[secret],
            matched: &data[whole],
            line: &data[line_start..line_end],
        }
    }
}

impl Allowlist {
    pub(super) fn build(a: &RawAllowlist) -> Result<Allowlist, String> {
        let target = match a.regex_target.as_str() {
            "match" => Target::Match,
            "line" => Target::Line,
            _ => Target::Secret,
        };
        Ok(Allowlist {
            and: matches!(a.condition.to_ascii_uppercase().as_str(), "AND" | "&&"),
            commits: a.commits.clone(),
            paths: a
                .paths
                .iter()
                .map(|p| path_pattern(p))
                .collect::<Result<_, _>>()?,
            regexes: a
                .regexes
                .iter()
                .map(|r| bytes_pattern(r).map(|(re, _)| re))
                .collect::<Result<_, _>>()?,
            target,
            stopwords: a.stopwords.iter().map(|w| w.to_ascii_lowercase()).collect(),
        })
    }

    /// Whether the allowlist lets the finding through (gitleaks' OR and AND conditions).
    pub(super) fn allows(&self, c: &Candidate<'_>) -> bool {
        let mut checks: Vec<bool> = Vec::new();
        if !self.commits.is_empty() {
            checks.push(
                self.commits
                    .iter()
                    .any(|x| !x.is_empty() && c.commit.eq_ignore_ascii_case(x)),
            );
        }
        if !self.paths.is_empty() {
            checks.push(
                self.paths
                    .iter()
                    .any(|re| re.get().is_ok_and(|re| re.is_match(c.path))),
            );
        }
        if !self.regexes.is_empty() {
            let hay = match self.target {
                Target::Secret => c.secret,
                Target::Match => c.matched,
                Target::Line => c.line,
            };
            checks.push(
                self.regexes
                    .iter()
                    .any(|re| re.get().is_ok_and(|re| re.is_match(hay))),
            );
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

    /// Compiles its regexes now; the first error.
    pub(super) fn compile_all(&self) -> Result<(), String> {
        for p in &self.paths {
            p.get().map_err(str::to_string)?;
        }
        for r in &self.regexes {
            r.get().map_err(str::to_string)?;
        }
        Ok(())
    }

    /// Whether a path alone allows every finding of the fragment (OR lists with paths).
    pub(super) fn allows_path(&self, path: &str) -> bool {
        !self.and
            && self
                .paths
                .iter()
                .any(|re| re.get().is_ok_and(|re| re.is_match(path)))
    }
}
