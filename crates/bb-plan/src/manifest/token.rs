//! Where a route's token comes from, as `auth` says it: `token_ref` (a host variable),
//! `token_file` (a host file) or `token_command` (a command run on the host without a shell,
//! given up after `token_timeout` seconds). Exactly one of the three.

use bb_contract::InputError;
use bb_contract::plan::TOKEN_COMMAND_TIMEOUT_SECS;

use super::bottle::{TokenRef, env_name, relative_to_file};
use super::walk::{Ctx, Entries, get, join};
use super::yaml::{Node, Value};

/// The keys of `auth` that name the token's source, and its command's timeout.
pub const TOKEN_KEYS: &[&str] = &["token_ref", "token_file", "token_command", "token_timeout"];
/// The longest a token command may be given.
const MAX_TIMEOUT_SECS: i64 = 600;

const EXAMPLE: &str = "write `token_ref: HOST_VAR`, `token_file: ~/.config/tool/token` or `token_command: [op, read, \"op://vault/item/field\"]`";

/// The token source of an `auth` map at `base`.
pub fn parse_token(
    ctx: &Ctx,
    auth: &Node,
    entries: &Entries,
    base: &str,
) -> Result<TokenRef, InputError> {
    let given: Vec<&str> = ["token_ref", "token_file", "token_command"]
        .into_iter()
        .filter(|k| get(entries, k).is_some())
        .collect();
    let timeout = get(entries, "token_timeout");
    if let (Some(t), false) = (timeout, given == ["token_command"]) {
        return Err(ctx
            .error(
                t.line,
                &join(base, "token_timeout"),
                "only a `token_command` has a timeout",
            )
            .fix("remove `token_timeout`, or read the token with `token_command`"));
    }
    let key = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(ctx
                .error(
                    auth.line,
                    base,
                    "partial auth: `token_ref` is missing (or `token_file`, or `token_command`)",
                )
                .fix(EXAMPLE));
        }
        many => {
            return Err(ctx
                .error(
                    auth.line,
                    base,
                    format!("`{}` each name the token: give one", many.join("`, `")),
                )
                .fix(EXAMPLE));
        }
    };
    let node = get(entries, key).expect("given");
    let path = join(base, key);
    match key {
        "token_ref" => Ok(TokenRef::HostEnv(env_name(
            ctx,
            node,
            &path,
            "the host variable holding the token",
        )?)),
        "token_file" => {
            let text = ctx.string(node, &path)?;
            if text.trim().is_empty() {
                return Err(ctx
                    .error(node.line, &path, "empty")
                    .fix("give the host path of the file that holds the token"));
            }
            Ok(TokenRef::File(relative_to_file(&ctx.file, text.trim())))
        }
        _ => Ok(TokenRef::Command {
            argv: command(ctx, node, &path)?,
            timeout_secs: timeout_secs(ctx, timeout, &join(base, "token_timeout"))?,
        }),
    }
}

/// The command as a list of arguments, the program first: no shell runs it.
pub fn command(ctx: &Ctx, node: &Node, path: &str) -> Result<Vec<String>, InputError> {
    if matches!(node.value, Value::Str(_)) {
        return Err(ctx
            .error(
                node.line,
                path,
                "a command is a list of arguments (no shell runs it)",
            )
            .fix("write it as a list, for example `[pass, show, github/token]`"));
    }
    let mut argv = ctx.string_list(node, path)?;
    match argv.first() {
        Some(program) if !program.trim().is_empty() => {
            // A path (`./get-token`, `~/bin/vault`) is the bottle file's, as `token_file` is;
            // a bare name is looked up on PATH.
            if program.contains('/') || program.starts_with('~') {
                argv[0] = relative_to_file(&ctx.file, program)
                    .to_string_lossy()
                    .into_owned();
            }
            Ok(argv)
        }
        _ => Err(ctx.error(node.line, path, "no program named").fix(
            "write it as a list, the program first, for example `[pass, show, github/token]`",
        )),
    }
}

pub fn timeout_secs(ctx: &Ctx, node: Option<&Node>, path: &str) -> Result<u32, InputError> {
    let Some(node) = node else {
        return Ok(TOKEN_COMMAND_TIMEOUT_SECS);
    };
    match node.value {
        Value::Int(n) if (1..=MAX_TIMEOUT_SECS).contains(&n) => Ok(n as u32),
        _ => Err(ctx
            .error(node.line, path, "not a number of seconds from 1 to 600")
            .fix(format!(
                "give the seconds the command may take, for example `token_timeout: 60` ({TOKEN_COMMAND_TIMEOUT_SECS} when unset)"
            ))),
    }
}
