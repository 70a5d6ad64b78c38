//! What each agent CLI needs in its home to start unattended in a bottle: no onboarding, login,
//! theme, folder-trust, API-key or bypass-permission dialog on a fresh launch. Quiet operation
//! (no telemetry, no update checks) comes from the environment (`bb_core::agent_cli::quiet_env`),
//! trust of the bottle CA from the system bundle `install_ca` extends.

use bb_contract::Plan;
use bb_contract::layout;
use bb_contract::plan::Template;
use bb_contract::supervise::{DEFAULT_WAIT, MCP_SERVER_NAME};
use bb_core::agent_cli::PLACEHOLDER;
use serde_json::json;

/// A file under the agent's home: (path relative to it, contents, mode).
pub type HomeFile = (String, Vec<u8>, u32);

/// The folders the CLI may be started in: the home, and the workspace when there is one.
fn trusted_folders(plan: &Plan) -> Vec<String> {
    let mut folders = vec![crate::HOME.to_string()];
    folders.push(match &plan.workspace {
        Some(w) => w.container_path.display().to_string(),
        None => crate::WORKSPACE_PATH.to_string(),
    });
    folders
}

/// The CLI's configuration files for this plan; `prompt` is the agent's prompt (Codex reads it
/// from its configuration).
pub fn files(plan: &Plan, prompt: &str) -> Vec<HomeFile> {
    match plan.provider.template {
        Template::Claude => claude(plan),
        Template::Codex => codex(plan, prompt),
    }
}

/// Claude Code: `~/.claude.json` marks onboarding done (which also skips the theme picker and
/// the connectivity check against the login host), trusts the folders, and approves the
/// placeholder API key (Claude Code asks about a key by its last 20 characters);
/// `~/.claude/settings.json` skips the warning shown before permissions are bypassed. The
/// supervise MCP server is a user-scope server of `~/.claude.json` (no approval prompt).
fn claude(plan: &Plan) -> Vec<HomeFile> {
    let projects: serde_json::Map<String, serde_json::Value> = trusted_folders(plan)
        .into_iter()
        .map(|folder| {
            (
                folder,
                json!({"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}),
            )
        })
        .collect();
    let key_suffix = &PLACEHOLDER[PLACEHOLDER.len().saturating_sub(20)..];
    let state = json!({
        "hasCompletedOnboarding": true,
        "bypassPermissionsModeAccepted": true,
        "customApiKeyResponses": {"approved": [key_suffix], "rejected": []},
        "projects": projects,
        "mcpServers": {MCP_SERVER_NAME: {"type": "http", "url": layout::supervise_url()}},
    });
    let settings = json!({"skipDangerousModePermissionPrompt": true});
    vec![
        (".claude.json".into(), pretty(&state), 0o600),
        (".claude/settings.json".into(), pretty(&settings), 0o600),
    ]
}

/// Codex: `~/.codex/config.toml` registers the supervise MCP server, trusts the folders (else a
/// git workspace asks), runs the TUI
/// in-process (its daemon wants a full package layout), turns off update checks, analytics,
/// feedback, OpenTelemetry, plugins, apps, model discovery and request compression (a compressed
/// body could not be scanned), bounds connection retries, and carries the agent's prompt as
/// `developer_instructions`. `~/.codex/auth.json` holds a placeholder credential: without a file
/// the TUI shows its login screen, and Codex ignores `OPENAI_API_KEY` from the environment.
fn codex(plan: &Plan, prompt: &str) -> Vec<HomeFile> {
    let mut config =
        String::from("# Written by bot-bottle at launch.\ncheck_for_update_on_startup = false\n");
    if !prompt.trim().is_empty() {
        // A JSON string is a valid TOML basic string (serde_json never writes `\/`).
        let text = serde_json::to_string(prompt.trim()).expect("strings serialise");
        config.push_str(&format!("developer_instructions = {text}\n"));
    }
    config.push_str(
        "\n[analytics]\nenabled = false\n\n[feedback]\nenabled = false\n\n\
         [otel]\nexporter = \"none\"\nmetrics_exporter = \"none\"\ntrace_exporter = \"none\"\n\n\
         [features]\nplugins = false\napps = false\napi_key_model_discovery = false\n\
         enable_request_compression = false\nunbounded_connection_retries = false\n\
         daemon_auto_start = false\n",
    );
    for folder in trusted_folders(plan) {
        let key = serde_json::to_string(&folder).expect("strings serialise");
        config.push_str(&format!("\n[projects.{key}]\ntrust_level = \"trusted\"\n"));
    }
    // Codex gives up on a tool call after 60 s by default; the operator gets the sidecar's
    // whole wait, and the sidecar answers first.
    config.push_str(&format!(
        "\n[mcp_servers.{MCP_SERVER_NAME}]\nurl = \"{}\"\ntool_timeout_sec = {}\n",
        layout::supervise_url(),
        DEFAULT_WAIT.as_secs() + 30
    ));
    vec![
        (".codex/config.toml".into(), config.into_bytes(), 0o600),
        (".codex/auth.json".into(), pretty(&codex_login(plan)), 0o600),
    ]
}

/// The placeholder login. With the user's ChatGPT login the tokens are unsigned JWTs Codex can
/// read (its access token expires in 2100, so Codex never tries to refresh it) and the real
/// account ID (an identifier, not a credential: Codex sends it as `chatgpt-account-id`, which
/// the service checks against the token the sidecar injects).
fn codex_login(plan: &Plan) -> serde_json::Value {
    if !plan.provider.forward_host_credentials {
        return json!({"auth_mode": "apikey", "OPENAI_API_KEY": PLACEHOLDER});
    }
    let account_id = host_codex_login(plan)
        .and_then(|login| login["tokens"]["account_id"].as_str().map(str::to_string))
        .unwrap_or_default();
    json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": unsigned_jwt(&json!({})),
            "access_token": unsigned_jwt(&json!({"exp": 4_102_444_800_u64, "bot_bottle": PLACEHOLDER})),
            "refresh_token": "",
            "account_id": account_id,
        },
        "last_refresh": "2026-01-01T00:00:00Z",
    })
}

