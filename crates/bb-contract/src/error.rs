//! Errors that decide the exit status.
//!
//! The rule of every bot-bottle tool: status 2 for bad input (flags, manifest, plan), status 1
//! for a runtime failure (docker, file system). Libraries return [`InputError`] for the former;
//! anything else is a runtime failure. [`exit_code`] applies the rule to an error chain.

use std::fmt;
use std::path::{Path, PathBuf};

/// Bad input the user can fix: one line naming where, what and how to fix it.
///
/// Displayed as `FILE:LINE: KEY: MESSAGE; FIX` with the parts that are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    pub fix: Option<String>,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            key: None,
            message: message.into(),
            fix: None,
        }
    }

    pub fn in_file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    pub fn at_line(mut self, line: usize) -> Self {
        if line > 0 {
            self.line = Some(line);
        }
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if !key.is_empty() {
            self.key = Some(key);
        }
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", display_path(file))?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Shows a path with the user's home folder abbreviated to `~`.
pub fn display_path(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
        && let Ok(rest) = path.strip_prefix(&home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// The closest candidate to `given`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&given.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Exit status for bad input.
pub const EXIT_INPUT: i32 = 2;
/// Exit status for a runtime failure.
pub const EXIT_RUNTIME: i32 = 1;

/// 2 when any error in the chain is an [`InputError`], else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|cause| cause.is::<InputError>()) {
        EXIT_INPUT
    } else {
        EXIT_RUNTIME
    }
}

/// Prints `PROGRAM: error: …` on stderr as one line and returns the exit status for `err`.
pub fn report(program: &str, err: &anyhow::Error) -> i32 {
    eprintln!("{program}: error: {err:#}");
    exit_code(err)
}

/// Runs a binary's main logic, reporting failure the bot-bottle way.
pub fn run_main(
    program: &str,
    main: impl FnOnce() -> anyhow::Result<()>,
) -> std::process::ExitCode {
    match main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => std::process::ExitCode::from(report(program, &err) as u8),
    }
}

/// [`run_main`] of a program that exits with a status of its own (the agent's, which `main`
/// returns) when nothing failed.
pub fn run_main_with_status(
    program: &str,
    main: impl FnOnce() -> anyhow::Result<i32>,
) -> std::process::ExitCode {
    let mut status = 0;
    let code = run_main(program, || {
        status = main()?;
        Ok(())
    });
    if code == std::process::ExitCode::SUCCESS {
        std::process::ExitCode::from(status.clamp(0, 255) as u8)
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn input_error_renders_every_known_part_on_one_line() {
        let err = InputError::new("unknown key `egres`")
            .in_file("/tmp/b/shop.md")
            .at_line(7)
            .key("egres")
            .fix("did you mean `egress`?");
        assert_eq!(
            err.to_string(),
            "/tmp/b/shop.md:7: egres: unknown key `egres`; did you mean `egress`?"
        );
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn line_zero_means_unknown() {
        let err = InputError::new("m").in_file("/x").at_line(0);
        assert_eq!(err.to_string(), "/x: m");
    }

    #[test]
    fn exit_code_is_2_for_input_errors_anywhere_in_the_chain() {
        let err = anyhow::Error::new(InputError::new("bad")).context("while planning");
        assert_eq!(exit_code(&err), 2);
        let err: anyhow::Error = Err::<(), _>(std::io::Error::other("docker died"))
            .context("creating network")
            .unwrap_err();
        assert_eq!(exit_code(&err), 1);
    }
}
