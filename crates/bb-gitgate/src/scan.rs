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
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::changes::{self, Change};
use crate::detect::{Detectors, Hit};
use crate::events::sanitize;
use crate::objects::{CatFile, part_at};
use crate::run::Git;

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

pub fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

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
pub fn commit_range(
    git_dir: Option<&Path>,
    tips: &[String],
    exclude: &[String],
) -> Result<Vec<String>> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let out = Git::raw_objects(git_dir)
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
fn tree_blobs(git_dir: Option<&Path>, tree: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let out = Git::raw_objects(git_dir)
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
    git_dir: Option<&Path>,
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
                    .context("tag without an object line")?;
            }
            "commit" => return Ok(Some(oid)),
            "tree" => {
                for (blob, path) in tree_blobs(git_dir, &oid)? {
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
    git_dir: Option<&Path>,
    updates: &[Update],
    exclude: &[String],
    detectors: &Detectors,
) -> Result<Scanned> {
    let mut collector = Collector::new(detectors);
    let mut cat = CatFile::new(git_dir)?;
    let mut tips = Vec::new();
    for u in updates.iter().filter(|u| !u.is_delete()) {
        collector.scan_name("ref name", u.refname.as_bytes(), "", &u.new);
        tips.extend(peel(git_dir, &mut cat, &mut collector, u)?);
    }
    drop(cat);
    let commits = commit_range(git_dir, &tips, exclude)?;
    crate::diff::scan_commits(git_dir, &commits, &mut collector)?;
    let changes = changes::list(git_dir, &commits)?;
    for c in changes.iter().filter(|c| !c.deleted) {
        let text = String::from_utf8_lossy(&c.path).into_owned();
        collector.scan_name("path", &c.path, &text, &c.commit);
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
mod tests {
    use super::*;
    use crate::diff::scan_commits;
    use std::process::Command;

    #[test]
    fn redaction_shows_little() {
        assert_eq!(redact(b"AKIAIOSFODNN7EXAMPLF"), "AKIA…(20 chars)");
        assert_eq!(redact(b"abcdefgh"), "ab…(8 chars)");
        assert_eq!(redact(b"abc"), "…(3 chars)");
        assert_eq!(
            redact(b"\x01\xffzzzzzzzzzzzzzzz"),
            "\\x01\\xffzz…(17 chars)"
        );
    }

    #[test]
    fn parses_pre_receive_lines() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let text = format!("{z} {a} refs/heads/new\n{a} {z} refs/heads/gone\n");
        let u = parse_updates(&text).unwrap();
        assert!(u[0].is_create() && !u[0].is_delete());
        assert!(u[1].is_delete());
        assert_eq!(u[1].refname, "refs/heads/gone");
        assert!(parse_updates("x y refs/heads/a\n").is_err());
    }

    /// A scratch repo driven with the git CLI.
    struct Repo {
        dir: tempfile::TempDir,
    }

    impl Repo {
        fn new() -> Repo {
            let dir = tempfile::tempdir().unwrap();
            let r = Repo { dir };
            r.git(&["init", "-q", "-b", "main"]);
            r
        }
        fn git(&self, args: &[&str]) -> String {
            let out = Command::new("git")
                .args(args)
                .current_dir(self.dir.path())
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@e")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@e")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
        fn commit(&self, file: &str, text: &str, msg: &str) -> String {
            let path = self.dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "-m", msg]);
            self.git(&["rev-parse", "HEAD"])
        }
        fn git_dir(&self) -> std::path::PathBuf {
            self.dir.path().join(".git")
        }
    }

    const KEY: &str = "AKIAQ7XBV2MNR4TWZ5YD";

    fn detectors() -> Detectors {
        Detectors::new(
            vec![("EGRESS_TOKEN_X".into(), "s3cr3t-t0ken-value".into())],
            None,
        )
    }

    fn scan(repo: &Repo, tips: &[&str], exclude: &[&str]) -> Vec<Finding> {
        let d = detectors();
        let mut c = Collector::new(&d);
        let commits = commit_range(
            Some(&repo.git_dir()),
            &tips.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &exclude.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        scan_commits(Some(&repo.git_dir()), &commits, &mut c).unwrap();
        c.findings.into_iter().collect()
    }

    #[test]
    fn range_is_exactly_what_is_new() {
        let r = Repo::new();
        let base = r.commit("a.txt", "hello\n", "base");
        r.git(&["branch", "known"]);
        let old_secret = r.commit("old.txt", &format!("x\n{KEY}\n"), "known secret");
        r.git(&["branch", "-f", "known"]);
        let c1 = r.commit("b.txt", "clean\n", "c1");
        let c2 = r.commit("b.txt", &format!("clean\nmore\nkey = {KEY}\n"), "c2");
        let c3 = r.commit("c.txt", "clean too\n", "c3");
        let range = commit_range(
            Some(&r.git_dir()),
            std::slice::from_ref(&c3),
            &["refs/heads/known".into()],
        )
        .unwrap();
        assert_eq!(range, [c3.clone(), c2.clone(), c1]);
        let f = scan(&r, &[&c3], &["refs/heads/known"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "b.txt");
        assert_eq!(f[0].line, 3);
        assert_eq!(f[0].commit, c2);
        assert_eq!(f[0].redacted, "AKIA…(20 chars)");
        assert!(f[0].rule.contains("aws"), "{}", f[0].rule);
        // The secret already known is not reported again; everything from the root is.
        assert!(scan(&r, &[&old_secret], &["refs/heads/known"]).is_empty());
        let all = scan(&r, &[&c3], &[]);
        assert_eq!(all.len(), 2, "{all:?}");
        let _ = base;
    }

    #[test]
    fn messages_known_secrets_binaries_and_merges() {
        let r = Repo::new();
        r.commit("a.txt", "a\n", "base");
        r.git(&["branch", "known"]);
        let msg = r.commit("a.txt", "a\nb\n", "leak s3cr3t-t0ken-value in a message");
        let f = scan(&r, &[&msg], &["refs/heads/known"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "(commit message)");
        assert_eq!(f[0].rule, "known_secrets:known-secret:EGRESS_TOKEN_X");
        r.git(&["branch", "-f", "known"]);
        // A binary file (NUL bytes) with a key.
        let bin = {
            let mut data = b"\x00\x01\x02binary\n".to_vec();
            data.extend_from_slice(KEY.as_bytes());
            std::fs::write(r.dir.path().join("blob.bin"), data).unwrap();
            r.git(&["add", "-A"]);
            r.git(&["commit", "-q", "-m", "bin"]);
            r.git(&["rev-parse", "HEAD"])
        };
        let f = scan(&r, &[&bin], &["refs/heads/known"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].path.as_str(), f[0].line), ("blob.bin", 2));
        r.git(&["reset", "-q", "--hard", "known"]);
        // A merge whose own change (an "evil merge") adds a key.
        r.git(&["checkout", "-q", "-b", "side"]);
        r.commit("side.txt", "side\n", "side");
        r.git(&["checkout", "-q", "main"]);
        r.commit("main.txt", "main\n", "main");
        r.git(&["merge", "-q", "--no-commit", "side"]);
        std::fs::write(r.dir.path().join("main.txt"), format!("main\n{KEY}\n")).unwrap();
        r.git(&["add", "-A"]);
        r.git(&["commit", "-q", "-m", "merge"]);
        let merge = r.git(&["rev-parse", "HEAD"]);
        let f = scan(&r, &[&merge], &["refs/heads/known"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].path.as_str(), f[0].line, f[0].commit.as_str()),
            ("main.txt", 2, merge.as_str())
        );
    }

    #[test]
    fn tags_trees_and_blobs_are_scanned() {
        let r = Repo::new();
        let base = r.commit("a.txt", "a\n", "base");
        r.git(&["branch", "known"]);
        let c = r.commit("b.txt", &format!("{KEY}\n"), "secret");
        r.git(&["tag", "-a", "-m", "release s3cr3t-t0ken-value", "v1", &c]);
        let tag = r.git(&["rev-parse", "v1"]);
        let d = detectors();
        let z = "0".repeat(40);
        let updates = vec![Update {
            old: z.clone(),
            new: tag.clone(),
            refname: "refs/tags/v1".into(),
        }];
        let scanned = scan_push(
            Some(&r.git_dir()),
            &updates,
            &["refs/heads/known".into()],
            &d,
        )
        .unwrap();
        let f: Vec<_> = scanned.findings.into_iter().collect();
        assert_eq!(scanned.stats.commits, 1);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f.iter()
                .any(|x| x.path == "(tag message)" && x.commit == tag)
        );
        assert!(f.iter().any(|x| x.path == "b.txt" && x.commit == c));
        // A ref to a blob.
        let blob = r.git(&["rev-parse", &format!("{c}:b.txt")]);
        let updates = vec![Update {
            old: z,
            new: blob,
            refname: "refs/blobs/x".into(),
        }];
        let scanned = scan_push(Some(&r.git_dir()), &updates, &["--all".into()], &d).unwrap();
        assert_eq!(scanned.findings.len(), 1);
        let _ = base;
    }

    fn push(r: &Repo, refname: &str, tip: &str) -> Vec<Finding> {
        let updates = vec![Update {
            old: "0".repeat(40),
            new: tip.to_string(),
            refname: refname.into(),
        }];
        let d = detectors();
        let scanned = scan_push(
            Some(&r.git_dir()),
            &updates,
            &["refs/heads/known".into()],
            &d,
        );
        scanned.unwrap().findings.into_iter().collect()
    }

    #[test]
    fn names_are_content() {
        let r = Repo::new();
        r.commit("a.txt", "a\n", "base");
        r.git(&["branch", "known"]);
        // A key in a file's path (the content is clean), reported with the key redacted.
        let c = r.commit(&format!("conf/{KEY}.txt"), "clean\n", "path");
        let f = push(&r, "refs/heads/main", &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "path conf/AKIA…(20 chars).txt");
        assert_eq!(f[0].line, 0);
        assert!(!f[0].render().contains(KEY), "{}", f[0].render());
        // A key in the ref name.
        r.git(&["reset", "-q", "--hard", "known"]);
        let c = r.commit("b.txt", "clean\n", "clean");
        let f = push(&r, &format!("refs/heads/{KEY}"), &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "ref name refs/heads/AKIA…(20 chars)");
        // A known secret as the author's name.
        r.git(&["reset", "-q", "--hard", "known"]);
        std::fs::write(r.dir.path().join("c.txt"), "clean\n").unwrap();
        r.git(&["add", "-A"]);
        r.git(&[
            "commit",
            "-q",
            "-m",
            "m",
            "--author",
            "s3cr3t-t0ken-value <a@b>",
        ]);
        let c = r.git(&["rev-parse", "HEAD"]);
        let f = push(&r, "refs/heads/main", &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].path.as_str(), f[0].line), ("(commit author)", 3));
    }

    #[test]
    fn symlinks_submodules_and_gitlinks() {
        let r = Repo::new();
        r.commit("a.txt", "a\n", "base");
        r.git(&["branch", "known"]);
        // A symlink whose target holds a key: the target is the blob's content.
        std::os::unix::fs::symlink(format!("/tmp/{KEY}"), r.dir.path().join("link")).unwrap();
        r.git(&["add", "-A"]);
        r.git(&["commit", "-q", "-m", "link"]);
        let c = r.git(&["rev-parse", "HEAD"]);
        let f = push(&r, "refs/heads/main", &c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].path.as_str(), f[0].line), ("link", 1));
        // A submodule: its URL in .gitmodules and its gitlink's path.
        r.git(&["reset", "-q", "--hard", "known"]);
        let url = "https://s3cr3t-t0ken-value@example.org/x.git";
        std::fs::write(
            r.dir.path().join(".gitmodules"),
            format!("[submodule \"m\"]\n\tpath = {KEY}\n\turl = {url}\n"),
        )
        .unwrap();
        let base = r.git(&["rev-parse", "HEAD"]);
        r.git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{base},{KEY}"),
        ]);
        r.git(&["add", ".gitmodules"]);
        r.git(&["commit", "-q", "-m", "sub"]);
        let c = r.git(&["rev-parse", "HEAD"]);
        let f = push(&r, "refs/heads/main", &c);
        let places: Vec<&str> = f.iter().map(|x| x.path.as_str()).collect();
        assert!(places.contains(&"path AKIA…(20 chars)"), "{f:?}");
        assert!(places.contains(&".gitmodules"), "{f:?}");
        assert!(
            f.iter().any(|x| x.rule.starts_with("known_secrets")),
            "{f:?}"
        );
    }

    #[test]
    fn replace_refs_and_grafts_do_not_change_what_is_scanned() {
        let r = Repo::new();
        r.commit("a.txt", "a\n", "base");
        let clean = r.commit("a.txt", "a\nclean\n", "clean");
        r.git(&["branch", "known"]);
        let dirty = r.commit("b.txt", &format!("{KEY}\n"), "dirty");
        // Git would show the clean (already known) commit in place of the dirty one.
        r.git(&["replace", &dirty, &clean]);
        std::fs::write(r.git_dir().join("info/grafts"), format!("{dirty}\n")).unwrap();
        let f = push(&r, "refs/heads/main", &dirty);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].path.as_str(), f[0].commit.as_str()),
            ("b.txt", dirty.as_str())
        );
    }

    #[test]
    fn redacted_names_keep_the_rest() {
        let d = detectors();
        let name = format!("a/{KEY}/b\ns3cr3t-t0ken-value");
        assert_eq!(
            redacted_name(&d, name.as_bytes(), ""),
            "a/AKIA…(20 chars)/b\\x0as3cr…(18 chars)"
        );
        assert_eq!(redacted_name(&d, b"refs/heads/main", ""), "refs/heads/main");
    }
}
