//! `bot-bottle start`: plan, preflight, confirm, then the stages in order, and teardown in
//! reverse on exit, error and SIGINT/SIGTERM/SIGHUP. Every stage is the same library call its
//! `bb-*` binary makes.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use bb_contract::Plan;
use bb_contract::layout::names;
use bb_core::progress::info;
use bb_plan::{Host, Planned, planner, report, state};

use crate::cli::{Format, StartArgs};

/// Runs `start`; returns the exit status (the agent's, once it ran).
pub fn run(args: &StartArgs) -> Result<i32> {
    let host = Host::from_process("bot-bottle")?;
    let planned = planner::plan(&host, &args.plan.request(None))?;
    if args.dry_run {
        if args.json || args.format == Format::Json {
            bb_core::stage::write_plan(&planned.plan)?;
        } else {
            print!("{}", report::preflight(&planned));
        }
        return Ok(0);
    }
    let turn = Turn {
        prompt: args.prompt.clone(),
        resume: false,
    };
    let backend = match args.backend {
        crate::cli::Backend::Docker => Backend::Docker,
        crate::cli::Backend::Kubernetes => Backend::kubernetes(&args.kube)?,
    };
    launch(&planned, args.yes || args.headless, &turn, backend)
}

/// Where the stages make the bottle.
pub enum Backend {
    /// A compose project on the Docker engine (local or remote).
    Docker,
    /// A namespace on a Kubernetes cluster (`bb-kube apply`).
    Kubernetes(Box<KubeTarget>),
}

/// The cluster, kubectl and how long to wait, from `start`'s flags.
#[derive(Clone)]
pub struct KubeTarget {
    args: bb_kube::options::ApplyArgs,
    options: bb_kube::Options,
    kubectl: bb_kube::kubectl::Kubectl,
    wait: Duration,
}

impl Backend {
    /// A cluster, with `start`'s flags (or those a launch recorded, for `resume`).
    /// The cluster is pinned now (`--context`, else the current one) and recorded with the
    /// flags: the teardown, `stop`, `resume` and `cleanup` reach that one whatever is current.
    pub fn kubernetes(args: &bb_kube::options::ApplyArgs) -> Result<Backend> {
        let options = args
            .cluster
            .options()
            .map_err(bb_contract::InputError::from)?;
        let kubectl = bb_kube::kubectl::Kubectl::pinned(args.kubectl.context.clone())?;
        let mut args = args.clone();
        args.kubectl.context = kubectl.context.clone();
        Ok(Backend::Kubernetes(Box::new(KubeTarget {
            wait: Duration::from_secs(args.kubectl.wait),
            args,
            options,
            kubectl,
        })))
    }
}

/// What the agent does once the bottle is up.
pub struct Turn {
    /// One headless turn with this prompt, else interactive.
    pub prompt: Option<String>,
    /// Continue the previous conversation (the provider's resume flag).
    pub resume: bool,
}

/// Preflight, confirmation, the stages, the agent, and teardown: `start` and `resume`.
pub fn launch(planned: &Planned, yes: bool, turn: &Turn, backend: Backend) -> Result<i32> {
    if !bb_core::progress::quiet() {
        eprint!("{}", report::preflight(planned));
    }
    let confirmed = yes
        || crate::tty::ask(
            "launch this agent? [y/N] ",
            "pass --yes to launch without asking",
        )?;
    if !confirmed {
        eprintln!("bot-bottle: not launched");
        return Ok(1);
    }
    let signals = Signals::register()?;
    let mut launch = Launch {
        plan: planned.plan.clone(),
        done: Vec::new(),
        signals,
        audit: None,
        backend,
    };
    state::write(planned)?;
    bb_core::fsx::write_file(
        &planned.plan.state_dir.join(crate::bottles::WRAPPER_PID),
        std::process::id().to_string().as_bytes(),
        0o600,
    )?;
    launch.done.push(Step::State);
    let outcome = launch.run(turn);
    launch.teardown(outcome)
}

/// The error of a failed launch: the cause keeps its type, so bad input found during the launch
/// still exits 2.
fn launch_failed(identity: &str, err: anyhow::Error) -> anyhow::Error {
    err.context(format!("launching {identity}"))
}

/// What the launch created, in order; teardown undoes it in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    State,
    Networks,
    Compose,
    Kube,
}

struct Launch {
    plan: Plan,
    done: Vec<Step>,
    signals: Signals,
    /// The sidecar's log, copied into the audit stream while the bottle runs.
    audit: Option<bb_core::audit::Follower>,
    backend: Backend,
}

/// How the launch ended.
enum Outcome {
    /// The agent ran and exited with this status.
    Exited(i32),
    /// A signal arrived (its number).
    Interrupted(i32),
    Failed(anyhow::Error),
}

impl Launch {
    fn run(&mut self, turn: &Turn) -> Outcome {
        match self.stages(turn) {
            Ok(outcome) => outcome,
            Err(err) => match self.signals.received() {
                Some(sig) => {
                    eprintln!("bot-bottle: {err:#}");
                    Outcome::Interrupted(sig)
                }
                None => Outcome::Failed(err),
            },
        }
    }

