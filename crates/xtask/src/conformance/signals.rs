//! Ctrl-C, SIGTERM and SIGHUP set a flag instead of killing the harness, so whatever it started
//! is torn down; the run looks at the flag between its steps.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

static CAUGHT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// From now on the three signals are only recorded.
pub fn install() -> Result<()> {
    let flag = CAUGHT.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)
            .context("installing signal handlers")?;
    }
    Ok(())
}

/// The signal received since [`install`], if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.get()?.load(Ordering::SeqCst) {
        0 => None,
        sig => i32::try_from(sig).ok(),
    }
}
