//! `.gitleaksignore`: fingerprints of findings to let through, one per line, as gitleaks
//! writes them: `COMMIT:FILE:RULE:LINE` (that finding in that commit) or `FILE:RULE:LINE`
//! (that finding in any commit). Blank lines and `#` comments are skipped; FILE may hold `:`.
//! A built-in rule's finding is listed under the gitleaks id it stands for, or its own name.

use std::collections::BTreeSet;

use bb_contract::repo::is_oid;

use crate::builtin::{base_rule, builtin_rules};

/// The file's name at the repository root.
pub const FILE: &str = ".gitleaksignore";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fingerprint {
    commit: Option<String>,
    file: String,
    rule: String,
    line: usize,
}

/// The fingerprints of one or more `.gitleaksignore` files.
#[derive(Debug, Default, Clone)]
pub struct Ignores {
    entries: BTreeSet<Fingerprint>,
}

impl Ignores {
    /// Reads a file's text; lines that are not fingerprints are skipped.
    pub fn parse(text: &str) -> Ignores {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(fingerprint)
            .collect();
        Ignores { entries }
    }

    pub fn extend(&mut self, other: Ignores) {
        self.entries.extend(other.entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a finding of `rule` (a gitleaks rule id, or a built-in rule's name) at
    /// `file:line` in `commit` is listed.
    pub fn lists(&self, commit: &str, file: &str, rule: &str, line: usize) -> bool {
        let builtin = base_rule(rule);
        self.entries.iter().any(|e| {
            e.file == file
                && e.line == line
                && e.commit.as_deref().is_none_or(|c| c == commit)
                && (e.rule == rule || builtin_rules(&e.rule).contains(&builtin))
        })
    }
}

fn fingerprint(line: &str) -> Option<Fingerprint> {
    let (rest, number) = line.rsplit_once(':')?;
    let (rest, rule) = rest.rsplit_once(':')?;
    let line: usize = number.parse().ok()?;
    if rule.is_empty() || rest.is_empty() {
        return None;
    }
    let (commit, file) = match rest.split_once(':') {
        Some((c, f)) if is_oid(c) && !f.is_empty() => (Some(c.to_string()), f),
        _ => (None, rest),
    };
    Some(Fingerprint {
        commit,
        file: file.to_string(),
        rule: rule.to_string(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn both_fingerprint_forms_and_colons_in_paths() {
        let text = format!(
            "# findings reviewed\n\n{C}:src/a.py:generic-api-key:12\nconf/x:y.ini:aws-access-token:3\nnot a fingerprint\n"
        );
        let ig = Ignores::parse(&text);
        assert!(ig.lists(C, "src/a.py", "generic-api-key", 12));
        assert!(
            !ig.lists(&C.replace('0', "f"), "src/a.py", "generic-api-key", 12),
            "other commit"
        );
        assert!(
            !ig.lists(C, "src/a.py", "generic-api-key", 13),
            "other line"
        );
        assert!(ig.lists("anything", "conf/x:y.ini", "aws-access-token", 3));
    }

    #[test]
    fn builtin_findings_are_listed_by_the_gitleaks_id_or_their_own_name() {
        let ig = Ignores::parse("a.txt:aws-access-token:1\nb.txt:jwt:2\n");
        assert!(ig.lists("c", "a.txt", "aws-access-key-id", 1));
        assert!(ig.lists("c", "a.txt", "aws-access-key-id/base64", 1));
        assert!(ig.lists("c", "b.txt", "jwt", 2));
        assert!(!ig.lists("c", "a.txt", "github-pat", 1));
    }
}
