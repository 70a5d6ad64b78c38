//! What `cargo xtask images` builds: the base, the test agent, the sidecar (from freshly built
//! binaries) and the egress-conformance fixture. One run at a time (a file lock), since parallel
//! test jobs may all ask for the images.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bb_core::docker;

use crate::build::{Spec, cached_build};
use crate::run::run_logged;
use crate::{base, env, log};

pub const TEST_AGENT_TAG: &str = "bot-bottle-test-agent:latest";
pub const SIDECAR_TAG: &str = "bot-bottle-sidecar:latest";
pub const FIXTURE_TAG: &str = "bot-bottle-fixture:latest";
pub const ENGINE_TAG: &str = "bot-bottle-engine:latest";

/// An image `cargo xtask images` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Base,
    TestAgent,
    Sidecar,
    Fixture,
    /// A second Docker engine, for the remote-engine tests.
    Engine,
}

/// How to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repository (for `images/` and cargo).
    pub root: PathBuf,
    /// `--base-image`: the `BASE_IMAGE` of test-agent, sidecar and fixture instead of the local
    /// base.
    pub base_image: Option<String>,
    /// Stream the tools' output.
    pub verbose: bool,
}

/// Builds `targets` in order base, test-agent, fixture, sidecar (the local base first whenever
/// another target needs it), holding the images lock.
pub fn build(targets: &[Target], options: &Options) -> Result<()> {
    let start = Instant::now();
    let _lock = lock()?;
    // After the lock: waiting for it must stay interruptible.
    crate::signals::install()?;
    let want = |t: Target| targets.contains(&t);
    let needs_local_base = options.base_image.is_none()
        && [
            Target::TestAgent,
            Target::Sidecar,
            Target::Fixture,
            Target::Engine,
        ]
        .into_iter()
        .any(want);
    if want(Target::Base) || needs_local_base {
        base::ensure(options.verbose)?;
    }
    let local = base::local_tag();
    if want(Target::TestAgent) {
        test_agent(options, &local)?;
    }
    if want(Target::Fixture) {
        fixture(options, options.base_image.as_deref().unwrap_or(&local))?;
    }
    if want(Target::Engine) {
        engine(options, options.base_image.as_deref().unwrap_or(&local))?;
    }
    if want(Target::Sidecar) {
        sidecar(options, &local)?;
    }
    log(format_args!("done in {}", crate::elapsed(start)));
    Ok(())
}

/// The stub agent, offline from the local base (with network from another base).
fn test_agent(options: &Options, local: &str) -> Result<()> {
    let spec = Spec::new(TEST_AGENT_TAG, options.root.join("images/test-agent"));
    let spec = match &options.base_image {
        Some(base) => spec.build_arg("BASE_IMAGE", base),
        None => spec.build_arg("BASE_IMAGE", local).offline(true),
    };
    cached_build("test-agent", spec, options.verbose).map(drop)
}

/// The egress-conformance upstream (images/fixture): its RUN step installs python3 with apt
/// from the base's own sources, so it builds with network.
fn fixture(options: &Options, base: &str) -> Result<()> {
    pull_missing(base).context("fixture")?;
    let spec =
        Spec::new(FIXTURE_TAG, options.root.join("images/fixture")).build_arg("BASE_IMAGE", base);
    cached_build("fixture", spec, options.verbose).map(drop)
}

/// The second engine of the remote-engine tests (images/engine): Debian's dockerd, installed
/// with apt from the base's own sources, so it builds with network.
fn engine(options: &Options, base: &str) -> Result<()> {
    pull_missing(base).context("engine")?;
    let spec =
        Spec::new(ENGINE_TAG, options.root.join("images/engine")).build_arg("BASE_IMAGE", base);
    cached_build("engine", spec, options.verbose).map(drop)
}

