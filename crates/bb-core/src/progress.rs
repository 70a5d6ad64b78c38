//! Progress and informational lines on stderr. Long steps show a spinner with the elapsed time
//! (and the step's latest output line) when stderr is a terminal, plain lines otherwise. Quiet
//! mode (`--quiet`, or `BOT_BOTTLE_QUIET=1`) keeps only errors and warnings. No colour
//! is ever used, so `NO_COLOR` is honoured by construction.

use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Keeps only errors from now on (`--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// `--quiet` was given, or `BOT_BOTTLE_QUIET` is set to something other than `0`.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
        || std::env::var(bb_contract::layout::env::QUIET).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The `--quiet` flag every tool takes (flatten it into the tool's arguments).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct QuietArg {
    /// Print only errors and warnings; `BOT_BOTTLE_QUIET=1` does the same
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

impl QuietArg {
    /// Applies the flag for the rest of the process.
    pub fn apply(self) {
        if self.quiet {
            set_quiet(true);
        }
    }
}

/// `PROGRAM: TEXT` on stderr unless quiet.
pub fn info(program: &str, text: impl Display) {
    if !quiet() {
        eprintln!("{program}: {text}");
    }
}

/// A long step: a spinner on a terminal, one line when it starts and one when it ends
/// otherwise, nothing when quiet.
pub struct Step {
    program: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    pub fn start(program: &'static str, message: impl Display) -> Step {
        let message = message.to_string();
        let bar = if quiet() {
            None
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_prefix(program);
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("{program}: {message}");
            None
        };
        Step {
            program,
            bar,
            started: Instant::now(),
        }
    }

    /// Whether output lines of the step should be shown as they come (a plain, not quiet,
    /// non-terminal run); on a terminal they go to [`Step::line`] instead.
    pub fn streams_output(&self) -> bool {
        self.bar.is_none() && !quiet()
    }

    /// The step's latest output line, shown after the spinner's message.
    pub fn line(&self, line: &str) {
        if let Some(bar) = &self.bar {
            let line: String = line.trim().chars().take(80).collect();
            if !line.is_empty() {
                bar.set_message(line);
            }
        }
    }

    /// Ends the step with `PROGRAM: TEXT (N.N s)`.
    pub fn finish(self, text: impl Display) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        info(
            self.program,
            format_args!("{text} ({:.1} s)", self.started.elapsed().as_secs_f64()),
        );
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
