//! One agent file: its keys and its prompt (the Markdown body).

use bb_contract::InputError;

use super::bottle::{At, UserSpec, at, parse_user};
use super::walk::{Ctx, get, index, join};
use super::yaml::Node;

const AGENT_KEYS: &[&str] = &[
    "bottle",
    "skills",
    "git-gate",
    // Claude Code's own agent-file keys: accepted and ignored.
    "name",
    "description",
    "model",
    "color",
    "memory",
    "tools",
];

/// Everything an agent file declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSpec {
    pub bottle: Option<At<String>>,
    pub skills: Vec<At<String>>,
    pub user: UserSpec,
    /// The trimmed body.
    pub prompt: String,
}

/// Reads an agent's front matter; `prompt` is the file's trimmed body.
pub fn parse(ctx: &Ctx, doc: &Node, prompt: String) -> Result<AgentSpec, InputError> {
    let entries = ctx.map(doc, "")?;
    ctx.check_keys(entries, "", AGENT_KEYS)?;
    let mut spec = AgentSpec {
        prompt,
        ..AgentSpec::default()
    };
    if let Some(n) = get(entries, "bottle") {
        let name = ctx.string(n, "bottle")?;
        spec.bottle = Some(at(ctx, n, name));
    }
    if let Some(n) = get(entries, "skills") {
        for (i, item) in ctx.list(n, "skills")?.iter().enumerate() {
            let path = index("skills", i);
            let name = ctx.string(item, &path)?;
            if !super::is_repo_name(&name) {
                return Err(ctx
                    .error(item.line, &path, format!("`{name}` is not a skill name"))
                    .fix("name a folder of ~/.claude/skills/ (letters, digits, `.`, `_`, `-`)"));
            }
            spec.skills.push(at(ctx, item, name));
        }
    }
    if let Some(n) = get(entries, "git-gate") {
        let gate = ctx.map(n, "git-gate")?;
        for (key, _) in gate {
            if let super::yaml::Value::Str(k) = &key.value
                && k == "repos"
            {
                return Err(ctx
                        .error(key.line, &join("git-gate", k), "repos belong in a bottle, not an agent")
                        .fix("declare the repo under `git-gate.repos` in a bottle in ~/.bot-bottle/bottles/"));
            }
        }
        ctx.check_keys(gate, "git-gate", &["user"])?;
        if let Some(user) = get(gate, "user") {
            spec.user = parse_user(ctx, user, "git-gate.user")?;
        }
    }
    Ok(spec)
}
