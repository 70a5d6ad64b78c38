//! The agent CLIs of the built-in images, pinned in this one place.
//!
//! Both official CLIs ship as standalone executables inside PyPI wheels, so the images need
//! neither Node nor npm: the host downloads the wheel with pip, checks its SHA-256 against the
//! pin below, and copies the executables out of it into the image's build context. A new
//! version is a new pin here (version and one hash per architecture); the image tag follows it.

use bb_contract::plan::{CliWheel, Template};

/// One pinned CLI: the wheel that carries it and the files taken out of it.
#[derive(Debug)]
pub struct CliPin {
    /// The PyPI distribution.
    pub package: &'static str,
    /// Its pinned version.
    pub version: &'static str,
    /// The CLI's own version as it reports it (`--version`), for display.
    pub cli_version: &'static str,
    /// One wheel per supported machine architecture (`std::env::consts::ARCH`).
    pub wheels: &'static [PinnedWheel],
    /// Executables copied out of the wheel: (path inside the wheel, name in `/usr/local/bin`).
    pub files: &'static [(&'static str, &'static str)],
}

/// A wheel for one architecture.
#[derive(Debug)]
pub struct PinnedWheel {
    pub arch: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
}

/// Claude Code, inside the Claude Agent SDK's wheel.
pub const CLAUDE: CliPin = CliPin {
    package: "claude-agent-sdk",
    version: "0.2.184",
    cli_version: "2.1.327",
    wheels: &[
        PinnedWheel {
            arch: "x86_64",
            file: "claude_agent_sdk-0.2.184-py3-none-manylinux_2_17_x86_64.whl",
            sha256: "40509cadce72d62ded6c3ed831bbcffbff1a7fed8a19cfe1670b3a55418ed089",
        },
        PinnedWheel {
            arch: "aarch64",
            file: "claude_agent_sdk-0.2.184-py3-none-manylinux_2_17_aarch64.whl",
            sha256: "fdf8e7be4b65f30263724bd516b1147c609127ea3fec96b510c275d111a1686e",
        },
    ],
    files: &[("claude_agent_sdk/_bundled/claude", "claude")],
};

/// OpenAI Codex, inside its binary wheel.
pub const CODEX: CliPin = CliPin {
    package: "openai-codex-cli-bin",
    version: "0.163.0",
    cli_version: "0.163.0",
    wheels: &[
        PinnedWheel {
            arch: "x86_64",
            file: "openai_codex_cli_bin-0.163.0-py3-none-manylinux_2_17_x86_64.whl",
            sha256: "76db41fb07fdf9ddacbe892b48d21dfde270031ec0f5666b5e558114355f006d",
        },
        PinnedWheel {
            arch: "aarch64",
            file: "openai_codex_cli_bin-0.163.0-py3-none-manylinux_2_17_aarch64.whl",
            sha256: "bb2b0d117eeb02608738cf2bcdf51f6a036343d0028272e11a94e72b0d23b141",
        },
    ],
    files: &[
        ("codex_cli_bin/bin/codex", "codex"),
        (
            "codex_cli_bin/bin/codex-code-mode-host",
            "codex-code-mode-host",
        ),
    ],
};

/// The literal the agent holds where a real credential would be; the sidecar replaces it.
pub const PLACEHOLDER: &str = "bot-bottle-placeholder";

/// Where each CLI keeps its conversations under the agent's home: a resume continues only
/// when one of these files exists (`find`, which works where `ls` may not, e.g. old gVisor).
pub fn history_dir(template: Template) -> &'static str {
    match template {
        Template::Claude => "/home/node/.claude/projects",
        Template::Codex => "/home/node/.codex/sessions",
    }
}

/// Environment that keeps a CLI unattended and quiet in a bottle: no telemetry, error reports,
/// update checks, marketplace installs or other traffic besides its own API. Claude Code honours
/// `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` (which alone leaves only `api.anthropic.com`); the
/// narrower switches stay for older versions that read only those. `ENABLE_TOOL_SEARCH=false`
/// declares MCP tools in full rather than behind a tool search: the bottle's `request-egress`
/// is in front of the model when a host is refused.
pub fn quiet_env(template: Template) -> &'static [(&'static str, &'static str)] {
    match template {
        Template::Claude => &[
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("ENABLE_TOOL_SEARCH", "false"),
        ],
        Template::Codex => &[],
    }
}

