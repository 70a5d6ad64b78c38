//! What each provider template means: its command line, image and the routes it adds.

use std::path::Path;

use bb_contract::plan::{
    AuthScheme, BuildArg, Dlp, OnMatch, PathMatch, PathMatchKind, ProviderApi, ProviderPlan, Route,
    RouteAuth, RouteMatch, Template, TokenSource,
};
use bb_core::agent_cli;

use crate::manifest::bottle::{DlpSpec, ProviderSpec};

/// The public base image of the built-in Dockerfiles (they need no Node: the CLIs are standalone
/// executables).
pub const DEFAULT_BASE_IMAGE: &str = "debian:bookworm-slim";
pub use bb_core::agent_cli::PLACEHOLDER;

/// A provider CLI's command line; `{prompt_text}`, `{prompt_file}` and `{prompt}` are filled in by
/// `bb-exec`.
struct ProviderCli {
    command: &'static [&'static str],
    bypass: &'static [&'static str],
    resume: &'static [&'static str],
    prompt: &'static [&'static str],
    headless: &'static [&'static str],
    headless_resume: &'static [&'static str],
}

const CLAUDE: ProviderCli = ProviderCli {
    command: &["claude"],
    bypass: &["--dangerously-skip-permissions"],
    resume: &["--continue"],
    prompt: &["--append-system-prompt", "{prompt_text}"],
    headless: &["-p", "{prompt}"],
    headless_resume: &["--continue", "-p", "{prompt}"],
};

/// Codex's subcommands take their own flags, so the bypass flag is repeated after `exec`. The
/// agent's prompt reaches Codex as `developer_instructions` in `~/.codex/config.toml`
/// (bb-provision): Codex has no flag that appends to its own instructions.
const CODEX: ProviderCli = ProviderCli {
    command: &["codex"],
    bypass: &["--dangerously-bypass-approvals-and-sandbox"],
    resume: &["resume", "--last", "--include-non-interactive"],
    prompt: &[],
    headless: &[
        "exec",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
        "{prompt}",
    ],
    headless_resume: &[
        "exec",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
        "resume",
        "--last",
        "{prompt}",
    ],
};

/// The provider section of the plan.
///
/// `BOT_BOTTLE_IMAGE` and `BOT_BOTTLE_BASE_IMAGE` (from `env`) override the image tag and the base
/// image build argument, for local images and tests.
pub fn plan(
    spec: &ProviderSpec,
    template: Template,
    env: &dyn Fn(&str) -> Option<String>,
) -> ProviderPlan {
    let cli = match template {
        Template::Claude => &CLAUDE,
        Template::Codex => &CODEX,
    };
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let dockerfile = spec.dockerfile.as_ref().map(|d| d.value.clone());
    let base_image =
        env(bb_contract::layout::env::BASE_IMAGE).unwrap_or_else(|| DEFAULT_BASE_IMAGE.into());
    let wheel = match dockerfile {
        None => agent_cli::pin(template).wheel(std::env::consts::ARCH),
        Some(_) => None,
    };
    let default_image = match &dockerfile {
        None => agent_cli::builtin_image_tag(template, wheel.as_ref(), &base_image),
        Some(path) => custom_image_tag(template, path, &base_image),
    };
    ProviderPlan {
        template,
        command: strings(cli.command),
        bypass_args: strings(cli.bypass),
        resume_args: strings(cli.resume),
        prompt_args: strings(cli.prompt),
        headless_args: strings(cli.headless),
        headless_resume_args: strings(cli.headless_resume),
        startup_args: spec
            .startup_args
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default(),
        image: env("BOT_BOTTLE_IMAGE").unwrap_or(default_image),
        dockerfile,
        base_image: BuildArg {
            name: "BASE_IMAGE".into(),
            value: base_image,
        },
        auth_token: spec.auth_token.as_ref().map(|t| t.value.clone()),
        api_key: spec.api_key.as_ref().map(|t| t.value.clone()),
        forward_host_credentials: spec
            .forward_host_credentials
            .as_ref()
            .is_some_and(|f| f.value),
        remote_fetch: spec.remote_fetch.as_ref().is_some_and(|f| f.value),
        cli: wheel,
        rebuild: false,
    }
}

/// The tag of an image built from a custom Dockerfile: it follows the file's path and contents
/// and the base image. Other files of its build context are not hashed (a context may be a whole
/// repository): after changing them, `--rebuild`.
fn custom_image_tag(template: Template, path: &Path, base_image: &str) -> String {
    let mut hash = bb_core::digest::Hasher::new();
    hash.part(path.as_os_str().as_encoded_bytes());
    hash.part(&std::fs::read(path).unwrap_or_default());
    hash.part(base_image.as_bytes());
    format!("bot-bottle-{}-custom:{}", template.as_str(), hash.short())
}

/// A route the provider adds, and where its token comes from.
pub struct ProviderRoute {
    pub route: Route,
    pub token: TokenSource,
}

