//! The agent image: the built-in Dockerfile with the CLI from its pinned wheel (or the
//! provider's own Dockerfile), built when missing, on `--rebuild`, or when its local base image
//! changed.

use std::path::Path;

use anyhow::{Result, bail};
use bb_contract::Plan;
use bb_contract::layout::labels;
use bb_core::agent_cli;
use bb_core::docker;

use super::{build, build_context, remove_older_builds, wheels};
use crate::build::{image_id, image_label};

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
    let mut image_labels = vec![(labels::IMAGE.to_string(), "agent".to_string())];
    if let Some(id) = &base_id {
        image_labels.push((labels::BASE_ID.into(), id.clone()));
    }
    let build_arg = (plan.provider.base_image.name.as_str(), base.as_str());
    match &plan.provider.dockerfile {
        Some(dockerfile) => {
            let context = dockerfile.parent().unwrap_or(Path::new("."));
            build(image, dockerfile, context, build_arg, &image_labels, why)
        }
        None => {
            let dir = build_context()?;
            if let Some(wheel) = &plan.provider.cli {
                let path = wheels::fetch(wheel)?;
                let bin = dir.path().join(agent_cli::CLI_BIN_DIR);
                std::fs::create_dir(&bin)?;
                wheels::extract(&path, wheel, &bin)?;
            } else {
                let pin = agent_cli::pin(plan.provider.template);
                bail!(
                    "no {} wheel is pinned for this machine ({}; pinned: {}): give agent_provider.dockerfile",
                    pin.package,
                    std::env::consts::ARCH,
                    pin.arches()
                );
            }
            let dockerfile = dir.path().join("Dockerfile");
            std::fs::write(&dockerfile, agent_cli::DOCKERFILE)?;
            build(
                image,
                &dockerfile,
                dir.path(),
                build_arg,
                &image_labels,
                why,
            )?;
            remove_older_builds(image);
            Ok(())
        }
    }
}

/// An image `bot-bottle commit` made ([`labels::COMMITTED_FROM`]).
fn is_snapshot(image: &str) -> bool {
    image_label(image, labels::COMMITTED_FROM).is_some()
}

/// The image records a base that is no longer the local base's ID. Images we did not build (no
/// label) and bases that are not local (a registry image) count as unchanged.
fn base_changed(image: &str, base_id: Option<&str>) -> bool {
    let Some(base_id) = base_id else { return false };
    image_label(image, labels::BASE_ID).is_some_and(|recorded| recorded != base_id)
}
