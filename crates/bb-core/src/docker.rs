//! Locating and running the docker CLI (and compose).
//!
//! bot-bottle drives the engine only through the `docker` CLI (compose and `exec -it` need it
//! anyway). `BB_DOCKER` overrides the binary, so tests can inject a fake one. Every failure
//! carries docker's own message.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Output;

use anyhow::{Context, Result, bail};

/// The docker binary: `$BB_DOCKER` when set, else `docker` on `PATH`.
pub fn docker_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("BB_DOCKER").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    which::which("docker")
        .context("the docker CLI is not on PATH (install Docker, or set BB_DOCKER)")
}

/// Runs `docker ARGS…` capturing both streams; never fails on a non-zero status.
pub fn raw<I, S>(args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let bin = docker_bin()?;
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    duct::cmd(&bin, &args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running {}", bin.display()))
}

/// Runs `docker ARGS…` and returns its stdout; a failure carries docker's own stderr.
pub fn output<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = raw(&args)?;
    if !out.status.success() {
        bail!("{}", failure("docker", &args, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `docker ARGS…` succeeded.
pub fn succeeds<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    raw(args).map(|o| o.status.success()).unwrap_or(false)
}

/// One line describing a failed command: the command and the tool's own message.
pub fn failure(program: &str, args: &[std::ffi::OsString], out: &Output) -> String {
    let shown: Vec<String> = args
        .iter()
        .take(3)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let message = message(&out.stderr);
    format!(
        "`{program} {}` failed ({}): {}",
        shown.join(" "),
        out.status,
        if message.is_empty() {
            "no message"
        } else {
            &message
        }
    )
}

/// The OCI runtimes the engine has registered (`docker info`).
pub fn runtimes() -> Result<Vec<String>> {
    engine().map(|e| e.runtimes)
}

/// What the engine offers: its runtimes, CPUs and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub runtimes: Vec<String>,
    pub cpus: u32,
    pub memory: u64,
}

/// One `docker info` for the runtimes, CPUs and memory.
pub fn engine() -> Result<EngineInfo> {
    let text = output([
        "info",
        "--format",
        "{{.NCPU}} {{.MemTotal}} {{json .Runtimes}}",
    ])?;
    parse_engine_info(text.trim())
        .with_context(|| format!("unexpected `docker info` output: {}", text.trim()))
}

fn parse_engine_info(text: &str) -> Result<EngineInfo> {
    let mut parts = text.splitn(3, ' ');
    let cpus = parts.next().unwrap_or_default().parse()?;
    let memory = parts.next().unwrap_or_default().parse()?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(parts.next().unwrap_or_default())?;
    Ok(EngineInfo {
        runtimes: map.keys().cloned().collect(),
        cpus,
        memory,
    })
}

/// The engine the docker CLI reaches now: its daemon's ID (the same however it is reached) and
/// how it is reached (`DOCKER_HOST`, else the current context's endpoint).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineAt {
    pub id: String,
    pub endpoint: String,
}

/// [`EngineAt`] of the engine the CLI reaches now.
pub fn engine_at() -> Result<EngineAt> {
    let id = output(["info", "--format", "{{.ID}}"])?.trim().to_string();
    let endpoint = match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        Some(host) => host,
        None => output([
            "context",
            "inspect",
            "--format",
            "{{.Endpoints.docker.Host}}",
        ])
        .map(|e| e.trim().to_string())
        .unwrap_or_else(|_| "the default engine".into()),
    };
    Ok(EngineAt { id, endpoint })
}

/// What trying a runtime found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeProbe {
    /// A container started under it and could `stat /`.
    Works,
    /// It did not start, or could not stat a file: the message.
    Fails(String),
    /// None of the images to try it with exists locally yet.
    NoImage,
}

/// The image a fresh host probes with: empty (imported from an empty tar, no registry), the
/// host's own `/usr` (and `/lib*`, `/bin`) mounted read-only to run its `stat`.
const EMPTY_PROBE_IMAGE: &str = "bot-bottle-probe:empty";

