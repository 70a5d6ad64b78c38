//! The OCI runtime and the resource limits of the agent container.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The OCI runtime of the agent container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuntimePlan {
    pub name: RuntimeName,
    /// How the runtime was chosen.
    pub chosen_by: RuntimeChoice,
    /// Why the probe fell back to `runc`, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The agent container's limits, so that one bottle cannot starve the others or the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceLimits {
    /// Most processes and threads at once (`pids_limit`).
    pub processes: u32,
    /// Most memory in bytes, swap included (`mem_limit` = `memswap_limit`).
    pub memory_bytes: u64,
    /// Most CPUs (`cpus`).
    pub cpus: f64,
    /// Which of the three the bottle set (`limits.<key>`); the others are the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_by_bottle: Vec<String>,
}

impl ResourceLimits {
    /// The manifest keys under `limits`.
    pub const KEYS: &'static [&'static str] = &["processes", "memory", "cpus"];
    /// Enough for parallel builds and language servers; a fork bomb stops here.
    pub const DEFAULT_PROCESSES: u32 = 4096;

    /// The defaults on an engine with `cpus` CPUs and `memory` bytes: half the memory, every
    /// CPU but one (one at least).
    pub fn defaults_for(cpus: u32, memory: u64) -> ResourceLimits {
        ResourceLimits {
            processes: Self::DEFAULT_PROCESSES,
            memory_bytes: memory / 2,
            cpus: f64::from(cpus.saturating_sub(1).max(1)),
            set_by_bottle: Vec::new(),
        }
    }
}

impl Default for ResourceLimits {
    /// A plan written before limits existed: processes only.
    fn default() -> ResourceLimits {
        ResourceLimits {
            processes: Self::DEFAULT_PROCESSES,
            memory_bytes: 0,
            cpus: 0.0,
            set_by_bottle: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeName {
    Runc,
    Runsc,
}

impl RuntimeName {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeName::Runc => "runc",
            RuntimeName::Runsc => "runsc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeChoice {
    /// `docker info` was asked.
    Probe,
    /// `--runtime` was given.
    Flag,
}
