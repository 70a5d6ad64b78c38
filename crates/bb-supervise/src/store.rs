//! The operator's store: `~/.bot-bottle/bot-bottle.db` (SQLite), every bottle's proposals and
//! every decision, kept. The schema is versioned by `PRAGMA user_version` and brought up to
//! date by [`MIGRATIONS`] when the store opens, each step in one transaction.

use std::path::Path;
use std::time::Duration;

use bb_contract::supervise::{EgressRequest, Hold, Proposal};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::Error;

/// The file's name in bot-bottle's home.
pub const DB_FILE: &str = "bot-bottle.db";

/// Step `n` takes the schema from version `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: proposals as filed, and at most one decision each.
    "CREATE TABLE proposals (
        id          TEXT PRIMARY KEY,
        identity    TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        host        TEXT NOT NULL,
        request     TEXT NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE decisions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        proposal_id TEXT NOT NULL UNIQUE REFERENCES proposals(id),
        verdict     TEXT NOT NULL CHECK (verdict IN ('approved', 'rejected', 'expired')),
        reason      TEXT,
        route       TEXT,
        decided_at  TEXT NOT NULL,
        operator    TEXT NOT NULL
    );
    CREATE INDEX proposals_by_time ON proposals(created_at);",
    // 2: a request the proxy holds (`on_match: supervise`): the rule and where it matched.
    "ALTER TABLE proposals ADD COLUMN hold TEXT;",
];

/// What became of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Rejected,
    /// Nobody answered before the agent stopped waiting.
    Expired,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Outcome {
        match text {
            "approved" => Outcome::Approved,
            "rejected" => Outcome::Rejected,
            _ => Outcome::Expired,
        }
    }
}

/// A proposal of one bottle, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stored {
    pub identity: String,
    #[serde(flatten)]
    pub proposal: Proposal,
}

/// A decision row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecisionRow {
    pub proposal_id: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub route: Option<serde_json::Value>,
    pub decided_at: String,
    pub operator: String,
}

pub struct Store {
    conn: Connection,
}

/// How long an opener or a decider waits for another one.
const BUSY_WAIT: Duration = Duration::from_secs(10);

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Store {
    /// Opens (creating it, 0600 in a 0700 folder) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        let conn = Connection::open(path).map_err(|e| Error::store(path, e))?;
        restrict(path)?;
        conn.busy_timeout(BUSY_WAIT)
            .map_err(|e| Error::store(path, e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| Error::store(path, e))?;
        let mut store = Store { conn };
        store.wal().map_err(|e| Error::store(path, e))?;
        store.migrate().map_err(|e| Error::store(path, e))?;
        Ok(store)
    }

    /// Puts the store in WAL mode (kept in the file: later opens find it so). Switching takes
    /// the whole file, and SQLite answers `SQLITE_BUSY` at once, without its busy handler,
    /// while another opener migrates: retried here for as long as the busy timeout.
    fn wal(&self) -> rusqlite::Result<()> {
        let started = std::time::Instant::now();
        loop {
            let mode = self
                .conn
                .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0));
            let set = match mode {
                Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
                Ok(_) => self.conn.pragma_update(None, "journal_mode", "WAL"),
                Err(e) => Err(e),
            };
            match set {
                Ok(()) => return Ok(()),
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The schema version now.
    pub fn version(&self) -> rusqlite::Result<usize> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    fn migrate(&mut self) -> rusqlite::Result<()> {
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let Some(step) = usize::try_from(version)
                .ok()
                .and_then(|v| MIGRATIONS.get(v))
            else {
                return tx.commit();
            };
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
    }

    /// Adds a proposal unless the store has it (a proposal read twice is stored once).
    /// Returns whether it was new.
    pub fn insert(&self, identity: &str, p: &Proposal, now: &str) -> rusqlite::Result<bool> {
        let request = serde_json::to_string(&p.request).unwrap_or_default();
        let hold = p.hold.as_ref().and_then(|h| serde_json::to_string(h).ok());
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO proposals
                 (id, identity, created_at, expires_at, host, request, imported_at, hold)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                p.id,
                identity,
                p.created_at,
                p.expires_at,
                p.request.host,
                request,
                now,
                hold
            ],
        )?;
        Ok(n == 1)
    }

    /// A stored proposal by id.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Stored>> {
        self.conn
            .query_row(
                "SELECT id, identity, created_at, expires_at, request, hold FROM proposals WHERE id = ?1",
                [id],
                row_to_stored,
            )
            .optional()
    }

    /// The ids of stored proposals that start with `prefix`.
    pub fn ids_starting(&self, prefix: &str) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM proposals WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id")?;
        stmt.query_map([prefix], |r| r.get(0))?.collect()
    }

    /// Proposals without a decision, oldest first.
    pub fn undecided(&self) -> rusqlite::Result<Vec<Stored>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.id, p.identity, p.created_at, p.expires_at, p.request, p.hold FROM proposals p
             WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.proposal_id = p.id)
             ORDER BY p.created_at, p.id",
        )?;
        stmt.query_map([], row_to_stored)?.collect()
    }

    /// The decision on a proposal, if any.
    pub fn decision(&self, id: &str) -> rusqlite::Result<Option<DecisionRow>> {
        self.conn
            .query_row(
                "SELECT proposal_id, verdict, reason, route, decided_at, operator
                 FROM decisions WHERE proposal_id = ?1",
                [id],
                row_to_decision,
            )
            .optional()
    }

    /// Every decision, oldest first (the audit).
    pub fn decisions(&self) -> rusqlite::Result<Vec<DecisionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT proposal_id, verdict, reason, route, decided_at, operator
             FROM decisions ORDER BY seq",
        )?;
        stmt.query_map([], row_to_decision)?.collect()
    }

    /// Runs `f` in a write transaction (one decider at a time, across processes).
    pub fn exclusive<T>(&mut self, f: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, Error> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::Sql)?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(Error::Sql)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Records the decision on proposal `id` (once: a second one is refused by the schema).
    pub fn record(&self, row: &DecisionRow) -> rusqlite::Result<()> {
        let route = row.route.as_ref().map(|r| r.to_string());
        self.conn.execute(
            "INSERT INTO decisions (proposal_id, verdict, reason, route, decided_at, operator)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                row.proposal_id,
                row.outcome.as_str(),
                row.reason,
                route,
                row.decided_at,
                row.operator
            ],
        )?;
        Ok(())
    }
}

fn row_to_stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let request: String = r.get(4)?;
    let request: EgressRequest = serde_json::from_str(&request).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let hold: Option<String> = r.get(5)?;
    let hold: Option<Hold> = hold
        .map(|h| serde_json::from_str(&h))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok(Stored {
        identity: r.get(1)?,
        proposal: Proposal {
            id: r.get(0)?,
            created_at: r.get(2)?,
            expires_at: r.get(3)?,
            request,
            hold,
        },
    })
}

fn row_to_decision(r: &rusqlite::Row<'_>) -> rusqlite::Result<DecisionRow> {
    let route: Option<String> = r.get(3)?;
    Ok(DecisionRow {
        proposal_id: r.get(0)?,
        outcome: Outcome::parse(&r.get::<_, String>(1)?),
        reason: r.get(2)?,
        route: route.and_then(|t| serde_json::from_str(&t).ok()),
        decided_at: r.get(4)?,
        operator: r.get(5)?,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Io(dir.to_path_buf(), e))
}

fn restrict(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::Io(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests;
