//! `bot-bottle list active [--json]`: running bottles from the engine's labels (identity, label,
//! agent, uptime, runtime, the sidecar's health from `bb-sidecar health` inside it), then the
//! kept ones: stopped, resumable, with their age and the size of their home volume.

use bb_contract::layout::labels as label;
use bb_contract::state::{METADATA_FILE, Metadata};
use bb_core::inspect::VolumeUsage;
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
    /// The image `bot-bottle commit` made of it, which `resume` starts from.
    pub committed: Option<String>,
}

/// A bottle whose state was kept (non-zero exit, interrupt, `stop`, `.preserve`): resumable.
#[derive(Debug, Serialize)]
pub struct Kept {
    pub identity: String,
    pub label: Option<String>,
    pub agent: String,
    /// Since the launch that was kept.
    pub age_seconds: Option<i64>,
    /// The home volume (conversation, workspace), when the engine reports it.
    pub home_bytes: Option<u64>,
    pub preserved: bool,
    /// The image `bot-bottle commit` made of it, which `resume` starts from.
    pub committed: Option<String>,
}

/// One row of `--json`: `"status": "running"` or `"kept"` with the fields of each.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Row {
    Running(Active),
    Kept(Kept),
}

pub fn run(json: bool) -> Result<()> {
    let mut running = collect()?;
    let root = bb_core::paths::state_root(&bb_core::paths::home()?);
    running.extend(crate::kube_bottles::active(&root));
    let kept = kept(&running)?;
    if json {
        let rows: Vec<Row> = running
            .into_iter()
            .map(Row::Running)
            .chain(kept.into_iter().map(Row::Kept))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if running.is_empty() && kept.is_empty() {
        eprintln!("no running or kept bottles");
        return Ok(());
    }
    let width = running
        .iter()
        .map(|r| r.identity.len())
        .chain(kept.iter().map(|k| k.identity.len()))
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<16}  {:<10}  {:>8}  {:<7}  SIDECAR",
        "IDENTITY", "AGENT", "LABEL", "UPTIME", "RUNTIME"
    );
    for r in running {
        println!(
            "{:<width$}  {:<16}  {:<10}  {:>8}  {:<7}  {}{}",
            r.identity,
            r.agent,
            r.label.as_deref().unwrap_or("-"),
            r.uptime_seconds.map_or("-".into(), uptime),
            r.runtime,
            r.sidecar,
            r.committed
                .map_or(String::new(), |i| format!("  committed {i}"))
        );
    }
    for k in kept {
        println!(
            "{:<width$}  {:<16}  {:<10}  {:>8}  kept     home {}{}  (bot-bottle resume {})",
            k.identity,
            k.agent,
            k.label.as_deref().unwrap_or("-"),
            k.age_seconds.map_or("-".into(), uptime),
            k.home_bytes.map_or("-".into(), human_size),
            if k.preserved { ", .preserve" } else { "" },
            k.identity
        );
    }
    Ok(())
}

/// Kept state folders whose bottle is not running, oldest first.
pub fn kept(running: &[Active]) -> Result<Vec<Kept>> {
    let root = bb_core::paths::state_root(&bb_core::paths::home()?);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let sizes = home_sizes();
    let now = OffsetDateTime::now_utc();
    let mut kept: Vec<Kept> = entries
        .flatten()
        .filter_map(|e| {
            let identity = e.file_name().to_string_lossy().into_owned();
            if running.iter().any(|r| r.identity == identity) {
                return None;
            }
            let text = std::fs::read_to_string(e.path().join(METADATA_FILE)).ok()?;
            let meta: Metadata = serde_json::from_str(&text).ok()?;
            let started = OffsetDateTime::parse(&meta.started_at, &Rfc3339).ok();
            Some(Kept {
                label: meta.label,
                agent: meta.agent,
                age_seconds: started.map(|t| (now - t).whole_seconds().max(0)),
                home_bytes: sizes
                    .get(&bb_contract::layout::names::home_volume(&identity))
                    .copied(),
                preserved: e.path().join(".preserve").exists(),
                committed: crate::commit::committed_image(&identity).ok().flatten(),
                identity,
            })
        })
        .collect();
    kept.sort_by_key(|k| std::cmp::Reverse(k.age_seconds));
    Ok(kept)
}

/// The size of every bottle home volume, by name (`docker system df -v`; empty when the engine
/// cannot say).
pub fn home_sizes() -> BTreeMap<String, u64> {
    let Ok(text) = bb_core::docker::output(["system", "df", "-v", "--format", "{{json .Volumes}}"])
    else {
        return BTreeMap::new();
    };
    let volumes: Vec<VolumeUsage> = serde_json::from_str(text.trim()).unwrap_or_default();
    volumes
        .into_iter()
        .filter(|v| v.name.starts_with(bb_contract::layout::names::PREFIX))
        .filter_map(|v| Some((v.name, parse_size(&v.size)?)))
        .collect()
}

/// `1.5GB`, `200MB`, `12kB`, `0B` as docker prints them (decimal units).
fn parse_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((number.trim().parse::<f64>().ok()? * factor) as u64)
}

/// `1.5 GB`, `200 MB`, `12 kB`.
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
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
            let main = role(label::AGENT_ROLE).or(cs.first()).expect("a container");
            let value = |k: &str| main.labels.get(k).cloned();
            let started = OffsetDateTime::parse(&main.started_at, &Rfc3339).ok();
            Active {
                label: value(label::LABEL),
                agent: value(label::AGENT).unwrap_or_default(),
                uptime_seconds: started.map(|t| (now - t).whole_seconds().max(0)),
                runtime: role(label::AGENT_ROLE)
                    .map(|c| c.runtime.clone())
                    .or(value(label::RUNTIME))
                    .unwrap_or_default(),
                sidecar: health(role(label::SIDECAR_ROLE)),
                committed: crate::commit::committed_image(&identity).ok().flatten(),
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
mod size_tests {
    use super::*;

    #[test]
    fn docker_sizes_read_back() {
        assert_eq!(parse_size("1.5GB"), Some(1_500_000_000));
        assert_eq!(parse_size("200MB"), Some(200_000_000));
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("N/A"), None);
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
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
