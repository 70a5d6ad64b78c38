//! The one `docker build` of the project, and the cached build on top of it: skipped when the
//! tag's `bot-bottle.build-hash` label is the context's hash.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use bb_contract::layout::labels;
use bb_core::docker;

use crate::context;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub tag: String,
    pub context: PathBuf,
    /// `-f`: the Dockerfile, when it is not the context's `Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    /// `--network=none`: RUN steps get no network.
    pub offline: bool,
}

impl Spec {
    pub fn new(tag: impl Into<String>, context: impl Into<PathBuf>) -> Spec {
        Spec {
            tag: tag.into(),
            context: context.into(),
            ..Spec::default()
        }
    }

    pub fn dockerfile(mut self, path: impl Into<PathBuf>) -> Spec {
        self.dockerfile = Some(path.into());
        self
    }

    pub fn build_arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Spec {
        self.build_args.push((name.into(), value.into()));
        self
    }

    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Spec {
        self.labels.push((name.into(), value.into()));
        self
    }

    pub fn offline(mut self, offline: bool) -> Spec {
        self.offline = offline;
        self
    }

    /// The `BASE_IMAGE` build argument.
    pub fn base_image(&self) -> Option<&str> {
        self.build_args
            .iter()
            .rev()
            .find(|(name, _)| name == "BASE_IMAGE")
            .map(|(_, value)| value.as_str())
    }

    /// The options that shape the image, besides the context (labels excluded).
    fn options(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (name, value) in &self.build_args {
            args.push("--build-arg".to_string());
            args.push(format!("{name}={value}"));
        }
        if self.offline {
            args.push("--network=none".into());
        }
        if let Some(file) = &self.dockerfile {
            args.push("-f".into());
            args.push(file.display().to_string());
        }
        args
    }

    fn argv(&self) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec!["build".into()];
        argv.extend(self.options().into_iter().map(OsString::from));
        for (name, value) in &self.labels {
            argv.push("--label".into());
            argv.push(format!("{name}={value}").into());
        }
        argv.extend([
            "-t".into(),
            self.tag.clone().into(),
            self.context.clone().into(),
        ]);
        argv
    }
}

/// A failed `docker build`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// docker could not be run.
    #[error("running docker build: {0:#}")]
    Start(anyhow::Error),
    /// docker ran and failed; `tail` holds its last output lines.
    #[error("building {tag} failed: {}", summary(tail))]
    Failed { tag: String, tail: Vec<String> },
    #[error("building {0}: interrupted")]
    Interrupted(String),
}

/// The last five lines on one line.
fn summary(tail: &[String]) -> String {
    let skip = tail.len().saturating_sub(5);
    tail[skip..].join(" | ")
}

/// `DOCKER_BUILDKIT` for `docker build`: newer clients default to BuildKit and refuse to build
/// without the buildx plugin, so the classic builder is used when buildx is missing.
pub fn buildkit() -> &'static str {
    static VALUE: OnceLock<&'static str> = OnceLock::new();
    VALUE.get_or_init(|| {
        if docker::succeeds(["buildx", "version"]) {
            "1"
        } else {
            "0"
        }
    })
}

