//! The sidecar proxy's routes, credentials and detectors.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// A route the operator granted for a while or a number of requests (`bot-bottle
    /// supervise`); `None`: for the bottle's life, as every route a bottle file declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
}

/// The limits of an operator's grant; the sidecar drops the route from its live table once
/// either is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    /// The request it answered; the sidecar counts the route's uses under it.
    pub id: String,
    /// RFC 3339, UTC: the route is gone after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// How many requests it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
}

impl Grant {
    /// Whether its time has passed at `now` ([`crate::supervise::timestamp`] text).
    pub fn expired(&self, now: &str) -> bool {
        self.expires_at.as_deref().is_some_and(|t| t <= now)
    }
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
    /// What a payment card number or an IBAN (personal data, not a credential; found by
    /// `token_patterns`) does. Absent (a plan of an earlier version): as `on_match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
    /// Rules of `token_patterns` the operator released on this route for the bottle's life
    /// (answering a held request, `on_match: supervise`): their findings only warn here.
    /// `known_secrets` findings are never released.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
}

impl Dlp {
    /// What a route without a `dlp` key gets: `token_patterns` and `known_secrets` out,
    /// `injection` in, `on_match` as given (`block` for routes the user writes, `redact` for
    /// the provider's).
    pub fn defaults(on_match: OnMatch) -> Dlp {
        Dlp {
            outbound: vec![
                OutboundDetector::TokenPatterns,
                OutboundDetector::KnownSecrets,
            ],
            inbound: vec![InboundDetector::Injection],
            on_match,
            personal_data: None,
            released: Vec::new(),
        }
    }

    /// The policy for personal data: the route's own, or its `on_match`.
    pub fn personal_data(&self) -> PersonalData {
        self.personal_data.unwrap_or(match self.on_match {
            OnMatch::Block | OnMatch::Supervise => PersonalData::Block,
            OnMatch::Redact => PersonalData::Redact,
        })
    }
}

/// What a financial identifier in a request does on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    /// Refused, like a credential.
    Block,
    /// Replaced by a marker (`[REDACTED:payment-card-number]`) and sent.
    Redact,
    /// Sent, with a warning in the decision line.
    Warn,
    /// Not looked for.
    Off,
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
    /// The request is held and the operator asked (`bot-bottle supervise`): released, it goes
    /// on as it is; refused or unanswered, 403 with the reason.
    Supervise,
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
    /// The contents of this host file (one final line break dropped).
    File { path: PathBuf },
    /// What this command prints (one final line break dropped), run on the host without a
    /// shell; given up after `timeout_secs`.
    Command {
        argv: Vec<String>,
        timeout_secs: u32,
    },
}

/// How long a token command may run by default.
pub const TOKEN_COMMAND_TIMEOUT_SECS: u32 = 30;
