//! `bot-bottle init`: writes a commented starter bottle and agent to bot-bottle's home, and
//! refuses to overwrite either.

use std::path::{Path, PathBuf};

use anyhow::Result;
use bb_contract::InputError;

/// The starter bottle: every key a new user is likely to need, commented.
pub const STARTER_BOTTLE: &str = r#"---
# A bottle says what an agent may reach. Bottles are trusted: they are read only from
# ~/.bot-bottle/bottles/ (this folder), never from a repository.

# Which agent CLI runs, and how it signs in. Claude Code (the default) reads its OAuth token
# from the host variable named here at launch; only the sidecar gets the value, the agent sees a
# placeholder. (`claude setup-token` prints one.) For Codex: template: codex and
# forward_host_credentials: true.
agent_provider:
  template: claude
  auth_token: CLAUDE_CODE_OAUTH_TOKEN

# Environment for the agent. A plain string is a literal; "${VAR}" copies a host variable at
# launch; "?" asks for a secret on the terminal at launch (never echoed, never written).
env:
  EDITOR: vi

# The hosts the agent may reach, through the sidecar's egress proxy. Everything else is refused
# (403), outgoing requests are scanned for secrets, and a route's `auth` token is injected by the
# sidecar so the agent never holds it.
egress:
  routes:
    - host: github.com
    - host: "*.githubusercontent.com"
    # - host: api.example.com
    #   auth: {scheme: Bearer, token_ref: EXAMPLE_API_TOKEN}   # sent over https to port 443 only
    #                                                          # (`port: 8443` in auth to change)
    # The token may also come from a file or from a command run at launch (no shell):
    #   auth: {scheme: Bearer, token_file: ~/.config/example/token}
    #   auth: {scheme: Bearer, token_command: [op, read, "op://Private/Example/token"]}

# What the agent container may use (defaults: 4096 processes, half the engine's memory, every
# CPU but one). The preflight shows the values in force.
# limits: {processes: 4096, memory: 8g, cpus: 4}

# Repositories the agent may clone and push through the git gate: pushes are scanned for
# secrets, then forwarded with a key the agent never holds.
# git-gate:
#   user: {name: Your Name, email: you@example.org}
#   repos:
#     myrepo:
#       url: git@github.com:you/myrepo.git
#       key: {provider: static, path: ~/.ssh/bot-bottle-deploy}
#       host_key: ssh-ed25519 AAAA...   # from ssh-keyscan, checked before first use
#       # Refused unless allowed: deleting a branch or tag, a forced update, CI configuration,
#       # a change to .gitleaksignore (what the secret scan lets through).
#       # allow: {delete: false, force_push: false, ci_config: false, gitleaks_ignore: false}
---
The starter bottle written by `bot-bottle init`. The text after the front matter is for you;
bot-bottle ignores it.
"#;

/// The starter agent.
pub const STARTER_AGENT: &str = r#"---
# An agent names the bottle it runs in; the text below the front matter is its prompt.
# Run it with: bot-bottle start starter
bottle: starter
# skills: [code-review]   # folders under ~/.claude/skills/ copied into the agent
---
You are a careful coding agent working in a sandbox. Explain what you change and run the tests
before you say you are done.
"#;

pub fn run() -> Result<()> {
    let home = bb_core::paths::home()?;
    let files = [
        (home.join("bottles/starter.md"), STARTER_BOTTLE),
        (home.join("agents/starter.md"), STARTER_AGENT),
    ];
    for (path, _) in &files {
        if path.exists() {
            return Err(refusal(path).into());
        }
    }
    for (path, text) in &files {
        write_new(path, text)?;
        eprintln!("bot-bottle: wrote {}", path.display());
    }
    eprintln!(
        "bot-bottle: next: export CLAUDE_CODE_OAUTH_TOKEN=..., then bot-bottle start starter"
    );
    Ok(())
}

fn refusal(path: &Path) -> InputError {
    InputError::new(format!(
        "{} already exists; init does not overwrite",
        path.display()
    ))
    .fix("edit it, or move it away and run init again")
}

/// Creates `path` (and its folder, 0700); fails if it appeared meanwhile.
fn write_new(path: &PathBuf, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        bb_core::fsx::create_private_dir(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::Error::from(refusal(path)),
            _ => anyhow::anyhow!("writing {}: {err}", path.display()),
        })?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