    /// Checks for a signal at a stage boundary. `BB_DEBUG_SIGNAL_AFTER=<stage>` (net, ca,
    /// compose, provision) sends this process SIGINT at that boundary, to rehearse teardown.
    fn interrupted(&self, stage: &str) -> Option<Outcome> {
        if std::env::var("BB_DEBUG_SIGNAL_AFTER").is_ok_and(|s| s == stage) {
            let _ = signal_hook::low_level::raise(signal_hook::consts::SIGINT);
        }
        self.signals.received().map(Outcome::Interrupted)
    }

    fn stages(&mut self, turn: &Turn) -> Result<Outcome> {
        let stopped = match &self.backend {
            Backend::Docker => self.compose_stages()?,
            Backend::Kubernetes(target) => {
                let target = KubeTarget::clone(target);
                self.kube_stages(&target)?
            }
        };
        if let Some(stop) = stopped {
            return Ok(stop);
        }
        self.plan.provision = Some(timed("provision", || bb_provision::provision(&self.plan))?);
        if let Some(stop) = self.interrupted("provision") {
            return Ok(stop);
        }
        if let Some(ca) = &self.plan.ca {
            info(
                "bot-bottle",
                format_args!("CA SHA-256 {}", ca.fingerprint_sha256),
            );
        }
        let place = match &self.plan.kube {
            Some(k) => format!("namespace {}", k.namespace),
            None => self.plan.compose_project(),
        };
        info(
            "bot-bottle",
            format_args!("{place} is up; starting the agent"),
        );
        self.exec(turn)
    }

    /// The bottle on a Kubernetes cluster: its CA, then `bb-kube apply` with the secret values
    /// read now. `Some`: interrupted.
    fn kube_stages(&mut self, target: &KubeTarget) -> Result<Option<Outcome>> {
        self.plan.ca = Some(timed("CA", || bb_ca::ensure(&self.plan))?);
        let values = bb_kube::apply::read_values(&self.plan, &mut bb_compose::secrets::ask_on_tty)?;
        if let Some(stop) = self.interrupted("ca") {
            return Ok(Some(stop));
        }
        let mut options = target.options.clone();
        options.files = bb_kube::config::read_host_files(&self.plan)?;
        // Recorded before anything is made: a launch killed during apply leaves a record that
        // `cleanup` and `resume` find.
        let mut record = crate::kube_bottles::Record {
            applied: bb_kube::apply::planned(&self.plan, &target.kubectl),
            launch: target.args.clone(),
        };
        crate::kube_bottles::remember(&self.plan.state_dir, &record)?;
        self.done.push(Step::Kube);
        let applied = timed("kube apply", || {
            bb_kube::apply::apply(&self.plan, &options, &target.kubectl, &values, target.wait)
        })?;
        drop(values);
        record.applied = applied.clone();
        crate::kube_bottles::remember(&self.plan.state_dir, &record)?;
        let source = bb_core::audit::LogSource::Kube {
            context: applied.context.clone(),
            namespace: applied.namespace.clone(),
        };
        self.follow_audit(source, "not kept (kubectl logs deploy/sidecar shows it)");
        self.plan.kube = Some(applied);
        Ok(self.interrupted("compose"))
    }

    /// The bottle on the Docker engine: networks, CA, the compose project, the audit stream's
    /// follower. `Some`: interrupted.
    fn compose_stages(&mut self) -> Result<Option<Outcome>> {
        // Before anything is made on it: whatever is made there can be found again.
        crate::engine_record::remember(&self.plan.state_dir)?;
        self.done.push(Step::Networks);
        self.plan.network = Some(timed("networks", || bb_net::create(&self.plan))?);
        if let Some(stop) = self.interrupted("net") {
            return Ok(Some(stop));
        }
        self.plan.ca = Some(timed("CA", || bb_ca::ensure(&self.plan))?);
        let secrets =
            bb_compose::secrets::collect(&self.plan, &mut bb_compose::secrets::ask_on_tty)?;
        if let Some(stop) = self.interrupted("ca") {
            return Ok(Some(stop));
        }
        self.done.push(Step::Compose);
        self.plan.compose = Some(bb_compose::render(&self.plan)?);
        self.plan.compose = Some(timed("compose up", || {
            bb_compose::up(&self.plan, &secrets)
        })?);
        drop(secrets);
        let source = bb_core::audit::LogSource::Docker {
            container: names::sidecar_container(&self.plan.identity),
        };
        self.follow_audit(source, "kept at teardown only");
        Ok(self.interrupted("compose"))
    }

    /// Copies the sidecar's log into the audit stream while the bottle runs.
    fn follow_audit(&mut self, source: bb_core::audit::LogSource, otherwise: &str) {
        match bb_core::audit::follow(&self.plan.state_dir, &self.plan.identity, &source) {
            Ok(follower) => self.audit = Some(follower),
            Err(e) => eprintln!("bot-bottle: the audit stream is {otherwise}: {e:#}"),
        }
    }

