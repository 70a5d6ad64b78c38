//! The operator's actions over every bottle: import the proposals, answer one.

use std::path::{Path, PathBuf};

use bb_contract::plan::Route;
use bb_contract::state::{ROUTES_FILE, SUPERVISE_DIR};
use bb_contract::supervise::{self, Decision, Hold, PROPOSALS, Proposal, Verdict};
use time::OffsetDateTime;

use crate::Error;
use crate::grant::{self, Scope};
use crate::store::{DB_FILE, DecisionRow, Outcome, Store, Stored};

/// What [`Supervise::sync`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Proposals stored for the first time.
    pub new: usize,
    /// Decisions found as files and recorded (a decider stopped between the two).
    pub recovered: usize,
    /// Proposals nobody answered in time, recorded as expired.
    pub expired: usize,
    /// Files that are no proposal (named, not read further).
    pub skipped: Vec<PathBuf>,
}

/// The store and every bottle's state, with what tells a bottle's sidecar to reload.
pub struct Supervise {
    store: Store,
    state_root: PathBuf,
    operator: String,
}

impl Supervise {
    /// The store in bot-bottle's `home` over the bottles of `state_root`.
    pub fn open(home: &Path, state_root: &Path) -> Result<Supervise, Error> {
        let operator = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "operator".into());
        Ok(Supervise {
            store: Store::open(&home.join(DB_FILE))?,
            state_root: state_root.to_path_buf(),
            operator,
        })
    }

    /// The state folder whose bottles' supervise folders this reads.
    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Imports every bottle's proposals, records the decisions found as files but not in the
    /// store, and the proposals that expired unanswered.
    pub fn sync(&mut self) -> Result<SyncReport, Error> {
        let now = supervise::now();
        let mut report = SyncReport::default();
        for (identity, path) in proposal_files(&self.state_root) {
            match read_proposal(&path) {
                Some(p) => report.new += usize::from(self.store.insert(&identity, &p, &now)?),
                None => report.skipped.push(path),
            }
        }
        let root = self.state_root.clone();
        let operator = self.operator.clone();
        self.store.exclusive(|s| {
            for stored in s.undecided()? {
                let dir = supervise_dir(&root, &stored.identity);
                let path = supervise::decision_path(&dir, &stored.proposal.id);
                let found = supervise::read_whole::<Decision>(&path).ok().flatten();
                if let Some(d) = found.filter(|d| d.id == stored.proposal.id) {
                    s.record(&row_of(&d, &operator))?;
                    report.recovered += 1;
                } else if stored.proposal.expires_at <= now {
                    s.record(&DecisionRow {
                        proposal_id: stored.proposal.id.clone(),
                        outcome: Outcome::Expired,
                        reason: Some("no answer before the agent stopped waiting".into()),
                        route: None,
                        decided_at: now.clone(),
                        operator: operator.clone(),
                    })?;
                    report.expired += 1;
                }
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Proposals waiting for an answer, oldest first (after [`Supervise::sync`]).
    pub fn pending(&self) -> Result<Vec<Stored>, Error> {
        let now = supervise::now();
        Ok(self
            .store
            .undecided()?
            .into_iter()
            .filter(|s| s.proposal.expires_at > now)
            .collect())
    }

    /// Approves proposal `id` for `scope` with the route it asked for, or `edited` in its
    /// place: the route goes into the bottle's routes file, then the decision file, then the
    /// row. Returns the decision (its route is the one in force for the host).
    pub fn approve(
        &mut self,
        id: &str,
        edited: Option<Route>,
        scope: Scope,
    ) -> Result<Decision, Error> {
        let edited = edited
            .map(supervise::check_route)
            .transpose()
            .map_err(Error::BadRoute)?;
        self.answer(id, |stored, dir| {
            let routes = dir
                .parent()
                .map(|state| state.join(ROUTES_FILE))
                .unwrap_or_default();
            let in_force = match &stored.proposal.hold {
                Some(hold) => release(&routes, hold, edited.is_some(), scope)?,
                None => {
                    let mut route = edited.unwrap_or_else(|| stored.proposal.request.to_route());
                    route.grant = scope.grant(&stored.proposal.id, OffsetDateTime::now_utc());
                    Some(grant::grant(&routes, route)?)
                }
            };
            Ok(Decision {
                id: stored.proposal.id.clone(),
                verdict: Verdict::Approved,
                reason: None,
                route: in_force,
                decided_at: supervise::now(),
            })
        })
    }

    /// Rejects proposal `id`; the agent is told `reason`.
    pub fn reject(&mut self, id: &str, reason: &str) -> Result<Decision, Error> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::BadRoute(
                "a rejection needs a reason (the agent is told it)".into(),
            ));
        }
        self.answer(id, |stored, _| {
            Ok(Decision {
                id: stored.proposal.id.clone(),
                verdict: Verdict::Rejected,
                reason: Some(reason.to_string()),
                route: None,
                decided_at: supervise::now(),
            })
        })
    }

    /// The one stored proposal whose id starts with `prefix` (4 characters or more).
    pub fn resolve(&self, prefix: &str) -> Result<String, Error> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NoSuchProposal(prefix));
        }
        let ids = self.store.ids_starting(&prefix)?;
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(Error::NoSuchProposal(prefix)),
            _ => Err(Error::BadRoute(format!(
                "`{prefix}` starts {} proposals; give more of the id",
                ids.len()
            ))),
        }
    }

    /// The identity of proposal `id`'s bottle.
    pub fn identity_of(&self, id: &str) -> Result<String, Error> {
        Ok(self
            .store
            .get(id)?
            .ok_or_else(|| Error::NoSuchProposal(id.to_string()))?
            .identity)
    }

    fn answer(
        &mut self,
        id: &str,
        decide: impl FnOnce(&Stored, &Path) -> Result<Decision, Error>,
    ) -> Result<Decision, Error> {
        let root = self.state_root.clone();
        let operator = self.operator.clone();
        self.store.exclusive(|s| {
            let stored = s
                .get(id)?
                .ok_or_else(|| Error::NoSuchProposal(id.to_string()))?;
            if let Some(d) = s.decision(id)? {
                return Err(Error::AlreadyDecided(id.to_string(), d.outcome.as_str()));
            }
            if stored.proposal.expires_at <= supervise::now() {
                return Err(Error::Expired(
                    id.to_string(),
                    stored.proposal.expires_at.clone(),
                ));
            }
            let dir = supervise_dir(&root, &stored.identity);
            let routes = root.join(&stored.identity).join(ROUTES_FILE);
            let before = std::fs::read(&routes).ok();
            let decision = decide(&stored, &dir)?;
            let path = supervise::decision_path(&dir, id);
            if let Err(e) = supervise::write_whole(&path, &decision) {
                // No answer reached the bottle: the route must not stay either.
                if let Some(bytes) = &before {
                    grant::restore(&routes, bytes);
                }
                return Err(Error::Io(path.clone(), e));
            }
            // From here the decision file stands; a row that fails is recorded by the next sync.
            s.record(&row_of(&decision, &operator))?;
            Ok(decision)
        })
    }
}

