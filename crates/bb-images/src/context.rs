//! The content hash of a build: its arguments, the ID of its base image, and every file of the
//! context (mode, path and SHA-256, sorted by path). An image whose `bot-bottle.build-hash`
//! label holds the same hash is up to date.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_core::digest::{Hasher, sha256_file};

/// The base image a build starts from and its local ID (`None`: not present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub image: String,
    pub id: Option<String>,
}

/// The hash of a build of `context` with `args` (the build's options) on `base`.
pub fn hash(context: &Path, args: &[String], base: Option<&Base>) -> Result<String> {
    if !context.is_dir() {
        bail!("no build context {}", context.display());
    }
    let mut hasher = Hasher::new();
    hasher.part(b"args");
    for arg in args {
        hasher.part(arg.as_bytes());
    }
    if let Some(base) = base {
        hasher.part(b"base");
        hasher.part(base.image.as_bytes());
        hasher.part(base.id.as_deref().unwrap_or("absent").as_bytes());
    }
    for (name, path) in files(context)? {
        // Followed like `stat -L`: a link's target's mode and contents.
        let meta =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let digest = sha256_file(&path).with_context(|| format!("reading {}", path.display()))?;
        hasher.part(format!("{:o}", meta.permissions().mode() & 0o7777).as_bytes());
        hasher.part(&name);
        hasher.part(digest.as_bytes());
    }
    Ok(hasher.hex())
}

/// Every non-directory under `root` (links to directories included, not followed), as its path
/// relative to `root` (bytes, `/`-separated), sorted by those bytes.
pub fn files(root: &Path) -> Result<Vec<(Vec<u8>, PathBuf)>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("reading {}", path.display()))?;
            if kind.is_dir() {
                dirs.push(path);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .as_os_str()
                    .as_encoded_bytes()
                    .to_vec();
                found.push((name, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/b"), "one").unwrap();
        std::fs::write(dir.path().join("a-b"), "two").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM x\n").unwrap();
        dir
    }

    #[test]
    fn files_are_sorted_by_path_bytes() {
        let dir = context();
        let names: Vec<String> = files(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| String::from_utf8(n).unwrap())
            .collect();
        assert_eq!(names, ["Dockerfile", "a-b", "a/b"]);
    }

    #[test]
    fn the_hash_follows_contents_modes_args_and_base() {
        let dir = context();
        let args = vec!["--build-arg".to_string(), "BASE_IMAGE=b".to_string()];
        let base = Base {
            image: "b".into(),
            id: Some("sha256:1".into()),
        };
        let first = hash(dir.path(), &args, Some(&base)).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(
            first,
            hash(dir.path(), &args, Some(&base)).unwrap(),
            "stable"
        );
        assert_ne!(
            first,
            hash(dir.path(), &args[..1], Some(&base)).unwrap(),
            "args"
        );
        let other = Base {
            id: Some("sha256:2".into()),
            ..base.clone()
        };
        assert_ne!(
            first,
            hash(dir.path(), &args, Some(&other)).unwrap(),
            "base id"
        );
        assert_ne!(first, hash(dir.path(), &args, None).unwrap(), "no base");
        let file = dir.path().join("a/b");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let moded = hash(dir.path(), &args, Some(&base)).unwrap();
        assert_ne!(first, moded, "mode");
        std::fs::write(&file, "changed").unwrap();
        assert_ne!(
            moded,
            hash(dir.path(), &args, Some(&base)).unwrap(),
            "contents"
        );
    }

    #[test]
    fn a_missing_context_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash(&dir.path().join("absent"), &[], None).unwrap_err();
        assert!(err.to_string().starts_with("no build context"), "{err}");
    }
}
