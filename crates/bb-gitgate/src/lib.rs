//! The bottle's git gate, run inside the sidecar container.
//!
//! `serve` keeps one bare mirror per declared repo under its root and runs its own git://
//! front end in front of them ([`daemon`], [`pkt`]): it reads the client's first pkt-line,
//! accepts only `git-upload-pack`/`git-receive-pack` of `/NAME.git` for a declared repo and
//! ignores `host=` (nothing is resolved or run on the client's behalf). A fetch first refreshes
//! the mirror from upstream, coalesced with concurrent fetches ([`flight`]), and is refused
//! when upstream cannot be reached. A push contacts nothing upstream until each mirror's
//! `pre-receive` hook ([`hooks`]) has judged it: only branches and tags, no deletion, forced
//! update or CI change unless the bottle allows it ([`policy`]), no secret in the content or
//! names of exactly the pushed range ([`scan`]); only then are the updates forwarded upstream
//! over SSH with the repo's key and pinned host key. See `../shared/spec/sidecar.md`,
//! "Git gate".

pub mod agent;
pub mod changes;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod diff;
pub mod events;
pub mod flight;
pub mod groups;
pub mod hookd;
pub mod hooks;
pub mod mirror;
pub mod objects;
pub mod pkt;
pub mod policy;
pub mod run;
pub mod scan;
pub mod serve;
pub mod ssh;

pub use config::{GateConfig, Paths};
