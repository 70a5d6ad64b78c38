//! bot-bottle's contracts: everything two crates must agree on, typed once.
//!
//! The sidecar and the git gate link this crate and nothing of the host side (docker, progress
//! bars, process helpers live in `bb-core`), as youki keeps `oci-spec` apart from `libcontainer`.
//! - [`plan`]: the versioned JSON plan piped between the tools;
//! - the files beside it, each with a generated, drift-tested JSON Schema under `docs/schemas/`:
//!   [`gate`] (`repos.json`), [`log`] (the decision and event lines), [`state`]
//!   (`metadata.json`), [`ca`] (`ca.json`);
//! - [`layout`]: container paths, ports, names, labels and environment variable names;
//! - [`repo`]: the rules a repo name and a pinned SSH host key follow, for planner and gate;
//! - [`route_host`]: the rule a route's host follows, for planner and supervise;
//! - [`supervise`]: the proposal and decision files between a sidecar and the operator;
//! - [`canary`]: the honeytoken's one format; [`error`]: input errors (exit 2) and the rest.

pub mod ca;
pub mod canary;
pub mod error;
pub mod gate;
pub mod layout;
pub mod log;
pub mod plan;
pub mod repo;
pub mod route_host;
pub mod schemas;
pub mod state;
pub mod supervise;

pub use error::InputError;
pub use plan::Plan;
