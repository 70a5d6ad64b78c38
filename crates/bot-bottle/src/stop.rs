//! `bot-bottle stop IDENTITY`: tears a running bottle down from another terminal. When the
//! `start`/`resume` that owns it is alive it gets SIGTERM and does its own teardown (logs dumped
//! to `compose.log`, compose down, networks removed, state kept); otherwise (its wrapper was
//! killed) the logs are dumped here and the containers and networks labelled with the identity
//! are removed. The state folder is kept either way.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bb_contract::InputError;
use bb_contract::layout::state_files::COMPOSE_LOG;

use crate::bottles;

pub fn run(identity: &str) -> Result<()> {
    let state = bottles::state_dir(identity)?;
    let wrapper = bottles::wrapper_pid(&state);
    let on_cluster = crate::kube_bottles::recorded(&state)?;
    // A live launch is asked to tear down whatever engine it is on; without one, the
    // containers are removed here, through the bottle's own engine only.
    if on_cluster.is_none() && wrapper.is_none() {
        crate::engine_record::check(&state, identity)?;
    }
    if on_cluster.is_none() && wrapper.is_none() && bottles::of_identity(identity)?.is_empty() {
        return Err(InputError::new(format!("no running bottle {identity}"))
            .fix("bot-bottle list active shows the running ones")
            .into());
    }
    if let Some(pid) = wrapper {
        eprintln!("bot-bottle: asking the launch of {identity} (pid {pid}) to tear down");
        // std cannot signal another process; kill(1) can, without unsafe code.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        while bottles::wrapper_pid(&state) == Some(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Whatever the launch's own teardown did (or did not get to do): on a cluster, stopping
    // again deletes only what is left; on the engine, what is left is removed here.
    if let Some(applied) = &on_cluster {
        crate::kube_bottles::stop(applied)?;
        eprintln!(
            "bot-bottle: {identity}: its pods are gone from namespace {} (its home kept)",
            applied.namespace
        );
    } else if crate::engine_record::elsewhere(&state).is_none() {
        let left = bottles::of_identity(identity)?;
        if !left.is_empty() {
            force(identity, &state, &left)?;
        }
    } else if bottles::wrapper_pid(&state).is_some() {
        // The launch did not tear down in time, and what it made is out of reach here.
        crate::engine_record::check(&state, identity)?;
    }
    eprintln!(
        "bot-bottle: {identity} stopped; state kept in {}",
        state.display()
    );
    Ok(())
}

/// Dumps the logs and removes what is left of the bottle (its wrapper is gone), with the same
/// calls teardown makes.
fn force(identity: &str, state: &std::path::Path, bottle: &bottles::Bottle) -> Result<()> {
    // Stopped first (the agent, then the sidecar): the logs then hold the last decisions.
    let mut names: Vec<&bottles::Container> = bottle.containers.iter().collect();
    names.sort_by_key(|c| c.role.as_deref() != Some(bb_contract::layout::labels::AGENT_ROLE));
    let mut args = vec!["stop", "--time", "5"];
    args.extend(names.iter().map(|c| c.name.as_str()));
    if !names.is_empty() {
        let _ = bb_core::docker::output(&args);
    }
    if state.is_dir() {
        let logs = bottles::dump_logs(bottle);
        bb_core::fsx::write_file(&state.join(COMPOSE_LOG), &logs, 0o600)?;
        if let Err(e) = bb_compose::keep_audit(state, identity) {
            eprintln!("bot-bottle: stop {identity}: the audit stream was not kept: {e:#}");
        }
    }
    let failures: Vec<String> = [
        bb_compose::remove_containers(identity),
        bb_net::remove(identity),
    ]
    .into_iter()
    .filter_map(|r| r.err().map(|e| format!("{e:#}")))
    .collect();
    for failure in &failures {
        eprintln!("bot-bottle: stop {identity}: {failure}");
    }
    if !failures.is_empty() {
        bail!("{identity} could not be removed completely");
    }
    Ok(())
}