/// Runs `stat /` under `runtime` in the first of `images` present locally (on the default
/// network, so that a runtime that cannot set up networking fails here), at most 60 s. `stat`,
/// not `true`: Debian's runsc (2022) starts but fails bookworm's `statx` calls, which leaves an
/// agent unable to list files. On a fresh host with none of `images` yet, an empty image runs
/// the host's own `stat` from read-only mounts, so the first launch can already use the runtime.
pub fn probe_runtime(runtime: &str, images: &[&str]) -> RuntimeProbe {
    let (image, mut run_args) = match images.iter().find(|i| image_exists(i)) {
        Some(image) => (
            image.to_string(),
            vec!["--entrypoint".to_string(), "stat".into()],
        ),
        None => match empty_probe_image() {
            Some(args) => (EMPTY_PROBE_IMAGE.to_string(), args),
            None => return RuntimeProbe::NoImage,
        },
    };
    let name = format!("bot-bottle-probe-{runtime}-{}", std::process::id());
    let bin = match docker_bin() {
        Ok(bin) => bin,
        Err(err) => return RuntimeProbe::Fails(format!("{err:#}")),
    };
    let mut args: Vec<String> = [
        "run",
        "--rm",
        "--name",
        &name,
        "--label",
        "bot-bottle.probe=1",
        "--runtime",
        runtime,
    ]
    .map(String::from)
    .to_vec();
    args.append(&mut run_args);
    args.extend([image, "/".to_string()]);
    let handle = match duct::cmd(&bin, args)
        .stdin_null()
        .stdout_null()
        .stderr_capture()
        .unchecked()
        .start()
    {
        Ok(handle) => handle,
        Err(err) => return RuntimeProbe::Fails(format!("running {}: {err}", bin.display())),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match handle.try_wait() {
            Ok(Some(out)) if out.status.success() => return RuntimeProbe::Works,
            Ok(Some(out)) => {
                return RuntimeProbe::Fails(message(&out.stderr));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = handle.kill();
                let _ = raw(["rm", "-f", name.as_str()]);
                return RuntimeProbe::Fails("no container had started after 60 s".into());
            }
            Err(err) => return RuntimeProbe::Fails(err.to_string()),
        }
    }
}

/// The empty probe image (imported once) and the arguments that run the host's `stat` in it,
/// or `None` when the host has no `/usr/bin/stat` or the import fails.
fn empty_probe_image() -> Option<Vec<String>> {
    if !std::path::Path::new("/usr/bin/stat").is_file() {
        return None;
    }
    if !image_exists(EMPTY_PROBE_IMAGE) {
        // An empty tar archive: two zero blocks.
        let bin = docker_bin().ok()?;
        let out = duct::cmd(
            bin,
            [
                "import",
                "--change",
                "LABEL bot-bottle.probe=1",
                "-",
                EMPTY_PROBE_IMAGE,
            ],
        )
        .stdin_bytes(vec![0u8; 1024])
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
        if !out.status.success() {
            return None;
        }
    }
    let mut args = Vec::new();
    for dir in ["/usr", "/lib", "/lib64", "/lib32", "/bin"] {
        if std::path::Path::new(dir).exists() {
            args.extend(["-v".to_string(), format!("{dir}:{dir}:ro")]);
        }
    }
    args.extend(["--entrypoint".to_string(), "/usr/bin/stat".to_string()]);
    Some(args)
}

