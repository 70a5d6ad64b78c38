//! What planning checks on the host: every variable, token, key file and skill folder the
//! launch will read is there now.

use bb_contract::InputError;
use bb_contract::plan::RepoKey;

use super::{Host, Resolution};
use crate::manifest::bottle::{EnvValue, TokenRef};
use crate::provider;

/// Why a route's token cannot be read at launch, and the fix: an unset variable, a missing
/// file, a program not found. (A command's output is read at launch, not here: planning runs
/// no user command.)
fn token_missing(host: &Host, token: &TokenRef, route: &str) -> Option<(String, String)> {
    match token {
        TokenRef::HostEnv(name) => (!host.is_set(name)).then(|| {
            (
                format!("host variable `{name}` (token for {route}) is not set or empty"),
                format!("export {name} before launching"),
            )
        }),
        TokenRef::File(path) => (!path.is_file()).then(|| {
            (
                format!("{} (token for {route}) is not a file", path.display()),
                "give the path of the file that holds the token".to_string(),
            )
        }),
        TokenRef::Command { argv, .. } => {
            program_missing(host, &argv[0], &format!("the token command for {route}"))
        }
    }
}

/// Why `program` (of `what`) cannot be run: not found on the host's PATH, or no such file.
fn program_missing(host: &Host, program: &str, what: &str) -> Option<(String, String)> {
    let path = (host.env)("PATH").unwrap_or_default();
    let found = if program.contains('/') {
        std::path::Path::new(program).is_file()
    } else {
        which::which_in(program, Some(path), &host.user_home).is_ok()
    };
    (!found).then(|| {
        (
            format!("`{program}` ({what}) is not found"),
            "install it, or name it by its full path".to_string(),
        )
    })
}

/// Everything the launch reads from the host must be there now, so a launch never half-starts.
pub(super) fn check_host(host: &Host, r: &Resolution) -> Result<(), InputError> {
    for (name, value) in &r.env {
        if let EnvValue::Host(var) = &value.value
            && (host.env)(var).is_none()
        {
            return Err(value
                .loc
                .error(
                    &format!("env.{name}"),
                    format!("host variable `{var}` is not set"),
                )
                .fix(format!(
                    "export {var} before launching, or change env.{name}"
                )));
        }
    }
    if let Some(token) = &r.resolved.provider.auth_token
        && !host.is_set(&token.value)
    {
        return Err(token
            .loc
            .error(
                "agent_provider.auth_token",
                format!(
                    "host variable `{}` (the OAuth token) is not set or empty",
                    token.value
                ),
            )
            .fix(format!(
                "export {} (`claude setup-token` prints one)",
                token.value
            )));
    }
    for route in &r.resolved.routes {
        if let Some(auth) = &route.auth
            && !r.replaced_routes.contains(&route.host)
            && let Some((message, fix)) = token_missing(host, &auth.token, &route.host)
        {
            let key = format!("egress.routes[{}].auth.{}", route.index, auth.token.key());
            return Err(route.loc.error(&key, message).fix(fix));
        }
    }
    if r.provider.forward_host_credentials {
        let file = provider::codex_auth_file(&host.user_home);
        if !file.is_file() {
            let loc = r
                .resolved
                .provider
                .forward_host_credentials
                .as_ref()
                .map(|f| f.loc.clone());
            return Err(loc
                .unwrap_or_default()
                .error(
                    "agent_provider.forward_host_credentials",
                    format!("{} does not exist", file.display()),
                )
                .fix("run `codex login` on the host first"));
        }
    }
    if let Some(dockerfile) = &r.resolved.provider.dockerfile
        && !dockerfile.value.is_file()
    {
        return Err(dockerfile
            .loc
            .error(
                "agent_provider.dockerfile",
                format!("{} does not exist", dockerfile.value.display()),
            )
            .fix("give a path relative to the bottle file, or an absolute one"));
    }
    for (i, (skill, path)) in r.skills.iter().enumerate() {
        if !path.is_dir() {
            return Err(skill
                .loc
                .error(
                    &format!("skills[{i}]"),
                    format!("skill folder {}/ does not exist", path.display()),
                )
                .fix(format!(
                    "create it, or remove `{}` from skills",
                    skill.value
                )));
        }
    }
    if let Some(rules) = &r.resolved.rules
        && !rules.value.is_file()
    {
        return Err(rules
            .loc
            .error("git-gate.rules", format!("rules file {} does not exist", rules.value.display()))
            .fix("give the path of a gitleaks-format TOML file, relative to the bottle file or absolute"));
    }
    if let Some(rules) = &r.resolved.rules {
        // What gitleaks would refuse to load is refused here, not found out at the first push.
        let config = bb_gitleaks::load_compiled(&rules.value).map_err(|e| {
            let fix = format!(
                "fix the rules file (git-gate.rules in {})",
                bb_contract::error::display_path(&rules.loc.file)
            );
            match e.fix.clone() {
                Some(own) => e.fix(format!("{own}; {fix}")),
                None => e.fix(fix),
            }
        })?;
        config.warnings.iter().for_each(|w| {
            (host.warn)(&format!(
                "{}: {w}",
                bb_contract::error::display_path(&rules.value)
            ))
        });
    }
    for (name, repo) in &r.resolved.repos {
        let Some(key) = &repo.key else { continue };
        let missing = match &key.value {
            RepoKey::File { key_path } => (!key_path.is_file()).then(|| {
                (
                    "path",
                    format!("key file {} does not exist", key_path.display()),
                    "give the path of the SSH private key for this repo".to_owned(),
                )
            }),
            RepoKey::Command { key_command, .. } => program_missing(
                host,
                &key_command[0],
                &format!("the key command of repo `{name}`"),
            )
            .map(|(message, fix)| ("command", message, fix)),
        };
        if let Some((field, message, fix)) = missing {
            return Err(key
                .loc
                .error(&format!("git-gate.repos.{name}.key.{field}"), message)
                .fix(fix));
        }
    }
    Ok(())
}
