//! `bot-bottle reload IDENTITY`: a running bottle picks up its bottle files' routes and its
//! tokens' current values without a restart. The routes are planned again from the bottle
//! files (what the operator granted through supervise is kept), every token is read again
//! from its source (variable, file or command), then the routes file is replaced and the values
//! are handed to the running sidecar through `docker exec -i … bb-sidecar set-tokens` (stdin
//! only), which reloads both at once. The keys of repos whose key comes from a command are read
//! again too and handed to the gate's agents (`bb-gitgate set-keys`, stdin only). Nothing else
//! of the bottle changes: the agent keeps running, connections stay open.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::gate::GateConfig;
use bb_contract::layout::sidecar;
use bb_contract::plan::{EgressPlan, Plan, RepoKey};
use bb_contract::state::{GATE_CONFIG_FILE, ROUTES_FILE};
use bb_plan::{Host, planner};

use crate::bottles;
use crate::resume::read_metadata;

pub fn run(identity: &str) -> Result<()> {
    let sidecar = crate::sidecar_files::sidecar(identity)?;
    let meta = read_metadata(identity)?;
    if !sidecar.healthy() {
        return Err(InputError::new(format!("bottle {identity} is not running"))
            .fix(format!(
                "a stopped bottle reads its files when it starts: bot-bottle resume {identity}"
            ))
            .into());
    }
    let mut host = Host::from_process("bot-bottle")?;
    host.cwd = meta.cwd.clone();
    let request = crate::resume::request_of(&meta);
    let mut plan = planner::plan(&host, &request)?.plan;
    let routes_file = bottles::state_dir(identity)?.join(ROUTES_FILE);
    stable_slots(&read_routes(&routes_file)?, &mut plan.egress);
    // Every value is read before anything changes: a source that fails leaves the bottle as
    // it was. Retired slots (no route uses them) are not read.
    let mut reading = plan.clone();
    reading.egress.token_slots.retain(|s| {
        plan.egress
            .routes
            .iter()
            .any(|r| r.auth.as_ref().is_some_and(|a| a.slot == s.slot))
    });
    let tokens = bb_compose::secrets::tokens(&reading)?;
    let keys = running_repo_keys(identity, &plan)?;
    // Read again now: an approval may have landed while the sources were read.
    let before = std::fs::read(&routes_file)
        .with_context(|| format!("reading {}", routes_file.display()))?;
    let live = parse_routes(&routes_file, &before)?;
    bb_supervise::grant::carry_over(&live, &mut plan.egress, &bb_contract::supervise::now());
    bb_supervise::grant::replace(&routes_file, &plan.egress)?;
    if let Err(e) =
        crate::sidecar_files::push_routes(identity).and_then(|()| hand_over(identity, &tokens))
    {
        bb_supervise::grant::restore(&routes_file, &before);
        crate::sidecar_files::routes_changed(identity);
        return Err(e.context("the routes file is as it was"));
    }
    if !keys.is_empty() {
        hand_keys_over(identity, &keys)?;
        eprintln!(
            "bot-bottle: reload: {identity}: the keys of repos {} read again",
            keys.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
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

fn read_routes(path: &std::path::Path) -> Result<EgressPlan> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_routes(path, &bytes)
}

fn parse_routes(path: &std::path::Path, bytes: &[u8]) -> Result<EgressPlan> {
    serde_json::from_slice(bytes)
        .with_context(|| format!("{} is not a routes file", path.display()))
}

/// Gives each token source of `fresh` the slot name it had in `live` and a new source a
/// number this bottle never used; keeps `live`'s slots that `fresh` no longer uses, retired. A
/// slot name never passes to another source: a sidecar that restarts finds its launch values
/// under their old names, and must not inject one of them for another route.
pub fn stable_slots(live: &EgressPlan, fresh: &mut EgressPlan) {
    let number = |slot: &str| {
        slot.strip_prefix("EGRESS_TOKEN_")
            .and_then(|n| n.parse::<usize>().ok())
    };
    let mut next = live
        .token_slots
        .iter()
        .filter_map(|s| number(&s.slot))
        .max()
        .unwrap_or(0)
        + 1;
    let mut renamed = std::collections::HashMap::new();
    for slot in &mut fresh.token_slots {
        let name = match live.token_slots.iter().find(|l| l.source == slot.source) {
            Some(l) => l.slot.clone(),
            None => {
                next += 1;
                bb_contract::layout::env::token_slot(next - 1)
            }
        };
        renamed.insert(slot.slot.clone(), name.clone());
        slot.slot = name;
    }
    for auth in fresh.routes.iter_mut().filter_map(|r| r.auth.as_mut()) {
        if let Some(name) = renamed.get(&auth.slot) {
            auth.slot = name.clone();
        }
    }
    for retired in &live.token_slots {
        if fresh.token_slots.iter().all(|f| f.slot != retired.slot) {
            fresh.token_slots.push(retired.clone());
        }
    }
}

/// Sends the values to the running sidecar on `docker exec`'s stdin; it reloads its routes
/// and secrets.
/// The keys of the repos the running gate holds in agents (every repo of a bottle launched
/// since keys stopped being mounted; before, those from commands), read now. (A repo added
/// takes a resume: the gate's repos are set at launch.)
fn running_repo_keys(identity: &str, plan: &Plan) -> Result<BTreeMap<String, String>> {
    let gate_config = bottles::state_dir(identity)?.join(GATE_CONFIG_FILE);
    let Ok(text) = std::fs::read_to_string(&gate_config) else {
        return Ok(BTreeMap::new());
    };
    let running: GateConfig = serde_json::from_str(&text)
        .with_context(|| format!("reading {}", gate_config.display()))?;
    let mut keys = BTreeMap::new();
    for repo in &plan.git_gate.repos {
        let agent_held = running
            .repo(&repo.name)
            .is_some_and(|live| running.agent_keys || matches!(live.key, RepoKey::Command { .. }));
        if agent_held {
            keys.insert(repo.name.clone(), bb_compose::secrets::repo_key(repo)?);
        }
    }
    Ok(keys)
}

/// Hands the keys to the gate's agents in the sidecar, on `bb-gitgate set-keys`'s stdin.
fn hand_keys_over(identity: &str, keys: &BTreeMap<String, String>) -> Result<()> {
    let message = serde_json::to_vec(keys)?;
    exec_with_stdin(identity, &[sidecar::GATE_BIN, "set-keys"], message)
        .map_err(|why| anyhow::anyhow!("the git gate of {identity} did not take the keys: {why}"))
}

/// Hands the tokens to the sidecar, on `bb-sidecar set-tokens`'s stdin.
fn hand_over(identity: &str, tokens: &bb_compose::secrets::Secrets) -> Result<()> {
    let message: String = tokens
        .iter()
        .map(|(slot, value)| format!("{slot}={value}\n"))
        .collect();
    exec_with_stdin(
        identity,
        &[sidecar::SIDECAR_BIN, "set-tokens"],
        message.into_bytes(),
    )
    .map_err(|why| anyhow::anyhow!("the sidecar of {identity} did not take the tokens: {why}"))
}

/// Runs `command` in the sidecar of `identity` with `input` on its stdin (values never reach
/// argv); its stderr when it fails.
fn exec_with_stdin(identity: &str, command: &[&str], input: Vec<u8>) -> Result<(), String> {
    crate::sidecar_files::sidecar(identity)
        .and_then(|s| s.exec(command, Some(input)))
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::plan::{AuthScheme, Route, RouteAuth, TokenSlot, TokenSource};

    fn env_source(name: &str) -> TokenSource {
        TokenSource::HostEnv { name: name.into() }
    }

    fn with_token(host: &str, slot: &str) -> Route {
        let mut route = bb_contract::supervise::EgressRequest {
            host: host.into(),
            paths: vec![],
            methods: vec![],
            reason: "r".into(),
        }
        .to_route();
        route.auth = Some(RouteAuth {
            scheme: AuthScheme::Bearer,
            slot: slot.into(),
            port: 443,
        });
        route
    }

    fn slot(name: &str, var: &str) -> TokenSlot {
        TokenSlot {
            slot: name.into(),
            source: env_source(var),
        }
    }

    #[test]
    fn a_slot_name_never_passes_to_another_source() {
        let live = EgressPlan {
            routes: vec![
                with_token("a.test", "EGRESS_TOKEN_1"),
                with_token("b.test", "EGRESS_TOKEN_2"),
            ],
            token_slots: vec![slot("EGRESS_TOKEN_1", "A"), slot("EGRESS_TOKEN_2", "B")],
        };
        // The bottle file now has a new route first (its token numbered 1 by the planner) and
        // no longer has a.test.
        let mut fresh = EgressPlan {
            routes: vec![
                with_token("c.test", "EGRESS_TOKEN_1"),
                with_token("b.test", "EGRESS_TOKEN_2"),
            ],
            token_slots: vec![slot("EGRESS_TOKEN_1", "C"), slot("EGRESS_TOKEN_2", "B")],
        };
        stable_slots(&live, &mut fresh);
        let auth = |i: usize| fresh.routes[i].auth.as_ref().unwrap().slot.clone();
        assert_eq!(
            auth(0),
            "EGRESS_TOKEN_3",
            "a new source gets a number never used"
        );
        assert_eq!(auth(1), "EGRESS_TOKEN_2", "b.test keeps its slot");
        let names: Vec<(&str, &TokenSource)> = fresh
            .token_slots
            .iter()
            .map(|s| (s.slot.as_str(), &s.source))
            .collect();
        assert_eq!(
            names,
            [
                ("EGRESS_TOKEN_3", &env_source("C")),
                ("EGRESS_TOKEN_2", &env_source("B")),
                ("EGRESS_TOKEN_1", &env_source("A")),
            ],
            "A's slot is kept, retired, so its number is never given again"
        );
    }
}
