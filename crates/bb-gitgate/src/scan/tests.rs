//! Tests of the push scan on scratch repositories driven with the git CLI.

use super::*;
use crate::diff::{scan_commit_objects, scan_commits};
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
        &GitRepo::at(&repo.git_dir()),
        &tips.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &exclude.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .unwrap();
    scan_commit_objects(&GitRepo::at(&repo.git_dir()), &commits, &mut c).unwrap();
    scan_commits(&GitRepo::at(&repo.git_dir()), &commits, &mut c).unwrap();
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
        &GitRepo::at(&r.git_dir()),
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
        &GitRepo::at(&r.git_dir()),
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
    let scanned = scan_push(&GitRepo::at(&r.git_dir()), &updates, &["--all".into()], &d).unwrap();
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
        &GitRepo::at(&r.git_dir()),
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
fn replace_refs_do_not_change_what_is_scanned() {
    let r = Repo::new();
    r.commit("a.txt", "a\n", "base");
    let clean = r.commit("a.txt", "a\nclean\n", "clean");
    r.git(&["branch", "known"]);
    let dirty = r.commit("b.txt", &format!("{KEY}\n"), "dirty");
    // Git would show the clean (already known) commit in place of the dirty one.
    r.git(&["replace", &dirty, &clean]);
    let f = push(&r, "refs/heads/main", &dirty);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].path.as_str(), f[0].commit.as_str()),
        ("b.txt", dirty.as_str())
    );
}

#[test]
fn grafts_do_not_hide_commits() {
    let r = Repo::new();
    let known = r.commit("a.txt", "a\n", "base");
    r.git(&["branch", "known"]);
    let dirty = r.commit("b.txt", &format!("{KEY}\n"), "dirty");
    let tip = r.commit("c.txt", "clean\n", "clean");
    // A graft making the tip's parent the known commit would skip the dirty one.
    std::fs::write(r.git_dir().join("info/grafts"), format!("{tip} {known}\n")).unwrap();
    let f = push(&r, "refs/heads/main", &tip);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].commit, dirty);
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
