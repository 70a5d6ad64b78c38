//! The agent CLI's wheel: taken from the download cache or fetched with pip, checked against
//! its pinned SHA-256 (a wheel that does not match is deleted, never used), and its executables
//! copied into an image's build context.
//!
//! The cache is `bb_core::paths::cache_dir()/wheels/`; a host with no registry can be given the
//! wheel by placing the pinned file there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_contract::plan::CliWheel;
use bb_core::progress::Step;
use std::io::Read as _;

/// The verified wheel in the cache, downloading it first when needed.
pub fn fetch(wheel: &CliWheel) -> Result<PathBuf> {
    let dir = bb_core::paths::cache_dir()?.join("wheels");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(path) = cached(&dir, wheel)? {
        return Ok(path);
    }
    download(wheel, &dir)?;
    Ok(dir.join(&wheel.file))
}

/// The wheel in `dir` when it is there and matches its pin; a file that does not match is
/// deleted.
fn cached(dir: &Path, wheel: &CliWheel) -> Result<Option<PathBuf>> {
    let path = dir.join(&wheel.file);
    if !path.is_file() {
        return Ok(None);
    }
    if sha256_of(&path)? == wheel.sha256 {
        return Ok(Some(path));
    }
    std::fs::remove_file(&path)?;
    bb_core::progress::info(
        "bb-compose",
        format_args!(
            "{} in the cache did not match its pinned SHA-256 (deleted); fetching it again",
            wheel.file
        ),
    );
    Ok(None)
}

/// `pip download` into a private folder beside the cache, then a hash check and a rename, so a
/// half-written or tampered file never appears under the pinned name.
fn download(wheel: &CliWheel, dir: &Path) -> Result<()> {
    let step = Step::start(
        "bb-compose",
        format!("downloading {}=={} with pip", wheel.package, wheel.version),
    );
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(dir)
        .context("creating a download folder")?;
    let platform = platform_tag(&wheel.file)?;
    let requirement = format!("{}=={}", wheel.package, wheel.version);
    let (program, mut args) = pip()?;
    args.extend(
        [
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            platform,
            // A current Python: the wheels are `py3-none` but say `Requires-Python >= 3.10`.
            "--python-version",
            "3.12",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
        ]
        .map(String::from),
    );
    args.push(tmp.path().display().to_string());
    args.push(requirement.clone());
    let out = duct::cmd(&program, &args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "downloading {requirement} with pip failed: {} (place {} in {} to install offline)",
            bb_core::docker::message(&out.stderr),
            wheel.file,
            dir.display()
        );
    }
    let got = tmp.path().join(&wheel.file);
    if !got.is_file() {
        bail!("pip did not produce {} for {requirement}", wheel.file);
    }
    let sha = sha256_of(&got)?;
    if sha != wheel.sha256 {
        bail!(
            "{} has SHA-256 {sha}, not the pinned {}: refusing to use it",
            wheel.file,
            wheel.sha256
        );
    }
    std::fs::rename(&got, dir.join(&wheel.file))?;
    step.finish(format!("downloaded {} (SHA-256 checked)", wheel.file));
    Ok(())
}

/// pip as `pip3`, `pip` or `python3 -m pip`.
fn pip() -> Result<(PathBuf, Vec<String>)> {
    for name in ["pip3", "pip"] {
        if let Ok(path) = which::which(name) {
            return Ok((path, Vec::new()));
        }
    }
    let python = which::which("python3")
        .context("pip is needed to download the agent CLI's wheel and none of pip3, pip, python3 was found (install python3-pip)")?;
    Ok((python, vec!["-m".into(), "pip".into()]))
}

/// `manylinux_2_17_x86_64` of `name-1.0-py3-none-manylinux_2_17_x86_64.whl`.
fn platform_tag(file: &str) -> Result<&str> {
    file.strip_suffix(".whl")
        .and_then(|stem| stem.rsplit('-').next())
        .filter(|tag| !tag.is_empty())
        .with_context(|| format!("{file} is not a wheel file name"))
}

fn sha256_of(path: &Path) -> Result<String> {
    bb_core::digest::sha256_file(path).with_context(|| format!("reading {}", path.display()))
}

/// The most one executable may inflate to (the CLIs are a few hundred MB).
const MAX_MEMBER: u64 = 2 << 30;

/// Copies the wheel's executables into `dest` (mode 0755), under their names in the image.
pub fn extract(wheel_path: &Path, wheel: &CliWheel, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel_path)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("reading {}", wheel_path.display()))?;
    for (member, name) in &wheel.files {
        let mut entry = archive
            .by_name(member)
            .with_context(|| format!("{} has no {member}", wheel.file))?;
        if entry.size() > MAX_MEMBER {
            bail!(
                "{member} in {} is larger than {MAX_MEMBER} bytes",
                wheel.file
            );
        }
        let target = dest.join(name);
        let mut out = std::fs::File::create(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        std::io::copy(&mut (&mut entry).take(MAX_MEMBER), &mut out)
            .with_context(|| format!("extracting {member}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_tag_comes_from_the_file_name() {
        assert_eq!(
            platform_tag("claude_agent_sdk-0.2.184-py3-none-manylinux_2_17_x86_64.whl").unwrap(),
            "manylinux_2_17_x86_64"
        );
        assert!(platform_tag("not-a-wheel.tar.gz").is_err());
    }

    fn wheel_with(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("w.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, data) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, data).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    fn pin(files: &[(&str, &str)]) -> CliWheel {
        CliWheel {
            package: "p".into(),
            version: "1".into(),
            cli_version: "1".into(),
            file: "p-1-py3-none-any.whl".into(),
            sha256: "0".repeat(64),
            files: files
                .iter()
                .map(|(m, n)| (m.to_string(), n.to_string()))
                .collect(),
        }
    }

    #[test]
    fn executables_are_copied_out_with_mode_0755() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let whl = wheel_with(
            dir.path(),
            &[("pkg/bin/tool", b"#!/bin/sh\n"), ("pkg/other", b"x")],
        );
        let out = tempfile::tempdir().unwrap();
        extract(&whl, &pin(&[("pkg/bin/tool", "tool")]), out.path()).unwrap();
        let target = out.path().join("tool");
        assert_eq!(std::fs::read(&target).unwrap(), b"#!/bin/sh\n");
        assert_eq!(
            target.metadata().unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(!out.path().join("other").exists());
    }

    #[test]
    fn a_missing_member_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let whl = wheel_with(dir.path(), &[("pkg/a", b"x")]);
        let out = tempfile::tempdir().unwrap();
        let err = extract(&whl, &pin(&[("pkg/bin/tool", "tool")]), out.path()).unwrap_err();
        assert!(format!("{err:#}").contains("pkg/bin/tool"), "{err:#}");
    }

    #[test]
    fn a_cached_wheel_that_does_not_match_its_pin_is_deleted_and_never_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut wheel = pin(&[]);
        let path = dir.path().join(&wheel.file);
        assert!(cached(dir.path(), &wheel).unwrap().is_none(), "absent");
        std::fs::write(&path, b"tampered").unwrap();
        assert!(cached(dir.path(), &wheel).unwrap().is_none());
        assert!(!path.exists(), "the mismatching file was deleted");
        std::fs::write(&path, b"good").unwrap();
        wheel.sha256 = bb_core::digest::sha256_hex(b"good");
        assert_eq!(cached(dir.path(), &wheel).unwrap(), Some(path));
    }
}
