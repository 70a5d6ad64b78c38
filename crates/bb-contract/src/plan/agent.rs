//! The agent, its provider and its bottles.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The agent being launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentPlan {
    pub name: String,
    /// The agent file that was used.
    pub source: PathBuf,
    /// `home` (`~/.bot-bottle/agents/`) or `cwd` (shipped by the repo in the working directory).
    pub origin: Origin,
    /// The home file of the same name that the working directory's file replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadows: Option<PathBuf>,
    /// The prompt (the agent file's body) written to the state dir, mode 0600.
    pub prompt_file: PathBuf,
    pub skills: Vec<SkillPlan>,
}

/// Where a manifest file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Home,
    Cwd,
}

/// A skill folder copied into the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkillPlan {
    pub name: String,
    /// `~/.claude/skills/<name>/` on the host.
    pub host_path: PathBuf,
}

/// A bottle that contributed to the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BottleRef {
    pub name: String,
    pub source: PathBuf,
}

/// The agent provider (Claude Code or Codex) and its image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderPlan {
    pub template: Template,
    /// The agent command, run by `bb-exec` inside the agent container.
    pub command: Vec<String>,
    /// Arguments that switch every permission prompt off (the bottle is the boundary).
    pub bypass_args: Vec<String>,
    /// Arguments that continue the previous conversation on `resume`.
    pub resume_args: Vec<String>,
    /// Arguments that pass the prompt file; `{prompt_file}` stands for its path in the container.
    pub prompt_args: Vec<String>,
    /// Arguments for one non-interactive turn; `{prompt}` stands for the text.
    pub headless_args: Vec<String>,
    /// Arguments for one non-interactive turn that continues the previous conversation.
    #[serde(default)]
    pub headless_resume_args: Vec<String>,
    /// `agent_provider.startup_args`, appended to the command.
    pub startup_args: Vec<String>,
    /// Image tag the agent container runs.
    pub image: String,
    /// A custom Dockerfile; absent means the built-in one of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<PathBuf>,
    /// The base image build argument given to the Dockerfile.
    pub base_image: BuildArg,
    /// Host env var holding the Claude OAuth token (claude only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Host env var holding the provider's API key (Anthropic or OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Read the host's `~/.codex/auth.json` (codex only).
    pub forward_host_credentials: bool,
    /// The provider may fetch URLs the agent names (`agent_provider.remote_fetch`).
    #[serde(default)]
    pub remote_fetch: bool,
    /// The pinned wheel the built-in Dockerfile takes the CLI from (absent for a custom one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<CliWheel>,
    /// Build the agent image even when its tag exists (`--rebuild`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuild: bool,
}

/// Agent provider template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    Claude,
    Codex,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Claude => "claude",
            Template::Codex => "codex",
        }
    }
}

/// A Docker build argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildArg {
    pub name: String,
    pub value: String,
}

/// The wheel a built-in image installs, as the plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CliWheel {
    /// PyPI distribution and version (`claude-agent-sdk==0.2.184`).
    pub package: String,
    pub version: String,
    /// The CLI's own version, for display.
    pub cli_version: String,
    /// The wheel's file name and its pinned SHA-256 (lowercase hex).
    pub file: String,
    pub sha256: String,
    /// Executables copied into `/usr/local/bin`: (path inside the wheel, name).
    pub files: Vec<(String, String)>,
}
