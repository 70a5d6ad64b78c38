//! The git gate runs as a child of the sidecar (`bb-gitgate serve`), so that the bottle keeps
//! one container: restarted with a backoff when it dies, stopped with the sidecar. Its JSON log
//! lines go to the same stdout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::Command;

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
                    _ = shutdown.wait() => {
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        return;
                    }
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
