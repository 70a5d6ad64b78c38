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

#[cfg(test)]
mod tests {
    use super::*;

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
