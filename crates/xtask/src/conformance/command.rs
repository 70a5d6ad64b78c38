//! Running the stages, docker and the builds: what stops a run (a failed setup step, a signal)
//! and how a failure is told (the command, its status, the end of its stderr).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Output};

use super::console;
use bb_core::signals;

/// Why a run stops before its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// The bottle could not be built or started (exit status 2).
    Setup(String),
    /// SIGINT, SIGTERM or SIGHUP (exit status 128 + the signal).
    Interrupted(i32),
}

impl Abort {
    pub fn setup(msg: impl Into<String>) -> Abort {
        Abort::Setup(msg.into())
    }
}

/// Stops the run if a signal came.
pub fn checkpoint() -> Result<(), Abort> {
    match signals::caught() {
        Some(sig) => Err(Abort::Interrupted(sig)),
        None => Ok(()),
    }
}

/// A whole environment for a child.
pub type Env = BTreeMap<OsString, OsString>;

/// One command line to run, its output captured.
pub struct Cmd {
    args: Vec<String>,
    stdin: Option<String>,
    env: Option<Env>,
    show_stderr: bool,
    teardown: bool,
}

impl Cmd {
    /// `program args…`, its stderr shown under `--verbose`.
    pub fn new<S: AsRef<str>>(program: &str, args: &[S]) -> Cmd {
        let mut all = vec![program.to_owned()];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        Cmd {
            args: all,
            stdin: None,
            env: None,
            show_stderr: true,
            teardown: false,
        }
    }

    /// `docker args…`, its stderr shown only when it fails.
    pub fn docker<S: AsRef<str>>(args: &[S]) -> Cmd {
        Cmd {
            show_stderr: false,
            ..Cmd::new("docker", args)
        }
    }

    pub fn stdin(mut self, text: String) -> Cmd {
        self.stdin = Some(text);
        self
    }

    pub fn env(mut self, env: &Env) -> Cmd {
        self.env = Some(env.clone());
        self
    }

    /// A teardown step: runs in its own process group (a second Ctrl-C does not cut it short)
    /// and is not stopped by a signal already received.
    pub fn teardown(mut self) -> Cmd {
        self.teardown = true;
        self
    }

    /// The command's stdout; a non-zero status is a setup failure.
    pub fn output(self) -> Result<String, Abort> {
        let display = self.args.join(" ");
        let out = self.capture()?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.trim().lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            return Err(Abort::setup(format!(
                "`{display}` failed (exit {}):\n{tail}",
                exit_code(out.status)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The command's output, whatever its status.
    pub fn capture(self) -> Result<Output, Abort> {
        let display = self.args.join(" ");
        let mut expr = duct::cmd(&self.args[0], &self.args[1..])
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        expr = match self.stdin {
            Some(text) => expr.stdin_bytes(text),
            None => expr.stdin_null(),
        };
        if let Some(env) = self.env {
            expr = expr.full_env(env);
        }
        if self.teardown {
            expr = expr.before_spawn(|cmd| {
                cmd.process_group(0);
                Ok(())
            });
        }
        let out = expr
            .run()
            .map_err(|err| Abort::setup(format!("`{display}` could not run: {err}")));
        if !self.teardown {
            checkpoint()?;
        }
        let out = out?;
        if self.show_stderr && console::verbose() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !stderr.trim().is_empty() {
                for line in stderr.lines() {
                    eprintln!("   {line}");
                }
            }
        }
        Ok(out)
    }
}

/// The status as a number; minus the signal for a child a signal ended.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|sig| -sig))
        .unwrap_or(-1)
}

/// Runs `program args…` in `dir` with the harness's own stdout and stderr (the builds show
/// their progress); a non-zero status is a setup failure named `what`.
pub fn run_visible(dir: &Path, program: &str, args: &[&str], what: &str) -> Result<(), Abort> {
    let status = duct::cmd(program, args).dir(dir).unchecked().run();
    checkpoint()?;
    match status {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(Abort::setup(format!("{what} failed"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_returns_stdout_and_feeds_stdin() {
        let out = Cmd::new("sh", &["-c", "tr a-z A-Z"])
            .stdin("plan".to_owned())
            .output()
            .unwrap();
        assert_eq!(out, "PLAN");
    }

    #[test]
    fn a_failure_names_the_command_its_status_and_the_end_of_stderr() {
        let script = "for i in $(seq 1 20); do echo line$i >&2; done; exit 3";
        let Err(Abort::Setup(msg)) = Cmd::new("sh", &["-c", script]).output() else {
            panic!("no setup failure")
        };
        assert!(msg.starts_with(&format!("`sh -c {script}` failed (exit 3):\nline6\n")));
        assert!(msg.ends_with("line20"), "{msg}");
    }

    #[test]
    fn capture_keeps_a_failed_status_and_a_missing_program_is_a_setup_failure() {
        let out = Cmd::new("sh", &["-c", "exit 4"]).capture().unwrap();
        assert_eq!(out.status.code(), Some(4));
        let missing = Cmd::new("bb-no-such-program-for-this-test", &["x"]).capture();
        assert!(
            matches!(&missing, Err(Abort::Setup(msg)) if msg.contains("could not run")),
            "{:?}",
            missing.map(|o| o.status)
        );
    }
}
