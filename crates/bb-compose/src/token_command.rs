//! A route's token printed by a command the user names (`op read …`, `vault kv get -field=…`,
//! `pass show …`, `secret-tool lookup …`): run on the host without a shell, its stdin empty,
//! given up (and killed) after a timeout. Its output is the token, one final line break
//! dropped; nothing of it is ever shown, only what went wrong.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use bb_contract::InputError;

/// The most a token command may print.
const MAX_OUTPUT: u64 = 64 * 1024;
/// How often a running command is checked.
const POLL: Duration = Duration::from_millis(20);

/// Runs `argv` and returns the token it printed, or an input error naming the command and
/// the routes the token is for (`routes`).
pub fn run(argv: &[String], timeout: Duration, routes: &str) -> Result<String> {
    let of = format!("for {routes}");
    run_for(argv, timeout, &Purpose::TOKEN.of(&of))
}

/// What a command's value is for, as its errors name it.
#[derive(Clone, Copy)]
pub struct Purpose<'a> {
    /// `token command`, `key command`.
    pub what: &'a str,
    /// `for api.example.org`, `of repo `shop``.
    pub of: &'a str,
    /// The bottle key that names the command, and the one of its timeout.
    pub key: &'a str,
    pub timeout_key: &'a str,
}

impl<'a> Purpose<'a> {
    pub const TOKEN: Purpose<'static> = Purpose {
        what: "token command",
        of: "",
        key: "the route's `token_command`",
        timeout_key: "token_timeout",
    };
    pub const KEY: Purpose<'static> = Purpose {
        what: "key command",
        of: "",
        key: "the repo's `key.command`",
        timeout_key: "key.timeout",
    };

    pub fn of<'b>(self, of: &'b str) -> Purpose<'b>
    where
        'a: 'b,
    {
        Purpose { of, ..self }
    }
}

/// Runs `argv` and returns what it printed (one final line break dropped), or an input error
/// naming the command and what its value is for.
pub fn run_for(argv: &[String], timeout: Duration, purpose: &Purpose<'_>) -> Result<String> {
    let shown = shown(argv);
    let Purpose {
        what,
        of,
        key,
        timeout_key,
    } = *purpose;
    let fail = |failure: String| -> anyhow::Error {
        InputError::new(format!("the {what} `{shown}` {of} {failure}"))
            .fix(format!("run it by hand to see why, or change {key}"))
            .into()
    };
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| fail("names no program".into()))?;
    let mut child = Command::new(program)
        .args(args)
        // Its own process group: a timeout kills what it started too.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    let deadline = Instant::now() + timeout;
    let stdout = reader(child.stdout.take().expect("piped"));
    let stderr = reader(child.stderr.take().expect("piped"));
    let late = || {
        fail(format!(
            "did not finish within {} s (raise `{timeout_key}`)",
            timeout.as_secs()
        ))
    };
    let Some(status) = wait(&mut child, deadline) else {
        kill_group(&child);
        let _ = child.wait();
        return Err(late());
    };
    // What it started may hold its output open after it exits: the timeout covers that too.
    let left = || deadline.saturating_duration_since(Instant::now());
    let (Ok((output, too_long)), Ok((errors, _))) =
        (stdout.recv_timeout(left()), stderr.recv_timeout(left()))
    else {
        kill_group(&child);
        return Err(late());
    };
    if !status.success() {
        return Err(fail(format!(
            "failed ({status}){}",
            last_line(&errors, &output)
        )));
    }
    if too_long {
        return Err(fail(format!("printed more than {} KiB", MAX_OUTPUT / 1024)));
    }
    let text = String::from_utf8(output).map_err(|_| fail("printed no text".into()))?;
    let token = strip_line_end(&text);
    if token.trim().is_empty() {
        return Err(fail("printed nothing".into()));
    }
    Ok(token.to_string())
}

/// `text` without one final `\n` or `\r\n`: what a token file or command holds besides the
/// token.
pub fn strip_line_end(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// Waits for `child` until `deadline`; `None` when it is still running.
fn wait(child: &mut std::process::Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => return None,
        }
    }
}

fn kill_group(child: &std::process::Child) {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// A thread reading `from` whole; its result arrives on the channel.
fn reader(from: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<(Vec<u8>, bool)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read_capped(from));
    });
    rx
}

/// Up to [`MAX_OUTPUT`] bytes, and whether there was more; the rest is read and dropped, so
/// the command never blocks on a full pipe.
fn read_capped(mut from: impl Read) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let _ = (&mut from).take(MAX_OUTPUT).read_to_end(&mut bytes);
    let more = std::io::copy(&mut from, &mut std::io::sink()).unwrap_or(0) > 0;
    (bytes, more)
}

