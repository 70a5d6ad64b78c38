//! Stage 5: what the agent container needs, put in through `docker exec` and `docker cp` only
//! (nothing is mounted from the host into the agent).
//!
//! - the bottle CA into the system trust store (`update-ca-certificates`); the compose file
//!   already points `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` at it;
//! - the prompt to `/home/node/.bot-bottle-prompt.txt` (0600, owned by `node`);
//! - each skill to `/home/node/.claude/skills/<name>/`;
//! - `~/.gitconfig`: the identity and, per repo, `url."git://git-gate/<repo>.git".insteadOf` for
//!   every form of the upstream URL the agent may know;
//! - the workspace to `/home/node/workspace` when planned.
//!
//! Running it again rewrites the same files.

pub mod gitconfig;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_core::Plan;
use bb_core::docker;
use bb_core::plan::ProvisionPlan;

pub const HOME: &str = "/home/node";
pub const CA_PATH: &str = "/usr/local/share/ca-certificates/bot-bottle.crt";
pub const PROMPT_PATH: &str = "/home/node/.bot-bottle-prompt.txt";
pub const GITCONFIG_PATH: &str = "/home/node/.gitconfig";
pub const WORKSPACE_PATH: &str = "/home/node/workspace";

/// Provisions the running agent container of `plan`.
pub fn provision(plan: &Plan) -> Result<ProvisionPlan> {
    let container = plan.compose_up()?.agent_container.clone();
    let ca = std::fs::read(&plan.ca()?.cert).context("reading the bottle CA")?;
    install_ca(&container, &ca)?;
    let prompt = std::fs::read(&plan.agent.prompt_file).context("reading the prompt file")?;
    write_file(&container, PROMPT_PATH, &prompt, "0600")?;
    let mut skills = Vec::new();
    for skill in &plan.agent.skills {
        let dest = format!("{HOME}/.claude/skills/{}", skill.name);
        copy_dir(&container, &skill.host_path, &dest)?;
        skills.push(PathBuf::from(dest));
    }
    write_file(
        &container,
        GITCONFIG_PATH,
        gitconfig::render(&plan.git_gate).as_bytes(),
        "0644",
    )?;
    let workspace = match &plan.workspace {
        Some(w) => {
            copy_dir(&container, &w.host_path, WORKSPACE_PATH)?;
            Some(PathBuf::from(WORKSPACE_PATH))
        }
        None => None,
    };
    Ok(ProvisionPlan {
        ca_cert: CA_PATH.into(),
        prompt_file: PROMPT_PATH.into(),
        skills,
        gitconfig: GITCONFIG_PATH.into(),
        workspace,
    })
}

/// `docker exec -i -u USER CONTAINER sh -c SCRIPT` with `input` on stdin.
///
/// Files under /home/node are written as `node` itself: the agent runs with
/// `no-new-privileges`, so a root `docker exec` has no capabilities to write into node's home.
fn exec_as(user: &str, container: &str, script: &str, input: Input) -> Result<()> {
    let bin = docker::docker_bin()?;
    let args = ["exec", "-i", "-u", user, container, "sh", "-c", script];
    let exec = duct::cmd(&bin, args);
    let exec = match input {
        Input::Bytes(bytes) => exec.stdin_bytes(bytes.to_vec()),
        Input::TarOf(dir) => duct::cmd!("tar", "-c", "-C", dir, ".").pipe(exec),
    };
    let out = exec.stdout_capture().stderr_capture().unchecked().run()?;
    if !out.status.success() {
        let os_args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        bail!("{}", docker::failure("docker", &os_args, &out));
    }
    Ok(())
}

enum Input<'a> {
    Bytes(&'a [u8]),
    /// A tar stream of this host folder, made by the host's `tar`.
    TarOf(&'a Path),
}

fn install_ca(container: &str, pem: &[u8]) -> Result<()> {
    let script = format!(
        "set -e; command -v update-ca-certificates >/dev/null || {{ echo 'the agent image has no update-ca-certificates (install the ca-certificates package)' >&2; exit 1; }}; \
         mkdir -p /usr/local/share/ca-certificates; cat > {CA_PATH}; chmod 0644 {CA_PATH}; update-ca-certificates >/dev/null 2>&1"
    );
    exec_as("root", container, &script, Input::Bytes(pem))
        .context("installing the bottle CA in the agent")
}

/// Writes `path` as node with `mode`, from stdin.
fn write_file(container: &str, path: &str, contents: &[u8], mode: &str) -> Result<()> {
    let script = format!("set -e; umask 077; cat > '{path}'; chmod {mode} '{path}'");
    exec_as("node", container, &script, Input::Bytes(contents))
        .with_context(|| format!("writing {path} in the agent"))
}

/// Replaces `dest` with a copy of the host folder `src`, extracted by node (so node owns it).
/// Symbolic links are copied as links, never followed.
fn copy_dir(container: &str, src: &Path, dest: &str) -> Result<()> {
    let script =
        format!("set -e; rm -rf '{dest}'; mkdir -p '{dest}'; tar -x --no-same-owner -C '{dest}'");
    exec_as("node", container, &script, Input::TarOf(src))
        .with_context(|| format!("copying {} into the agent", src.display()))
}
