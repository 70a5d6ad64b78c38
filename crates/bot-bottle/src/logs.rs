//! `bot-bottle logs IDENTITY [-f] [--json]`: the sidecar's decision log, one readable line per
//! decision (`--json`: the raw JSON lines). From the running sidecar, or from the
//! `compose.log` kept in the state folder once the bottle is gone.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::log::{LogLine, Service, Verdict};
use serde_json::Value;

use crate::bottles;

pub fn run(identity: &str, follow: bool, json: bool) -> Result<()> {
    let sidecar = bb_contract::layout::names::sidecar_container(identity);
    let running = bottles::of_identity(identity)?
        .role("sidecar")
        .is_some_and(|c| c.name == sidecar);
    let mut out = std::io::stdout().lock();
    if running {
        let docker = bb_core::docker::docker_bin()?;
        let mut args = vec!["logs"];
        if follow {
            args.push("-f");
        }
        args.push(&sidecar);
        let mut child = std::process::Command::new(docker)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running docker logs")?;
        let reader = BufReader::new(child.stdout.take().context("docker logs stdout")?);
        for line in reader.lines() {
            if !emit(&mut out, &line?, json)? {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        return Ok(());
    }
    let kept = bottles::state_dir(identity)?.join("compose.log");
    let text = std::fs::read_to_string(&kept).map_err(|_| {
        InputError::new(format!(
            "no running bottle {identity} and no kept log ({} is missing)",
            kept.display()
        ))
        .fix("bot-bottle list active shows the running ones")
    })?;
    for line in text.lines() {
        // compose prefixes every line with the service (`sidecar | `, v1 pads it with spaces).
        if let Some((service, rest)) = line.split_once('|')
            && service.contains("sidecar")
            && !emit(&mut out, rest.trim_start(), json)?
        {
            break;
        }
    }
    Ok(())
}

/// Writes one line; false when stdout is closed (`| head`).
fn emit(out: &mut impl Write, line: &str, json: bool) -> Result<bool> {
    // `--timestamps` lines start with the time, then the JSON.
    let raw = line.find('{').map_or(line, |i| &line[i..]);
    let text = if json {
        match serde_json::from_str::<Value>(raw) {
            Ok(_) => raw.to_string(),
            Err(_) => return Ok(true),
        }
    } else {
        readable(raw).unwrap_or_else(|| line.to_string())
    };
    match writeln!(out, "{text}") {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// `12:03:04  BLOCK  egress  GET evil.test/x  host evil.test is not in the allowlist`.
pub fn readable(raw: &str) -> Option<String> {
    Some(match LogLine::parse(raw)? {
        LogLine::Event(e) => {
            let ok = if e.ok { "" } else { " FAILED" };
            format!(
                "{}  event  {:<6}  {}{ok}: {}",
                clock(&e.time),
                e.service,
                e.event,
                e.message
            )
        }
        LogLine::Decision(d) => {
            let field = |f: &Option<std::borrow::Cow<str>>| f.as_deref().unwrap_or("").to_string();
            let target = format!("{} {}{}", field(&d.method), field(&d.host), field(&d.path));
            let verdict = match d.verdict {
                Verdict::Allow => "ALLOW",
                Verdict::Block => "BLOCK",
            };
            let service = match d.service {
                Service::Egress => "egress",
                Service::Dns => "dns",
                Service::Supervise => "supervise",
            };
            let detector = d
                .detector
                .as_deref()
                .map(|det| format!(" [{det}]"))
                .unwrap_or_default();
            format!(
                "{}  {verdict:<5}  {service:<6}  {}  {}{detector}",
                clock(&d.time),
                target.trim(),
                d.reason
            )
        }
    })
}

/// The `HH:MM:SS` of an RFC 3339 time.
fn clock(time: &str) -> &str {
    time.get(11..19).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_as_one_line_each() {
        let line = r#"{"time":"2026-11-25T16:59:13.711Z","service":"egress","host":"evil.test","method":"GET","path":"/x","verdict":"block","reason":"host evil.test is not in the allowlist","detector":null}"#;
        assert_eq!(
            readable(line).unwrap(),
            "16:59:13  BLOCK  egress  GET evil.test/x  host evil.test is not in the allowlist"
        );
        let dlp = r#"{"time":"2026-11-25T16:59:14Z","service":"egress","host":"api.test","method":"POST","path":"/u","verdict":"block","reason":"known_secrets found canary in body","detector":"known_secrets"}"#;
        assert!(readable(dlp).unwrap().ends_with("in body [known_secrets]"));
        let event = r#"{"time":"2026-11-25T16:59:00Z","service":"egress","event":"reload","ok":false,"message":"bad file"}"#;
        assert_eq!(
            readable(event).unwrap(),
            "16:59:00  event  egress  reload FAILED: bad file"
        );
        assert_eq!(readable("not json"), None);
    }
}
