//! Scanning exactly what a push adds.
//!
//! The range is `git rev-list <new tips> --not --all` (run in the pre-receive hook, where the
//! pushed objects are quarantined and no ref has moved yet): a new branch, the later commits of
//! a range, a force push, all come down to the commits no existing ref reaches. For each of
//! them the gate scans the raw commit object (message, author) and the lines its diff adds
//! (`git diff-tree -p --text -M`, combined diff for merges: only lines that are new to every
//! parent). Annotated tags are peeled (the tag object is scanned too); a ref to a tree or a
//! blob scans that object whole.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::detect::{Detectors, Hit};
use crate::run::Git;

/// A secret found in a push.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub commit: String,
    pub path: String,
    pub line: usize,
    pub rule: String,
    /// The match redacted ([`redact`]).
    pub redacted: String,
}

impl Finding {
    /// The line shown to the agent.
    pub fn render(&self) -> String {
        format!(
            "{}:{}  rule {}  commit {}  match {}",
            self.path,
            self.line,
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

fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses the pre-receive input (`<old> <new> <ref>` lines).
pub fn parse_updates(text: &str) -> Result<Vec<Update>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("bad pre-receive line `{line}`");
        };
        if !is_oid(old) || !is_oid(new) || refname.is_empty() {
            bail!("bad pre-receive line `{line}`");
        }
        out.push(Update {
            old: old.into(),
            new: new.into(),
            refname: refname.into(),
        });
    }
    Ok(out)
}

/// `git cat-file --batch`, one object at a time.
pub struct CatFile {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
}

/// An object read with [`CatFile`].
pub struct Object {
    pub kind: String,
    pub data: Vec<u8>,
}

impl CatFile {
    pub fn new(git_dir: Option<&Path>) -> Result<CatFile> {
        let mut child = Git::new(git_dir)
            .args(["cat-file", "--batch"])
            .spawn_piped()?;
        let input = child.stdin.take().context("cat-file stdin")?;
        let output = BufReader::new(child.stdout.take().context("cat-file stdout")?);
        Ok(CatFile {
            child,
            input,
            output,
        })
    }

    pub fn get(&mut self, oid: &str) -> Result<Option<Object>> {
        writeln!(self.input, "{oid}")?;
        self.input.flush()?;
        let mut header = String::new();
        self.output.read_line(&mut header)?;
        let words: Vec<&str> = header.split_whitespace().collect();
        if words.len() == 2 && words[1] == "missing" {
            return Ok(None);
        }
        let [_, kind, size] = words[..] else {
            bail!("git cat-file: unexpected answer `{}`", header.trim());
        };
        let size: usize = size.parse().context("git cat-file size")?;
        let mut data = vec![0u8; size];
        self.output.read_exact(&mut data)?;
        let mut nl = [0u8; 1];
        self.output.read_exact(&mut nl)?;
        Ok(Some(Object {
            kind: kind.to_string(),
            data,
        }))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let out = Git::new(git_dir)
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

    /// A whole object (blob, commit or tag): lines counted from 1.
    pub fn scan_whole(&mut self, data: &[u8], path: &str, commit: &str) {
        self.scanned_bytes += data.len() as u64;
        let hits = self.detectors.scan(data, path, commit);
        if hits.is_empty() {
            return;
        }
        let newlines: Vec<usize> = data
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| (b == b'\n').then_some(i))
            .collect();
        for hit in hits {
            let line = newlines.partition_point(|&i| i < hit.start) + 1;
            self.add(data, &hit, path, line, commit);
        }
    }

    /// Added lines of one file in one commit: `lines` maps the offset of each added line in
    /// `data` to its line number in the new file.
    pub fn scan_added(&mut self, data: &[u8], lines: &[(usize, usize)], path: &str, commit: &str) {
        self.scanned_bytes += data.len() as u64;
        for hit in self.detectors.scan(data, path, commit) {
            let at = lines.partition_point(|&(off, _)| off <= hit.start);
            let line = if at == 0 { 1 } else { lines[at - 1].1 };
            self.add(data, &hit, path, line, commit);
        }
    }