    fn exec(&self, turn: &Turn) -> Result<Outcome> {
        let interactive = turn.prompt.is_none();
        let stdin_is_tty = std::io::stdin().is_terminal();
        let options = bb_exec::Options {
            headless: turn.prompt.clone(),
            resume: turn.resume,
            tty: interactive && stdin_is_tty,
            stdin_from_tty: false,
        };
        let mut child = bb_exec::spawn(&self.plan, &options)?;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Outcome::Exited(bb_exec::exit_code(status)));
            }
            if let Some(sig) = self.signals.received() {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome::Interrupted(sig));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Undoes every step in reverse, attempting each; reports failures at the end.
    fn teardown(mut self, outcome: Outcome) -> Result<i32> {
        let mut failures = Vec::new();
        let status = match &outcome {
            Outcome::Exited(code) => *code,
            Outcome::Interrupted(sig) => 128 + sig,
            Outcome::Failed(_) => 1,
        };
        let state = self.plan.state_dir.clone();
        let keep_home = status != 0 || state.join(".preserve").exists();
        for step in self.done.iter().rev() {
            let result = match step {
                // Stopped before the logs are taken, so that they hold the last decisions;
                // `down` runs whatever happened before it.
                Step::Compose => {
                    let stopped = bb_compose::stop(&self.plan);
                    if let Some(follower) = self.audit.take() {
                        follower.finish(Duration::from_secs(5));
                    }
                    let logged = bb_compose::logs(&self.plan).map(|_| ());
                    let down = bb_compose::down(&self.plan);
                    stopped.and(logged).and(down)
                }
                Step::Networks => bb_net::remove(&self.plan.identity),
                // The pod's log ends when it is deleted: the follower then has every line.
                Step::Kube => {
                    let down = self.kube_down(keep_home);
                    if let Some(follower) = self.audit.take() {
                        follower.finish(Duration::from_secs(5));
                    }
                    down
                }
                Step::State => Ok(()),
            };
            if let Err(err) = result {
                failures.push(format!("{step:?}: {err:#}"));
            }
        }
        let _ = std::fs::remove_file(state.join(crate::bottles::WRAPPER_PID));
        let keep = keep_home || !failures.is_empty();
        if keep {
            eprintln!("bot-bottle: state kept in {}", state.display());
            eprintln!(
                "bot-bottle: continue with: bot-bottle resume {}",
                self.plan.identity
            );
        } else {
            if let Err(err) = std::fs::remove_dir_all(&state) {
                failures.push(format!("removing {}: {err}", state.display()));
            }
            if matches!(self.backend, Backend::Docker)
                && let Err(err) = bb_compose::remove_home_volume(&self.plan.identity)
            {
                failures.push(format!("{err:#}"));
            }
        }
        for failure in &failures {
            eprintln!("bot-bottle: teardown failed: {failure}");
        }
        match outcome {
            Outcome::Failed(err) => Err(launch_failed(&self.plan.identity, err)),
            Outcome::Interrupted(sig) => {
                eprintln!("bot-bottle: interrupted by signal {sig}; torn down");
                Ok(status)
            }
            Outcome::Exited(_) if !failures.is_empty() => Ok(status.max(1)),
            Outcome::Exited(_) => Ok(status),
        }
    }
}

impl Launch {
    /// The bottle on the cluster: deleted with its namespace, or stopped with its home kept
    /// (as compose keeps the home volume) when the state is kept.
    fn kube_down(&self, keep_home: bool) -> Result<()> {
        let Backend::Kubernetes(target) = &self.backend else {
            return Ok(());
        };
        let namespace = bb_kube::names::namespace(&self.plan.identity);
        if keep_home {
            bb_kube::teardown::stop(&target.kubectl, &namespace, target.wait)
        } else {
            bb_kube::teardown::delete(&self.plan, &target.kubectl, target.wait)
        }
    }
}

/// Runs one stage and logs how long it took.
fn timed<T>(stage: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = std::time::Instant::now();
    let value = run()?;
    info(
        "bot-bottle",
        format_args!("{stage} ready in {:.3} s", start.elapsed().as_secs_f64()),
    );
    Ok(value)
}

/// SIGINT, SIGTERM and SIGHUP set a flag instead of killing us, so teardown always runs.
struct Signals(Arc<AtomicUsize>);

impl Signals {
    fn register() -> Result<Signals> {
        let flag = Arc::new(AtomicUsize::new(0));
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            let flag = Arc::clone(&flag);
            let _ = sig;
            signal_hook::flag::register_usize(sig, flag, sig as usize)
                .context("installing signal handlers")?;
        }
        Ok(Signals(flag))
    }

    fn received(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::InputError;
    use bb_contract::error::exit_code;

    #[test]
    fn bad_input_found_during_a_launch_still_exits_2() {
        let input = anyhow::Error::new(InputError::new("is not JSON")).context("reading auth");
        let err = launch_failed("fixer-ab12c", input);
        assert_eq!(exit_code(&err), 2);
        assert_eq!(
            format!("{err:#}"),
            "launching fixer-ab12c: reading auth: is not JSON"
        );
        let runtime = launch_failed("fixer-ab12c", anyhow::anyhow!("docker died"));
        assert_eq!(exit_code(&runtime), 1);
    }
}
