//! Scanning exactly what a push adds.
//!
//! The range is `git rev-list <new tips> --not --all` (run in the pre-receive hook, where the
//! pushed objects are quarantined and no ref has moved yet): a new branch, the later commits of
//! a range, a force push, all come down to the commits no existing ref reaches. For each of
//! them the gate scans the raw commit object (headers such as author and committer, and the
//! message), the lines its diff adds ([`crate::diff`]: `git diff-tree -p --text -M`, combined
//! diff for merges: only lines that are new to every parent; a symlink's target and
//! `.gitmodules` are file content like any other) and the names it adds: the path of every
//! added, modified or renamed file, symlink and gitlink ([`crate::changes`]). The pushed ref
//! names are scanned too. Annotated tags are peeled (the tag object is scanned too); a ref to a
//! tree or a blob scans that object whole. Every git command here ignores replace refs and
//! grafts ([`Git::raw_objects`]): what is scanned is what is forwarded.
//!
//! Names are content: a finding never shows a name with the secret in it; the matched part is
//! redacted the same way as in file content ([`redacted_name`]).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};

use crate::changes::{self, Change};
use crate::detect::{Detectors, Hit};
use crate::events::sanitize;
use crate::objects::{CatFile, part_at};
use crate::run::GitRepo;

/// A secret found in a push.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub commit: String,
    /// Where: a file path, `(commit author)`, `(tag message)`, `path <name>`, `ref name <name>`;
    /// always printable, with any secret in a name redacted.
    pub path: String,
    /// The line in the file or object; 0 for a name.
    pub line: usize,
    pub rule: String,
    /// The match redacted ([`redact`]).
    pub redacted: String,
}

impl Finding {
    /// The line shown to the agent.
    pub fn render(&self) -> String {
        let at = if self.line == 0 {
            self.path.clone()
        } else {
            format!("{}:{}", self.path, self.line)
        };
        format!(
            "{at}  rule {}  commit {}  match {}",
            self.rule,
            short(&self.commit),
            self.redacted
        )
    }
}

pub fn short(oid: &str) -> &str {
    &oid[..oid.len().min(10)]
}

/// A match shown without giving it away: at most its first 4 characters (fewer for short
/// matches: a quarter of them), `…`, and its length in bytes. Non-printable bytes are escaped.
pub fn redact(matched: &[u8]) -> String {
    let keep = (matched.len() / 4).min(4);
    let shown: String = matched[..keep]
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    format!("{shown}…({} chars)", matched.len())
}

/// Longest name shown (longer names are cut).
const MAX_NAME: usize = 300;

/// A name (ref, path, log text) fit to print: every detector match replaced by its
/// [`redact`]ed form, the rest [`sanitize`]d. `path` is what path-based rules see (the name
/// itself for a file path).
pub fn redacted_name(detectors: &Detectors, name: &[u8], path: &str) -> String {
    let mut spans: Vec<(usize, usize)> = detectors
        .scan(name, path, "")
        .into_iter()
        .map(|h| (h.start.min(name.len()), h.end.min(name.len())))
        .filter(|(s, e)| e > s)
        .collect();
    spans.sort_unstable();
    let mut out = String::new();
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        out.push_str(&sanitize(&name[at..start], MAX_NAME));
        out.push_str(&redact(&name[start..end]));
        at = end;
    }
    out.push_str(&sanitize(&name[at..], MAX_NAME));
    out
}

/// One ref update read by the pre-receive hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub old: String,
    pub new: String,
    pub refname: String,
}

impl Update {
    pub fn is_delete(&self) -> bool {
        is_zero(&self.new)
    }
    pub fn is_create(&self) -> bool {
        is_zero(&self.old)
    }
}

pub fn is_zero(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|b| b == b'0')
}

pub use bb_contract::repo::is_oid;

/// Parses the pre-receive input (`<old> <new> <ref>` lines).
pub fn parse_updates(text: &str) -> Result<Vec<Update>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || anyhow::anyhow!("bad pre-receive line `{}`", sanitize(line.as_bytes(), 200));
        let mut parts = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if !is_oid(old) || !is_oid(new) || refname.is_empty() {
            return Err(bad());
        }
        out.push(Update {
            old: old.into(),
            new: new.into(),
            refname: refname.into(),
        });
    }
    Ok(out)
}

