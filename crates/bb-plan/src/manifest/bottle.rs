//! One bottle file, read and checked on its own (before `extends` merges it with others).
//!
//! `egress` is read in `egress.rs` (its `dlp` in `dlp.rs`), `limits` in `limits.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bb_contract::InputError;
use bb_contract::plan::{
    AuthScheme, Dlp, InboundDetector, OnMatch, OutboundDetector, PersonalData, PushAllowance,
    RepoKey, RouteMatch, Template,
};

use super::walk::{Ctx, get, join, string_entries};
use super::yaml::Node;
use super::{Loc, is_env_name, repo_url};

const BOTTLE_KEYS: &[&str] = &[
    "extends",
    "env",
    "agent_provider",
    "git-gate",
    "egress",
    "limits",
];
const PROVIDER_KEYS: &[&str] = &[
    "template",
    "dockerfile",
    "auth_token",
    "api_key",
    "forward_host_credentials",
    "startup_args",
    "remote_fetch",
];
const GIT_GATE_KEYS: &[&str] = &["user", "repos", "rules"];
const USER_KEYS: &[&str] = &["name", "email"];
const REPO_KEYS: &[&str] = &["url", "key", "host_key", "allow"];
const KEY_KEYS: &[&str] = &["provider", "path", "command", "timeout"];

/// Variables bot-bottle sets in the agent itself; a bottle may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
];

/// Prefixes of variables that steer bot-bottle's own tools (secret values travel through
/// compose's environment, where `DOCKER_HOST` or `COMPOSE_FILE` would be obeyed) or name the
/// sidecar's token slots.
pub const RESERVED_ENV_PREFIXES: &[&str] =
    &["DOCKER_", "COMPOSE_", "EGRESS_TOKEN_", "BB_", "BOT_BOTTLE_"];

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
}

/// What an `env` value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `"${HOST_VAR}"`: copied from the host at launch.
    Host(String),
    /// `"?"` / `"?Prompt"`: asked on the terminal at launch.
    Prompt(Option<String>),
}

impl EnvValue {
    pub fn mode(&self) -> &'static str {
        match self {
            EnvValue::Literal(_) => "literal",
            EnvValue::Host(_) => "host",
            EnvValue::Prompt(_) => "prompt",
        }
    }
}

/// `agent_provider`, every field optional so that layers can merge per field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSpec {
    pub template: Option<At<Template>>,
    pub dockerfile: Option<At<PathBuf>>,
    pub auth_token: Option<At<String>>,
    pub api_key: Option<At<String>>,
    pub forward_host_credentials: Option<At<bool>>,
    pub startup_args: Option<At<Vec<String>>>,
    pub remote_fetch: Option<At<bool>>,
}

/// `git-gate.user` (also the agent's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSpec {
    pub name: Option<At<String>>,
    pub email: Option<At<String>>,
}

/// `git-gate.repos.<name>`, every field optional so that layers can merge per field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoSpec {
    pub url: Option<At<String>>,
    pub key: Option<At<RepoKey>>,
    pub host_key: Option<At<String>>,
    pub allow: Option<PushAllowance>,
    /// Where the repo was last declared.
    pub loc: Loc,
}

/// One `egress.routes[]` entry, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    pub host: String,
    pub auth: Option<AuthSpec>,
    pub matches: Vec<RouteMatch>,
    /// `None`: the defaults (which depend on who added the route).
    pub dlp: Option<DlpSpec>,
    pub tls_passthrough: bool,
    pub private: bool,
    /// Position in `egress.routes`, for error key paths.
    pub index: usize,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthSpec {
    pub scheme: AuthScheme,
    /// Where the token is read at launch.
    pub token: TokenRef,
    /// The TLS port the token goes to (443 when unset).
    pub port: Option<u16>,
}