/// What releasing a held request changes: nothing for one request, the rule released on its
/// route for the bottle's life (the route returned). It has no route to edit and no minutes.
fn release(routes: &Path, hold: &Hold, edited: bool, scope: Scope) -> Result<Option<Route>, Error> {
    if edited {
        return Err(Error::BadRoute(
            "a held request has no route to edit: release it once or for the bottle's life, or reject it".into(),
        ));
    }
    match scope {
        Scope::Once => Ok(None),
        Scope::Life => grant::release(routes, &hold.route, &hold.rule).map(Some),
        Scope::Minutes(_) => Err(Error::BadRoute(
            "a held request is released once or for the bottle's life (--grant once or life)"
                .into(),
        )),
    }
}

fn row_of(d: &Decision, operator: &str) -> DecisionRow {
    DecisionRow {
        proposal_id: d.id.clone(),
        outcome: match d.verdict {
            Verdict::Approved => Outcome::Approved,
            Verdict::Rejected => Outcome::Rejected,
        },
        reason: d.reason.clone(),
        route: d.route.as_ref().and_then(|r| serde_json::to_value(r).ok()),
        decided_at: d.decided_at.clone(),
        operator: operator.to_string(),
    }
}

fn supervise_dir(state_root: &Path, identity: &str) -> PathBuf {
    state_root.join(identity).join(SUPERVISE_DIR)
}

/// Every `state/<identity>/supervise/proposals/<id>.json`.
fn proposal_files(state_root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(bottles) = std::fs::read_dir(state_root) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for bottle in bottles.flatten() {
        let identity = bottle.file_name().to_string_lossy().into_owned();
        let dir = bottle.path().join(SUPERVISE_DIR).join(PROPOSALS);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.starts_with('.') {
                files.push((identity.clone(), entry.path()));
            }
        }
    }
    files.sort();
    files
}

/// A proposal file whose name is its id and which is in its accepted form (the sidecar
/// checked it; the host checks again what it will show the operator).
fn read_proposal(path: &Path) -> Option<Proposal> {
    let p: Proposal = supervise::read_whole(path).ok()??;
    let stem = path.file_stem()?.to_string_lossy();
    (p.is_well_formed() && p.id == stem).then_some(p)
}

#[cfg(test)]
mod tests;
