//! What each agent CLI needs in its home to start unattended in a bottle: no onboarding, login,
//! theme, folder-trust, API-key or bypass-permission dialog on a fresh launch. Quiet operation
//! (no telemetry, no update checks) comes from the environment (`bb_core::agent_cli::quiet_env`),
//! trust of the bottle CA from the system bundle `install_ca` extends.

use bb_core::Plan;
use bb_core::agent_cli::PLACEHOLDER;
use bb_core::plan::Template;
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

/// The CLI's configuration files for this plan.
pub fn files(plan: &Plan) -> Vec<HomeFile> {
    match plan.provider.template {
        Template::Claude => claude(plan),
        Template::Codex => Vec::new(),
    }
}

/// Claude Code: `~/.claude.json` marks onboarding done (which also skips the theme picker and
/// the connectivity check against the login host), trusts the folders, and approves the
/// placeholder API key (Claude Code asks about a key by its last 20 characters);
/// `~/.claude/settings.json` skips the warning shown before permissions are bypassed.
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
    });
    let settings = json!({"skipDangerousModePermissionPrompt": true});
    vec![
        (".claude.json".into(), pretty(&state), 0o600),
        (".claude/settings.json".into(), pretty(&settings), 0o600),
    ]
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
    fn the_approved_key_suffix_is_the_placeholders_last_20_characters() {
        let suffix = &PLACEHOLDER[PLACEHOLDER.len() - 20..];
        assert_eq!(suffix.len(), 20);
        assert!(PLACEHOLDER.ends_with(suffix));
    }
}
