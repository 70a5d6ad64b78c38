//! Building a missing image before `up` (compose v1 would try to pull it, and there may be no
//! registry). The built-in Dockerfiles are compiled into the binary; each takes `BASE_IMAGE`.

use bb_core::progress::Step;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_core::Plan;
use bb_core::docker;
use bb_core::plan::Template;

const CLAUDE_DOCKERFILE: &str = include_str!("../../../images/claude/Dockerfile");
const CODEX_DOCKERFILE: &str = include_str!("../../../images/codex/Dockerfile");
const SIDECAR_DOCKERFILE: &str = include_str!("../../../images/sidecar/Dockerfile");

/// Builds the agent image from its Dockerfile when it does not exist yet.
pub fn ensure_agent_image(plan: &Plan) -> Result<()> {
    let image = &plan.provider.image;
    if docker::image_exists(image) {
        return Ok(());
    }
    let base = format!(
        "{}={}",
        plan.provider.base_image.name, plan.provider.base_image.value
    );
    match &plan.provider.dockerfile {
        Some(dockerfile) => {
            let context = dockerfile.parent().unwrap_or(Path::new("."));
            build(image, dockerfile, context, &base)
        }
        None => {
            let dir = build_context()?;
            let text = match plan.provider.template {
                Template::Claude => CLAUDE_DOCKERFILE,
                Template::Codex => CODEX_DOCKERFILE,
            };
            let dockerfile = dir.path().join("Dockerfile");
            std::fs::write(&dockerfile, text)?;
            build(image, &dockerfile, dir.path(), &base)
        }
    }
}

/// Builds the sidecar image from the built-in Dockerfile and the `bb-sidecar` binary installed
/// next to this program (or on `PATH`), when the image does not exist yet.
pub fn ensure_sidecar_image(image: &str) -> Result<()> {
    if docker::image_exists(image) {
        return Ok(());
    }
    let binaries = [sidecar_binary("bb-sidecar")?, sidecar_binary("bb-gitgate")?];
    let dir = build_context()?;
    for binary in &binaries {
        let name = binary.file_name().context("a binary has a name")?;
        std::fs::copy(binary, dir.path().join(name))
            .with_context(|| format!("copying {}", binary.display()))?;
    }
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, SIDECAR_DOCKERFILE)?;
    let base = std::env::var("BOT_BOTTLE_SIDECAR_BASE_IMAGE")
        .unwrap_or_else(|_| "debian:bookworm-slim".into());
    build(
        image,
        &dockerfile,
        dir.path(),
        &format!("BASE_IMAGE={base}"),
    )
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

fn build(image: &str, dockerfile: &Path, context: &Path, build_arg: &str) -> Result<()> {
    let step = Step::start(
        "bb-compose",
        format!("building image {image} ({build_arg}); this can take minutes"),
    );
    let bin = docker::docker_bin()?;
    let buildkit = if docker::succeeds(["buildx", "version"]) {
        "1"
    } else {
        "0"
    };
    let args: [&std::ffi::OsStr; 10] = [
        "build".as_ref(),
        "--build-arg".as_ref(),
        build_arg.as_ref(),
        "--label".as_ref(),
        "bot-bottle.image=agent".as_ref(),
        "-t".as_ref(),
        image.as_ref(),
        "-f".as_ref(),
        dockerfile.as_os_str(),
        context.as_os_str(),
    ];
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