/// The routes a provider needs for its own API, with the credential injected by the sidecar.
pub fn routes(provider: &ProviderPlan, user_home: &Path) -> Vec<ProviderRoute> {
    let route = |host: &str, scheme: AuthScheme, token: TokenSource| ProviderRoute {
        route: Route {
            host: host.to_string(),
            auth: Some(RouteAuth {
                scheme,
                slot: String::new(),
                port: bb_contract::plan::HTTPS_PORT,
            }),
            matches: api_matches(host),
            // The model's own answers are not fetched content: no injection scan (it would also
            // hold back streamed answers until they are complete).
            dlp: Dlp {
                inbound: Vec::new(),
                ..DlpSpec::resolve(None, OnMatch::Redact)
            },
            tls_passthrough: false,
            private: false,
            added_by: Some("provider".into()),
            provider_api: (!provider.remote_fetch).then(|| api_format(provider.template)),
            grant: None,
        },
        token,
    };
    let host_env = |name: &String| TokenSource::HostEnv { name: name.clone() };
    match provider.template {
        Template::Claude => {
            let oauth = provider
                .auth_token
                .iter()
                .map(|var| route("api.anthropic.com", AuthScheme::Bearer, host_env(var)));
            let key = provider
                .api_key
                .iter()
                .map(|var| route("api.anthropic.com", AuthScheme::XApiKey, host_env(var)));
            oauth.chain(key).collect()
        }
        Template::Codex if provider.forward_host_credentials => {
            let path = codex_auth_file(user_home);
            ["api.openai.com", "chatgpt.com"]
                .into_iter()
                .map(|host| {
                    route(
                        host,
                        AuthScheme::Bearer,
                        TokenSource::CodexAuthFile { path: path.clone() },
                    )
                })
                .collect()
        }
        Template::Codex => provider
            .api_key
            .iter()
            .map(|var| route("api.openai.com", AuthScheme::Bearer, host_env(var)))
            .collect(),
    }
}

/// A provider host, the paths its CLI uses (kind, value), and the methods.
type ApiPaths = (
    &'static str,
    &'static [(PathMatchKind, &'static str)],
    &'static [&'static str],
);

/// What each CLI asks of its provider's hosts (measured with the real CLIs): nothing else goes
/// through, so a provider host is not a general-purpose relay.
const API_PATHS: &[ApiPaths] = &[
    (
        "api.anthropic.com",
        &[
            (PathMatchKind::Prefix, "/v1/messages"),
            (PathMatchKind::Prefix, "/v1/models"),
            (PathMatchKind::Prefix, "/api/claude_code/"),
            (PathMatchKind::Prefix, "/api/oauth/"),
            (PathMatchKind::Exact, "/api/claude_cli_profile"),
            (PathMatchKind::Prefix, "/api/eval/"),
            (PathMatchKind::Exact, "/api/hello"),
        ],
        &["GET", "HEAD", "POST"],
    ),
    (
        "api.openai.com",
        &[
            (PathMatchKind::Prefix, "/v1/responses"),
            (PathMatchKind::Prefix, "/v1/models"),
        ],
        &["GET", "POST"],
    ),
    (
        "chatgpt.com",
        &[
            (PathMatchKind::Prefix, "/backend-api/codex/"),
            (PathMatchKind::Prefix, "/backend-api/wham/"),
            (PathMatchKind::Prefix, "/backend-api/settings/"),
            (PathMatchKind::Prefix, "/backend-api/accounts/"),
            (PathMatchKind::Prefix, "/api/codex/"),
        ],
        &["GET", "POST"],
    ),
];

/// The `matches` of a provider host's route.
fn api_matches(host: &str) -> Vec<RouteMatch> {
    API_PATHS
        .iter()
        .filter(|(h, _, _)| *h == host)
        .map(|(_, paths, methods)| RouteMatch {
            paths: paths
                .iter()
                .map(|(kind, value)| PathMatch {
                    kind: *kind,
                    value: (*value).into(),
                })
                .collect(),
            methods: methods.iter().map(|m| (*m).into()).collect(),
            headers: Vec::new(),
        })
        .collect()
}

fn api_format(template: Template) -> ProviderApi {
    match template {
        Template::Claude => ProviderApi::Anthropic,
        Template::Codex => ProviderApi::Openai,
    }
}

/// The host's Codex credentials file.
pub fn codex_auth_file(user_home: &Path) -> std::path::PathBuf {
    user_home.join(".codex/auth.json")
}

/// Placeholder variables the agent needs so its CLI sends a credential the sidecar replaces.
pub fn placeholder_env(provider: &ProviderPlan) -> Vec<(&'static str, &'static str)> {
    match provider.template {
        Template::Claude if provider.auth_token.is_some() => {
            vec![("CLAUDE_CODE_OAUTH_TOKEN", PLACEHOLDER)]
        }
        Template::Claude if provider.api_key.is_some() => {
            vec![("ANTHROPIC_API_KEY", PLACEHOLDER)]
        }
        Template::Codex if provider.api_key.is_some() => {
            vec![("OPENAI_API_KEY", PLACEHOLDER)]
        }
        // ChatGPT login: the placeholder is the `auth.json` that bb-provision writes.
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_dockerfiles_get_tags_that_follow_path_contents_and_base() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Dockerfile");
        std::fs::write(&file, "FROM a\n").unwrap();
        let a = custom_image_tag(Template::Claude, &file, "base");
        assert_eq!(a, custom_image_tag(Template::Claude, &file, "base"));
        assert_ne!(
            a,
            custom_image_tag(Template::Claude, Path::new("/b/Dockerfile"), "base")
        );
        assert_ne!(a, custom_image_tag(Template::Claude, &file, "other"));
        std::fs::write(&file, "FROM b\n").unwrap();
        assert_ne!(a, custom_image_tag(Template::Claude, &file, "base"));
        assert!(a.starts_with("bot-bottle-claude-custom:"));
    }
}