/// `: <the last line it wrote to stderr>`, cut to 200 characters, or nothing; nothing either
/// when that line holds what it printed on stdout (a tracing wrapper echoing the value).
fn last_line(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let printed = String::from_utf8_lossy(stdout);
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return String::new();
    };
    let echoes = printed
        .lines()
        .map(str::trim)
        .any(|p| p.len() >= 8 && line.contains(p));
    if echoes {
        return String::new();
    }
    format!(": {}", line.trim().chars().take(200).collect::<String>())
}

/// The command as a user would type it (for messages; its arguments are references such as
/// `op://vault/item`, never the token).
fn shown(argv: &[String]) -> String {
    argv.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_string_lossy().into_owned()
    }

    const SECONDS: Duration = Duration::from_secs(5);

    #[test]
    fn the_token_is_what_the_command_prints_without_its_line_break() {
        let tmp = tempfile::tempdir().unwrap();
        let cmd = script(tmp.path(), "vault", "printf 'tok-3f9a\\n'");
        assert_eq!(run(&[cmd], SECONDS, "api.test").unwrap(), "tok-3f9a");
        let crlf = script(tmp.path(), "crlf", "printf 'tok-3f9a\\r\\n'");
        assert_eq!(run(&[crlf], SECONDS, "api.test").unwrap(), "tok-3f9a");
        let args = script(tmp.path(), "args", "printf '%s' \"$2\"");
        let argv = [args, "read".into(), "op://vault/item".into()];
        assert_eq!(run(&argv, SECONDS, "api.test").unwrap(), "op://vault/item");
    }

    #[test]
    fn no_shell_reads_the_arguments() {
        let tmp = tempfile::tempdir().unwrap();
        let echo = script(tmp.path(), "echo1", "printf '%s' \"$1\"");
        let argv = [echo, "$(touch pwned); x".into()];
        assert_eq!(
            run(&argv, SECONDS, "api.test").unwrap(),
            "$(touch pwned); x"
        );
        assert!(!std::path::Path::new("pwned").exists());
    }

    #[test]
    fn failures_name_the_command_and_the_route_and_never_a_value() {
        let tmp = tempfile::tempdir().unwrap();
        let failing = script(
            tmp.path(),
            "failing",
            "echo 'partial-secret-8c1d'; echo 'vault: permission denied' >&2; exit 3",
        );
        let err = run(&[failing], SECONDS, "api.test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("for api.test failed"), "{err}");
        assert!(err.contains("vault: permission denied"), "{err}");
        assert!(!err.contains("partial-secret-8c1d"), "{err}");

        let silent = script(tmp.path(), "silent", "printf '\\n'");
        let err = run(&[silent], SECONDS, "api.test").unwrap_err().to_string();
        assert!(err.contains("printed nothing"), "{err}");

        let missing = tmp
            .path()
            .join("no-such-tool")
            .to_string_lossy()
            .into_owned();
        let err = run(&[missing], SECONDS, "api.test").unwrap_err();
        assert!(err.to_string().contains("could not start"), "{err}");
        assert!(
            err.downcast_ref::<InputError>().is_some(),
            "an input error (exit 2): {err}"
        );
    }

    #[test]
    fn a_command_that_prints_too_much_is_refused_not_stalled() {
        let tmp = tempfile::tempdir().unwrap();
        let loud = script(tmp.path(), "loud", "head -c 1000000 /dev/zero | tr '\\0' a");
        let err = run(&[loud], SECONDS, "api.test").unwrap_err().to_string();
        assert!(err.contains("printed more than 64 KiB"), "{err}");
    }

    #[test]
    fn a_command_whose_helper_keeps_its_output_open_is_given_up_at_the_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let leaves = script(tmp.path(), "leaves", "sleep 30 & printf tok-1");
        let started = Instant::now();
        let err = run(&[leaves], Duration::from_secs(1), "api.test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not finish within 1 s"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it was not waited for"
        );
    }

    #[test]
    fn a_failure_that_echoes_the_value_on_stderr_is_not_shown() {
        let tmp = tempfile::tempdir().unwrap();
        let traced = script(
            tmp.path(),
            "traced",
            "echo value-9Kd2Lw8Q; echo '+ token=value-9Kd2Lw8Q' >&2; exit 1",
        );
        let err = run(&[traced], SECONDS, "api.test").unwrap_err().to_string();
        assert!(err.contains("failed"), "{err}");
        assert!(!err.contains("value-9Kd2Lw8Q"), "{err}");
    }

    #[test]
    fn a_command_that_hangs_is_killed_at_its_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("still-running");
        let hangs = script(
            tmp.path(),
            "hangs",
            &format!("(sleep 3; touch {}) & wait", marker.display()),
        );
        let started = Instant::now();
        let err = run(&[hangs], Duration::from_secs(1), "api.test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not finish within 1 s"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "it was not waited for"
        );
        std::thread::sleep(Duration::from_secs(3));
        assert!(!marker.exists(), "what the command started was killed too");
    }
}
