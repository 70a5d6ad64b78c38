//! Following a running sidecar's log into the audit stream: `docker logs -f` of its container,
//! or `kubectl logs -f` of its Deployment. On a cluster the stream ends whenever the sidecar's
//! container restarts or its pod is replaced; the follower then follows again from the last
//! line it read, for as long as the Deployment exists.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bb_contract::layout::kube;
use time::OffsetDateTime;

use super::{engine_time, keep_line, last_time};

/// Where a sidecar's log is read: its container on the engine, or its Deployment on a
/// cluster. Both put the time first with `--timestamps` (RFC 3339), so their lines read alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    Docker {
        container: String,
    },
    /// The sidecar's Deployment in the bottle's namespace.
    Kube {
        context: Option<String>,
        namespace: String,
    },
}

/// How long a follower waits before it follows a cluster's log again.
const AGAIN: Duration = Duration::from_secs(1);

impl LogSource {
    /// `docker logs -f --timestamps` or `kubectl logs -f --timestamps`, after `since` when
    /// given.
    fn follow_command(&self, since: Option<OffsetDateTime>) -> Result<Command> {
        let since = since
            .map(|t| t.format(&time::format_description::well_known::Rfc3339))
            .transpose()?;
        let mut cmd;
        match self {
            LogSource::Docker { container } => {
                cmd = Command::new(crate::docker::docker_bin()?);
                cmd.args(["logs", "-f", "--timestamps"]);
                if let Some(since) = since {
                    cmd.args(["--since", &since]);
                }
                cmd.arg(container);
            }
            LogSource::Kube { namespace, .. } => {
                cmd = self.kubectl()?;
                cmd.args(["logs", "-f", "--timestamps", "-n", namespace]);
                if let Some(since) = since {
                    cmd.arg(format!("--since-time={since}"));
                }
                cmd.arg(kube::sidecar_deployment());
            }
        }
        Ok(cmd)
    }

    fn kubectl(&self) -> Result<Command> {
        let mut cmd = Command::new(crate::agent_exec::kubectl_bin()?);
        if let LogSource::Kube { context, .. } = self {
            cmd.args(crate::agent_exec::context_args(context.as_deref()));
        }
        Ok(cmd)
    }

    /// Whether the log may go on after its stream ended: a cluster's sidecar whose Deployment
    /// is not known to be gone (a container's log ends when the container stops, for good).
    /// A cluster that does not answer is asked again at the next round.
    fn goes_on(&self) -> bool {
        let LogSource::Kube { namespace, .. } = self else {
            return false;
        };
        let found = self.kubectl().and_then(|mut cmd| {
            Ok(cmd
                .args(["get", &kube::sidecar_deployment(), "-n", namespace])
                .arg("--ignore-not-found")
                .args(["-o", "name", "--request-timeout=10s"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()?)
        });
        match found {
            Ok(out) if out.status.success() => !out.stdout.trim_ascii().is_empty(),
            _ => true,
        }
    }
}

/// The sidecar's log followed from `source` (after `since`, the engine's time, when given):
/// the process and its stdout, one line per log line.
pub fn follow_logs(
    source: &LogSource,
    since: Option<OffsetDateTime>,
) -> Result<(Child, ChildStdout)> {
    let mut child = source
        .follow_command(since)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("following the sidecar's log")?;
    let stdout = child.stdout.take().context("the log's stdout")?;
    Ok((child, stdout))
}

/// A followed sidecar log copied into the stream as it is written.
pub struct Follower {
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<AtomicBool>,
    copier: std::thread::JoinHandle<()>,
}

/// Follows the sidecar's log into `state`'s stream from now on (lines older than the newest
/// kept one are the backlog of an earlier follow: skipped).
pub fn follow(state: &Path, identity: &str, source: &LogSource) -> Result<Follower> {
    let (child, stdout) = follow_logs(source, None)?;
    let child = Arc::new(Mutex::new(Some(child)));
    let stop = Arc::new(AtomicBool::new(false));
    let copy = Copy {
        state: state.to_path_buf(),
        identity: identity.to_owned(),
        source: source.clone(),
        child: Arc::clone(&child),
        stop: Arc::clone(&stop),
    };
    let copier = std::thread::spawn(move || copy.run(stdout));
    Ok(Follower {
        child,
        stop,
        copier,
    })
}

/// What the copying thread holds.
struct Copy {
    state: PathBuf,
    identity: String,
    source: LogSource,
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<AtomicBool>,
}

impl Copy {
    fn run(self, first: ChildStdout) {
        let kept_before = last_time(&self.state);
        let mut read_until: Option<OffsetDateTime> = None;
        let mut stdout = Some(first);
        let mut quiet_rounds = 0;
        loop {
            let Some(out) = stdout.take() else { return };
            let before = read_until;
            // Line by line, whatever the bytes: one line that is not UTF-8 must not end the copy.
            let mut reader = std::io::BufReader::new(out);
            let mut bytes = Vec::new();
            while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
                let raw = String::from_utf8_lossy(&bytes).trim_end().to_string();
                bytes.clear();
                let time = engine_time(&raw);
                // Following again from a line's time gives that line again.
                if read_until.is_some_and(|until| time.is_some_and(|t| t <= until)) {
                    continue;
                }
                read_until = time.or(read_until);
                if keep_line(&self.state, &self.identity, kept_before, &raw).is_err() {
                    return;
                }
            }
            if self.stop.load(Ordering::SeqCst) || !self.source.goes_on() {
                return;
            }
            // A stream that keeps ending with nothing new (a cluster that refuses, a pod that
            // restarts in a loop) is asked less and less often.
            quiet_rounds = if read_until == before {
                quiet_rounds + 1
            } else {
                0
            };
            if !self.pause(AGAIN * 2u32.pow(quiet_rounds.min(5))) {
                return;
            }
            let Ok((child, out)) = follow_logs(&self.source, read_until) else {
                return;
            };
            if !self.replace_child(child) {
                return;
            }
            stdout = Some(out);
        }
    }

    /// Waits `how_long`, or less when the follower is finishing: whether to go on.
    fn pause(&self, how_long: Duration) -> bool {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        !self.stop.load(Ordering::SeqCst)
    }

    /// Keeps `child` as the process to end at [`Follower::finish`], the ended one reaped;
    /// `false` (and `child` ended) when the follower is finishing.
    fn replace_child(&self, child: Child) -> bool {
        let mut current = self.child.lock().expect("the follower's lock");
        // Under the lock: `finish` sets `stop` before it takes the lock to end the child.
        let stopping = self.stop.load(Ordering::SeqCst);
        let ended = if stopping {
            Some(child)
        } else {
            current.replace(child)
        };
        drop(current);
        if let Some(mut ended) = ended {
            let _ = ended.kill();
            let _ = ended.wait();
        }
        !stopping
    }
}

impl Follower {
    /// Waits up to `grace` for the copy to reach the end of the log (the container stopped,
    /// the Deployment deleted), then ends it.
    pub fn finish(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.copier.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut child) = self.child.lock().expect("the follower's lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.copier.join();
    }
}
