//! bot-bottle supervise, host side: every bottle's requests for more access, answered by the
//! operator.
//!
//! A bottle's sidecar files an agent's `request-egress` as a proposal in the bottle's supervise
//! folder (`state/<identity>/supervise/`, [`bb_contract::supervise`]); [`Supervise::sync`]
//! imports every bottle's proposals into the store ([`store`], `~/.bot-bottle/bot-bottle.db`)
//! and [`Supervise::approve`] / [`Supervise::reject`] answer one: the route goes into the
//! bottle's routes file first (written whole, then renamed), then the decision file the sidecar
//! waits for, then the decision row, all under the store's write lock. Every step can be
//! repeated: a proposal read twice is stored once, a decision file found without its row (a
//! crash in between) is recorded at the next sync, a route granted twice is in the file once.
//!
//! The agent has no way here: its container sees neither the store nor any supervise folder,
//! and a sidecar sees only its own bottle's.

pub mod grant;
pub mod store;

mod operator;

pub use grant::Scope;
pub use operator::{Supervise, SyncReport};

use std::path::{Path, PathBuf};

/// Why an operator's action failed. [`Error::is_input`] ones are the operator's to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no proposal `{0}` (bot-bottle supervise --once lists the pending ones)")]
    NoSuchProposal(String),
    #[error("proposal {0} was already answered ({1})")]
    AlreadyDecided(String, &'static str),
    #[error("proposal {0} expired at {1}: the agent stopped waiting; it can ask again")]
    Expired(String, String),
    #[error("{0}")]
    BadRoute(String),
    #[error("the store {0}: {1}")]
    Store(PathBuf, rusqlite::Error),
    #[error("the store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Routes(PathBuf, String),
}

impl Error {
    fn store(path: &Path, e: rusqlite::Error) -> Error {
        Error::Store(path.to_path_buf(), e)
    }

    /// Whether the operator named something wrong (exit status 2) rather than a failure.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::NoSuchProposal(_)
                | Error::AlreadyDecided(..)
                | Error::Expired(..)
                | Error::BadRoute(_)
        )
    }
}
