//! `bot-bottle commit IDENTITY [--tag T]`: a running bottle's agent container, as an image:
//! what the agent installed (packages, tools, global caches). `resume` starts from it.
//!
//! The home (conversation, workspace) is on the bottle's own volume, which an image never
//! holds. The container's environment is: the values compose gave it (the canary, a bottle's
//! `${VAR}` and `?` secrets) would be written into the image's configuration, so every variable
//! the image did not have is committed empty.

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_core::docker;

use crate::bottles;

/// The file in the state folder naming the committed image `resume` starts from.
pub const COMMITTED_IMAGE: &str = "committed-image";

pub fn run(identity: &str, tag: Option<&str>) -> Result<()> {
    let bottle = bottles::of_identity(identity)?;
    let agent = bottle
        .containers
        .iter()
        .find(|c| c.role.as_deref() == Some(bb_contract::layout::labels::AGENT_ROLE) && c.running)
        .ok_or_else(|| {
            InputError::new(format!("bottle {identity} has no running agent"))
                .fix("bot-bottle list active shows the running ones")
        })?;
    let state = bottles::state_dir(identity)?;
    if !state.is_dir() {
        return Err(InputError::new(format!("no state folder for {identity}"))
            .fix("commit a bottle started on this host")
            .into());
    }
    let tag = tag.map_or_else(|| format!("bot-bottle-snapshot:{identity}"), str::to_string);
    let mut args = vec![
        "commit".to_string(),
        "--change".into(),
        format!(
            "LABEL {}={identity}",
            bb_contract::layout::labels::COMMITTED_FROM
        ),
    ];
    for name in added_env(&agent.name)? {
        args.extend(["--change".into(), format!("ENV {name}=")]);
    }
    args.extend([agent.name.clone(), tag.clone()]);
    docker::output(&args).with_context(|| format!("committing {}", agent.name))?;
    bb_core::fsx::write_file(&state.join(COMMITTED_IMAGE), tag.as_bytes(), 0o600)?;
    eprintln!(
        "bot-bottle: committed {} as {tag}; bot-bottle resume {identity} starts from it",
        agent.name
    );
    println!("{tag}");
    Ok(())
}

/// The variables the container has that its image does not define the same way.
fn added_env(container: &str) -> Result<Vec<String>> {
    let env_of = |args: &[&str]| -> Result<Vec<String>> {
        let text = docker::output(args)?;
        Ok(serde_json::from_str::<Option<Vec<String>>>(text.trim())?.unwrap_or_default())
    };
    let image = docker::output(["inspect", "-f", "{{.Image}}", container])?;
    let theirs = env_of(&["inspect", "-f", "{{json .Config.Env}}", container])?;
    let base = env_of(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        image.trim(),
    ])?;
    Ok(theirs
        .iter()
        .filter(|pair| !base.contains(pair))
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_string()))
        .collect())
}

/// The image a kept bottle was committed to, if any.
pub fn committed_image(identity: &str) -> Result<Option<String>> {
    let path = bottles::state_dir(identity)?.join(COMMITTED_IMAGE);
    Ok(std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}
