//! The shared core of bot-bottle.
//!
//! Every stage tool (`bb-plan`, `bb-net`, …) and the `bot-bottle` wrapper link this crate for:
//! - [`plan`]: the versioned JSON plan piped between the tools (types, schema, version checks);
//! - [`error`]: input errors (exit status 2) versus runtime failures (exit status 1);
//! - [`stage`]: reading a plan from stdin or `--plan FILE` and writing it to stdout;
//! - [`paths`]: where bot-bottle keeps its files (`$BOT_BOTTLE_HOME`);
//! - [`fsx`]: writing files and folders with the permissions the spec requires;
//! - [`docker`]: locating and running the docker CLI; [`layout`]: the sidecar's ports;
//! - [`agent_cli`]: the pinned agent CLIs and the built-in Dockerfiles; [`digest`]: SHA-256.

pub mod agent_cli;
pub mod digest;
pub mod docker;
pub mod error;
pub mod fsx;
pub mod layout;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod stage;

pub use error::InputError;
pub use plan::Plan;