/// The built-in Dockerfile of both templates; its build context holds it and, in `bin/`, the
/// CLI's executables ([`CLI_BIN_DIR`]).
pub const DOCKERFILE: &str = include_str!("../../../images/agent/Dockerfile");

/// Where the built-in Dockerfile's build context holds the CLI's executables.
pub const CLI_BIN_DIR: &str = "bin";

/// The tag of a built-in image: it changes with the Dockerfile, the pinned wheel and the base
/// image's name, so an edit or an upgrade builds a new image and nothing stale runs.
pub fn builtin_image_tag(template: Template, wheel: Option<&CliWheel>, base_image: &str) -> String {
    let mut hash = crate::digest::Hasher::new();
    hash.part(DOCKERFILE.as_bytes());
    if let Some(wheel) = wheel {
        hash.part(wheel.file.as_bytes());
        hash.part(wheel.sha256.as_bytes());
        for (member, name) in &wheel.files {
            hash.part(member.as_bytes());
            hash.part(name.as_bytes());
        }
    }
    hash.part(base_image.as_bytes());
    format!("bot-bottle-{}:{}", template.as_str(), hash.short())
}

/// The pin of a template's CLI.
pub fn pin(template: Template) -> &'static CliPin {
    match template {
        Template::Claude => &CLAUDE,
        Template::Codex => &CODEX,
    }
}

impl CliPin {
    /// The wheel for `arch`, or `None` when no wheel is pinned for it.
    pub fn wheel(&self, arch: &str) -> Option<CliWheel> {
        let wheel = self.wheels.iter().find(|w| w.arch == arch)?;
        Some(CliWheel {
            package: self.package.into(),
            version: self.version.into(),
            cli_version: self.cli_version.into(),
            file: wheel.file.into(),
            sha256: wheel.sha256.into(),
            files: self
                .files
                .iter()
                .map(|(member, name)| (member.to_string(), name.to_string()))
                .collect(),
        })
    }

    /// Architectures with a pinned wheel, for error messages.
    pub fn arches(&self) -> String {
        self.wheels
            .iter()
            .map(|w| w.arch)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_is_well_formed() {
        for pin in [&CLAUDE, &CODEX] {
            assert!(!pin.files.is_empty());
            for wheel in pin.wheels {
                assert_eq!(wheel.sha256.len(), 64, "{}", wheel.file);
                assert!(wheel.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(
                    wheel.file.starts_with(&format!(
                        "{}-{}-",
                        pin.package.replace('-', "_"),
                        pin.version
                    )),
                    "{} is the wheel of {}=={}",
                    wheel.file,
                    pin.package,
                    pin.version
                );
                assert!(wheel.file.contains(wheel.arch));
            }
        }
    }

    #[test]
    fn builtin_tags_follow_their_inputs() {
        let wheel = CLAUDE.wheel("x86_64");
        let tag = builtin_image_tag(Template::Claude, wheel.as_ref(), "debian:bookworm-slim");
        assert!(tag.starts_with("bot-bottle-claude:"), "{tag}");
        assert_eq!(
            tag,
            builtin_image_tag(Template::Claude, wheel.as_ref(), "debian:bookworm-slim")
        );
        assert_ne!(
            tag,
            builtin_image_tag(Template::Claude, wheel.as_ref(), "other:base")
        );
        let mut newer = wheel.clone().unwrap();
        newer.sha256 = "0".repeat(64);
        assert_ne!(
            tag,
            builtin_image_tag(Template::Claude, Some(&newer), "debian:bookworm-slim")
        );
    }

    #[test]
    fn an_unpinned_architecture_has_no_wheel() {
        assert!(CLAUDE.wheel("x86_64").is_some());
        assert!(CLAUDE.wheel("sparc").is_none());
    }
}
