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
    let shown = shown(argv);
    let fail = |what: String| -> anyhow::Error {
        InputError::new(format!("the token command `{shown}` for {routes} {what}"))
            .fix("run it by hand to see why, or change the route's `token_command`")
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
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || read_capped(stdout));
    let err = std::thread::spawn(move || read_capped(stderr));
    let status = wait(&mut child, timeout);
    let Some(status) = status else {
        kill_group(&child);
        let _ = child.wait();
        return Err(fail(format!(
            "did not finish within {} s (raise `token_timeout`)",
            timeout.as_secs()
        )));
    };
    let output = out.join().unwrap_or_default();
    let errors = err.join().unwrap_or_default();
    if !status.success() {
        return Err(fail(format!("failed ({status}){}", last_line(&errors))));
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

/// Waits for `child` until `timeout`; `None` when it is still running.
fn wait(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
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

fn read_capped(from: impl Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = from.take(MAX_OUTPUT).read_to_end(&mut bytes);
    bytes
}

/// `: <the last line it wrote to stderr>`, cut to 200 characters, or nothing.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim().chars().take(200).collect::<String>()))
        .unwrap_or_default()
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