/// The commits a push adds: reachable from `tips`, not from anything `exclude` names
/// (`["--all"]` in the hook).
pub fn commit_range(git: &GitRepo, tips: &[String], exclude: &[String]) -> Result<Vec<String>> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let out = git
        .raw_objects()
        .arg("rev-list")
        .args(tips)
        .arg("--not")
        .args(exclude)
        .arg("--")
        .ok(std::time::Duration::from_secs(600))?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| is_oid(l))
        .map(str::to_string)
        .collect())
}

/// Collects findings, deduplicated, placing hits on lines.
pub struct Collector<'a> {
    detectors: &'a Detectors,
    pub findings: BTreeSet<Finding>,
    /// Bytes scanned (for the benchmark).
    pub scanned_bytes: u64,
}

impl<'a> Collector<'a> {
    pub fn new(detectors: &'a Detectors) -> Collector<'a> {
        Collector {
            detectors,
            findings: BTreeSet::new(),
            scanned_bytes: 0,
        }
    }

    /// Takes over another collector's findings and counts.
    pub fn absorb(&mut self, other: Collector<'_>) {
        self.findings.extend(other.findings);
        self.scanned_bytes += other.scanned_bytes;
    }

    /// A whole blob: lines counted from 1.
    pub fn scan_whole(&mut self, data: &[u8], path: &str, commit: &str) {
        self.scanned_bytes += data.len() as u64;
        for hit in self.detectors.scan(data, path, commit) {
            let line = line_of(data, hit.start);
            let shown = redacted_name(self.detectors, path.as_bytes(), path);
            self.add(data, &hit, shown, line, commit);
        }
    }

    /// A commit or tag object (`kind`): each finding is placed in its part, `(commit author)`,
    /// `(tag message)`, ..., with its line in the object.
    pub fn scan_object(&mut self, kind: &str, data: &[u8], oid: &str) {
        self.scanned_bytes += data.len() as u64;
        let label = format!("({kind} object)");
        for hit in self.detectors.scan(data, &label, oid) {
            let place = format!("({kind} {})", part_at(data, hit.start));
            self.add(data, &hit, place, line_of(data, hit.start), oid);
        }
    }

    /// Added lines of one file in one commit: `lines` maps the offset of each added line in
    /// `data` to its line number in the new file.
    pub fn scan_added(&mut self, data: &[u8], lines: &[(usize, usize)], path: &str, commit: &str) {
        self.scanned_bytes += data.len() as u64;
        for hit in self.detectors.scan(data, path, commit) {
            let at = lines.partition_point(|&(off, _)| off <= hit.start);
            let line = if at == 0 { 1 } else { lines[at - 1].1 };
            let shown = redacted_name(self.detectors, path.as_bytes(), path);
            self.add(data, &hit, shown, line, commit);
        }
    }

    /// A name (`what`: `path`, `ref name`) as content. `path` is what path-based rules see: the
    /// file's own path for a path, empty for a ref name.
    pub fn scan_name(&mut self, what: &str, name: &[u8], path: &str, commit: &str) {
        self.scanned_bytes += name.len() as u64;
        for hit in self.detectors.scan(name, path, commit) {
            let place = format!("{what} {}", redacted_name(self.detectors, name, path));
            self.add(name, &hit, place, 0, commit);
        }
    }

    fn add(&mut self, data: &[u8], hit: &Hit, place: String, line: usize, commit: &str) {
        let end = hit.end.min(data.len());
        let start = hit.start.min(end);
        self.findings.insert(Finding {
            commit: commit.to_string(),
            path: place,
            line,
            rule: hit.rule.clone(),
            redacted: if end > start {
                redact(&data[start..end])
            } else {
                "(the file itself)".into()
            },
        });
    }
}

/// The line (from 1) of byte `offset` in `data`.
fn line_of(data: &[u8], offset: usize) -> usize {
    data[..offset.min(data.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Every blob of a tree, with its path (raw bytes).
fn tree_blobs(git: &GitRepo, tree: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let out = git
        .raw_objects()
        .args(["ls-tree", "-r", "-z", "--full-tree", tree])
        .ok(std::time::Duration::from_secs(600))?;
    Ok(out
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let tab = entry.iter().position(|&b| b == b'\t')?;
            let meta = String::from_utf8_lossy(&entry[..tab]);
            let mut m = meta.split(' ');
            let (_, kind, oid) = (m.next()?, m.next()?, m.next()?);
            (kind == "blob").then(|| (oid.to_string(), entry[tab + 1..].to_vec()))
        })
        .collect())
}

/// What a push adds, scanned.
pub struct Scanned {
    pub findings: BTreeSet<Finding>,
    pub stats: ScanStats,
    /// The paths the new commits change (for the CI policy).
    pub changes: Vec<Change>,
}

/// Peels a pushed object (tags, possibly chained, each scanned), scanning a tree or blob whole;
/// returns the commit it leads to, if any.
fn peel(
    git: &GitRepo,
    cat: &mut CatFile,
    collector: &mut Collector<'_>,
    u: &Update,
) -> Result<Option<String>> {
    let mut oid = u.new.clone();
    for _ in 0..32 {
        let Some(obj) = cat.get(&oid)? else {
            bail!(
                "object {oid} of {} is missing",
                sanitize(u.refname.as_bytes(), 200)
            );
        };
        match obj.kind.as_str() {
            "tag" => {
                collector.scan_object("tag", &obj.data, &oid);
                oid = String::from_utf8_lossy(&obj.data)
                    .lines()
                    .find_map(|l| l.strip_prefix("object ").map(str::to_string))
                    .filter(|id| is_oid(id))
                    .context("tag without an object id")?;
            }
            "commit" => return Ok(Some(oid)),
            "tree" => {
                for (blob, path) in tree_blobs(git, &oid)? {
                    let text = String::from_utf8_lossy(&path).into_owned();
                    collector.scan_name("path", &path, &text, &oid);
                    if let Some(b) = cat.get(&blob)? {
                        collector.scan_whole(&b.data, &text, &oid);
                    }
                }
                return Ok(None);
            }
            "blob" => {
                collector.scan_whole(&obj.data, "(blob)", &oid);
                return Ok(None);
            }
            other => bail!(
                "object {oid} has unknown type {}",
                sanitize(other.as_bytes(), 20)
            ),
        }
    }
    bail!(
        "tag chain of {} is too long",
        sanitize(u.refname.as_bytes(), 200)
    )
}

/// Scans everything a push adds. `exclude` is what is already known (`["--all"]` in the hook).
pub fn scan_push(
    git: &GitRepo,
    updates: &[Update],
    exclude: &[String],
    detectors: &Detectors,
) -> Result<Scanned> {
    let mut collector = Collector::new(detectors);
    let mut cat = CatFile::new(git)?;
    let mut tips = Vec::new();
    for u in updates.iter().filter(|u| !u.is_delete()) {
        collector.scan_name("ref name", u.refname.as_bytes(), "", &u.new);
        tips.extend(peel(git, &mut cat, &mut collector, u)?);
    }
    drop(cat);
    let commits = commit_range(git, &tips, exclude)?;
    // The range read by three git processes at once (two cores): the patches of each half of
    // the commits, and the commit objects then the changed paths.
    let (first, second) = commits.split_at(commits.len() / 2);
    let (others, changes) = std::thread::scope(|s| -> Result<_> {
        let half = s.spawn(|| -> Result<Collector<'_>> {
            let mut c = Collector::new(detectors);
            crate::diff::scan_commits(git, first, &mut c)?;
            Ok(c)
        });
        let rest = s.spawn(|| -> Result<(Collector<'_>, Vec<Change>)> {
            let mut c = Collector::new(detectors);
            crate::diff::scan_commit_objects(git, &commits, &mut c)?;
            let changes = changes::list(git, &commits)?;
            for ch in changes.iter().filter(|ch| !ch.deleted) {
                let text = String::from_utf8_lossy(&ch.path).into_owned();
                c.scan_name("path", &ch.path, &text, &ch.commit);
            }
            Ok((c, changes))
        });
        crate::diff::scan_commits(git, second, &mut collector)?;
        let half = half.join().expect("a patch reader panicked")?;
        let (rest, changes) = rest.join().expect("the object reader panicked")?;
        Ok(([half, rest], changes))
    })?;
    for other in others {
        collector.absorb(other);
    }
    let stats = ScanStats {
        commits: commits.len(),
        bytes: collector.scanned_bytes,
    };
    Ok(Scanned {
        findings: collector.findings,
        stats,
        changes,
    })
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ScanStats {
    pub commits: usize,
    pub bytes: u64,
}

#[cfg(test)]
mod tests;
