//! The sidecar's files that change while a bottle runs, carried through the engine (which may
//! be another machine, so nothing is bind-mounted) or, for a bottle on a cluster, through
//! `kubectl exec`: the routes file (`reload`, `supervise`) and the supervise folder's
//! proposals (out) and decisions (in). The state folder on the launcher stays the operator's
//! side of both.

use std::path::{Path, PathBuf};

use anyhow::Result;
use bb_contract::layout::labels::SIDECAR_ROLE;
use bb_contract::layout::sidecar as in_sidecar;
use bb_contract::state::{ROUTES_FILE, SUPERVISE_DIR};
use bb_contract::supervise::{self, PROPOSALS};
use bb_core::engine_files::FileIn;
use bb_core::sidecar_at::SidecarAt;

/// The sidecar of `identity`: in the namespace its launch recorded, else its container.
pub fn sidecar(identity: &str) -> Result<SidecarAt> {
    let state = crate::bottles::state_dir(identity)?;
    let applied = crate::kube_bottles::recorded(&state)?;
    if applied.is_none() {
        crate::engine_record::check(&state, identity)?;
    }
    Ok(SidecarAt::of(identity, applied.as_ref()))
}

/// Puts the bottle's routes file into its sidecar (which reads it at its next reload).
pub fn push_routes(identity: &str) -> Result<()> {
    let routes = crate::bottles::state_dir(identity)?.join(ROUTES_FILE);
    let file = FileIn::read(&routes, in_sidecar::in_config(in_sidecar::ROUTES))?;
    sidecar(identity)?.put(in_sidecar::CONFIG_DIR, &[], &[file])
}

/// The routes file changed: puts it into the sidecar and sends `SIGHUP` (the proxy reloads
/// it; it also does when it reads an approval for a call still waiting). `false` when the
/// sidecar is not running.
pub fn routes_changed(identity: &str) -> bool {
    push_routes(identity).is_ok() && sidecar(identity).is_ok_and(|s| s.reload())
}

/// Carries an answer into the bottle: the routes file first (the sidecar reads it when it
/// reads the decision), then the decision, then `SIGHUP`. `false` when the sidecar is not
/// running (a route granted takes effect when the bottle is resumed).
pub fn deliver(identity: &str, decision_id: &str) -> bool {
    let sent = || -> Result<()> {
        let dir = crate::bottles::state_dir(identity)?.join(SUPERVISE_DIR);
        let path = supervise::decision_path(&dir, decision_id);
        let name = path.strip_prefix(&dir)?.to_path_buf();
        push_routes(identity)?;
        sidecar(identity)?.put(
            in_sidecar::SUPERVISE_DIR,
            &[],
            &[FileIn::read(&path, name)?],
        )
    };
    sent().is_ok() && sidecar(identity).is_ok_and(|s| s.reload())
}

/// Brings the proposals of every running bottle of `state_root` into its state folder, where
/// [`bb_supervise::Supervise::sync`] reads them (a sidecar of another home on the same engine
/// is not this operator's). Returns the bottles that could not be read.
pub fn fetch_proposals(state_root: &Path) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    // An identity label is the engine's to say: one that is no identity names no folder.
    let ours = running_sidecars(state_root)
        .into_iter()
        .filter(|identity| bb_contract::layout::names::is_identity(identity))
        .filter(|identity| state_root.join(identity).is_dir());
    for identity in ours {
        if let Err(e) = fetch_one(state_root, &identity) {
            failed.push((identity, format!("{e:#}")));
        }
    }
    failed
}

fn fetch_one(state_root: &Path, identity: &str) -> Result<()> {
    let inside = format!("{}/{PROPOSALS}", in_sidecar::SUPERVISE_DIR);
    let Some(files) = sidecar(identity)?.get(&inside)? else {
        return Ok(());
    };
    let dir = state_root
        .join(identity)
        .join(SUPERVISE_DIR)
        .join(PROPOSALS);
    for file in files {
        let Some(name) = proposal_name(&file.path) else {
            continue;
        };
        let host = dir.join(name);
        if std::fs::read(&host).is_ok_and(|b| b == file.bytes) {
            continue;
        }
        bb_core::fsx::write_file(&host, &file.bytes, 0o600)?;
    }
    Ok(())
}

/// A proposal's file name (`<id>.json`, as the sidecar names them); anything else the folder
/// holds (a temporary file, a name that climbs out) is not carried.
fn proposal_name(path: &Path) -> Option<PathBuf> {
    let name = path.to_str()?;
    let id = name.strip_suffix(".json")?;
    supervise::is_id(id).then(|| PathBuf::from(name))
}

/// The bottles whose sidecar runs: containers on the engine, and bottles on a cluster whose
/// launch is still alive.
fn running_sidecars(state_root: &Path) -> Vec<String> {
    let mut running: Vec<String> = crate::bottles::containers()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.running && c.role.as_deref() == Some(SIDECAR_ROLE))
        .filter_map(|c| c.identity)
        .collect();
    let dirs = std::fs::read_dir(state_root)
        .into_iter()
        .flatten()
        .flatten();
    running.extend(
        dirs.filter(|d| matches!(crate::kube_bottles::recorded(&d.path()), Ok(Some(_))))
            .filter(|d| crate::bottles::wrapper_pid(&d.path()).is_some())
            .map(|d| d.file_name().to_string_lossy().into_owned()),
    );
    running
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proposal_files_are_carried() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(supervise::is_id(id));
        assert_eq!(
            proposal_name(Path::new(&format!("{id}.json"))),
            Some(PathBuf::from(format!("{id}.json")))
        );
        for bad in [
            format!(".{id}.json.tmp"),
            format!("../{id}.json"),
            format!("sub/{id}.json"),
            "x.json".to_string(),
        ] {
            assert_eq!(proposal_name(Path::new(&bad)), None, "{bad}");
        }
    }
}
