//! Which Docker engine a bottle was launched on (`state/<id>/engine.json`): the engine may be
//! another machine (`DOCKER_HOST`, a context), and a command run later with another engine in
//! reach would find none of the bottle's containers there. `stop`, `reload`, `resume`, `logs`
//! and `supervise` refuse to act on a bottle through another engine; `cleanup` keeps its state
//! (removing it would orphan the containers, their tokens and their CA key on that engine).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::layout::state_files::ENGINE;
use bb_core::docker::EngineAt;

/// Records the engine the CLI reaches now as the one the bottle of `state` runs on.
pub fn remember(state: &Path) -> Result<()> {
    let engine = current().context("asking the engine who it is")?;
    bb_core::fsx::write_file(
        &state.join(ENGINE),
        &serde_json::to_vec_pretty(engine)?,
        0o600,
    )
}

/// The engine the bottle of `state` was launched on, when it is not the one in reach now (or
/// none answers, or the record cannot be read: then nobody can tell, and the bottle is left
/// alone). `None` for a bottle launched on this engine, or before bottles recorded theirs.
pub fn elsewhere(state: &Path) -> Option<EngineAt> {
    let text = match std::fs::read(state.join(ENGINE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(_) => return Some(unknown()),
    };
    let recorded: EngineAt = serde_json::from_slice(&text).unwrap_or_else(|_| unknown());
    match current() {
        Some(now) if now.id == recorded.id => None,
        _ => Some(recorded),
    }
}

fn unknown() -> EngineAt {
    EngineAt {
        id: String::new(),
        endpoint: format!("unknown: its {ENGINE} cannot be read"),
    }
}

/// An input error when the bottle `identity` of `state` runs on another engine than the one in
/// reach (or none answers), naming how to reach it.
pub fn check(state: &Path, identity: &str) -> Result<(), InputError> {
    let Some(there) = elsewhere(state) else {
        return Ok(());
    };
    if current().is_none() {
        return Err(InputError::new(format!(
            "no Docker engine answers, and bottle {identity} runs on {}",
            there.endpoint
        ))
        .fix(format!(
            "start or reach that engine: DOCKER_HOST={}",
            there.endpoint
        )));
    }
    Err(InputError::new(format!(
        "bottle {identity} runs on another Docker engine ({})",
        there.endpoint
    ))
    .fix(format!(
        "reach that engine first: DOCKER_HOST={} bot-bottle … (or `docker context use`)",
        there.endpoint
    )))
}

/// The engine in reach, asked once per process; `None` when none answers.
fn current() -> Option<&'static EngineAt> {
    static CURRENT: OnceLock<Option<EngineAt>> = OnceLock::new();
    CURRENT
        .get_or_init(|| bb_core::docker::engine_at().ok())
        .as_ref()
}
