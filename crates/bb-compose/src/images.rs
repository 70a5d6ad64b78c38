//! Building a missing image before `up` (compose v1 would try to pull it, and there may be no
//! registry). The built-in Dockerfiles are compiled into the binary; each takes `BASE_IMAGE`.

use bb_core::progress::Step;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_contract::Plan;
use bb_core::agent_cli;
use bb_core::docker;

use crate::wheels;

const SIDECAR_DOCKERFILE: &str = include_str!("../../../images/sidecar/Dockerfile");

/// The label holding the ID of the base image an agent image was built on.
const BASE_ID_LABEL: &str = "bot-bottle.base-id";
/// The label of every image built here (and only those are ever removed here).
const BUILT_BY_LABEL: &str = "bot-bottle.built-by=bb-compose";

/// Builds the agent image when it is missing, when `--rebuild` asks for it, or when the base
/// image it was built on has changed since (a rebuilt local base). The built-in Dockerfile gets
/// the CLI from its pinned wheel; an older build of the same image is removed when unused.
pub fn ensure_agent_image(plan: &Plan) -> Result<()> {
    let image = &plan.provider.image;
    let base = &plan.provider.base_image.value;
    let base_id = image_id(base);
    let why = if plan.provider.rebuild {
        "--rebuild"
    } else if !docker::image_exists(image) {
        "not built yet"
    } else if is_snapshot(image) {
        // `bot-bottle commit` made it: rebuilding would replace the user's snapshot.
        return Ok(());
    } else if base_changed(image, base_id.as_deref()) {
        "its base image changed"
    } else {
        return Ok(());
    };
    let mut labels = vec![("bot-bottle.image".to_string(), "agent".to_string())];
    if let Some(id) = &base_id {
        labels.push((BASE_ID_LABEL.into(), id.clone()));
    }
    let build_arg = format!("{}={base}", plan.provider.base_image.name);
    match &plan.provider.dockerfile {
        Some(dockerfile) => {
            let context = dockerfile.parent().unwrap_or(Path::new("."));
            build(image, dockerfile, context, &build_arg, &labels, why)
        }
        None => {
            let dir = build_context()?;
            if let Some(wheel) = &plan.provider.cli {
                let path = wheels::fetch(wheel)?;
                let bin = dir.path().join(agent_cli::CLI_BIN_DIR);
                std::fs::create_dir(&bin)?;
                wheels::extract(&path, wheel, &bin)?;
            } else {
                let pin = bb_core::agent_cli::pin(plan.provider.template);
                bail!(
                    "no {} wheel is pinned for this machine ({}; pinned: {}): give agent_provider.dockerfile",
                    pin.package,
                    std::env::consts::ARCH,
                    pin.arches()
                );
            }
            let dockerfile = dir.path().join("Dockerfile");
            std::fs::write(&dockerfile, agent_cli::DOCKERFILE)?;
            build(image, &dockerfile, dir.path(), &build_arg, &labels, why)?;
            remove_older_builds(image);
            Ok(())
        }
    }
}

/// The local image's ID, when it exists.
fn image_id(image: &str) -> Option<String> {
    docker::output(["image", "inspect", "--format", "{{.Id}}", image])
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The image records a base that is no longer the local base's ID. Images we did not build (no
/// label) and bases that are not local (a registry image) count as unchanged.
/// An image `bot-bottle commit` made ([`bb_contract::layout::labels::COMMITTED_FROM`]).
fn is_snapshot(image: &str) -> bool {
    let format = format!(
        "{{{{index .Config.Labels \"{}\"}}}}",
        bb_contract::layout::labels::COMMITTED_FROM
    );
    docker::output(["image", "inspect", "--format", &format, image]).is_ok_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "<no value>"
    })
}

fn base_changed(image: &str, base_id: Option<&str>) -> bool {
    let Some(base_id) = base_id else { return false };
    let format = format!("{{{{index .Config.Labels \"{BASE_ID_LABEL}\"}}}}");
    match docker::output(["image", "inspect", "--format", &format, image]) {
        Ok(recorded) => {
            let recorded = recorded.trim();
            !recorded.is_empty() && recorded != "<no value>" && recorded != base_id
        }
        Err(_) => false,
    }
}

/// Removes other tags of the same repository that this module built (older CLI pins,
/// Dockerfiles or sidecar binaries); an image a container still uses stays (`docker image rm`
/// refuses), and images built otherwise (`scripts/images`) are never touched.
fn remove_older_builds(image: &str) {
    let Some((repo, _)) = image.rsplit_once(':') else {
        return;
    };
    let Ok(list) = docker::output([
        "image",
        "ls",
        "--filter",
        &format!("label={BUILT_BY_LABEL}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
        repo,
    ]) else {
        return;
    };
    for old in list
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != image)
    {
        let _ = docker::raw(["image", "rm", old]);
    }
}

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

/// The programs the sidecar image holds.
const SIDECAR_BINARIES: [&str; 2] = ["bb-sidecar", "bb-gitgate"];

/// `BOT_BOTTLE_SIDECAR_BASE_IMAGE`, else the agent's `BOT_BOTTLE_BASE_IMAGE` (one switch for a
/// local base with no registry), else `debian:bookworm-slim`.
fn sidecar_base() -> String {
    ["BOT_BOTTLE_SIDECAR_BASE_IMAGE", "BOT_BOTTLE_BASE_IMAGE"]
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
        &format!("BASE_IMAGE={base}"),
        &[("bot-bottle.image".into(), "sidecar".into())],
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

/// A private temporary build context, removed when dropped (also on error).
fn build_context() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("bot-bottle-build-")
        .tempdir()
        .context("creating a build context")
}

fn build(
    image: &str,
    dockerfile: &Path,
    context: &Path,
    build_arg: &str,
    labels: &[(String, String)],
    why: &str,
) -> Result<()> {
    let step = Step::start(
        "bb-compose",
        format!("building image {image} ({why}; {build_arg}); this can take minutes"),
    );
    let bin = docker::docker_bin()?;
    let buildkit = if docker::succeeds(["buildx", "version"]) {
        "1"
    } else {
        "0"
    };
    let mut args: Vec<std::ffi::OsString> = vec![
        "build".into(),
        "--build-arg".into(),
        build_arg.into(),
        "--label".into(),
        BUILT_BY_LABEL.into(),
    ];
    for (key, value) in labels {
        args.push("--label".into());
        args.push(format!("{key}={value}").into());
    }
    args.extend([
        "-t".into(),
        image.into(),
        "-f".into(),
        dockerfile.into(),
        context.into(),
    ]);
    let cmd = duct::cmd(&bin, args)
        .env("DOCKER_BUILDKIT", buildkit)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked();
    // Every output line goes to the spinner (terminal), to stderr (plain) or nowhere (quiet);
    // the last ones make the error message.
    let reader = cmd.reader().context("running docker build")?;
    let mut tail = std::collections::VecDeque::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(&reader)) {
        let line = line.context("reading docker build output")?;
        if step.streams_output() {
            eprintln!("{line}");
        }
        step.line(&line);
        if tail.len() == 5 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = reader
        .try_wait()
        .context("waiting for docker build")?
        .map(|out| out.status);
    if !status.is_some_and(|s| s.success()) {
        bail!(
            "building {image} failed: {}",
            tail.into_iter().collect::<Vec<_>>().join(" | ")
        );
    }
    step.finish(format!("built {image}"));
    Ok(())
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