/// Where a route's token comes from: `token_ref` (a host variable), `token_file` or
/// `token_command` (with `token_timeout`).
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRef {
    HostEnv(String),
    File(std::path::PathBuf),
    Command {
        argv: Vec<String>,
        timeout_secs: u32,
    },
}

impl TokenRef {
    /// The key of the bottle file that names it.
    pub fn key(&self) -> &'static str {
        match self {
            TokenRef::HostEnv(_) => "token_ref",
            TokenRef::File(_) => "token_file",
            TokenRef::Command { .. } => "token_command",
        }
    }

    /// The plan's source of the token.
    pub fn source(&self) -> bb_contract::plan::TokenSource {
        use bb_contract::plan::TokenSource;
        match self {
            TokenRef::HostEnv(name) => TokenSource::HostEnv { name: name.clone() },
            TokenRef::File(path) => TokenSource::File { path: path.clone() },
            TokenRef::Command { argv, timeout_secs } => TokenSource::Command {
                argv: argv.clone(),
                timeout_secs: *timeout_secs,
            },
        }
    }
}

/// `dlp`, each field optional (an absent one takes the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DlpSpec {
    pub outbound: Option<Vec<OutboundDetector>>,
    pub inbound: Option<Vec<InboundDetector>>,
    pub on_match: Option<OnMatch>,
    pub personal_data: Option<PersonalData>,
}

impl DlpSpec {
    /// Fills absent fields with the defaults (`on_match` default depends on the route's origin).
    pub fn resolve(spec: Option<&DlpSpec>, default_on_match: OnMatch) -> Dlp {
        let spec = spec.cloned().unwrap_or_default();
        let defaults = Dlp::defaults(spec.on_match.unwrap_or(default_on_match));
        Dlp {
            outbound: spec.outbound.unwrap_or(defaults.outbound),
            inbound: spec.inbound.unwrap_or(defaults.inbound),
            personal_data: spec.personal_data,
            released: Vec::new(),
            ..defaults
        }
    }
}

/// Everything a bottle file declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BottleSpec {
    pub extends: Option<At<String>>,
    pub env: BTreeMap<String, At<EnvValue>>,
    pub provider: ProviderSpec,
    pub user: UserSpec,
    pub repos: BTreeMap<String, RepoSpec>,
    /// `git-gate.rules`: a gitleaks-format TOML file.
    pub rules: Option<At<PathBuf>>,
    /// `None` when the file does not declare `egress` (the parent's stays).
    pub routes: Option<Vec<RouteSpec>>,
    pub limits: super::limits::LimitsSpec,
}

/// Reads a bottle's front matter.
pub fn parse(ctx: &Ctx, doc: &Node) -> Result<BottleSpec, InputError> {
    let entries = ctx.map(doc, "")?;
    ctx.check_keys(entries, "", BOTTLE_KEYS)?;
    let mut spec = BottleSpec::default();
    if let Some(node) = get(entries, "extends") {
        let parent = ctx
            .string(node, "extends")
            .map_err(|e| e.fix("name the parent bottle, for example `extends: claude`"))?;
        spec.extends = Some(at(ctx, node, parent));
    }
    if let Some(node) = get(entries, "env") {
        spec.env = parse_env(ctx, node)?;
    }
    if let Some(node) = get(entries, "agent_provider") {
        spec.provider = parse_provider(ctx, node)?;
    }
    if let Some(node) = get(entries, "limits") {
        spec.limits = super::limits::parse(ctx, node)?;
    }
    if let Some(node) = get(entries, "git-gate") {
        let gate = ctx.map(node, "git-gate")?;
        ctx.check_keys(gate, "git-gate", GIT_GATE_KEYS)?;
        if let Some(user) = get(gate, "user") {
            spec.user = parse_user(ctx, user, "git-gate.user")?;
        }
        if let Some(repos) = get(gate, "repos") {
            spec.repos = parse_repos(ctx, repos)?;
        }
        if let Some(rules) = get(gate, "rules") {
            let text = ctx.string(rules, "git-gate.rules")?;
            spec.rules = Some(at(ctx, rules, relative_to_file(&ctx.file, &text)));
        }
    }
    if let Some(node) = get(entries, "egress") {
        spec.routes = Some(super::egress::parse_egress(ctx, node)?);
    }
    Ok(spec)
}

