//! `bot-bottle cleanup [--yes]`: every container and network of any bottle (by the identity
//! label or the `bot-bottle-` name prefix), every state folder without a `.preserve` marker
//! whose bottle is not left running, and the home volumes of those bottles; listed, one question, then each removed. A failure is
//! reported and the rest still removed; the exit status is 1 when anything failed.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::bottles;

pub fn run(yes: bool) -> Result<()> {
    let containers: Vec<String> = bottles::containers()?.into_iter().map(|c| c.name).collect();
    let networks: Vec<String> = bottles::networks()?.into_iter().map(|(n, _)| n).collect();
    let (states, preserved) = state_dirs()?;
    // A bottle on another engine: its containers are not in reach, so neither is its state.
    let mut here = Vec::new();
    for dir in states {
        match crate::engine_record::elsewhere(&dir) {
            None => here.push(dir),
            Some(there) => eprintln!(
                "bot-bottle: keeping {}: its bottle is on another engine ({}); run cleanup with DOCKER_HOST={}",
                dir.display(),
                there.endpoint,
                there.endpoint
            ),
        }
    }
    let states = here;
    let volumes = home_volumes(&preserved)?;
    let mut namespaces = Vec::new();
    for dir in &states {
        if let Some(applied) = crate::kube_bottles::recorded(dir)? {
            namespaces.push((dir.clone(), applied));
        }
    }
    for dir in &preserved {
        eprintln!("bot-bottle: keeping {} (.preserve)", dir.display());
    }
    if containers.is_empty() && networks.is_empty() && states.is_empty() && volumes.is_empty() {
        eprintln!("bot-bottle: nothing to clean up");
        return Ok(());
    }
    for c in &containers {
        println!("container  {c}");
    }
    for n in &networks {
        println!("network    {n}");
    }
    for s in &states {
        println!("state      {}", s.display());
    }
    for (_, k) in &namespaces {
        let context = k.context.as_deref().unwrap_or("the current context");
        println!(
            "namespace  {} ({context}: the bottle and its home)",
            k.namespace
        );
    }
    let sizes = crate::active::home_sizes();
    for v in &volumes {
        match sizes.get(v) {
            Some(bytes) => println!("volume     {v}  ({})", crate::active::human_size(*bytes)),
            None => println!("volume     {v}"),
        }
    }
    let freed: u64 = volumes.iter().filter_map(|v| sizes.get(v)).sum();
    if freed > 0 {
        println!(
            "frees      {} of agent homes",
            crate::active::human_size(freed)
        );
    }
    let count = containers.len() + networks.len() + states.len() + volumes.len() + namespaces.len();
    let question = format!("remove these {count} items? [y/N] ");
    if !yes && !crate::tty::ask(&question, "pass --yes to remove without asking")? {
        eprintln!("bot-bottle: nothing removed");
        return Ok(());
    }
    let mut failures = bottles::remove(&containers, &networks);
    // Before the state folders: their records say where the namespaces are, so a folder whose
    // namespace could not be deleted stays (its record is the only one).
    let mut kept = Vec::new();
    for (dir, k) in &namespaces {
        if let Err(err) = crate::kube_bottles::delete(k) {
            failures.push(format!(
                "namespace {} (its state kept): {err:#}",
                k.namespace
            ));
            kept.push(dir);
        }
    }
    for dir in states.iter().filter(|d| !kept.contains(d)) {
        if let Err(err) = std::fs::remove_dir_all(dir) {
            failures.push(format!("state {}: {err}", dir.display()));
        }
    }
    for volume in &volumes {
        if let Err(err) = bb_compose::remove_volume(volume) {
            failures.push(format!("volume {volume}: {err:#}"));
        }
    }
    for failure in &failures {
        eprintln!("bot-bottle: cleanup: {failure}");
    }
    if !failures.is_empty() {
        bail!("{} of {count} items could not be removed", failures.len());
    }
    eprintln!("bot-bottle: removed {count} items");
    Ok(())
}

/// The bottles' home volumes (agent home and workspace), except those of `.preserve` bottles:
/// the containers that use them are removed first.
fn home_volumes(preserved: &[PathBuf]) -> Result<Vec<String>> {
    let role = format!("label={}=home", bb_contract::layout::labels::ROLE);
    let format = format!(
        "{{{{.Name}}}}\t{{{{.Label \"{}\"}}}}",
        bb_contract::layout::labels::IDENTITY
    );
    let listed = bb_core::docker::output(["volume", "ls", "--filter", &role, "--format", &format])?;
    let kept: Vec<String> = preserved
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Ok(listed
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, identity)| !kept.iter().any(|k| k == identity))
        .map(|(name, _)| name.to_string())
        .collect())
}

/// State folders to remove, and those kept for their `.preserve` marker.
fn state_dirs() -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let root = bb_core::paths::state_root(&bb_core::paths::home()?);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs
        .into_iter()
        .partition(|d| !d.join(".preserve").exists()))
}