/// The sidecar, from `bb-sidecar` and `bb-gitgate` in a temporary context: offline from the
/// local base (its one RUN step finds git and ssh there); another base is pulled first and may
/// need Debian's mirror for git and ssh, so it builds with network.
fn sidecar(options: &Options, local: &str) -> Result<()> {
    let (sidecar, gitgate) = sidecar_binaries(options)?;
    let context = tempfile::Builder::new()
        .prefix("bot-bottle-sidecar.")
        .tempdir()
        .context("creating the sidecar build context")?;
    for (binary, name) in [(&sidecar, "bb-sidecar"), (&gitgate, "bb-gitgate")] {
        let target = context.path().join(name);
        std::fs::copy(binary, &target).with_context(|| format!("copying {}", binary.display()))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    let dockerfile = options.root.join("images/sidecar/Dockerfile");
    std::fs::copy(&dockerfile, context.path().join("Dockerfile"))
        .with_context(|| format!("copying {}", dockerfile.display()))?;
    let spec = Spec::new(SIDECAR_TAG, context.path());
    let spec = match &options.base_image {
        Some(base) => {
            pull_missing(base).context("sidecar")?;
            spec.build_arg("BASE_IMAGE", base)
        }
        None => spec.build_arg("BASE_IMAGE", local).offline(true),
    };
    cached_build("sidecar", spec, options.verbose).map(drop)
}

/// `BB_SIDECAR_BIN` and `BB_GITGATE_BIN` (default: the `bb-gitgate` beside `BB_SIDECAR_BIN`),
/// building what is not given with one `cargo build --release`.
fn sidecar_binaries(options: &Options) -> Result<(PathBuf, PathBuf)> {
    let sidecar = crate::var(env::SIDECAR_BIN).map(PathBuf::from);
    let gitgate = crate::var(env::GITGATE_BIN).map(PathBuf::from).or_else(|| {
        let beside = sidecar.as_ref()?.parent()?.join("bb-gitgate");
        is_executable(&beside).then_some(beside)
    });
    let mut packages = Vec::new();
    if sidecar.is_none() {
        packages.extend(["-p", "bb-sidecar"]);
    }
    if gitgate.is_none() {
        packages.extend(["-p", "bb-gitgate"]);
    }
    let (sidecar, gitgate) = if packages.is_empty() {
        (sidecar, gitgate)
    } else {
        let cargo = which::which("cargo").ok().context(
            "cargo is missing (or set BB_SIDECAR_BIN and BB_GITGATE_BIN to built binaries)",
        )?;
        let start = Instant::now();
        log(format_args!(
            "sidecar: cargo build --release {}",
            packages.join(" ")
        ));
        let mut args = vec!["build", "--release"];
        args.extend(&packages);
        args.push("--quiet");
        run_logged(
            duct::cmd(cargo, &args).dir(&options.root),
            "cargo build --release",
            options.verbose,
        )?;
        let release = target_dir(&options.root).join("release");
        log(format_args!(
            "sidecar: binaries ready in {}",
            crate::elapsed(start)
        ));
        (
            sidecar.or_else(|| Some(release.join("bb-sidecar"))),
            gitgate.or_else(|| Some(release.join("bb-gitgate"))),
        )
    };
    let (Some(sidecar), Some(gitgate)) = (sidecar, gitgate) else {
        bail!("no sidecar binaries");
    };
    for (binary, name) in [(&sidecar, "bb-sidecar"), (&gitgate, "bb-gitgate")] {
        if !is_executable(binary) {
            bail!("no {name} binary at {}", binary.display());
        }
    }
    Ok((sidecar, gitgate))
}

/// cargo's target directory: `CARGO_TARGET_DIR` (relative to the repository), else `target`.
fn target_dir(root: &Path) -> PathBuf {
    crate::var("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Pulls `image` when the engine lacks it.
fn pull_missing(image: &str) -> Result<()> {
    if docker::image_exists(image) {
        return Ok(());
    }
    docker::output(["pull", "--quiet", image])
        .map(drop)
        .with_context(|| format!("cannot pull {image}"))
}

/// The lock on `${TMPDIR:-/tmp}/bot-bottle-images.lock`, waiting for another run that holds it.
pub fn lock() -> Result<std::fs::File> {
    let dir = crate::var("TMPDIR").unwrap_or_else(|| "/tmp".into());
    let path = Path::new(&dir).join("bot-bottle-images.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            log("waiting for another images run");
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executable_files_count_as_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bb-sidecar");
        std::fs::write(&file, "x").unwrap();
        assert!(!is_executable(&file));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&file));
        assert!(!is_executable(dir.path()));
        assert!(!is_executable(&dir.path().join("absent")));
    }
}