pub(super) fn at<T>(ctx: &Ctx, node: &Node, value: T) -> At<T> {
    At {
        value,
        loc: Loc::new(
            &ctx.file,
            node.line + if node.line == 0 { 0 } else { ctx.line_offset },
        ),
    }
}

fn parse_env(ctx: &Ctx, node: &Node) -> Result<BTreeMap<String, At<EnvValue>>, InputError> {
    let entries = ctx.map(node, "env")?;
    let mut env = BTreeMap::new();
    for (name, value, key_line) in string_entries(entries) {
        let path = join("env", name);
        if !is_env_name(name) {
            return Err(ctx
                .error(
                    key_line,
                    &path,
                    format!("`{name}` is not a valid environment variable name"),
                )
                .fix("use letters, digits and `_`, not starting with a digit"));
        }
        if RESERVED_ENV.contains(&name) || RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            return Err(ctx
                .error(
                    key_line,
                    &path,
                    format!("`{name}` is set by bot-bottle itself"),
                )
                .fix("rename or remove it: bot-bottle sets the proxy and CA variables and reserves the DOCKER_, COMPOSE_, EGRESS_TOKEN_, BB_ and BOT_BOTTLE_ prefixes"));
        }
        let text = ctx.string(value, &path)?;
        let parsed = parse_env_value(&text)
            .map_err(|(message, fix)| ctx.error(value.line, &path, message).fix(fix))?;
        env.insert(name.to_string(), at(ctx, value, parsed));
    }
    Ok(env)
}

/// Picks the mode of an env value from its form.
pub fn parse_env_value(text: &str) -> Result<EnvValue, (String, String)> {
    if let Some(prompt) = text.strip_prefix('?') {
        let prompt = prompt.trim();
        return Ok(EnvValue::Prompt(
            (!prompt.is_empty()).then(|| prompt.to_string()),
        ));
    }
    if let Some(var) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
        if is_env_name(var) {
            return Ok(EnvValue::Host(var.to_string()));
        }
        return Err((
            format!("`{text}` does not name a host variable"),
            "write `${NAME}` with a valid variable name, or quote a literal without `${`".into(),
        ));
    }
    if text.contains(['\n', '\r']) {
        return Err((
            "a literal value cannot contain a newline (env files cannot carry it)".into(),
            "put the value in a host variable and write `\"${NAME}\"`".into(),
        ));
    }
    Ok(EnvValue::Literal(text.to_string()))
}

