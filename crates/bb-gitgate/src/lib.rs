//! The bottle's git gate, run inside the sidecar container.
//!
//! `serve` keeps one bare mirror per declared repo under its root and runs stock `git daemon`
//! in front of them (export-all, receive-pack enabled, informative errors). git daemon calls
//! `access-hook` for every connection: a fetch first refreshes the mirror from upstream and is
//! denied when upstream cannot be reached; a push is allowed through to each mirror's
//! `pre-receive` hook, which scans exactly the pushed range for secrets and, when clean,
//! forwards the updates upstream over SSH with the repo's key and pinned host key. See
//! `../shared/spec/sidecar.md`, "Git gate".

pub mod config;
pub mod detect;
pub mod events;
pub mod hooks;
pub mod mirror;
pub mod rules;
pub mod run;
pub mod scan;
pub mod serve;
pub mod ssh;

pub use config::{GateConfig, Paths};
