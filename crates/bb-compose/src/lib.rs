//! Stage 4: the bottle's compose project.
//!
//! - [`render`] writes `state/<id>/docker-compose.yml` (JSON, which both compose v1 and v2 read)
//!   and the sidecar's `egress/routes.json`; secrets appear only as bare variable names.
//! - [`up`] builds missing images, reads secret values (host variables, terminal prompts, token
//!   sources) into the compose child's environment only, runs `up -d`, and waits until the
//!   sidecar is healthy. A failed `up` takes the project down again.
//! - [`down`] removes the project (and any container left with the bottle's label); [`logs`]
//!   writes `state/<id>/compose.log`.

pub mod render;
pub mod secrets;
pub mod token_command;

use bb_contract::layout::state_files::COMPOSE_LOG;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bb_contract::Plan;
use bb_contract::layout::labels::IDENTITY as IDENTITY_LABEL;
use bb_contract::plan::ComposePlan;
use bb_core::docker::{self, Compose};
use bb_core::engine_files;

pub use render::render;

/// How long `up` waits for the sidecar's health check.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds missing images, starts the project and waits for the sidecar. On failure the project
/// is taken down before the error is returned.
pub fn up(plan: &Plan, secrets: &secrets::Secrets) -> Result<ComposePlan> {
    let mut compose = match &plan.compose {
        Some(c) if c.file.is_file() => c.clone(),
        _ => render(plan)?,
    };
    bb_images::launch::ensure_agent_image(plan)?;
    bb_images::launch::ensure_sidecar_image(&compose.sidecar_image)?;
    ensure_home_volume(&plan.identity)?;
    let tool = Compose::find()?;
    let step = bb_core::progress::Step::start(
        "bb-compose",
        format!("starting {} with {}", compose.project, tool.name()),
    );
    let create = tool.args(
        &compose.project,
        &compose.file,
        &["up", "--no-start", "--no-build"],
    );
    let start = tool.args(&compose.project, &compose.file, &["start"]);
    let gate = !plan.git_gate.repos.is_empty();
    let result = run_with_secrets(&tool, &create, secrets)
        .and_then(|()| put_sidecar_files(plan, &compose.sidecar_container))
        .and_then(|()| run_with_secrets(&tool, &start, &secrets::Secrets::default()))
        .and_then(|()| wait_healthy(&compose.sidecar_container, gate));
    if let Err(err) = result {
        let _ = down(plan);
        return Err(err);
    }
    step.finish(format!("{} is up (sidecar healthy)", compose.project));
    compose.up = true;
    Ok(compose)
}

/// The sidecar's configuration, into the created container through the engine: the engine
/// may be another machine, so no file of the launcher's is mounted. (Its supervise folder's
/// parts are made by the sidecar as it writes them.)
fn put_sidecar_files(plan: &Plan, container: &str) -> Result<()> {
    let files = render::sidecar_files(plan)?;
    engine_files::put(
        container,
        bb_contract::layout::sidecar::CONFIG_DIR,
        &[],
        &files,
    )
}

/// Runs compose with a clean copy of our environment plus the secret values. Nothing of the
/// values reaches argv, a file or a log; compose's own output goes to our stderr.
fn run_with_secrets(
    tool: &Compose,
    args: &[std::ffi::OsString],
    secrets: &secrets::Secrets,
) -> Result<()> {
    let mut cmd = duct::cmd(&tool.program, args)
        .stdout_capture()
        .stdin_null()
        .unchecked();
    for (name, value) in secrets.iter() {
        cmd = cmd.env(name, value);
    }
    let out = cmd.stderr_capture().run().context("running compose")?;
    if !out.status.success() {
        bail!("{}", docker::failure(&tool.name(), args, &out));
    }
    Ok(())
}

