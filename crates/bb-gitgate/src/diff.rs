//! The patches of the pushed commits (`git diff-tree -p --text -M -c`): each file's added
//! lines are scanned, placed on their line numbers in the new file; for a merge only the lines
//! new to every parent (combined diff); a file git prints as binary is scanned whole.

use std::io::{BufRead, BufReader};

use anyhow::{Context, Result, bail};

use crate::objects::CatFile;
use crate::run::GitRepo;
use crate::scan::{Collector, is_oid, is_zero};

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

impl FileAcc {
    fn new(path: String) -> FileAcc {
        FileAcc {
            path,
            data: Vec::new(),
            lines: Vec::new(),
            new_blob: None,
            binary: false,
        }
    }
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
            file = Some(FileAcc::new(diff_path(rest)));
            state = State::Header;
            continue;
        }
        if let Some(rest) = text.strip_prefix("diff --git ") {
            flush(&mut file, &commit, collector, binaries);
            // The `+++` line names the path exactly; this guess covers files without hunks.
            let guess = rest
                .rsplit_once(" b/")
                .map_or(rest.to_string(), |(_, b)| b.to_string());
            file = Some(FileAcc::new(guess));
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

/// Scans the commits' objects (headers and message), read in one batch.
pub fn scan_commit_objects(
    git: &GitRepo,
    commits: &[String],
    collector: &mut Collector<'_>,
) -> Result<()> {
    crate::objects::for_each_object(git, commits, |id, obj| {
        collector.scan_object("commit", &obj.data, id)
    })
}

/// Scans the commits' patches.
pub fn scan_commits(
    git: &GitRepo,
    commits: &[String],
    collector: &mut Collector<'_>,
) -> Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let mut child = git
        .raw_objects()
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
    let writer = crate::run::feed_commits(&mut child, commits)?;
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
    if binaries.is_empty() {
        return Ok(());
    }
    let mut cat = CatFile::new(git)?;
    for (commit, path, blob) in binaries {
        if let Some(obj) = cat.get(&blob)? {
            collector.scan_whole(&obj.data, &path, &commit);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_paths() {
        assert_eq!(diff_path("b/src/a.rs"), "src/a.rs");
        assert_eq!(diff_path("\"b/\\303\\244 x\\tq\""), "ä x\tq");
    }
}
