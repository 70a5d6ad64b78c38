//! The harness's progress on stderr: `== step` always, `   detail` with `--verbose`. Results go
//! to stdout (the report).

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// A step of the run.
pub fn say(msg: impl Display) {
    eprintln!("== {msg}");
}

/// A detail, shown with `--verbose` only.
pub fn note(msg: impl Display) {
    if verbose() {
        eprintln!("   {msg}");
    }
}

/// A problem the run reports and goes on (or stops) with.
pub fn warn(msg: impl Display) {
    eprintln!("egress-conformance: {msg}");
}
