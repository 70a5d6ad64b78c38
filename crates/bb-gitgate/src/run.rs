//! Running git with a deadline: the child gets its own process group, its output is read
//! while it runs (no pipe deadlock), and at the deadline the whole group (git and its ssh) is
//! killed.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What a command left behind.
#[derive(Debug)]
pub struct Output {
    /// `None` when the deadline killed it.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Environment of [`Git::raw_objects`] (and of the forward's `git push`).
pub const RAW_OBJECTS_ENV: &[(&str, &str)] = &[
    ("GIT_NO_REPLACE_OBJECTS", "1"),
    ("GIT_GRAFT_FILE", "/dev/null"),
];

/// The repository git commands run in: a bare repo named by path (`--git-dir`), the repository
/// of the environment (a hook that git runs: [`GitRepo::of_env`]), or a hook's repository
/// served by the gate's own process ([`crate::hookd`]): the mirror, with the environment that
/// points git at the push's quarantined objects.
#[derive(Debug, Clone, Default)]
pub struct GitRepo {
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl GitRepo {
    /// The repository of the environment (`GIT_DIR`, or the current directory).
    pub fn of_env() -> GitRepo {
        GitRepo::default()
    }

    pub fn at(dir: &Path) -> GitRepo {
        GitRepo {
            dir: Some(dir.to_path_buf()),
            env: Vec::new(),
        }
    }

    /// The repo at `dir` with `env` set for every command (a hook's quarantine).
    pub fn with_env(dir: &Path, env: Vec<(String, String)>) -> GitRepo {
        GitRepo {
            dir: Some(dir.to_path_buf()),
            env,
        }
    }

    pub fn git(&self) -> Git {
        Git::new(self.dir.as_deref()).envs(&self.env)
    }

    /// [`Git::raw_objects`] in this repo.
    pub fn raw_objects(&self) -> Git {
        Git::raw_objects(self.dir.as_deref()).envs(&self.env)
    }
}

/// A git command line with its environment.
pub struct Git {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    line: String,
}

impl Git {
    /// `git` in `dir` (a bare repo: `--git-dir`), or in the current directory.
    pub fn new(dir: Option<&Path>) -> Git {
        let mut cmd = Command::new("git");
        crate::agent::remove_keys(&mut cmd);
        let mut line = String::from("git");
        if let Some(dir) = dir {
            cmd.arg("--git-dir").arg(dir);
            line.push_str(&format!(" --git-dir {}", dir.display()));
        }
        Git {
            cmd,
            stdin: None,
            line,
        }
    }

    /// `git --no-replace-objects` in `dir`, for every command that reads pushed objects: what
    /// is scanned and judged is the objects as stored, the same the forward sends, whatever
    /// `refs/replace/*`, `info/grafts` or a `GIT_SHALLOW_FILE` would make git show instead.
    pub fn raw_objects(dir: Option<&Path>) -> Git {
        let mut git = Git::new(dir)
            .arg("--no-replace-objects")
            .args(["-c", "advice.graftFileDeprecated=false"]);
        for (k, v) in RAW_OBJECTS_ENV {
            git.cmd.env(k, v);
        }
        git.cmd.env_remove("GIT_SHALLOW_FILE");
        git
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Git {
        self.line.push(' ');
        self.line.push_str(&arg.as_ref().to_string_lossy());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn envs(mut self, vars: &[(String, String)]) -> Git {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    pub fn env_remove(mut self, names: &[&str]) -> Git {
        for n in names {
            self.cmd.env_remove(n);
        }
        self
    }

    pub fn stdin(mut self, data: Vec<u8>) -> Git {
        self.stdin = Some(data);
        self
    }

    /// The command line, for error messages.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Runs to the end, or until `timeout`.
    pub fn run(mut self, timeout: Duration) -> Result<Output> {
        let start = Instant::now();
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = self
            .cmd
            .spawn()
            .with_context(|| format!("starting {}", self.line))?;
        let _listed = crate::groups::GIT_COMMANDS.list(child.id());
        let writer = match (child.stdin.take(), self.stdin.take()) {
            (Some(mut pipe), Some(data)) => Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            })),
            _ => None,
        };
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let out_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        let deadline = start + timeout;
        let mut pause = Duration::from_millis(2);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        // A grandchild (ssh) may still hold the pipes after git exits: end the group.
        if status.is_some() {
            kill_group(child.id());
        }
        if let Some(w) = writer {
            let _ = w.join();
        }
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        Ok(Output {
            status,
            stdout,
            stderr,
            elapsed: start.elapsed(),
        })
    }

    /// Runs and fails unless the command succeeds; returns stdout.
    pub fn ok(self, timeout: Duration) -> Result<Vec<u8>> {
        let line = self.line.clone();
        let out = self.run(timeout)?;
        if out.timed_out() {
            anyhow::bail!("{line} timed out after {} s", timeout.as_secs());
        }
        if !out.success() {
            anyhow::bail!(
                "{line} failed ({}): {}",
                out.status.map(|s| s.to_string()).unwrap_or_default(),
                out.stderr_str().trim()
            );
        }
        Ok(out.stdout)
    }

    /// Spawns with piped stdin and stdout (for the streaming readers), stderr inherited.
    pub fn spawn_piped(mut self) -> Result<std::process::Child> {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        self.cmd
            .spawn()
            .with_context(|| format!("starting {}", self.line))
    }
}

/// Writes one commit id per line to `child`'s stdin from a thread of its own (so that its
/// stdout can be read meanwhile); join the handle once stdout is drained.
pub fn feed_commits(
    child: &mut std::process::Child,
    commits: &[String],
) -> Result<std::thread::JoinHandle<()>> {
    use std::io::Write;
    let mut stdin = child.stdin.take().context("git's stdin")?;
    let list: Vec<u8> = commits
        .iter()
        .flat_map(|c| format!("{c}\n").into_bytes())
        .collect();
    Ok(std::thread::spawn(move || {
        let _ = stdin.write_all(&list);
    }))
}

/// SIGKILL to the process group led by `pid` (ignored when it is gone).
pub fn kill_group(pid: u32) {
    signal_group(pid, rustix::process::Signal::KILL);
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// A timeout from an environment variable in seconds, else `default`.
pub fn timeout_from_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = Git::new(None)
            .arg("--version")
            .run(Duration::from_secs(30))
            .unwrap();
        assert!(out.success());
        assert!(out.stdout_str().starts_with("git version"));
    }

    #[test]
    fn deadline_kills_the_group() {
        // `git -c alias.x='!sleep 30' x` runs a shell child of git.
        let out = Git::new(None)
            .args(["-c", "alias.nap=!sleep 30; echo never", "nap"])
            .run(Duration::from_millis(300))
            .unwrap();
        assert!(out.timed_out());
        assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
        assert!(!out.stdout_str().contains("never"));
    }
}
