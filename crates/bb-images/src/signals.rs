//! Ctrl-C, SIGTERM and SIGHUP, once [`install`]ed, only set a flag: a running tool (which got
//! the terminal's signal too) is stopped, and the builder returns [`crate::Interrupted`] so its
//! guards remove what they made (the debootstrap rootfs, temporary build contexts).

pub use bb_core::signals::{caught, install};

/// `Err(Interrupted)` once a signal was caught.
pub fn check() -> std::result::Result<(), crate::Interrupted> {
    match caught() {
        Some(_) => Err(crate::Interrupted),
        None => Ok(()),
    }
}
