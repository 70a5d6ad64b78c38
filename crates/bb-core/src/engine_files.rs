//! Files into and out of a container through the engine: one tar stream on `docker cp`'s
//! stdin or stdout. The engine may run on another machine (`DOCKER_HOST=ssh://…`, a context),
//! so nothing of a bottle is bind-mounted from the launcher's filesystem; what a container
//! needs is carried this way, and a secret among it (the CA key) travels only on a pipe.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One file to put into a container: its path under the target folder, content and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIn {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// A regular file read out of a container: its path under the folder that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOut {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl FileIn {
    /// A file of the launcher's, under the name `path`, with the launcher's file mode.
    pub fn read(host: &Path, path: impl Into<PathBuf>) -> Result<FileIn> {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(host).with_context(|| format!("reading {}", host.display()))?;
        let bytes = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        Ok(FileIn {
            path: path.into(),
            bytes,
            mode: meta.permissions().mode() & 0o7777,
        })
    }
}

/// Puts `files` (and `dirs`, made empty when missing) under `dir` of `container`, which may
/// be created and not started. `dir` must be writable in the container: a volume when its
/// root is read-only (the engine refuses a copy onto a read-only root).
pub fn put(container: &str, dir: &str, dirs: &[&str], files: &[FileIn]) -> Result<()> {
    let archive = tar_of(dirs, files)?;
    let target = format!("{container}:{dir}");
    let bin = crate::docker::docker_bin()?;
    let out = duct::cmd(&bin, ["cp", "-", target.as_str()])
        .stdin_bytes(archive)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "copying files into {container}:{dir}: {}",
            crate::docker::message(&out.stderr)
        );
    }
    Ok(())
}

/// The regular files under `path` of `container` (a folder or one file), named relative to
/// it. `None` when the container or the path does not exist.
pub fn get(container: &str, path: &str) -> Result<Option<Vec<FileOut>>> {
    let source = format!("{container}:{path}");
    let out = crate::docker::raw(["cp", source.as_str(), "-"])?;
    if !out.status.success() {
        let message = crate::docker::message(&out.stderr);
        if message.contains("No such container") || message.contains("Could not find the file") {
            return Ok(None);
        }
        bail!("copying {source} out: {message}");
    }
    files_of(&out.stdout).map(Some)
}

/// One tar of empty folders `dirs` and `files`, as `put` sends it.
pub fn tar_of(dirs: &[&str], files: &[FileIn]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(now());
        builder.append_data(&mut header, relative(Path::new(dir))?, std::io::empty())?;
    }
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(file.mode);
        header.set_size(file.bytes.len() as u64);
        header.set_mtime(now());
        builder.append_data(&mut header, relative(&file.path)?, file.bytes.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

/// A path inside the archive: relative, without `..` (the engine resolves it under the
/// target folder; one that climbs out is a bug of ours).
fn relative(path: &Path) -> Result<&Path> {
    let ok = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !ok || path.as_os_str().is_empty() {
        bail!("{} is not a relative path inside a folder", path.display());
    }
    Ok(path)
}

/// The regular files of a tar stream, named without its first component (`docker cp` names
/// the entries after the folder that was read).
pub fn files_of(archive: &[u8]) -> Result<Vec<FileOut>> {
    let mut files = Vec::new();
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path()?.into_owned();
        let path: PathBuf = name.components().skip(1).collect();
        let path = if path.as_os_str().is_empty() {
            name
        } else {
            path
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        files.push(FileOut { path, bytes });
    }
    Ok(files)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_folders_round_trip_through_a_tar_named_as_docker_cp_names_it() {
        let files = [
            FileIn {
                path: "egress/routes.json".into(),
                bytes: b"{}".to_vec(),
                mode: 0o644,
            },
            FileIn {
                path: "egress/ca-key.pem".into(),
                bytes: b"key".to_vec(),
                mode: 0o600,
            },
        ];
        let archive = tar_of(&["proposals"], &files).unwrap();
        let mut modes = Vec::new();
        for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
            let entry = entry.unwrap();
            modes.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
            ));
        }
        assert_eq!(
            modes,
            [
                ("proposals".to_string(), 0o755),
                ("egress/routes.json".to_string(), 0o644),
                ("egress/ca-key.pem".to_string(), 0o600)
            ]
        );
        // Read back as `docker cp CONTAINER:/etc/bot-bottle -` would name them.
        let out = files_of(
            &tar_of(
                &[],
                &[FileIn {
                    path: "bot-bottle/egress/routes.json".into(),
                    bytes: b"{}".to_vec(),
                    mode: 0o644,
                }],
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(out[0].path, PathBuf::from("egress/routes.json"));
        assert_eq!(out[0].bytes, b"{}");
    }

    #[test]
    fn a_path_that_climbs_out_of_the_folder_is_refused() {
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", ""] {
            let file = FileIn {
                path: bad.into(),
                bytes: Vec::new(),
                mode: 0o644,
            };
            assert!(tar_of(&[], &[file]).is_err(), "{bad}");
        }
    }
}
