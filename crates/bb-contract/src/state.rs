//! `state/<identity>/metadata.json`: what `bb-plan` records for `resume`, `list` and `cleanup`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::RuntimeName;

/// The sidecar's routes inside a bottle's state folder (the plan's `egress` section as JSON;
/// an approval of the operator adds to it).
pub const ROUTES_FILE: &str = "egress/routes.json";
/// The git gate's configuration (`repos.json`), written at launch.
pub const GATE_CONFIG_FILE: &str = "git-gate/repos.json";
/// The supervise folder's name inside a bottle's state folder.
pub const SUPERVISE_DIR: &str = "supervise";

/// The file's name inside a bottle's state folder.
pub const METADATA_FILE: &str = "metadata.json";

/// The content of `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "bot-bottle state metadata")]
pub struct Metadata {
    /// The plan schema the bottle was planned with (`bot-bottle.plan/v1`).
    pub schema: String,
    pub identity: String,
    pub agent: String,
    /// The bottles merged into the plan, by name.
    pub bottles: Vec<String>,
    /// The folder `bot-bottle start` ran in.
    pub cwd: PathBuf,
    /// The host folder copied into the agent (`--cwd`).
    pub workspace: Option<PathBuf>,
    pub label: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub compose_project: String,
    pub runtime: RuntimeName,
}
