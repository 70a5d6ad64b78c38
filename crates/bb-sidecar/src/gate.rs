//! The git gate runs as a child of the sidecar (`bb-gitgate serve`), so that the bottle keeps
//! one container: restarted with a backoff when it dies, stopped with the sidecar (SIGTERM, so
//! that it ends the git services it runs, each in a process group of its own; SIGKILL after
//! [`STOP_GRACE`]). Its JSON log lines go to the same stdout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::Shutdown;
use crate::log::Log;

/// Where the gate's configuration is mounted, and the gate program.
#[derive(Debug, Clone)]
pub struct GateOptions {
    pub program: PathBuf,
    pub config: PathBuf,
    /// The gate's address: the proxy's address on the internal network, port 9418.
    pub listen: std::net::SocketAddr,
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);
/// How long the gate has to stop after SIGTERM before it is killed (it gives its services 2 s).
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the gate until shutdown, restarting it whenever it exits.
pub async fn supervise(opts: GateOptions, log: Log, mut shutdown: Shutdown) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let spawned = Command::new(&opts.program)
            .arg("serve")
            .arg("--config")
            .arg(&opts.config)
            .arg("--listen")
            .arg(opts.listen.to_string())
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Ok(mut child) => {
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                        log.event("git-gate", false, &format!("bb-gitgate exited ({status}); restarting in {}s", backoff.as_secs()));
                    }
                    _ = shutdown.wait() => return stop(&mut child, STOP_GRACE).await,
                }
            }
            Err(err) => log.event(
                "git-gate",
                false,
                &format!(
                    "cannot start {}: {err}; retrying in {}s",
                    opts.program.display(),
                    backoff.as_secs()
                ),
            ),
        }
        backoff = if started.elapsed() >= STABLE {
            FIRST_BACKOFF
        } else {
            (backoff * 2).min(MAX_BACKOFF)
        };
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// SIGTERM, then SIGKILL if the gate is still running after `grace`; returns once it is gone.
async fn stop(child: &mut Child, grace: Duration) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid
        && rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
        && tokio::time::timeout(grace, child.wait()).await.is_ok()
    {
        return;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A gate program that notes its start and, unless `ignore_term`, ends on SIGTERM noting it.
    fn fake_gate(dir: &Path, ignore_term: bool) -> PathBuf {
        let on_term = if ignore_term {
            "''".to_owned()
        } else {
            format!("'echo > {}/term; exit 0'", dir.display())
        };
        let script = format!(
            "#!/bin/sh\ntrap {on_term} TERM\necho > {}/started\nwhile :; do sleep 0.1; done\n",
            dir.display()
        );
        let path = dir.join("fake-gate");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    async fn wait_for(path: &Path) {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !path.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        waited.await.expect("the fake gate started");
    }

    #[tokio::test]
    async fn the_gate_is_asked_to_stop_before_it_would_be_killed() {
        let dir = tempfile::tempdir().unwrap();
        let opts = GateOptions {
            program: fake_gate(dir.path(), false),
            config: dir.path().join("repos.json"),
            listen: "127.0.0.1:9418".parse().unwrap(),
        };
        let (trigger, shutdown) = crate::Shutdown::channel();
        let (log, _lines) = Log::memory();
        let supervisor = tokio::spawn(supervise(opts, log, shutdown));
        wait_for(&dir.path().join("started")).await;
        trigger.shutdown();
        tokio::time::timeout(STOP_GRACE, supervisor)
            .await
            .expect("the gate stopped within the grace period")
            .unwrap();
        assert!(dir.path().join("term").exists(), "the gate got SIGTERM");
    }

    #[tokio::test]
    async fn a_gate_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_gate(dir.path(), true);
        // Run through sh: the script was just written, and exec'ing it could meet ETXTBSY.
        let mut child = Command::new("sh")
            .arg(&program)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_for(&dir.path().join("started")).await;
        let started = Instant::now();
        stop(&mut child, Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(child.try_wait().unwrap().is_some());
    }
}
