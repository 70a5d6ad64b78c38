//! Stage 5: what the agent needs, put in through `docker exec` (or, for a bottle on Kubernetes,
//! `kubectl exec`) only: nothing is mounted from the host into the agent.
//!
//! - the bottle CA into the system trust store and bundle; the compose file
//!   already points `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` at it (on
//!   Kubernetes the agent Pod's init container built the bundle: a restricted pod has no root);
//! - the prompt to `/home/node/.bot-bottle-prompt.txt` (0600, owned by `node`);
//! - each skill to `/home/node/.claude/skills/<name>/`;
//! - `~/.gitconfig`: the identity and, per repo, `url."git://git-gate/<repo>.git".insteadOf` for
//!   every form of the upstream URL the agent may know;
//! - the workspace to `/home/node/workspace` when planned, unless the bottle's home volume
//!   already holds one (a resumed bottle keeps its edits and unpushed commits);
//! - the agent CLI's own configuration ([`agent_config`]) so it starts with no dialog.
//!
//! Running it again rewrites the same files.

pub mod agent_config;
pub mod gitconfig;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_contract::Plan;
use bb_contract::plan::ProvisionPlan;
use bb_core::agent_exec::{AgentAt, Input};
use bb_core::docker;

pub use bb_contract::layout::agent::{
    CA_CERT as CA_PATH, GITCONFIG as GITCONFIG_PATH, HOME, PROMPT_FILE as PROMPT_PATH,
    WORKSPACE as WORKSPACE_PATH,
};

/// Provisions the running agent of `plan`: the CA (as root, in a container) and the files
/// under /home/node (one tar stream extracted by node) go in concurrently.
pub fn provision(plan: &Plan) -> Result<ProvisionPlan> {
    let agent = AgentAt::of(plan)?;
    let ca = std::fs::read(&plan.ca()?.cert).context("reading the bottle CA")?;
    let prompt = std::fs::read(&plan.agent.prompt_file).context("reading the prompt file")?;
    let gitconfig = gitconfig::render(&plan.git_gate);
    let agent_config = agent_config::files(plan, &String::from_utf8_lossy(&prompt));
    let mut home = HomeFiles {
        files: vec![
            (".bot-bottle-prompt.txt".into(), prompt, 0o600),
            (".gitconfig".into(), gitconfig.into_bytes(), 0o644),
        ],
        dirs: Vec::new(),
    };
    let config_paths: Vec<PathBuf> = agent_config
        .iter()
        .map(|(path, _, _)| Path::new(HOME).join(path))
        .collect();
    home.files.extend(agent_config);
    for skill in &plan.agent.skills {
        home.dirs.push((
            format!(".claude/skills/{}", skill.name),
            skill.host_path.clone(),
        ));
    }
    if let Some(w) = &plan.workspace {
        if agent.succeeds(&format!("test -d {WORKSPACE_PATH}")) {
            // A resumed bottle: its own workspace (edits, unpushed commits) stays as it is.
            bb_core::progress::info(
                "bb-provision",
                "keeping the workspace in the bottle's home (resumed)",
            );
        } else {
            home.dirs.push(("workspace".into(), w.host_path.clone()));
        }
    }
    std::thread::scope(|scope| {
        let ca_done = scope.spawn(|| match &agent {
            AgentAt::Docker { container } => install_ca(container, &ca),
            AgentAt::Kube { .. } => Ok(()),
        });
        let home_done = write_home(&agent, &home);
        ca_done.join().expect("the CA thread does not panic")?;
        home_done
    })?;
    Ok(ProvisionPlan {
        ca_cert: CA_PATH.into(),
        prompt_file: PROMPT_PATH.into(),
        skills: home
            .dirs
            .iter()
            .filter(|(d, _)| d.starts_with(".claude/"))
            .map(|(d, _)| Path::new(HOME).join(d))
            .collect(),
        gitconfig: GITCONFIG_PATH.into(),
        workspace: plan
            .workspace
            .as_ref()
            .map(|_| PathBuf::from(WORKSPACE_PATH)),
        agent_config: config_paths,
    })
}

/// What goes under /home/node: files (path, contents, mode) and host folders to mirror.
struct HomeFiles {
    files: Vec<agent_config::HomeFile>,
    dirs: Vec<(String, PathBuf)>,
}

/// Streams one tar of `home` into `tar -x` run by node, replacing the mirrored folders.
/// Symbolic links in host folders are copied as links, never followed.
fn write_home(agent: &AgentAt, home: &HomeFiles) -> Result<()> {
    let clear: Vec<String> = home.dirs.iter().map(|(d, _)| format!("'{d}'")).collect();
    let script = format!(
        "set -e; cd {HOME}; rm -rf {}; mkdir -p .claude/skills .codex; tar -x -p --no-same-owner -f -",
        clear.join(" ")
    );
    let mut child = agent
        .command(&script, Input::Piped, Some(HOME))?
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting the copy into the agent")?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let written = write_tar(stdin, home);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "copying files into the agent: {}",
            docker::message(&out.stderr)
        );
    }
    written.context("copying files into the agent")
}

fn write_tar(sink: impl std::io::Write, home: &HomeFiles) -> Result<()> {
    let mut tar = tar::Builder::new(sink);
    tar.follow_symlinks(false);
    for (path, contents, mode) in &home.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, contents.as_slice())?;
    }
    for (dest, src) in &home.dirs {
        tar.append_dir_all(dest, src)
            .with_context(|| format!("reading {}", src.display()))?;
    }
    tar.into_inner()?.flush()?;
    Ok(())
}

/// `docker exec -i -u root CONTAINER sh -c SCRIPT` with `input` on stdin. Root owns the trust
/// store, so this works although the agent runs with `no-new-privileges` (no capabilities).
fn exec_root(container: &str, script: &str, input: &[u8]) -> Result<()> {
    let bin = docker::docker_bin()?;
    let args = ["exec", "-i", "-u", "root", container, "sh", "-c", script];
    let out = duct::cmd(&bin, args)
        .stdin_bytes(input.to_vec())
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()?;
    if !out.status.success() {
        let os_args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        bail!("{}", docker::failure("docker", &os_args, &out));
    }
    Ok(())
}

/// Installs the CA without `update-ca-certificates` (which rehashes every certificate, ~1 s):
/// the file goes to the local store (so a later `update-ca-certificates` keeps it), its PEM is
/// appended once to the system bundle (what curl, git, `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE`
/// read), and a hash link is added for OpenSSL's directory lookups when `openssl` exists.
fn install_ca(container: &str, pem: &[u8]) -> Result<()> {
    let script = format!(
        "set -e; bundle=/etc/ssl/certs/ca-certificates.crt; \
         [ -f $bundle ] || {{ echo 'the agent image has no CA bundle (install the ca-certificates package)' >&2; exit 1; }}; \
         mkdir -p /usr/local/share/ca-certificates; cat > {CA_PATH}; chmod 0644 {CA_PATH}; \
         grep -qF \"$(sed -n 2p {CA_PATH})\" $bundle || cat {CA_PATH} >> $bundle; \
         if command -v openssl >/dev/null; then h=$(openssl x509 -hash -noout -in {CA_PATH}) && ln -sf {CA_PATH} /etc/ssl/certs/$h.0; fi"
    );
    exec_root(container, &script, pem).context("installing the bottle CA in the agent")
}
