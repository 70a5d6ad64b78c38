//! bot-bottle's container images, built in one place and with no container registry:
//!
//! - [`targets`]: what `cargo xtask images` builds (the debootstrap [`base`] image, the test
//!   agent, the sidecar and the conformance fixture), each skipped when its build context's
//!   content hash ([`context`]) is the one its image carries;
//! - [`launch`]: the agent image (from the CLI's pinned wheel) and the sidecar image (from the
//!   installed binaries) that bot-bottle builds when a bottle needs them;
//! - [`build`]: the one `docker build` both use.
//!
//! Progress goes to stderr as one `[images] ...` line per step (or, at launch, through
//! `bb_core::progress`).

pub mod apt;
pub mod base;
pub mod build;
pub mod context;
pub mod launch;
pub mod rootfs;
pub mod run;
pub mod signals;
pub mod targets;

use std::fmt::Display;
use std::time::Instant;

/// The environment variables the builder reads.
pub mod env {
    /// Tag of the base image instead of `bot-bottle-base:<suite>` + `bot-bottle-base:local`.
    pub const BASE_IMAGE: &str = "BB_BASE_IMAGE";
    /// Suite for debootstrap instead of the host's apt sources'.
    pub const DEBIAN_SUITE: &str = "BB_DEBIAN_SUITE";
    /// Mirror for debootstrap instead of the host's apt sources'.
    pub const DEBIAN_MIRROR: &str = "BB_DEBIAN_MIRROR";
    /// Where the apt sources live (default `/etc/apt`).
    pub const APT_ETC: &str = "BB_APT_ETC";
    /// Where debootstrap builds the rootfs (default `/var/tmp`).
    pub const ROOTFS_TMPDIR: &str = "BB_ROOTFS_TMPDIR";
    /// A prebuilt `bb-sidecar` for the sidecar image (skips cargo).
    pub const SIDECAR_BIN: &str = "BB_SIDECAR_BIN";
    /// A prebuilt `bb-gitgate` for the sidecar image.
    pub const GITGATE_BIN: &str = "BB_GITGATE_BIN";
}

/// A run was stopped by Ctrl-C, SIGTERM or SIGHUP (see [`signals`]).
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// `[images] TEXT` on stderr.
pub fn log(text: impl Display) {
    eprintln!("[images] {text}");
}

/// `12.3 s` since `start`.
pub fn elapsed(start: Instant) -> String {
    format!("{:.1} s", start.elapsed().as_secs_f64())
}

/// An environment variable, empty counting as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
