//! Running a tool of the build (debootstrap, apt-get, cargo, `tar | docker import`): its output
//! streams to stderr with `--verbose`, else goes to a temporary log whose last lines are shown
//! when it fails. A caught signal stops it.

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How many lines of a failed tool's output are shown.
pub const TAIL_LINES: usize = 40;

/// Runs `expr` (described as `what` in messages) to completion.
pub fn run_logged(expr: duct::Expression, what: &str, verbose: bool) -> Result<()> {
    let expr = expr.stdin_null().unchecked();
    let log = if verbose {
        None
    } else {
        Some(tempfile::NamedTempFile::new().context("creating a log file")?)
    };
    let expr = match &log {
        None => expr.stdout_to_stderr(),
        Some(file) => expr
            .stdout_file(file.reopen().context("opening the log file")?)
            .stderr_to_stdout(),
    };
    let handle = expr.start().with_context(|| format!("running {what}"))?;
    let status = loop {
        if crate::signals::caught().is_some() {
            let _ = handle.kill();
            return Err(crate::Interrupted.into());
        }
        match handle
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            Some(out) => break out.status,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    crate::signals::check()?;
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .map_or_else(|| status.to_string(), |c| c.to_string());
    crate::log(format_args!("command failed (exit {code}): {what}"));
    if let Some(file) = &log {
        for line in tail(file.path(), TAIL_LINES) {
            eprintln!("    {line}");
        }
    }
    bail!("{what} failed (exit {code})")
}

/// The last `n` lines of a file (none when it cannot be read).
pub fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut last = VecDeque::with_capacity(n);
    for line in std::io::BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
    {
        if last.len() == n {
            last.pop_front();
        }
        last.push_back(String::from_utf8_lossy(&line).into_owned());
    }
    last.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_is_an_error_with_its_exit_code() {
        let err = run_logged(
            duct::cmd!("sh", "-c", "echo boom; exit 3"),
            "sh boom",
            false,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "sh boom failed (exit 3)");
        run_logged(duct::cmd!("true"), "true", false).unwrap();
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let last = tail(&path, 3);
        assert_eq!(last, ["line 48", "line 49", "line 50"]);
        assert!(tail(&dir.path().join("absent"), 3).is_empty());
    }
}
