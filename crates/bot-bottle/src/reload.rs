//! `bot-bottle reload IDENTITY`: a running bottle picks up its bottle files' routes and its
//! tokens' current values without a restart. The routes are planned again from the bottle
//! files (what the operator granted through supervise is kept), every token is read again
//! from its source (variable, file or command), then the routes file is replaced and the values
//! are handed to the running sidecar through `docker exec -i … bb-sidecar set-tokens` (stdin
//! only), which reloads both at once. Nothing else of the bottle changes: the agent keeps
//! running, connections stay open.

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::layout::{names, sidecar};
use bb_contract::plan::EgressPlan;
use bb_contract::state::ROUTES_FILE;
use bb_plan::{Host, Request, planner};

use crate::bottles;
use crate::resume::read_metadata;

pub fn run(identity: &str) -> Result<()> {
    let meta = read_metadata(identity)?;
    if bottles::of_identity(identity)?.is_empty() {
        return Err(InputError::new(format!("bottle {identity} is not running"))
            .fix(format!(
                "a stopped bottle reads its files when it starts: bot-bottle resume {identity}"
            ))
            .into());
    }
    let mut host = Host::from_process("bot-bottle")?;
    host.cwd = meta.cwd.clone();
    let request = Request {
        agent: Some(meta.agent.clone()),
        bottles: meta.bottles.clone(),
        workspace: meta.workspace.is_some(),
        identity: Some(meta.identity.clone()),
        label: meta.label.clone(),
        runtime: Some(meta.runtime),
        rebuild: false,
    };
    let mut plan = planner::plan(&host, &request)?.plan;
    let routes_file = bottles::state_dir(identity)?.join(ROUTES_FILE);
    let live: EgressPlan = serde_json::from_slice(
        &std::fs::read(&routes_file)
            .with_context(|| format!("reading {}", routes_file.display()))?,
    )
    .with_context(|| format!("{} is not a routes file", routes_file.display()))?;
    bb_supervise::grant::carry_over(&live, &mut plan.egress, &bb_contract::supervise::now());
    // Every value is read before anything changes: a source that fails leaves the bottle as
    // it was.
    let tokens = bb_compose::secrets::tokens(&plan)?;
    bb_supervise::grant::replace(&routes_file, &plan.egress)?;
    hand_over(identity, &tokens)?;
    eprintln!(
        "bot-bottle: reload: {identity}: {} routes, token slots {} read again",
        plan.egress.routes.len(),
        if tokens.names().is_empty() {
            "(none)".to_string()
        } else {
            tokens.names().join(", ")
        }
    );
    Ok(())
}

/// Sends the values to the running sidecar on `docker exec`'s stdin; it reloads its routes
/// and secrets.
fn hand_over(identity: &str, tokens: &bb_compose::secrets::Secrets) -> Result<()> {
    let message: String = tokens
        .iter()
        .map(|(slot, value)| format!("{slot}={value}\n"))
        .collect();
    let container = names::sidecar_container(identity);
    let out = duct::cmd(
        "docker",
        [
            "exec",
            "-i",
            container.as_str(),
            sidecar::SIDECAR_BIN,
            "set-tokens",
        ],
    )
    .stdin_bytes(message.into_bytes())
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .context("running docker exec")?;
    if !out.status.success() {
        anyhow::bail!(
            "the sidecar of {identity} did not take the tokens: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