    fn add(&mut self, data: &[u8], hit: &Hit, path: &str, line: usize, commit: &str) {
        let end = hit.end.min(data.len());
        let start = hit.start.min(end);
        self.findings.insert(Finding {
            commit: commit.to_string(),
            path: path.to_string(),
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

/// Unquotes a path as git prints it (`"a/\303\244 b"` or `a/x`), dropping the `a/`/`b/` prefix.
pub fn diff_path(raw: &str) -> String {
    let raw = raw.trim_end_matches(['\n', '\r']);
    let unquoted = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        let inner = &raw.as_bytes()[1..raw.len() - 1];
        let mut out = Vec::new();
        let mut i = 0;
        while i < inner.len() {
            if inner[i] == b'\\' && i + 1 < inner.len() {
                let c = inner[i + 1];
                let octal = |j: usize| {
                    inner
                        .get(j)
                        .filter(|b| (b'0'..=b'7').contains(b))
                        .map(|b| b - b'0')
                };
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'0'..=b'7' => {
                        if let (Some(a), Some(b), Some(d)) =
                            (octal(i + 1), octal(i + 2), octal(i + 3))
                        {
                            out.push(a * 64 + b * 8 + d);
                            i += 4;
                            continue;
                        }
                        out.push(c);
                    }
                    other => out.push(other),
                }
                i += 2;
            } else {
                out.push(inner[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        raw.to_string()
    };
    unquoted
        .strip_prefix("b/")
        .or_else(|| unquoted.strip_prefix("a/"))
        .unwrap_or(&unquoted)
        .to_string()
}

/// The added lines of the file being read.
struct FileAcc {
    path: String,
    data: Vec<u8>,
    lines: Vec<(usize, usize)>,
    /// Blob id of the new side (from `index`), for a file diff printed as binary.
    new_blob: Option<String>,
    binary: bool,
}

/// Reads `git diff-tree --stdin -p` output and scans each file's added lines.
fn scan_diffs<R: BufRead>(
    out: R,
    collector: &mut Collector<'_>,
    binaries: &mut Vec<(String, String, String)>,
) -> Result<()> {
    #[derive(PartialEq)]
    enum State {
        Top,
        Header,
        Hunk,
    }
    let mut state = State::Top;
    let mut commit = String::new();
    let mut file: Option<FileAcc> = None;
    let mut cols = 1usize;
    let mut new_line = 0usize;
    let flush = |file: &mut Option<FileAcc>,
                 commit: &str,
                 collector: &mut Collector<'_>,
                 binaries: &mut Vec<(String, String, String)>| {
        if let Some(f) = file.take() {
            if f.binary {
                if let Some(blob) = f.new_blob.filter(|b| !is_zero(b)) {
                    binaries.push((commit.to_string(), f.path, blob));
                }
            } else if !f.data.is_empty() {
                collector.scan_added(&f.data, &f.lines, &f.path, commit);
            }
        }
    };
    let mut reader = out;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let line = &raw[..];
        if state == State::Hunk {
            match line.first() {
                Some(b' ') | Some(b'+') | Some(b'-') | Some(b'\n') | None => {
                    let prefix = &line[..cols.min(line.len())];
                    let body = &line[cols.min(line.len())..];
                    if prefix.contains(&b'-') {
                        // Removed from a parent: not in the new file.
                    } else if prefix.len() == cols && prefix.iter().all(|&b| b == b'+') {
                        if let Some(f) = file.as_mut() {
                            f.lines.push((f.data.len(), new_line));
                            f.data.extend_from_slice(body);
                            if !body.ends_with(b"\n") {
                                f.data.push(b'\n');
                            }
                        }
                        new_line += 1;
                    } else {
                        new_line += 1;
                    }
                    continue;
                }
                Some(b'\\') => continue,
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\n');
        if text.starts_with("@@") && file.is_some() {
            let ats = text.bytes().take_while(|&b| b == b'@').count();
            cols = ats.saturating_sub(1).max(1);
            new_line = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix('+'))
                .and_then(|w| w.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            state = State::Hunk;
            continue;
        }
        if let Some(rest) = text
            .strip_prefix("diff --cc ")
            .or_else(|| text.strip_prefix("diff --combined "))
        {
            flush(&mut file, &commit, collector, binaries);
            file = Some(FileAcc {
                path: diff_path(rest),
                data: Vec::new(),
                lines: Vec::new(),
                new_blob: None,
                binary: false,
            });
            state = State::Header;
            continue;
        }
        if let Some(rest) = text.strip_prefix("diff --git ") {
            flush(&mut file, &commit, collector, binaries);
            // The `+++` line names the path exactly; this guess covers files without hunks.
            let guess = rest
                .rsplit_once(" b/")
                .map_or(rest.to_string(), |(_, b)| b.to_string());
            file = Some(FileAcc {
                path: guess,
                data: Vec::new(),
                lines: Vec::new(),
                new_blob: None,
                binary: false,
            });
            state = State::Header;
            continue;
        }
        let first = text.split(' ').next().unwrap_or("");
        if is_oid(first) && state != State::Header {
            flush(&mut file, &commit, collector, binaries);
            commit = first.to_string();
            state = State::Top;
            continue;
        }
        if state == State::Header
            && let Some(f) = file.as_mut()
        {
            if let Some(p) = text.strip_prefix("+++ ") {
                if p != "/dev/null" {
                    f.path = diff_path(p);
                }
            } else if let Some(ids) = text.strip_prefix("index ") {
                let ids = ids.split(' ').next().unwrap_or("");
                f.new_blob = ids.rsplit_once("..").map(|(_, n)| n.to_string());
            } else if text.starts_with("Binary files ") || text == "GIT binary patch" {
                f.binary = true;
            } else if is_oid(first) {
                // A commit whose first file had no hunk (mode change, pure rename).
                flush(&mut file, &commit, collector, binaries);
                commit = first.to_string();
                state = State::Top;
            }
        }
    }
    flush(&mut file, &commit, collector, binaries);
    Ok(())
}

/// Scans the commits' objects and diffs.
pub fn scan_commits(
    git_dir: Option<&Path>,
    commits: &[String],
    collector: &mut Collector<'_>,
) -> Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let mut cat = CatFile::new(git_dir)?;
    for c in commits {
        if let Some(obj) = cat.get(c)? {
            collector.scan_whole(&obj.data, "(commit message)", c);
        }
    }
    let mut child = Git::new(git_dir)
        .args([
            "diff-tree",
            "--stdin",
            "-r",
            "-p",
            "--text",
            "-M",
            "-c",
            "--root",
            "--full-index",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "--submodule=short",
        ])
        .spawn_piped()?;
    let mut stdin = child.stdin.take().context("diff-tree stdin")?;
    let list: Vec<u8> = commits
        .iter()
        .flat_map(|c| format!("{c}\n").into_bytes())
        .collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&list);
    });
    let stdout = child.stdout.take().context("diff-tree stdout")?;
    let mut binaries = Vec::new();
    let result = scan_diffs(
        BufReader::with_capacity(1 << 20, stdout),
        collector,
        &mut binaries,
    );
    let _ = writer.join();
    let status = child.wait()?;
    result?;
    if !status.success() {
        bail!("git diff-tree failed ({status})");
    }
    for (commit, path, blob) in binaries {
        if let Some(obj) = cat.get(&blob)? {
            collector.scan_whole(&obj.data, &path, &commit);
        }
    }
    Ok(())
}

/// Every blob of a tree, with its path.
fn tree_blobs(git_dir: Option<&Path>, tree: &str) -> Result<Vec<(String, String)>> {
    let out = Git::new(git_dir)
        .args(["ls-tree", "-r", "-z", "--full-tree", tree])
        .ok(std::time::Duration::from_secs(600))?;
    Ok(out
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (meta, path) = entry.split_once('\t')?;
            let mut m = meta.split(' ');
            let (_, kind, oid) = (m.next()?, m.next()?, m.next()?);
            (kind == "blob").then(|| (oid.to_string(), path.to_string()))
        })
        .collect())
}

/// Scans everything a push adds. `exclude` is what is already known (`["--all"]` in the hook).
pub fn scan_push(
    git_dir: Option<&Path>,
    updates: &[Update],
    exclude: &[String],
    detectors: &Detectors,
) -> Result<(BTreeSet<Finding>, ScanStats)> {
    let mut collector = Collector::new(detectors);
    let mut cat = CatFile::new(git_dir)?;
    let mut tips = Vec::new();
    for u in updates.iter().filter(|u| !u.is_delete()) {
        let mut oid = u.new.clone();
        // Peel tags (a chain is possible), scanning each tag object.
        for _ in 0..32 {
            let Some(obj) = cat.get(&oid)? else {
                bail!("object {oid} of {} is missing", u.refname);
            };
            match obj.kind.as_str() {
                "tag" => {
                    collector.scan_whole(&obj.data, &format!("(tag {})", u.refname), &oid);
                    let target = String::from_utf8_lossy(&obj.data)
                        .lines()
                        .find_map(|l| l.strip_prefix("object ").map(str::to_string))
                        .context("tag without an object line")?;
                    oid = target;
                }
                "commit" => {
                    tips.push(oid.clone());
                    break;
                }
                "tree" => {
                    for (blob, path) in tree_blobs(git_dir, &oid)? {
                        if let Some(b) = cat.get(&blob)? {
                            collector.scan_whole(&b.data, &path, &oid);
                        }
                    }
                    break;
                }
                "blob" => {
                    collector.scan_whole(&obj.data, &format!("(blob at {})", u.refname), &oid);
                    break;
                }
                other => bail!("object {oid} has unknown type {other}"),
            }
        }
    }
    drop(cat);
    let commits = commit_range(git_dir, &tips, exclude)?;
    scan_commits(git_dir, &commits, &mut collector)?;
    let stats = ScanStats {
        commits: commits.len(),
        bytes: collector.scanned_bytes,
    };
    Ok((collector.findings, stats))
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ScanStats {
    pub commits: usize,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn unquotes_paths() {
        assert_eq!(diff_path("b/src/a.rs"), "src/a.rs");
        assert_eq!(diff_path("\"b/\\303\\244 x\\tq\""), "ä x\tq");
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
        let (f, stats) = scan_push(
            Some(&r.git_dir()),
            &updates,
            &["refs/heads/known".into()],
            &d,
        )
        .unwrap();
        let f: Vec<_> = f.into_iter().collect();
        assert_eq!(stats.commits, 1);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().any(|x| x.path == "(tag refs/tags/v1)"));
        assert!(f.iter().any(|x| x.path == "b.txt" && x.commit == c));
        // A ref to a blob.
        let blob = r.git(&["rev-parse", &format!("{c}:b.txt")]);
        let updates = vec![Update {
            old: z,
            new: blob,
            refname: "refs/blobs/x".into(),
        }];
        let (f, _) = scan_push(Some(&r.git_dir()), &updates, &["--all".into()], &d).unwrap();
        assert_eq!(f.len(), 1);
        let _ = base;
    }
}
