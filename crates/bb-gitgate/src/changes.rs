//! The paths each pushed commit changes, from `git diff-tree --raw -z` (paths exactly as
//! stored, no quoting): the names the secret scan reads as content, and what the CI policy
//! matches. Renames are listed as a deletion and an addition (`--no-renames`), merges as the
//! paths that differ from every parent (`-c`, as the patch scan reads them).

use anyhow::{Context, Result, bail};

use crate::run::GitRepo;
use crate::scan::is_zero;

/// One path changed by one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub commit: String,
    /// The path from the repository root, as stored (not necessarily UTF-8).
    pub path: Vec<u8>,
    /// The mode after the commit (`100644`, `120000` symlink, `160000` gitlink, `000000`).
    pub new_mode: String,
    /// The path is gone after the commit.
    pub deleted: bool,
}

/// Parses `git diff-tree --stdin -r -c --raw -z --no-renames` output: a commit id record, then
/// for each path a raw record (`:mode... oid... status`, `::` for a merge) and the path record.
pub fn parse_raw(out: &[u8]) -> Result<Vec<Change>> {
    let mut records = out.split(|&b| b == 0);
    let mut commit = String::new();
    let mut changes = Vec::new();
    while let Some(record) = records.next() {
        if record.is_empty() {
            continue;
        }
        if record[0] != b':' {
            let id = String::from_utf8_lossy(record);
            if !crate::scan::is_oid(&id) {
                bail!("git diff-tree: unexpected record `{}`", id.escape_debug());
            }
            commit = id.into_owned();
            continue;
        }
        let colons = record.iter().take_while(|&&b| b == b':').count();
        let raw = String::from_utf8_lossy(&record[colons..]);
        let fields: Vec<&str> = raw.split(' ').collect();
        let n = fields.len().saturating_sub(1) / 2;
        if n == 0 || fields.len() != 2 * n + 1 || commit.is_empty() {
            bail!(
                "git diff-tree: unexpected raw record `{}`",
                raw.escape_debug()
            );
        }
        let path = records
            .next()
            .context("git diff-tree: raw record without a path")?;
        changes.push(Change {
            commit: commit.clone(),
            path: path.to_vec(),
            new_mode: fields[n - 1].to_string(),
            deleted: is_zero(fields[2 * n - 1]),
        });
    }
    Ok(changes)
}

/// The paths every commit of `commits` changes.
pub fn list(git: &GitRepo, commits: &[String]) -> Result<Vec<Change>> {
    if commits.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git
        .raw_objects()
        .args([
            "diff-tree",
            "--stdin",
            "-r",
            "-c",
            "--root",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
        ])
        .spawn_piped()?;
    let writer = crate::run::feed_commits(&mut child, commits)?;
    let mut out = Vec::new();
    let read = std::io::Read::read_to_end(&mut child.stdout.take().context("stdout")?, &mut out);
    let _ = writer.join();
    let status = child.wait()?;
    read?;
    if !status.success() {
        bail!("git diff-tree --raw failed ({status})");
    }
    parse_raw(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_records() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let z = "0".repeat(40);
        let c1 = "1".repeat(40);
        let c2 = "2".repeat(40);
        let out = format!(
            "{c1}\0:100644 000000 {a} {z} D\0old name\0:000000 120000 {z} {b} A\0we\nird\0\
             {c2}\0::100644 100644 100644 {a} {b} {b} MM\0m.txt\0:000000 160000 {z} {a} A\0{c1}\0"
        );
        let changes = parse_raw(out.as_bytes()).unwrap();
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert_eq!(
            changes[0],
            Change {
                commit: c1.clone(),
                path: b"old name".to_vec(),
                new_mode: "000000".into(),
                deleted: true,
            }
        );
        assert_eq!(
            (changes[1].path.as_slice(), changes[1].new_mode.as_str()),
            (&b"we\nird"[..], "120000")
        );
        assert!(!changes[1].deleted);
        assert_eq!(
            (changes[2].commit.as_str(), changes[2].path.as_slice()),
            (c2.as_str(), &b"m.txt"[..])
        );
        // A path that looks like a commit id is still a path.
        assert_eq!(changes[3].path, c1.as_bytes());
        assert_eq!(changes[3].new_mode, "160000");
        assert!(parse_raw(b"not-a-commit\0").is_err());
        assert!(parse_raw(format!(":100644 100644 {a} {b} M\0x\0").as_bytes()).is_err());
    }
}
