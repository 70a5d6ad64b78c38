//! The images bot-bottle builds when a bottle needs them (compose v1 would try to pull a missing
//! image, and there may be no registry): the agent image from the CLI's pinned wheel
//! ([`agent`], [`wheels`]) and the sidecar image from the installed binaries ([`sidecar`]). The
//! built-in Dockerfiles are compiled into the binary; each takes `BASE_IMAGE`. Progress goes
//! through `bb_core::progress` as part of `bb-compose`.

pub mod agent;
pub mod sidecar;
pub mod wheels;

pub use agent::ensure_agent_image;
pub use sidecar::{ensure_sidecar_image, sidecar_image};

use std::path::Path;

use anyhow::{Context, Result};
use bb_contract::layout::labels;
use bb_core::docker;
use bb_core::progress::Step;

use crate::build::{Spec, docker_build};

/// Who built the images built here (and only those are ever removed here).
const BUILT_BY: &str = "bb-compose";

/// Removes other tags of the same repository that this module built (older CLI pins,
/// Dockerfiles or sidecar binaries); an image a container still uses stays (`docker image rm`
/// refuses), and images built otherwise (`cargo xtask images`) are never touched.
fn remove_older_builds(image: &str) {
    let Some((repo, _)) = image.rsplit_once(':') else {
        return;
    };
    let Ok(list) = docker::output([
        "image",
        "ls",
        "--filter",
        &format!("label={}={BUILT_BY}", labels::BUILT_BY),
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

/// A private temporary build context, removed when dropped (also on error).
fn build_context() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("bot-bottle-build-")
        .tempdir()
        .context("creating a build context")
}

/// Builds `image` with the shared `docker build`, its output on the progress step.
fn build(
    image: &str,
    dockerfile: &Path,
    context: &Path,
    build_arg: (&str, &str),
    image_labels: &[(String, String)],
    why: &str,
) -> Result<()> {
    let (arg_name, arg_value) = build_arg;
    let step = Step::start(
        "bb-compose",
        format!("building image {image} ({why}; {arg_name}={arg_value}); this can take minutes"),
    );
    let mut spec = Spec::new(image, context)
        .dockerfile(dockerfile)
        .build_arg(arg_name, arg_value)
        .label(labels::BUILT_BY, BUILT_BY);
    for (name, value) in image_labels {
        spec = spec.label(name, value);
    }
    // Every output line goes to the spinner (terminal), to stderr (plain) or nowhere (quiet);
    // the last ones make the error message.
    docker_build(&spec, &mut |line| {
        if step.streams_output() {
            eprintln!("{line}");
        }
        step.line(line);
    })?;
    step.finish(format!("built {image}"));
    Ok(())
}