/// `key: {provider: static, path}` or `key: {provider: command, command: [..], timeout}`.
fn parse_repo_key(ctx: &Ctx, n: &Node, base: &str) -> Result<RepoKey, InputError> {
    const EXAMPLE: &str = "write `key: {provider: static, path: ~/.ssh/deploy_key}` or `key: {provider: command, command: [pass, show, deploy-key]}`";
    let key = ctx.map(n, base)?;
    ctx.check_keys(key, base, KEY_KEYS)?;
    let provider_path = join(base, "provider");
    let provider = match get(key, "provider") {
        Some(p) => (ctx.string(p, &provider_path)?, p.line),
        None => return Err(ctx.error(n.line, &provider_path, "missing").fix(EXAMPLE)),
    };
    let only = |field: &str, provider: &str| -> Result<(), InputError> {
        match get(key, field) {
            Some(f) => Err(ctx
                .error(
                    f.line,
                    &join(base, field),
                    format!("not a key of provider `{provider}`"),
                )
                .fix(EXAMPLE)),
            None => Ok(()),
        }
    };
    match provider.0.as_str() {
        "static" => {
            only("command", "static")?;
            only("timeout", "static")?;
            let path_key = join(base, "path");
            let p = get(key, "path").ok_or_else(|| {
                ctx.error(n.line, &path_key, "missing")
                    .fix("give the host path of the SSH private key")
            })?;
            let text = ctx.string(p, &path_key)?;
            Ok(RepoKey::File {
                key_path: relative_to_file(&ctx.file, &text),
            })
        }
        "command" => {
            only("path", "command")?;
            let command_key = join(base, "command");
            let c = get(key, "command").ok_or_else(|| {
                ctx.error(n.line, &command_key, "missing").fix(
                    "give the command that prints the key, as a list: `command: [pass, show, deploy-key]`",
                )
            })?;
            Ok(RepoKey::Command {
                key_command: super::token::command(ctx, c, &command_key)?,
                key_timeout_secs: super::token::timeout_secs(
                    ctx,
                    get(key, "timeout"),
                    &join(base, "timeout"),
                )?,
            })
        }
        other => Err(ctx
            .error(
                provider.1,
                &provider_path,
                format!("unknown key provider `{other}`"),
            )
            .fix("the providers are `static` (a file) and `command`")),
    }
}

fn parse_provider(ctx: &Ctx, node: &Node) -> Result<ProviderSpec, InputError> {
    let base = "agent_provider";
    let entries = ctx.map(node, base)?;
    ctx.check_keys(entries, base, PROVIDER_KEYS)?;
    let mut spec = ProviderSpec::default();
    if let Some(n) = get(entries, "template") {
        let path = join(base, "template");
        let template = match ctx.string(n, &path)?.as_str() {
            "claude" => Template::Claude,
            "codex" => Template::Codex,
            other => {
                return Err(ctx
                    .error(n.line, &path, format!("unknown template `{other}`"))
                    .fix("use `claude` or `codex`"));
            }
        };
        spec.template = Some(at(ctx, n, template));
    }
    if let Some(n) = get(entries, "dockerfile") {
        let text = ctx.string(n, &join(base, "dockerfile"))?;
        spec.dockerfile = Some(at(ctx, n, relative_to_file(&ctx.file, &text)));
    }
    if let Some(n) = get(entries, "auth_token") {
        let path = join(base, "auth_token");
        let name = env_name(ctx, n, &path, "the host variable holding the OAuth token")?;
        spec.auth_token = Some(at(ctx, n, name));
    }
    if let Some(n) = get(entries, "api_key") {
        let path = join(base, "api_key");
        let name = env_name(ctx, n, &path, "the host variable holding the API key")?;
        spec.api_key = Some(at(ctx, n, name));
    }
    if let Some(n) = get(entries, "remote_fetch") {
        let value = ctx.bool(n, &join(base, "remote_fetch"))?;
        spec.remote_fetch = Some(at(ctx, n, value));
    }
    if let Some(n) = get(entries, "forward_host_credentials") {
        let value = ctx.bool(n, &join(base, "forward_host_credentials"))?;
        spec.forward_host_credentials = Some(at(ctx, n, value));
    }
    if let Some(n) = get(entries, "startup_args") {
        let args = ctx.string_list(n, &join(base, "startup_args"))?;
        spec.startup_args = Some(at(ctx, n, args));
    }
    Ok(spec)
}

pub(super) fn env_name(
    ctx: &Ctx,
    node: &Node,
    path: &str,
    what: &str,
) -> Result<String, InputError> {
    let name = ctx.string(node, path)?;
    if is_env_name(&name) {
        Ok(name)
    } else {
        Err(ctx
            .error(node.line, path, format!("`{name}` is not a variable name"))
            .fix(format!("give the name (not the value) of {what}")))
    }
}

