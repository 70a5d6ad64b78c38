//! `cargo xtask images` (`scripts/images`): builds bot-bottle's images with no container
//! registry, through `bb_images::targets`.

use std::path::PathBuf;
use std::process::ExitCode;

use bb_images::targets::{self, Options, Target};
use clap::ArgAction;

const USAGE: &str =
    "scripts/images [--base-image IMAGE] [-v] [base|test-agent|sidecar|fixture|engine|all]...";

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "scripts/images [OPTIONS] [TARGET]...",
    about = "Builds bot-bottle's images with no container registry (scripts/images)",
    long_about = HELP,
    after_long_help = MORE_HELP,
    disable_help_flag = true
)]
pub struct Args {
    /// base, test-agent, sidecar, fixture, engine or all (default: base, test-agent and sidecar)
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// BASE_IMAGE build argument for test-agent, sidecar and fixture (default:
    /// bot-bottle-base:local)
    #[arg(long, value_name = "IMAGE")]
    base_image: Option<String>,
    /// show debootstrap, cargo and docker build output
    #[arg(short, long)]
    verbose: bool,
    /// this help
    #[arg(short = 'h', long, action = ArgAction::HelpLong)]
    help: Option<bool>,
}

const HELP: &str = "\
Builds bot-bottle's images; an image that is already up to date is skipped (\"cached\").
One progress line per step goes to stderr.

Targets (default: all):
  base        bot-bottle-base:<suite> and bot-bottle-base:local: a Debian minbase rootfs from
              debootstrap (suite and mirror from the host's apt sources) and `docker import`;
              needs root; installs debootstrap with apt-get when it is missing (~70 s, once)
  test-agent  bot-bottle-test-agent:latest: the stub agent, FROM the local base, built offline
              (--network=none)
  sidecar     bot-bottle-sidecar:latest: the egress proxy and DNS sink (bb-sidecar) and the git
              gate (bb-gitgate), both built with `cargo build --release`, FROM the local base,
              built offline (--network=none); with --base-image, git and ssh are installed
              from Debian's mirror when that base lacks them
  fixture     bot-bottle-fixture:latest: the upstream of scripts/egress-conformance (Debian's
              python3 and images/fixture/upstream.py), FROM the local base; installs python3
              with apt, so it needs the Debian mirror (not built offline)
  engine      bot-bottle-engine:latest: a second Docker engine (Debian's dockerd) for the
              remote-engine tests, FROM the local base; installs with apt (not offline)
  all         base, test-agent and sidecar: everything the tests and the demo need

The real agents' images (Claude Code, Codex) are not built here: bot-bottle builds them on first
launch from the CLI's pinned PyPI wheel (crates/bb-core/src/agent_cli.rs), or ahead of time with
`bb-plan AGENT | bb-compose build`; BOT_BOTTLE_BASE_IMAGE=bot-bottle-base:local builds them on
the local base with no registry.

An image is rebuilt when its build context changes: the hash of the context's files and modes,
the build arguments and the base image's ID is kept in its bot-bottle.build-hash label.";

const MORE_HELP: &str = "\
Environment:
  BB_BASE_IMAGE       tag of the base image instead of bot-bottle-base:<suite> + :local
  BB_DEBIAN_SUITE, BB_DEBIAN_MIRROR
                      suite and mirror for debootstrap instead of the host's apt sources
  BB_APT_ETC          where the host's apt sources are read (default /etc/apt)
  BB_ROOTFS_TMPDIR    where debootstrap builds the rootfs (default /var/tmp)
  BB_SIDECAR_BIN      a prebuilt bb-sidecar binary for the sidecar image (skips cargo)
  BB_GITGATE_BIN      a prebuilt bb-gitgate binary for the sidecar image (default: the
                      bb-gitgate beside BB_SIDECAR_BIN, else built with cargo)

Exit status: 0 built or cached, 1 a build failed or the Docker engine is unreachable,
2 a usage error, 130 interrupted.

Examples:
  scripts/images                 # base + test-agent + sidecar, as the tests need
  scripts/images sidecar         # rebuild the sidecar image after changing crates/bb-sidecar
                                 # or crates/bb-gitgate
  scripts/images -v fixture      # the egress-conformance fixture, showing the build output";

/// The targets named on the command line, or the exit status of a usage error.
fn parse_targets(names: &[String]) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for name in names {
        match name.as_str() {
            "base" => targets.push(Target::Base),
            "test-agent" => targets.push(Target::TestAgent),
            "sidecar" => targets.push(Target::Sidecar),
            "fixture" => targets.push(Target::Fixture),
            "engine" => targets.push(Target::Engine),
            "all" => targets.extend([Target::Base, Target::TestAgent, Target::Sidecar]),
            "claude" | "codex" => {
                return Err(format!(
                    "scripts/images: the {name} image is built by bot-bottle from the pinned wheel on first launch, or with: bb-plan AGENT | bb-compose build"
                ));
            }
            other => {
                return Err(format!(
                    "scripts/images: unknown target or option: {other}\nUsage: {USAGE}"
                ));
            }
        }
    }
    if targets.is_empty() {
        targets = vec![Target::Base, Target::TestAgent, Target::Sidecar];
    }
    Ok(targets)
}

pub fn main(args: Args) -> ExitCode {
    let targets = match parse_targets(&args.targets) {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if !bb_core::docker::succeeds(["version", "--format", "{{.Server.Version}}"]) {
        eprintln!("scripts/images: cannot reach the Docker engine (docker version failed)");
        return ExitCode::from(1);
    }
    let options = Options {
        root: repo_root(),
        base_image: args.base_image.filter(|b| !b.is_empty()),
        verbose: args.verbose,
    };
    match targets::build(&targets, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.chain().any(is_interrupt) => {
            bb_images::log("interrupted");
            ExitCode::from(130)
        }
        Err(err) => {
            bb_images::log(format_args!("error: {err:#}"));
            ExitCode::from(1)
        }
    }
}

fn is_interrupt(err: &(dyn std::error::Error + 'static)) -> bool {
    err.is::<bb_images::Interrupted>()
        || matches!(
            err.downcast_ref::<bb_images::build::BuildError>(),
            Some(bb_images::build::BuildError::Interrupted(_))
        )
}

/// The repository this xtask was built from.
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.clone(), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_default_to_what_the_tests_need() {
        assert_eq!(
            parse_targets(&[]).unwrap(),
            [Target::Base, Target::TestAgent, Target::Sidecar]
        );
        assert_eq!(
            parse_targets(&names(&["fixture", "all"])).unwrap(),
            [
                Target::Fixture,
                Target::Base,
                Target::TestAgent,
                Target::Sidecar
            ]
        );
    }

    #[test]
    fn agent_images_and_unknown_names_are_usage_errors() {
        let claude = parse_targets(&names(&["claude"])).unwrap_err();
        assert!(claude.contains("bb-compose build"), "{claude}");
        let other = parse_targets(&names(&["sidecar", "nope"])).unwrap_err();
        assert!(other.contains("unknown target or option: nope"), "{other}");
    }

    #[test]
    fn the_repository_root_holds_the_image_contexts() {
        assert!(repo_root().join("images/test-agent/Dockerfile").is_file());
    }
}
