//! `bot-bottle list active [--json]`: running bottles from the engine's labels: identity, label,
//! agent, uptime, runtime and the sidecar's health (`bb-sidecar health` inside it).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bottles::{self, Container};

#[derive(Debug, Serialize)]
pub struct Active {
    pub identity: String,
    pub label: Option<String>,
    pub agent: String,
    pub uptime_seconds: Option<i64>,
    pub runtime: String,
    /// `healthy`, `unhealthy` or `down`.
    pub sidecar: String,
}

pub fn run(json: bool) -> Result<()> {
    let rows = collect()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("no running bottles");
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|r| r.identity.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<16}  {:<10}  {:>8}  {:<7}  SIDECAR",
        "IDENTITY", "AGENT", "LABEL", "UPTIME", "RUNTIME"
    );
    for r in rows {
        println!(
            "{:<width$}  {:<16}  {:<10}  {:>8}  {:<7}  {}",
            r.identity,
            r.agent,
            r.label.as_deref().unwrap_or("-"),
            r.uptime_seconds.map_or("-".into(), uptime),
            r.runtime,
            r.sidecar
        );
    }
    Ok(())
}

/// One row per identity with a running container.
pub fn collect() -> Result<Vec<Active>> {
    let mut by_identity: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for c in bottles::containers()? {
        if let Some(id) = c.identity.clone() {
            by_identity.entry(id).or_default().push(c);
        }
    }
    let now = OffsetDateTime::now_utc();
    Ok(by_identity
        .into_iter()
        .filter(|(_, cs)| cs.iter().any(|c| c.running))
        .map(|(identity, cs)| {
            let role = |r: &str| cs.iter().find(|c| c.role.as_deref() == Some(r));
            let main = role("agent").or(cs.first()).expect("a container");
            let label = |k: &str| main.labels.get(k).cloned();
            let started = OffsetDateTime::parse(&main.started_at, &Rfc3339).ok();
            Active {
                label: label("bot-bottle.label"),
                agent: label("bot-bottle.agent").unwrap_or_default(),
                uptime_seconds: started.map(|t| (now - t).whole_seconds().max(0)),
                runtime: role("agent")
                    .map(|c| c.runtime.clone())
                    .or(label("bot-bottle.runtime"))
                    .unwrap_or_default(),
                sidecar: health(role("sidecar")),
                identity,
            }
        })
        .collect())
}

fn health(sidecar: Option<&Container>) -> String {
    match sidecar {
        Some(c) if c.running => {
            if bb_core::docker::succeeds(["exec", &c.name, "bb-sidecar", "health"]) {
                "healthy".into()
            } else {
                "unhealthy".into()
            }
        }
        _ => "down".into(),
    }
}

/// `3d4h`, `2h05m`, `4m09s`, `12s`.
fn uptime(s: i64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_is_short() {
        assert_eq!(super::uptime(12), "12s");
        assert_eq!(super::uptime(249), "4m09s");
        assert_eq!(super::uptime(7500), "2h05m");
        assert_eq!(super::uptime(3 * 86400 + 4 * 3600 + 5), "3d4h");
    }
}