/// Runs `docker build`; every output line goes to `on_line`, the last ones make the error.
pub fn docker_build(spec: &Spec, on_line: &mut dyn FnMut(&str)) -> Result<(), BuildError> {
    let bin = docker::docker_bin().map_err(BuildError::Start)?;
    let reader = duct::cmd(&bin, spec.argv())
        .env("DOCKER_BUILDKIT", buildkit())
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .map_err(|e| BuildError::Start(e.into()))?;
    let mut tail = VecDeque::with_capacity(crate::run::TAIL_LINES);
    for line in std::io::BufReader::new(&reader).split(b'\n') {
        let line = line.map_err(|e| BuildError::Start(e.into()))?;
        let line = String::from_utf8_lossy(&line).into_owned();
        on_line(&line);
        if tail.len() == crate::run::TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = reader
        .try_wait()
        .map_err(|e| BuildError::Start(e.into()))?
        .map(|out| out.status);
    if crate::signals::caught().is_some() {
        return Err(BuildError::Interrupted(spec.tag.clone()));
    }
    if !status.is_some_and(|s| s.success()) {
        return Err(BuildError::Failed {
            tag: spec.tag.clone(),
            tail: tail.into(),
        });
    }
    Ok(())
}

/// The local image's ID, when it exists.
pub fn image_id(image: &str) -> Option<String> {
    docker::output(["image", "inspect", "--format", "{{.Id}}", image])
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A label of a local image, when the image exists and has it.
pub fn image_label(image: &str, label: &str) -> Option<String> {
    let format = format!("{{{{index .Config.Labels \"{label}\"}}}}");
    docker::output(["image", "inspect", "--format", &format, image])
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "<no value>")
}

/// What [`cached_build`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Cached,
    Built,
}

/// Builds `spec` as the image `name` (labels `bot-bottle.image=NAME` and
/// `bot-bottle.build-hash=HASH`) unless its tag already carries that hash. The image it replaces
/// is removed when nothing else uses it.
pub fn cached_build(name: &str, spec: Spec, verbose: bool) -> anyhow::Result<Outcome> {
    let base = spec.base_image().map(|image| context::Base {
        image: image.to_string(),
        id: image_id(image),
    });
    let hash = context::hash(&spec.context, &spec.options(), base.as_ref())?;
    let tag = spec.tag.clone();
    if image_label(&tag, labels::BUILD_HASH).as_deref() == Some(hash.as_str()) {
        crate::log(format_args!("{name}: cached ({tag})"));
        return Ok(Outcome::Cached);
    }
    let old_id = image_id(&tag);
    let why = if old_id.is_some() {
        " (context changed)"
    } else {
        ""
    };
    crate::log(format_args!("{name}: docker build {tag}{why}"));
    let start = Instant::now();
    let spec = spec
        .label(labels::IMAGE, name)
        .label(labels::BUILD_HASH, hash);
    let result = docker_build(&spec, &mut |line| {
        if verbose {
            eprintln!("{line}");
        }
    });
    if let Err(err) = result {
        crate::log(format_args!("{name}: build failed"));
        if let BuildError::Failed { tail, .. } = &err
            && !verbose
        {
            for line in tail {
                eprintln!("    {line}");
            }
        }
        return Err(err.into());
    }
    if let Some(old) = old_id
        && image_id(&tag).as_deref() != Some(old.as_str())
    {
        // Fails (and keeps it) when another tag or a container still uses the old image.
        let _ = docker::raw(["image", "rm", old.as_str()]);
    }
    crate::log(format_args!(
        "{name}: built {tag} in {}",
        crate::elapsed(start)
    ));
    Ok(Outcome::Built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_has_options_labels_tag_and_context() {
        let spec = Spec::new("t:1", "/ctx")
            .build_arg("BASE_IMAGE", "b:1")
            .offline(true)
            .dockerfile("/ctx/D")
            .label("k", "v");
        let argv: Vec<String> = spec
            .argv()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "build",
                "--build-arg",
                "BASE_IMAGE=b:1",
                "--network=none",
                "-f",
                "/ctx/D",
                "--label",
                "k=v",
                "-t",
                "t:1",
                "/ctx"
            ]
        );
        assert_eq!(spec.base_image(), Some("b:1"));
        assert_eq!(Spec::new("t", "/").base_image(), None);
    }

    #[test]
    fn a_failure_names_the_tag_and_the_last_five_lines() {
        let err = BuildError::Failed {
            tag: "t:1".into(),
            tail: (1..=7).map(|i| format!("l{i}")).collect(),
        };
        assert_eq!(
            err.to_string(),
            "building t:1 failed: l3 | l4 | l5 | l6 | l7"
        );
    }
}
