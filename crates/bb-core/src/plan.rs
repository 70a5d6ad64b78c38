//! The plan: one JSON object piped between the bb-* tools, versioned `bot-bottle.plan/v1`.
//!
//! Over 600 lines because it is the one schema: every section's types sit together so that the
//! generated JSON Schema (`docs/plan.schema.json`) and its drift test cover them in one place;
//! the satellite files' types move beside it in the contracts pass (issue 15).
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
    /// Added by `bb-provision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<ProvisionPlan>,
    /// Keys from newer minor versions, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

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
    pub cli: Option<crate::agent_cli::CliWheel>,
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

/// Egress policy for the sidecar's proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EgressPlan {
    pub routes: Vec<Route>,
    /// Sidecar env names (`EGRESS_TOKEN_1`, …) and where their values come from at launch.
    pub token_slots: Vec<TokenSlot>,
}

/// One allowed host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    /// Lower case; `*.example.com` matches one or more labels below the apex, never the apex.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RouteAuth>,
    /// Empty: every path, method and header passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RouteMatch>,
    pub dlp: Dlp,
    pub tls_passthrough: bool,
    pub private: bool,
    /// `provider` when the provider template added this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    /// A provider's API whose requests must not ask the provider to fetch a URL the agent names
    /// (MCP connectors, web fetch tools, images and files by URL); `None`: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_api: Option<ProviderApi>,
}

/// The request formats the sidecar reads to refuse provider-side fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderApi {
    /// The Messages API (`mcp_servers`, `web_fetch` tools, `source: {type: url}`).
    Anthropic,
    /// The Responses API (`mcp` tools, `image_url`, `file_url`).
    Openai,
}

/// Credential injected by the sidecar on this route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteAuth {
    pub scheme: AuthScheme,
    /// The token slot (sidecar env name) holding the value.
    pub slot: String,
    /// The only port the credential is sent to, always over TLS (443 unless the route says).
    #[serde(default = "https_port")]
    pub port: u16,
}

/// The port a route's credential goes to by default.
pub const HTTPS_PORT: u16 = 443;

fn https_port() -> u16 {
    HTTPS_PORT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AuthScheme {
    Bearer,
    #[serde(rename = "token")]
    Token,
    Basic,
    /// The bare token in an `x-api-key` header (Anthropic's API keys).
    #[serde(rename = "x-api-key")]
    XApiKey,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Bearer => "Bearer",
            AuthScheme::Token => "token",
            AuthScheme::Basic => "Basic",
            AuthScheme::XApiKey => "x-api-key",
        }
    }

    /// The request header the credential goes in.
    pub fn header(self) -> &'static str {
        match self {
            AuthScheme::XApiKey => "x-api-key",
            _ => "authorization",
        }
    }

    /// The header's value for `token`.
    pub fn header_value(self, token: &str) -> String {
        match self {
            AuthScheme::XApiKey => token.to_string(),
            scheme => format!("{} {token}", scheme.as_str()),
        }
    }
}

/// One alternative of a route's `matches`: every given field must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteMatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathMatch>,
    /// Upper case; empty means any method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathMatch {
    #[serde(rename = "type")]
    pub kind: PathMatchKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathMatchKind {
    Prefix,
    Exact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

/// Content scanning on a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dlp {
    /// Empty: outbound scanning off.
    pub outbound: Vec<OutboundDetector>,
    /// Empty: inbound scanning off.
    pub inbound: Vec<InboundDetector>,
    pub on_match: OnMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboundDetector {
    TokenPatterns,
    KnownSecrets,
    Entropy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundDetector {
    Injection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMatch {
    Block,
    Redact,
}

/// A sidecar env variable that receives a token value at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenSlot {
    /// The sidecar env name, `EGRESS_TOKEN_<n>`.
    pub slot: String,
    pub source: TokenSource,
}

/// Where a token slot's value is read at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenSource {
    /// The host environment variable of this name.
    HostEnv { name: String },
    /// The access token in the host's `~/.codex/auth.json`.
    CodexAuthFile { path: PathBuf },
}

/// The git gate: identity and the repos behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitGatePlan {
    pub user: GitUser,
    pub repos: Vec<RepoPlan>,
    /// A gitleaks-format TOML rules file (host path) the gate applies on top of its detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
}

