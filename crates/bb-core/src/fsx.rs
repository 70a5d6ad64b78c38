//! Writing files and folders with explicit permissions.
//!
//! State folders are 0700 and files holding prompts, env values or keys are 0600. Files are
//! written to a temporary sibling and renamed, so a reader never sees half a file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// Creates `dir` and its missing parents with mode 0700, and sets 0700 on `dir` itself.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode 0700 on {}", dir.display()))
}

/// Atomically writes `contents` to `path` with `mode` (the file never exists with wider bits).
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("a file path needs a parent folder")?;
    let name = path.file_name().context("a file path needs a name")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|err| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(err).context(format!("writing {}", path.display()))
    })
}

/// The permission bits of `path`.
pub fn mode_of(path: &Path) -> Result<u32> {
    Ok(fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

/// A small JSON object kept in a file, for caches: read whole when opened, written back (through
/// a rename) at every `set`. A missing or unreadable file is an empty cache, and a failed write
/// only costs the next run the work the cache saves.
pub struct JsonCache {
    path: Option<std::path::PathBuf>,
    map: serde_json::Map<String, serde_json::Value>,
}

impl JsonCache {
    /// `name` in the download cache folder (`paths::cache_dir`).
    pub fn open(name: &str) -> JsonCache {
        JsonCache::at(crate::paths::cache_dir().ok().map(|d| d.join(name)))
    }

    /// The cache in `path` (`None`: kept in memory only).
    pub fn at(path: Option<std::path::PathBuf>) -> JsonCache {
        let map = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        JsonCache { path, map }
    }

    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.map.get(key)
    }

    /// Drops every entry whose key `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.map.retain(|k, _| keep(k));
    }

    /// Sets `key` and writes the file.
    pub fn set(&mut self, key: String, value: serde_json::Value) {
        self.map.insert(key, value);
        let (Some(path), Ok(bytes)) = (&self.path, serde_json::to_vec_pretty(&self.map)) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = write_file(path, &bytes, 0o644);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_cache_keeps_what_was_set_and_starts_empty_from_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.json");
        let mut cache = JsonCache::at(Some(path.clone()));
        assert!(cache.get("a").is_none());
        cache.set("a".into(), serde_json::json!(1));
        cache.set("b".into(), serde_json::json!("x"));
        cache.retain(|k| k != "b");
        cache.set("c".into(), serde_json::json!(true));
        let again = JsonCache::at(Some(path.clone()));
        assert_eq!(again.get("a"), Some(&serde_json::json!(1)));
        assert!(again.get("b").is_none());
        std::fs::write(&path, b"not json").unwrap();
        assert!(JsonCache::at(Some(path)).get("a").is_none());
    }

    #[test]
    fn private_dir_and_file_get_their_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir).unwrap(), 0o700);
        let file = dir.join("prompt.txt");
        write_file(&file, b"hello", 0o600).unwrap();
        assert_eq!(mode_of(&file).unwrap(), 0o600);
        assert_eq!(fs::read(&file).unwrap(), b"hello");
        write_file(&file, b"again", 0o600).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"again");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }
}
