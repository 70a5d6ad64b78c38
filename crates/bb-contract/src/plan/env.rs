//! The agent's environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The agent's environment: literal values, and names of secrets resolved at launch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvPlan {
    /// Literal values (not secrets); also written to the 0600 env file.
    pub literal: BTreeMap<String, String>,
    /// The 0600 env file holding the literals.
    pub literal_file: PathBuf,
    /// Values copied from the host environment at launch (`"${HOST_VAR}"`).
    pub host: Vec<HostEnv>,
    /// Values asked on the terminal at launch (`"?"` or `"?Prompt"`).
    pub prompted: Vec<PromptedEnv>,
}

/// A variable whose value is copied from the host environment at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostEnv {
    pub name: String,
    pub host_var: String,
}

/// A variable whose value is asked on the terminal at launch, never echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromptedEnv {
    pub name: String,
    /// The question to show; absent means `NAME: `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}
