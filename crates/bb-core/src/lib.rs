//! The host side of bot-bottle, shared by every stage tool (`bb-plan`, `bb-net`, …) and the
//! `bot-bottle` wrapper (the contracts they exchange are in `bb-contract`, which the sidecar
//! and the gate link alone):
//! - [`stage`]: reading a plan from stdin or `--plan FILE` and writing it to stdout;
//! - [`paths`]: where bot-bottle keeps its files (`$BOT_BOTTLE_HOME`);
//! - [`fsx`]: writing files and folders with the permissions the spec requires;
//! - [`docker`]: locating and running the docker CLI; [`progress`]: progress lines;
//! - [`agent_cli`]: the pinned agent CLIs and the built-in Dockerfiles; [`digest`]: SHA-256.

pub mod agent_cli;
pub mod agent_exec;
pub mod audit;
pub mod digest;
pub mod docker;
pub mod engine_files;
pub mod fsx;
pub mod inspect;
pub mod paths;
pub mod progress;
pub mod sidecar_at;
pub mod signals;
pub mod stage;
