//! The state folder `bb-plan` writes: `~/.bot-bottle/state/<identity>/`.
//!
//! ```text
//! metadata.json   0600  identity, agent, bottles, cwd, label, started_at, project, runtime
//! agent/          0700  prompt.txt (0600), env (0600, literal values only)
//! egress/         0700  routes and CA (written by later stages)
//! git-gate/       0700
//! supervise/      0700
//! ```
//! Everything is checked before anything is written; if writing fails, a folder this call
//! created is removed again.

use anyhow::{Context, Result};
use bb_core::fsx;

use crate::planner::Planned;

/// The per-stage folders.
pub const STAGE_DIRS: &[&str] = &["agent", "egress", "git-gate", "supervise"];

/// Writes the state folder of `planned`.
pub fn write(planned: &Planned) -> Result<()> {
    let dir = &planned.plan.state_dir;
    let existed = dir.exists();
    let result = write_all(planned);
    if result.is_err() && !existed {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn write_all(planned: &Planned) -> Result<()> {
    let plan = &planned.plan;
    fsx::create_private_dir(&plan.state_dir)?;
    for sub in STAGE_DIRS {
        fsx::create_private_dir(&plan.state_dir.join(sub))?;
    }
    let mut prompt = planned.prompt.clone();
    if !prompt.is_empty() {
        prompt.push('\n');
    }
    fsx::write_file(&plan.agent.prompt_file, prompt.as_bytes(), 0o600)?;
    let env: String = plan
        .env
        .literal
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    fsx::write_file(&plan.env.literal_file, env.as_bytes(), 0o600)?;
    let metadata = serde_json::to_vec_pretty(&planned.metadata).context("serialising metadata")?;
    fsx::write_file(
        &plan.state_dir.join(bb_contract::state::METADATA_FILE),
        &metadata,
        0o600,
    )
}