/// Waits until the sidecar answers its own health check. Polled with `docker exec` rather than
/// through the engine's health status, whose first check only runs one interval after start.
fn wait_healthy(container: &str, gate: bool) -> Result<()> {
    let start = Instant::now();
    loop {
        let proxy = docker::succeeds(["exec", container, "/usr/local/bin/bb-sidecar", "health"]);
        if proxy
            && (!gate
                || docker::succeeds(["exec", container, "/usr/local/bin/bb-gitgate", "health"]))
        {
            return Ok(());
        }
        let state = docker::output(["inspect", "--format", "{{.State.Status}}", container])?;
        match state.trim() {
            "exited" | "dead" => bail!("the sidecar {container} exited: {}", tail_logs(container)),
            _ if start.elapsed() > HEALTH_TIMEOUT => {
                bail!(
                    "the sidecar {container} was not healthy after {HEALTH_TIMEOUT:?}: {}",
                    tail_logs(container)
                )
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn tail_logs(container: &str) -> String {
    docker::raw(["logs", "--tail", "5", container])
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().map(str::trim).collect::<Vec<_>>().join(" | ")
        })
        .unwrap_or_default()
}

/// Runs `compose -p PROJECT -f FILE ARGS…` (no secrets in its environment), capturing output.
fn compose(
    plan: &Plan,
    file: &std::path::Path,
    args: &[&str],
) -> Result<(Compose, Vec<std::ffi::OsString>, std::process::Output)> {
    let tool = Compose::find()?;
    let args = tool.args(&plan.compose_project(), file, args);
    let out = duct::cmd(&tool.program, &args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()?;
    Ok((tool, args, out))
}

/// The project's compose file: the one `up` used, else where `render` writes it.
fn project_file(plan: &Plan) -> PathBuf {
    plan.compose
        .as_ref()
        .map(|c| c.file.clone())
        .unwrap_or_else(|| render::compose_file(plan))
}

/// Stops the project's containers (the agent first, then the sidecar), so that the logs taken
/// next hold everything they will ever write: what an agent does during teardown is kept too.
pub fn stop(plan: &Plan) -> Result<()> {
    let file = project_file(plan);
    if !file.is_file() {
        return Ok(());
    }
    let (tool, args, out) = compose(plan, &file, &["stop", "--timeout", "5"])?;
    if !out.status.success() {
        bail!("{}", docker::failure(&tool.name(), &args, &out));
    }
    Ok(())
}

/// Removes the project; then any container still carrying the bottle's label.
pub fn down(plan: &Plan) -> Result<()> {
    let file = project_file(plan);
    let mut failures = Vec::new();
    if file.is_file() {
        let (tool, args, out) = compose(
            plan,
            &file,
            &["down", "--remove-orphans", "--volumes", "--timeout", "5"],
        )?;
        if !out.status.success() {
            failures.push(docker::failure(&tool.name(), &args, &out));
        }
    }
    if let Err(err) = remove_containers(&plan.identity) {
        failures.push(format!("{err:#}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}

/// Creates the bottle's home volume unless it exists (a resumed bottle finds its home again).
pub fn ensure_home_volume(identity: &str) -> Result<()> {
    let name = bb_contract::layout::names::home_volume(identity);
    let identity_label = format!("{IDENTITY_LABEL}={identity}");
    let role_label = format!("{}=home", bb_contract::layout::labels::ROLE);
    docker::output([
        "volume",
        "create",
        "--label",
        &identity_label,
        "--label",
        &role_label,
        &name,
    ])
    .with_context(|| format!("creating the volume {name}"))?;
    Ok(())
}

/// Removes the bottle's home volume (the agent's conversation and workspace); gone already is
/// not an error.
pub fn remove_home_volume(identity: &str) -> Result<()> {
    remove_volume(&bb_contract::layout::names::home_volume(identity))
}

/// Removes a home volume by name (`cleanup` lists them by label); gone already is not an error.
pub fn remove_volume(name: &str) -> Result<()> {
    if docker::succeeds(["volume", "inspect", name]) {
        docker::output(["volume", "rm", "-f", name])
            .with_context(|| format!("removing the volume {name}"))?;
    }
    Ok(())
}

/// Removes containers by name, with their anonymous volumes (`cleanup` also finds containers
/// by the name prefix alone); returns what failed.
pub fn remove_named_containers(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| {
            docker::output(["rm", "-f", "-v", name])
                .err()
                .map(|err| format!("container {name}: {err:#}"))
        })
        .collect()
}

/// Removes every container labelled with `identity`, with its anonymous volumes: what `down`
/// leaves when the compose file is gone, and all of a bottle whose launcher was killed.
pub fn remove_containers(identity: &str) -> Result<()> {
    let filter = format!("label={IDENTITY_LABEL}={identity}");
    let left = docker::output(["ps", "-aq", "--filter", &filter])?;
    let left: Vec<&str> = left.split_whitespace().collect();
    if !left.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(&left);
        docker::output(&args)?;
    }
    Ok(())
}

/// Writes the project's logs to `state/<id>/compose.log` (0600), appends the sidecar's lines to
/// the bottle's audit stream ([`bb_core::audit`]), and returns the log's path.
pub fn logs(plan: &Plan) -> Result<PathBuf> {
    if let Err(e) = keep_audit(&plan.state_dir, &plan.identity) {
        eprintln!("bb-compose: the audit stream was not kept: {e:#}");
    }
    let path = plan.state_dir.join(COMPOSE_LOG);
    let file = render::compose_file(plan);
    let mut text = Vec::new();
    if file.is_file() {
        let (_, _, out) = compose(plan, &file, &["logs", "--no-color", "--timestamps"])?;
        text.extend(out.stdout);
        text.extend(out.stderr);
    }
    bb_core::fsx::write_file(&path, &text, 0o600)?;
    Ok(path)
}

/// Appends what the sidecar of `identity` logged (if it is there) to its audit stream.
pub fn keep_audit(state: &Path, identity: &str) -> Result<()> {
    let sidecar = bb_contract::layout::names::sidecar_container(identity);
    if let Ok(out) = docker::raw(["logs", "--timestamps", &sidecar])
        && out.status.success()
    {
        bb_core::audit::keep(state, identity, &String::from_utf8_lossy(&out.stdout))?;
    }
    Ok(())
}