/// A path from a manifest: `~` expanded, relative paths taken from the file's folder.
pub fn relative_to_file(file: &Path, text: &str) -> PathBuf {
    let expanded = bb_core::paths::expand_tilde(text);
    if expanded.is_absolute() {
        expanded
    } else {
        file.parent().unwrap_or(Path::new(".")).join(expanded)
    }
}

pub(super) fn parse_user(ctx: &Ctx, node: &Node, base: &str) -> Result<UserSpec, InputError> {
    let entries = ctx.map(node, base)?;
    ctx.check_keys(entries, base, USER_KEYS)?;
    let field = |key: &str| -> Result<Option<At<String>>, InputError> {
        get(entries, key)
            .map(|n| ctx.string(n, &join(base, key)).map(|v| at(ctx, n, v)))
            .transpose()
    };
    let user = UserSpec {
        name: field("name")?,
        email: field("email")?,
    };
    if let Some(email) = &user.email
        && (!email.value.contains('@') || email.value.contains(char::is_whitespace))
    {
        return Err(
            InputError::new(format!("`{}` is not an email address", email.value))
                .in_file(&email.loc.file)
                .at_line(email.loc.line)
                .key(join(base, "email"))
                .fix("write it as name@example.org"),
        );
    }
    Ok(user)
}

fn parse_repos(ctx: &Ctx, node: &Node) -> Result<BTreeMap<String, RepoSpec>, InputError> {
    let entries = ctx.map(node, "git-gate.repos")?;
    let mut repos = BTreeMap::new();
    for (name, value, key_line) in string_entries(entries) {
        let base = join("git-gate.repos", name);
        if !super::is_repo_name(name) {
            return Err(ctx
                .error(
                    key_line,
                    &base,
                    format!("`{name}` is not a usable repo name"),
                )
                .fix(bb_contract::repo::REPO_NAME_RULE));
        }
        let fields = ctx.map(value, &base)?;
        ctx.check_keys(fields, &base, REPO_KEYS)?;
        let mut repo = RepoSpec {
            loc: Loc::new(&ctx.file, key_line + ctx.line_offset),
            ..RepoSpec::default()
        };
        if let Some(n) = get(fields, "url") {
            let path = join(&base, "url");
            let url = ctx.string(n, &path)?;
            repo_url::parse(&url)
                .map_err(|(message, fix)| ctx.error(n.line, &path, message).fix(fix))?;
            repo.url = Some(at(ctx, n, url));
        }
        if let Some(n) = get(fields, "key") {
            repo.key = Some(at(ctx, n, parse_repo_key(ctx, n, &join(&base, "key"))?));
        }
        if let Some(n) = get(fields, "host_key") {
            let path = join(&base, "host_key");
            let line = ctx.string(n, &path)?;
            bb_contract::repo::parse_host_key(&line)
                .map_err(|e| ctx.error(n.line, &path, e.to_string()).fix(e.fix()))?;
            repo.host_key = Some(at(ctx, n, line.trim().to_string()));
        }
        if let Some(n) = get(fields, "allow") {
            repo.allow = Some(parse_allow(ctx, n, &join(&base, "allow"))?);
        }
        repos.insert(name.to_string(), repo);
    }
    Ok(repos)
}

/// `git-gate.repos.<name>.allow: {delete, force_push, ci_config, gitleaks_ignore}`, each a
/// bool.
fn parse_allow(ctx: &Ctx, node: &Node, base: &str) -> Result<PushAllowance, InputError> {
    let fields = ctx.map(node, base)?;
    ctx.check_keys(fields, base, PushAllowance::KEYS)?;
    let flag = |key: &str| -> Result<bool, InputError> {
        get(fields, key).map_or(Ok(false), |n| ctx.bool(n, &join(base, key)))
    };
    Ok(PushAllowance {
        delete: flag("delete")?,
        force_push: flag("force_push")?,
        ci_config: flag("ci_config")?,
        gitleaks_ignore: flag("gitleaks_ignore")?,
    })
}
