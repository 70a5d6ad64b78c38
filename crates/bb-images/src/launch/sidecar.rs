//! The sidecar image at launch: `bot-bottle-sidecar:<content hash>` of the built-in Dockerfile,
//! its base and the installed `bb-sidecar` and `bb-gitgate`, built from those binaries when
//! missing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bb_contract::layout::labels;
use bb_core::docker;

use super::{build, build_context, remove_older_builds};

const SIDECAR_DOCKERFILE: &str = include_str!("../../../../images/sidecar/Dockerfile");

/// The programs the sidecar image holds.
const SIDECAR_BINARIES: [&str; 2] = ["bb-sidecar", "bb-gitgate"];

/// The sidecar image: `BOT_BOTTLE_SIDECAR_IMAGE`, else `bot-bottle-sidecar:<12 hex>` of the
/// built-in Dockerfile, its base and the `bb-sidecar` and `bb-gitgate` binaries it is built
/// from, so an upgraded bot-bottle never runs a stale sidecar.
pub fn sidecar_image() -> Result<String> {
    if let Some(image) = std::env::var("BOT_BOTTLE_SIDECAR_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Ok(image);
    }
    let mut hash = bb_core::digest::Hasher::new();
    hash.part(SIDECAR_DOCKERFILE.as_bytes());
    hash.part(sidecar_base().as_bytes());
    for name in SIDECAR_BINARIES {
        let cache = bb_core::paths::cache_dir()
            .ok()
            .map(|d| d.join("binary-digests.json"));
        hash.part(binary_digest(cache.as_deref(), &sidecar_binary(name)?)?.as_bytes());
    }
    Ok(format!("bot-bottle-sidecar:{}", hash.short()))
}

/// `BOT_BOTTLE_SIDECAR_BASE_IMAGE`, else the agent's `BOT_BOTTLE_BASE_IMAGE` (one switch for a
/// local base with no registry), else `debian:bookworm-slim`.
fn sidecar_base() -> String {
    [
        "BOT_BOTTLE_SIDECAR_BASE_IMAGE",
        bb_contract::layout::env::BASE_IMAGE,
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    .unwrap_or_else(|| "debian:bookworm-slim".into())
}

/// A binary's SHA-256, remembered in the cache folder by path, size and modification time
/// (hashing the installed binaries, ~80 MB, at every launch would cost a quarter second).
fn binary_digest(cache: Option<&Path>, path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = format!("{}|{}|{mtime}", path.display(), meta.len());
    let mut known = bb_core::fsx::JsonCache::at(cache.map(Path::to_path_buf));
    if let Some(digest) = known.get(&key).and_then(|v| v.as_str()) {
        return Ok(digest.to_string());
    }
    let digest = bb_core::digest::sha256_file(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let same_path = format!("{}|", path.display());
    known.retain(|k| !k.starts_with(&same_path));
    known.set(key, digest.clone().into());
    Ok(digest)
}

/// Builds the sidecar image from the built-in Dockerfile and the `bb-sidecar` binary installed
/// next to this program (or on `PATH`), when the image does not exist yet.
pub fn ensure_sidecar_image(image: &str) -> Result<()> {
    if docker::image_exists(image) {
        return Ok(());
    }
    let dir = build_context()?;
    for name in SIDECAR_BINARIES {
        let binary = sidecar_binary(name)?;
        std::fs::copy(&binary, dir.path().join(name))
            .with_context(|| format!("copying {}", binary.display()))?;
    }
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, SIDECAR_DOCKERFILE)?;
    let base = sidecar_base();
    build(
        image,
        &dockerfile,
        dir.path(),
        ("BASE_IMAGE", &base),
        &[(labels::IMAGE.into(), "sidecar".into())],
        "not built yet",
    )?;
    remove_older_builds(image);
    Ok(())
}

/// An installed program of the sidecar image (`bb-sidecar`, `bb-gitgate`).
fn sidecar_binary(name: &str) -> Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    beside
        .or_else(|| which::which(name).ok())
        .context("the sidecar image is missing and no bb-sidecar binary was found to build it (run scripts/install or scripts/images sidecar)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binarys_digest_follows_its_contents_and_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("digests.json");
        let binary = dir.path().join("bb-sidecar");
        std::fs::write(&binary, b"one").unwrap();
        let first = binary_digest(Some(&cache), &binary).unwrap();
        assert_eq!(first, bb_core::digest::sha256_hex(b"one"));
        assert!(std::fs::read_to_string(&cache).unwrap().contains(&first));
        std::fs::write(&binary, b"two, longer").unwrap();
        let second = binary_digest(Some(&cache), &binary).unwrap();
        assert_eq!(second, bb_core::digest::sha256_hex(b"two, longer"));
        let known: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_eq!(known.len(), 1, "the old entry of the same path is dropped");
    }
}