/// The agent's git identity, each field with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Sourced>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Sourced>,
}

/// A value and the manifest file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sourced {
    pub value: String,
    /// `bottle:<name>` or `agent:<name>`.
    pub from: String,
}

/// One repository behind the git gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepoPlan {
    pub name: String,
    /// Normalised upstream URL, `ssh://user@host[:port]/path`.
    pub url: String,
    /// The URL exactly as the manifest wrote it (what the agent's git will use).
    pub url_as_written: String,
    pub ssh_user: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    /// Host path of the SSH private key (mounted read-only into the sidecar only).
    pub key_path: PathBuf,
    /// The pinned host key line used as known_hosts.
    pub host_key: String,
    /// Pushes the gate refuses unless the bottle allows them (`git-gate.repos.<name>.allow`).
    #[serde(default)]
    pub allow: PushAllowance,
}

/// Kinds of push that are refused by default, each allowed per repo by the bottle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushAllowance {
    /// Deleting a branch or tag upstream.
    #[serde(default)]
    pub delete: bool,
    /// Moving a branch or tag to a commit that does not contain its current one.
    #[serde(default)]
    pub force_push: bool,
    /// Changing CI configuration (`.github/workflows/`, `.gitlab-ci.yml`, ...): code that runs
    /// with the repository's own secrets and network.
    #[serde(default)]
    pub ci_config: bool,
}

impl PushAllowance {
    /// The manifest keys under `git-gate.repos.<name>.allow`.
    pub const KEYS: &'static [&'static str] = &["delete", "force_push", "ci_config"];
}

/// The host folder copied into the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspacePlan {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
}

/// The bottle's two networks (stage 2, `bb-net`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkPlan {
    /// `bot-bottle-<id>-internal`: `--internal`, no host address on the bridge.
    pub internal: String,
    /// `bot-bottle-<id>-egress`: the sidecar's way out.
    pub egress: String,
    /// The internal network's subnet (CIDR), chosen free of host routes and other networks.
    pub internal_subnet: String,
    /// The egress network's subnet (CIDR), as the engine assigned it.
    pub egress_subnet: String,
    /// The host's address on the egress bridge (the sidecar must never connect to it).
    pub egress_gateway: String,
    /// The sidecar's fixed address on the internal network (the agent's DNS server).
    pub sidecar_ip: String,
}

/// The bottle's certificate authority (stage 3, `bb-ca`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaPlan {
    /// `state/<id>/egress/ca.pem` (0644).
    pub cert: PathBuf,
    /// `state/<id>/egress/ca-key.pem` (0600).
    pub key: PathBuf,
    /// SHA-256 of the certificate's DER, as colon-separated hex.
    pub fingerprint_sha256: String,
    /// RFC 3339 end of validity.
    pub not_after: String,
}

/// The compose project (stage 4, `bb-compose`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComposePlan {
    /// `bot-bottle-<id>`.
    pub project: String,
    /// `state/<id>/docker-compose.yml`.
    pub file: PathBuf,
    pub agent_container: String,
    pub sidecar_container: String,
    pub sidecar_image: String,
    /// Set once `up` succeeded.
    #[serde(default)]
    pub up: bool,
}

/// What `bb-provision` put into the agent container (paths inside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionPlan {
    pub ca_cert: PathBuf,
    pub prompt_file: PathBuf,
    pub skills: Vec<PathBuf>,
    pub gitconfig: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<PathBuf>,
    /// The agent CLI's own configuration files (no first-run dialogs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_config: Vec<PathBuf>,
}

/// What `bb-plan` records in `state/<id>/metadata.json` for `resume`, `list` and `cleanup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metadata {
    pub schema: String,
    pub identity: String,
    pub agent: String,
    pub bottles: Vec<String>,
    pub cwd: PathBuf,
    pub workspace: Option<PathBuf>,
    pub label: Option<String>,
    pub started_at: String,
    pub compose_project: String,
    pub runtime: RuntimeName,
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

    #[test]
    fn checked_in_schema_matches_the_types() {
        let checked_in: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/plan.schema.json"))
                .expect("docs/plan.schema.json is JSON");
        assert!(
            checked_in == json_schema(),
            "docs/plan.schema.json is stale: run `cargo run -p bb-plan -- --print-schema > docs/plan.schema.json`"
        );
    }
}
