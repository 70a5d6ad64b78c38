//! Running `kubectl`: `$BB_KUBECTL` when set (tests put a fake one there), else `kubectl` on
//! `PATH`, with the operator's `--context` when given. Objects go in on stdin, never in argv
//! or a file; a failure carries kubectl's own message, with any secret value scrubbed out.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The kubectl binary and the context every command names.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: PathBuf,
    pub context: Option<String>,
}

impl Kubectl {
    /// `$BB_KUBECTL`, else `kubectl` on `PATH`.
    pub fn find(context: Option<String>) -> Result<Kubectl> {
        Ok(Kubectl {
            program: bb_core::agent_exec::kubectl_bin()?,
            context,
        })
    }

    /// [`Kubectl::find`] held to one cluster: `context`, else the context current now, so that
    /// every later call (a teardown minutes later, `stop`, `resume`) reaches the same cluster
    /// whatever context is current then. `None` stays when kubectl has no current context.
    pub fn pinned(context: Option<String>) -> Result<Kubectl> {
        let mut kubectl = Kubectl::find(context)?;
        if kubectl.context.is_none() {
            kubectl.context = kubectl
                .run(["config", "current-context"], None, &[])
                .ok()
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty());
        }
        Ok(kubectl)
    }

    /// The arguments of a command: the context first, then `args`.
    pub fn args<I, S>(&self, args: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut all: Vec<OsString> = bb_core::agent_exec::context_args(self.context.as_deref())
            .into_iter()
            .map(Into::into)
            .collect();
        all.extend(args.into_iter().map(Into::into));
        all
    }

    /// Runs `kubectl ARGS` with `input` on stdin (none: an empty stdin) and returns its stdout.
    /// `secrets`: values to scrub from a failure's message.
    pub fn run<I, S>(&self, args: I, input: Option<&[u8]>, secrets: &[&str]) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args = self.args(args);
        let mut cmd = duct::cmd(&self.program, &args)
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        cmd = match input {
            Some(bytes) => cmd.stdin_bytes(bytes.to_vec()),
            None => cmd.stdin_null(),
        };
        let out = cmd
            .run()
            .with_context(|| format!("running {}", self.program.display()))?;
        if !out.status.success() {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let message = scrub(String::from_utf8_lossy(&out.stderr).trim(), secrets);
            bail!("kubectl {} failed: {message}", shown.join(" "));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply --server-side` of `objects` (a List, as JSON) on stdin. Server-side
    /// apply keeps no `last-applied-configuration` annotation, which would copy a Secret's
    /// values into its metadata.
    pub fn apply(&self, objects: &[u8], secrets: &[&str]) -> Result<()> {
        self.run(
            [
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                FIELD_MANAGER,
                "-f",
                "-",
            ],
            Some(objects),
            secrets,
        )
        .map(drop)
    }
}

/// The field manager of every object bot-bottle applies.
pub const FIELD_MANAGER: &str = "bot-bottle";

/// `text` with every value of `secrets` replaced (a server's message may quote what it was
/// given): as it is, JSON-escaped (as Rust and as Go write it: a multi-line key quoted in a
/// message), base64 (a Secret's `data`, as the server stores `stringData`), and each of its
/// lines of 16 characters or more (a PEM quoted in part).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    use base64::Engine as _;
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        let escaped = serde_json::to_string(secret).expect("a string serialises");
        let escaped = escaped.trim_matches('"').to_string();
        let go = escaped
            .replace('&', "\\u0026")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e");
        let base64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let mut forms = vec![secret.to_string(), escaped, go, base64];
        forms.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16)
                .map(str::to_string),
        );
        for form in forms {
            text = text.replace(&form, "[redacted]");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_comes_first_and_values_are_scrubbed() {
        let k = Kubectl {
            program: "kubectl".into(),
            context: Some("prod".into()),
        };
        assert_eq!(
            k.args(["get", "ns"]),
            ["--context", "prod", "get", "ns"].map(OsString::from)
        );
        assert_eq!(
            scrub(
                "invalid value \"s3cr3t-token\" in a b",
                &["s3cr3t-token", "a"]
            ),
            "invalid value \"[redacted]\" in a b",
            "short values are not scrubbed: they would mangle the message"
        );
        let key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDDEEEE\n-----END KEY-----\n";
        let quoted = format!("bad: {}", serde_json::to_string(key).unwrap());
        let scrubbed = scrub(&quoted, &[key]);
        assert!(!scrubbed.contains("AAAABBBB"), "{scrubbed}");
        let line = scrub("near AAAABBBBCCCCDDDDEEEE here", &[key]);
        assert_eq!(line, "near [redacted] here");
        let token = "tok<en>&more";
        let data = "data: {\"t\": \"dG9rPGVuPiZtb3Jl\"} or \"tok\\u003cen\\u003e\\u0026more\"";
        let scrubbed = scrub(data, &[token]);
        assert!(
            !scrubbed.contains("dG9rPGVu") && !scrubbed.contains("u003cen"),
            "{scrubbed}"
        );
    }
}