/// [`probe_runtime`] at most once per engine, runtime configuration and runtime version: a
/// definite answer (works, fails) is kept in `cache_dir()/runtime-probes.json`, so planning does
/// not start a container every time. "No image to try it with" is not kept.
pub fn probe_runtime_cached(runtime: &str, images: &[&str]) -> RuntimeProbe {
    let key = match engine_fingerprint(runtime) {
        Ok(key) => key,
        Err(_) => return probe_runtime(runtime, images),
    };
    let mut cache = crate::fsx::JsonCache::open("runtime-probes.json");
    match cache.get(&key) {
        Some(serde_json::Value::Bool(true)) => return RuntimeProbe::Works,
        Some(serde_json::Value::String(why)) => return RuntimeProbe::Fails(why.clone()),
        _ => {}
    }
    let result = probe_runtime(runtime, images);
    let value = match &result {
        RuntimeProbe::Works => serde_json::Value::Bool(true),
        RuntimeProbe::Fails(why) => serde_json::Value::String(why.clone()),
        RuntimeProbe::NoImage => return result,
    };
    cache.set(key, value);
    result
}

/// What a runtime probe's answer depends on: the engine, its runtime table (path and
/// arguments) and, when the runtime's binary is on this host, its version.
fn engine_fingerprint(runtime: &str) -> Result<String> {
    let engine = output([
        "info",
        "--format",
        "{{.ID}} {{.ServerVersion}} {{json .Runtimes}}",
    ])?;
    let version = which::which(runtime)
        .ok()
        .and_then(|bin| {
            duct::cmd(bin, ["--version"])
                .stdout_capture()
                .stderr_null()
                .unchecked()
                .run()
                .ok()
        })
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut hash = crate::digest::Hasher::new();
    hash.part(engine.trim().as_bytes());
    hash.part(runtime.as_bytes());
    hash.part(version.trim().as_bytes());
    Ok(format!("{runtime}:{}", hash.short()))
}

/// A tool's stderr on one line: its non-empty lines, trimmed, joined with ` | `.
pub fn message(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The image exists locally.
pub fn image_exists(image: &str) -> bool {
    succeeds(["image", "inspect", "--format", "{{.Id}}", image])
}

/// How to run compose: `docker compose` (v2 plugin) when present, else `docker-compose` (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub program: PathBuf,
    /// `["compose"]` for the plugin, empty for `docker-compose`.
    pub prefix: Vec<String>,
}

impl Compose {
    /// `BB_COMPOSE` may name a binary (`docker-compose`) to force it.
    pub fn find() -> Result<Compose> {
        if let Some(bin) = std::env::var_os("BB_COMPOSE").filter(|v| !v.is_empty()) {
            return Ok(Compose {
                program: which::which(&bin).unwrap_or_else(|_| PathBuf::from(bin)),
                prefix: Vec::new(),
            });
        }
        let docker = docker_bin()?;
        if succeeds(["compose", "version"]) {
            return Ok(Compose {
                program: docker,
                prefix: vec!["compose".into()],
            });
        }
        let v1 = which::which("docker-compose")
            .context("neither `docker compose` (v2) nor `docker-compose` (v1) is installed")?;
        Ok(Compose {
            program: v1,
            prefix: Vec::new(),
        })
    }

    /// Full argv for `compose -p PROJECT -f FILE ARGS…`.
    pub fn args(
        &self,
        project: &str,
        file: &std::path::Path,
        args: &[&str],
    ) -> Vec<std::ffi::OsString> {
        let mut out: Vec<std::ffi::OsString> = self.prefix.iter().map(Into::into).collect();
        out.extend([
            "-p".into(),
            project.into(),
            "-f".into(),
            file.as_os_str().to_os_string(),
        ]);
        out.extend(args.iter().map(Into::into));
        out
    }

    pub fn name(&self) -> String {
        let mut parts = vec![
            self.program
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        ];
        parts.extend(self.prefix.iter().cloned());
        parts.join(" ")
    }
}

/// The engine answers.
pub fn available() -> bool {
    succeeds(["version", "--format", "{{.Server.Version}}"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_info_reads_cpus_memory_and_runtimes() {
        let info =
            parse_engine_info(r#"8 16777216000 {"runc":{"path":"runc"},"runsc":{}}"#).unwrap();
        assert_eq!(info.cpus, 8);
        assert_eq!(info.memory, 16_777_216_000);
        assert_eq!(info.runtimes, ["runc", "runsc"]);
        assert!(parse_engine_info("x y {}").is_err());
    }
}