/// The host's Codex login, read only for its account ID.
fn host_codex_login(plan: &Plan) -> Option<serde_json::Value> {
    plan.egress
        .token_slots
        .iter()
        .find_map(|slot| match &slot.source {
            bb_contract::plan::TokenSource::CodexAuthFile { path } => std::fs::read(path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
            _ => None,
        })
}

/// `{"alg":"none"}.<claims>.placeholder` in base64url: a JWT that parses and verifies nothing
/// (Codex ignores a login whose tokens do not have three non-empty parts).
fn unsigned_jwt(claims: &serde_json::Value) -> String {
    let part = |value: &serde_json::Value| base64url(value.to_string().as_bytes());
    format!(
        "{}.{}.placeholder",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    text.push(b'\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding_and_the_url_alphabet() {
        assert_eq!(base64url(b"{}"), "e30");
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert_eq!(base64url(b"abc"), "YWJj");
        assert_eq!(base64url(b""), "");
    }

    #[test]
    fn an_unsigned_jwt_has_three_parts_and_no_signature() {
        let jwt = unsigned_jwt(&json!({}));
        assert_eq!(jwt, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30.placeholder");
    }

    fn plan(template: &str) -> Plan {
        let mut plan = bb_testkit::minimal_plan();
        plan["provider"]["template"] = json!(template);
        serde_json::from_value(plan).unwrap()
    }

    fn file(files: &[HomeFile], name: &str) -> String {
        let (_, bytes, _) = files.iter().find(|(n, _, _)| n == name).unwrap();
        String::from_utf8(bytes.clone()).unwrap()
    }

    #[test]
    fn both_clis_know_the_supervise_server_and_wait_for_the_operator() {
        let url = layout::supervise_url();
        assert_eq!(url, "http://supervise:9100/mcp");
        let state: serde_json::Value =
            serde_json::from_str(&file(&files(&plan("claude"), ""), ".claude.json")).unwrap();
        assert_eq!(
            state["mcpServers"][MCP_SERVER_NAME],
            json!({"type": "http", "url": url})
        );
        let config: toml::Table =
            toml::from_str(&file(&files(&plan("codex"), "hi"), ".codex/config.toml")).unwrap();
        let server = &config["mcp_servers"][MCP_SERVER_NAME];
        assert_eq!(server["url"].as_str(), Some(url.as_str()));
        let waits = server["tool_timeout_sec"].as_integer().unwrap();
        assert!(
            waits as u64 > DEFAULT_WAIT.as_secs(),
            "the CLI outwaits the sidecar"
        );
    }

    #[test]
    fn the_approved_key_suffix_is_the_placeholders_last_20_characters() {
        let suffix = &PLACEHOLDER[PLACEHOLDER.len() - 20..];
        assert_eq!(suffix.len(), 20);
        assert!(PLACEHOLDER.ends_with(suffix));
    }
}
