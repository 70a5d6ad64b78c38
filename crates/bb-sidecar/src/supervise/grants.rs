//! The limits of the operator's grants ([`bb_contract::plan::Grant`]): a route granted for a
//! number of requests is refused once they are used, and one granted until a time is gone from
//! the live table after it ([`RouteTable::find`] skips it at once; [`prune`] drops it from the
//! table within a second). Uses are counted here and kept as files (`used/<grant id>` in the
//! supervise folder), so a reload of the routes file or a restart of the sidecar does not give
//! a used grant back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bb_contract::plan::Grant;
use bb_contract::supervise::USED;

use crate::config::SharedRoutes;
use crate::log::Log;

/// Uses of the grants, counted.
#[derive(Default)]
pub struct Grants {
    used: Mutex<HashMap<String, u32>>,
    /// Where counts are kept (`None`: in memory only).
    dir: Option<PathBuf>,
}

impl Grants {
    /// Counts kept in `<supervise>/used/`, read back from there.
    pub fn kept_in(supervise: PathBuf) -> Grants {
        let dir = supervise.join(USED);
        let mut used = HashMap::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let count = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| t.trim().parse().ok());
            if let (true, Some(count)) = (bb_contract::supervise::is_id(&id), count) {
                used.insert(id, count);
            }
        }
        Grants {
            used: Mutex::new(used),
            dir: Some(dir),
        }
    }

    /// Counts one use of `grant`, or says why it is refused: its requests are used up.
    pub fn take(&self, grant: &Grant, host: &str) -> Result<(), String> {
        let Some(limit) = grant.uses else {
            return Ok(());
        };
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let count = used.entry(grant.id.clone()).or_default();
        if *count >= limit {
            return Err(format!(
                "the operator's grant of {host} for {limit} request(s) is used up; ask again with request-egress"
            ));
        }
        *count += 1;
        self.keep(&grant.id, *count);
        Ok(())
    }

    /// Whether `grant`'s requests are all used.
    pub fn used_up(&self, grant: &Grant) -> bool {
        grant.uses.is_some_and(|limit| {
            let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            used.get(&grant.id).copied().unwrap_or(0) >= limit
        })
    }

    fn keep(&self, id: &str, count: u32) {
        if let Some(dir) = &self.dir
            && bb_contract::supervise::is_id(id)
        {
            let _ = bb_contract::supervise::write_whole(&dir.join(id), &count);
        }
    }
}

/// Whether `grant` has ended at `now` (RFC 3339): past its time or used up.
pub fn ended(grant: &Grant, now: &str, grants: &Grants) -> bool {
    grant.expired(now) || grants.used_up(grant)
}

/// Drops the routes whose grant ended from the live table, every second, until the process
/// ends; each drop is logged.
pub async fn prune(routes: SharedRoutes, grants: std::sync::Arc<Grants>, log: Log) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = bb_contract::supervise::now();
        let table = routes.current();
        let ended: Vec<String> = table
            .routes()
            .iter()
            .filter(|r| r.grant.as_ref().is_some_and(|g| ended(g, &now, &grants)))
            .map(|r| r.host.clone())
            .collect();
        if ended.is_empty() {
            continue;
        }
        if !routes.replace_if(&table, table.without_hosts(&ended)) {
            continue; // reloaded meanwhile: judged again on the next tick
        }
        log.event(
            "supervise",
            true,
            &format!("the operator's grant ended for {}", ended.join(", ")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(uses: Option<u32>, expires_at: Option<&str>) -> Grant {
        Grant {
            id: "0123456789abcdef0123456789abcdef".into(),
            expires_at: expires_at.map(str::to_string),
            uses,
        }
    }

    #[test]
    fn a_grant_for_one_request_allows_one_even_across_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let once = grant(Some(1), None);
        let grants = Grants::kept_in(tmp.path().to_path_buf());
        assert!(!grants.used_up(&once));
        grants.take(&once, "docs.rs").unwrap();
        assert!(grants.used_up(&once));
        let err = grants.take(&once, "docs.rs").unwrap_err();
        assert!(err.contains("used up"), "{err}");

        let restarted = Grants::kept_in(tmp.path().to_path_buf());
        assert!(restarted.used_up(&once), "the count survives a restart");
        assert!(restarted.take(&once, "docs.rs").is_err());
        assert!(Grants::default().take(&grant(None, None), "x").is_ok());
    }

    #[test]
    fn a_timed_grant_ends_at_its_time() {
        let g = grant(None, Some("2026-12-07T10:30:00Z"));
        let grants = Grants::default();
        assert!(!ended(&g, "2026-12-07T10:29:59Z", &grants));
        assert!(ended(&g, "2026-12-07T10:30:00Z", &grants));
    }
}
