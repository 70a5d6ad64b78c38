//! The base image: a Debian minbase rootfs from debootstrap (suite and mirror from the host's
//! apt sources, see [`crate::apt`]) and `docker import`, tagged `bot-bottle-base:<suite>` and
//! `bot-bottle-base:local`, or `BB_BASE_IMAGE`. Nothing here contacts a container registry.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bb_contract::layout::labels;
use bb_core::docker;

use crate::build::image_id;
use crate::rootfs::{self, Rootfs};
use crate::run::run_logged;
use crate::{env, log};

/// The tag the other images are built from.
pub const LOCAL_TAG: &str = "bot-bottle-base:local";

/// What debootstrap installs besides minbase.
pub const PACKAGES: &str = "ca-certificates,curl,git,openssh-client,openssh-server,dnsutils,netcat-openbsd,procps,iproute2,tini";

/// The local base image: `BB_BASE_IMAGE`, else [`LOCAL_TAG`].
pub fn local_tag() -> String {
    crate::var(env::BASE_IMAGE).unwrap_or_else(|| LOCAL_TAG.into())
}

/// Builds the base image unless it exists (re-pointing the `:local` alias at the suite's image
/// when it points elsewhere).
pub fn ensure(verbose: bool) -> Result<()> {
    let explicit = crate::var(env::BASE_IMAGE);
    if let Some(tag) = &explicit
        && docker::image_exists(tag)
    {
        log(format_args!("base: cached ({tag})"));
        return Ok(());
    }
    let source = crate::apt::resolve(&|name| std::env::var(name).ok())?;
    let (tag, alias) = match explicit {
        Some(tag) => (tag, None),
        None => (format!("bot-bottle-base:{}", source.suite), Some(LOCAL_TAG)),
    };
    if let Some(id) = image_id(&tag) {
        match alias {
            Some(alias) if image_id(alias).as_deref() != Some(id.as_str()) => {
                docker::output(["tag", tag.as_str(), alias])?;
                log(format_args!("base: cached ({tag}, tagged {alias})"));
            }
            _ => log(format_args!("base: cached ({tag})")),
        }
        return Ok(());
    }
    if !rustix::process::geteuid().is_root() {
        bail!("building the base image needs root (debootstrap)");
    }
    ensure_debootstrap(verbose)?;

    let parent = PathBuf::from(crate::var(env::ROOTFS_TMPDIR).unwrap_or_else(|| "/var/tmp".into()));
    let root = Rootfs::create(&parent)?;
    let keyring = source
        .keyring
        .as_ref()
        .filter(|k| std::fs::File::open(k).is_ok())
        .map(|k| format!("--keyring={}", k.display()));
    let start = Instant::now();
    log(format_args!(
        "base: debootstrap {} from {} (this takes ~70 s)",
        source.suite, source.mirror
    ));
    let mut args = vec!["--variant=minbase".to_string()];
    args.extend(keyring);
    args.push(format!("--include={PACKAGES}"));
    args.push(source.suite.clone());
    args.push(root.path().display().to_string());
    args.push(source.mirror.clone());
    let debootstrap = run_logged(duct::cmd("debootstrap", &args), "debootstrap", verbose);
    // debootstrap unmounts what it mounted on success; make sure before tar reads the tree.
    rootfs::umount_under(root.path());
    debootstrap?;

    log("base: clean rootfs (ssh host keys, apt lists and caches)");
    rootfs::clean(root.path())?;
    crate::signals::check()?;

    log(format_args!("base: docker import {tag}"));
    let suite_label = format!("LABEL {}={}", labels::SUITE, source.suite);
    let image_label = format!("LABEL {}=base", labels::IMAGE);
    let import = duct::cmd!("tar", "--numeric-owner", "-C", root.path(), "-c", ".").pipe(
        duct::cmd!(
            docker::docker_bin()?,
            "import",
            "--change",
            r#"CMD ["/bin/bash"]"#,
            "--change",
            &image_label,
            "--change",
            &suite_label,
            "-",
            &tag
        )
        .stdout_null(),
    );
    run_logged(import, "tar | docker import", verbose)?;
    if let Some(alias) = alias {
        docker::output(["tag", tag.as_str(), alias])?;
    }
    drop(root);
    let and_alias = alias.map(|a| format!(" and {a}")).unwrap_or_default();
    log(format_args!(
        "base: built {tag}{and_alias} in {}",
        crate::elapsed(start)
    ));
    Ok(())
}

/// Installs debootstrap with apt-get when it is missing (an `apt-get update` first when the
/// plain install fails).
fn ensure_debootstrap(verbose: bool) -> Result<()> {
    if which::which("debootstrap").is_ok() {
        return Ok(());
    }
    which::which("apt-get")
        .ok()
        .context("debootstrap is missing and there is no apt-get to install it")?;
    let install = || {
        duct::cmd!(
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "debootstrap"
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
    };
    log("base: apt-get install debootstrap");
    let quiet_try = install()
        .stdin_null()
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .is_ok_and(|out| out.status.success());
    if quiet_try {
        return Ok(());
    }
    crate::signals::check()?;
    log("base: apt-get update");
    run_logged(duct::cmd!("apt-get", "update"), "apt-get update", verbose)
        .and_then(|()| run_logged(install(), "apt-get install debootstrap", verbose))
        .context("could not install debootstrap")
}
