//! The plan: one JSON object piped between the bb-* tools, versioned `bot-bottle.plan/v1`.
//!
//! One module per part of the plan (re-exported here, so every type is `plan::Name`); the
//! generated JSON Schema (`docs/plan.schema.json`) and its drift test cover them all.
//!
//! The plan holds **names** of secrets, never values: literal env values (which are not
//! secrets) are the only values it carries. Stages add their own optional section (`network`,
//! `ca`, `compose`, `provision`); a tool that needs an earlier stage's section refuses the plan
//! with exit status 2 and says which tool to run first.
//!
//! Unknown top-level keys are kept (see [`Plan::extra`]) so a plan written by a newer minor
//! version passes unchanged through an older tool.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::InputError;

mod agent;
mod egress;
mod env;
mod git_gate;
mod runtime;
mod stages;

pub use agent::*;
pub use egress::*;
pub use env::*;
pub use git_gate::*;
pub use runtime::*;
pub use stages::*;

/// The schema name and version this build writes.
pub const SCHEMA: &str = "bot-bottle.plan/v1";
/// The only major version this build reads.
pub const SCHEMA_MAJOR: u64 = 1;
const SCHEMA_PREFIX: &str = "bot-bottle.plan/v";

/// The launch plan of one bottle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "bot-bottle plan v1")]
pub struct Plan {
    /// Always `bot-bottle.plan/v1` for this version.
    pub schema: String,
    /// Unique name of this bottle: agent slug, `-`, five random base36 characters.
    pub identity: String,
    /// Free text the operator attached with `--label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the plan was made (RFC 3339, UTC).
    pub created_at: String,
    pub agent: AgentPlan,
    /// The bottles that were merged, root of the first chain first.
    pub bottles: Vec<BottleRef>,
    pub provider: ProviderPlan,
    pub runtime: RuntimePlan,
    /// What the agent container may use: processes, memory, CPUs.
    #[serde(default)]
    pub limits: ResourceLimits,
    pub env: EnvPlan,
    pub egress: EgressPlan,
    pub git_gate: GitGatePlan,
    /// `~/.bot-bottle/state/<identity>` (mode 0700).
    pub state_dir: PathBuf,
    /// The host folder copied into the agent, when `--cwd` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspacePlan>,
    /// Added by `bb-net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPlan>,
    /// Added by `bb-ca`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaPlan>,
    /// Added by `bb-compose render` / `up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposePlan>,
    /// Added by `bb-kube apply` (a bottle on Kubernetes has no `network` or `compose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<KubePlan>,
    /// Added by `bb-provision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<ProvisionPlan>,
    /// Keys from newer minor versions, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Plan {
    /// Parses a plan, refusing other schemas and newer major versions with an input error.
    pub fn from_json(text: &str) -> Result<Plan, InputError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
            InputError::new(format!("the plan is not valid JSON ({err})"))
                .fix("pipe the output of bb-plan or an earlier stage")
        })?;
        check_schema(&value)?;
        serde_json::from_value(value).map_err(|err| {
            InputError::new(format!("the plan does not match {SCHEMA} ({err})"))
                .fix("regenerate it with bb-plan")
        })
    }

    /// The compose project name of this bottle.
    pub fn compose_project(&self) -> String {
        compose_project(&self.identity)
    }

    /// The `network` section, or an input error saying to run `bb-net` first.
    pub fn network(&self) -> Result<&NetworkPlan, InputError> {
        self.network
            .as_ref()
            .ok_or_else(|| missing_stage("network", "bb-net"))
    }

    /// The `ca` section, or an input error saying to run `bb-ca` first.
    pub fn ca(&self) -> Result<&CaPlan, InputError> {
        self.ca.as_ref().ok_or_else(|| missing_stage("ca", "bb-ca"))
    }

    /// The `compose` section of a project that is up, or an input error.
    pub fn compose_up(&self) -> Result<&ComposePlan, InputError> {
        self.compose
            .as_ref()
            .filter(|c| c.up)
            .ok_or_else(|| missing_stage("compose", "bb-compose up"))
    }
}

fn missing_stage(section: &str, tool: &str) -> InputError {
    InputError::new(format!("the plan has no `{section}` section"))
        .key(section)
        .fix(format!(
            "run {tool} first, for example `bb-plan AGENT | bb-net | bb-ca | bb-compose up | …`"
        ))
}

/// `bot-bottle-<identity>`: the compose project and the prefix of every Docker resource.
pub fn compose_project(identity: &str) -> String {
    format!("bot-bottle-{identity}")
}

/// The major version of a plan schema name (`bot-bottle.plan/v1` -> 1); files written with the
/// same major version as [`SCHEMA_MAJOR`] are readable.
pub fn schema_major(schema: &str) -> Option<u64> {
    schema
        .strip_prefix(SCHEMA_PREFIX)
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse::<u64>().ok())
}

fn check_schema(value: &serde_json::Value) -> Result<(), InputError> {
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .ok_or_else(|| {
            InputError::new("the input has no `schema` key, so it is not a bot-bottle plan")
                .key("schema")
                .fix("pipe the output of bb-plan or an earlier stage")
        })?;
    let major = schema_major(schema).ok_or_else(|| {
        InputError::new(format!("unknown plan schema `{schema}`"))
            .key("schema")
            .fix(format!("this tool reads {SCHEMA}"))
    })?;
    if major > SCHEMA_MAJOR {
        return Err(InputError::new(format!(
            "the plan uses schema `{schema}`, newer than this tool's {SCHEMA}"
        ))
        .key("schema")
        .fix("upgrade bot-bottle so every stage understands the plan"));
    }
    if major < SCHEMA_MAJOR {
        return Err(InputError::new(format!(
            "the plan uses schema `{schema}`, older than this tool's {SCHEMA}"
        ))
        .key("schema")
        .fix("make a new plan with bb-plan"));
    }
    Ok(())
}

/// The JSON Schema of [`Plan`], as checked into `docs/plan.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan)).expect("schema serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_newer_major_version() {
        let err = Plan::from_json(r#"{"schema":"bot-bottle.plan/v2","identity":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(err.to_string().contains("upgrade bot-bottle"), "{err}");
    }

    #[test]
    fn refuses_foreign_json() {
        let err = Plan::from_json(r#"{"hello":1}"#).unwrap_err();
        assert!(err.to_string().contains("not a bot-bottle plan"), "{err}");
        let err = Plan::from_json(r#"{"schema":"other/v1"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown plan schema"), "{err}");
        let err = Plan::from_json("not json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn minor_versions_of_v1_are_read() {
        let value = serde_json::json!({"schema": "bot-bottle.plan/v1.3"});
        assert!(check_schema(&value).is_ok());
    }
}
