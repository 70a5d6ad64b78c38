//! Locating and running the docker CLI.
//!
//! bot-bottle drives the engine only through the `docker` CLI (compose and `exec -it` need it
//! anyway). `BB_DOCKER` overrides the binary, so tests can inject a fake one.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The docker binary: `$BB_DOCKER` when set, else `docker` on `PATH`.
pub fn docker_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("BB_DOCKER").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    which::which("docker")
        .context("the docker CLI is not on PATH (install Docker, or set BB_DOCKER)")
}

/// Runs `docker ARGS…` and returns its stdout; a failure carries docker's own stderr.
pub fn output(args: &[&str]) -> Result<String> {
    let bin = docker_bin()?;
    let out = duct::cmd(&bin, args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("docker {} failed: {}", args.join(" "), stderr.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The OCI runtimes the engine has registered (`docker info`).
pub fn runtimes() -> Result<Vec<String>> {
    let json = output(&["info", "--format", "{{json .Runtimes}}"])?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json.trim())
        .with_context(|| format!("unexpected `docker info` output: {}", json.trim()))?;
    Ok(map.keys().cloned().collect())
}
