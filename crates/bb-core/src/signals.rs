//! Ctrl-C, SIGTERM and SIGHUP, once [`install`]ed, only set a flag: a tool that started
//! something (a debootstrap, a throwaway bottle) looks at the flag between its steps and tears
//! down what it made before it exits.

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

/// The signal received since [`install`], if any (never without it).
pub fn caught() -> Option<i32> {
    match CAUGHT.get()?.load(Ordering::SeqCst) {
        0 => None,
        sig => i32::try_from(sig).ok(),
    }
}
