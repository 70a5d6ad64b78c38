//! Human-readable renderings of a resolution (`bot-bottle info`) and a plan (the preflight).
//! They show names and modes of secrets, never values.

use std::fmt::Write as _;

use bb_contract::error::display_path;
use bb_contract::plan::{
    Dlp, EgressPlan, GitGatePlan, Origin, Plan, Route, RuntimeName, TokenSource,
};

use crate::manifest::bottle::EnvValue;
use crate::planner::{Planned, Resolution};

const WIDTH: usize = 10;

struct Sheet(String);

impl Sheet {
    fn row(&mut self, label: &str, value: impl AsRef<str>) {
        let mut lines = value.as_ref().lines();
        let first = lines.next().unwrap_or("");
        let _ = writeln!(self.0, "{label:<WIDTH$} {first}");
        for line in lines {
            let _ = writeln!(self.0, "{:<WIDTH$} {line}", "");
        }
    }
}

/// The `bot-bottle info AGENT` text.
pub fn info(r: &Resolution) -> String {
    let mut sheet = Sheet(String::new());
    sheet.row("agent", agent_line(r));
    common_rows(&mut sheet, r, &r.egress, &r.git_gate);
    sheet.0
}

/// The preflight shown before `launch this agent? [y/N]` and by `start --dry-run`.
pub fn preflight(planned: &Planned) -> String {
    let plan = &planned.plan;
    let r = &planned.resolution;
    let mut sheet = Sheet(String::new());
    sheet.row("identity", &plan.identity);
    if let Some(label) = &plan.label {
        sheet.row("label", label);
    }
    sheet.row("agent", agent_line(r));
    common_rows(&mut sheet, r, &plan.egress, &plan.git_gate);
    sheet.row("runtime", runtime_line(plan));
    sheet.row("limits", limits_line(&plan.limits));
    sheet.row(
        "workspace",
        match &plan.workspace {
            Some(w) => format!(
                "{} copied to {}",
                display_path(&w.host_path),
                w.container_path.display()
            ),
            None => "none (pass --cwd to copy the working directory in)".into(),
        },
    );
    sheet.row("state", display_path(&plan.state_dir));
    sheet.0
}

fn agent_line(r: &Resolution) -> String {
    match &r.agent_file {
        Some(file) => {
            let origin = match file.origin {
                Origin::Home => "home",
                Origin::Cwd => "working directory",
            };
            let mut line = format!("{}  {} ({origin})", r.agent_name, display_path(&file.path));
            if let Some(shadowed) = &file.shadows {
                let _ = write!(line, ", replaces {}", display_path(shadowed));
            }
            line
        }
        None => format!(
            "{}  (no agent file: bottles only, empty prompt)",
            r.agent_name
        ),
    }
}

fn common_rows(sheet: &mut Sheet, r: &Resolution, egress: &EgressPlan, gate: &GitGatePlan) {
    let chain: Vec<String> = r.resolved.chain.iter().map(|b| b.name.clone()).collect();
    sheet.row(
        "bottles",
        if chain.is_empty() {
            "none".into()
        } else {
            chain.join(" -> ")
        },
    );
    let p = &r.provider;
    let dockerfile = match &p.dockerfile {
        Some(path) => display_path(path),
        None => "built-in Dockerfile".into(),
    };
    sheet.row(
        "provider",
        format!(
            "{}  image {} ({dockerfile}, {}={})",
            p.template.as_str(),
            p.image,
            p.base_image.name,
            p.base_image.value
        ),
    );
    if let Some(cli) = &p.cli {
        sheet.row(
            "cli",
            format!(
                "{} {} (from {}=={}, SHA-256 {}…)",
                p.template.as_str(),
                cli.cli_version,
                cli.package,
                cli.version,
                &cli.sha256[..12]
            ),
        );
    }
    sheet.row("env", env_rows(r));
    let skills: Vec<String> = r
        .skills
        .iter()
        .map(|(s, path)| format!("{}  ({})", s.value, display_path(path)))
        .collect();
    sheet.row(
        "skills",
        if skills.is_empty() {
            "none".into()
        } else {
            skills.join("\n")
        },
    );
    sheet.row("git user", git_user_line(gate));
    let repos: Vec<String> = gate
        .repos
        .iter()
        .map(|repo| {
            format!(
                "{}  {} via git://git-gate/{}.git",
                repo.name, repo.url, repo.name
            )
        })
        .collect();
    sheet.row(
        "repos",
        if repos.is_empty() {
            "none".into()
        } else {
            repos.join("\n")
        },
    );
    if let Some(rules) = &gate.rules {
        sheet.row("git rules", display_path(rules));
    }
    let routes: Vec<String> = egress
        .routes
        .iter()
        .map(|route| route_line(route, egress))
        .collect();
    sheet.row(
        "routes",
        if routes.is_empty() {
            "none (no host is reachable)".into()
        } else {
            routes.join("\n")
        },
    );
    for host in &r.replaced_routes {
        sheet.row(
            "note",
            format!("the provider's route for {host} replaces the bottle's"),
        );
    }
}

fn env_rows(r: &Resolution) -> String {
    if r.env.is_empty() {
        return "none".into();
    }
    let width = r.env.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    r.env
        .iter()
        .map(|(name, value)| {
            let detail = match &value.value {
                EnvValue::Literal(text) if text == crate::provider::PLACEHOLDER => {
                    "placeholder (the sidecar injects the real credential)".to_string()
                }
                EnvValue::Literal(_) => "literal".to_string(),
                EnvValue::Host(var) => format!("from host ${var}"),
                EnvValue::Prompt(Some(text)) => format!("asked at launch: \"{text}\""),
                EnvValue::Prompt(None) => "asked at launch".to_string(),
            };
            format!("{name:<width$}  {detail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn git_user_line(gate: &GitGatePlan) -> String {
    let user = &gate.user;
    match (&user.name, &user.email) {
        (None, None) => "not set".into(),
        (name, email) => {
            let show = |f: &Option<bb_contract::plan::Sourced>| {
                f.as_ref()
                    .map(|s| s.value.clone())
                    .unwrap_or_else(|| "(unset)".into())
            };
            let from = |f: &Option<bb_contract::plan::Sourced>| {
                f.as_ref()
                    .map(|s| s.from.clone())
                    .unwrap_or_else(|| "-".into())
            };
            format!(
                "{} <{}>  (name from {}, email from {})",
                show(name),
                show(email),
                from(name),
                from(email)
            )
        }
    }
}

fn route_line(route: &Route, egress: &EgressPlan) -> String {
    let mut line = route.host.clone();
    if let Some(auth) = &route.auth {
        let source = egress
            .token_slots
            .iter()
            .find(|s| s.slot == auth.slot)
            .map(|s| match &s.source {
                TokenSource::HostEnv { name } => format!("${name}"),
                TokenSource::CodexAuthFile { path } | TokenSource::File { path } => {
                    display_path(path)
                }
                TokenSource::Command { argv, .. } => format!("`{}`", argv.join(" ")),
            })
            .unwrap_or_default();
        let _ = write!(line, "  auth {} from {source}", auth.scheme.as_str());
    }
    for m in &route.matches {
        let methods = if m.methods.is_empty() {
            "any".into()
        } else {
            m.methods.join(",")
        };
        let paths: Vec<String> = m
            .paths
            .iter()
            .map(|p| match p.kind {
                bb_contract::plan::PathMatchKind::Prefix => format!("{}*", p.value),
                bb_contract::plan::PathMatchKind::Exact => p.value.clone(),
            })
            .collect();
        let paths = if paths.is_empty() {
            "any path".into()
        } else {
            paths.join(",")
        };
        let _ = write!(line, "  [{methods} {paths}");
        for h in &m.headers {
            let _ = write!(line, " {}: {}", h.name, h.value);
        }
        line.push(']');
    }
    if route.tls_passthrough {
        line.push_str("  tls passthrough (no inspection)");
    } else {
        let _ = write!(line, "  {}", dlp_text(&route.dlp));
    }
    if route.private {
        line.push_str("  private");
    }
    if route.added_by.is_some() {
        line.push_str("  (added by provider)");
    }
    line
}

fn dlp_text(dlp: &Dlp) -> String {
    let list = |names: Vec<String>| {
        if names.is_empty() {
            "off".to_string()
        } else {
            names.join(",")
        }
    };
    let out = list(dlp.outbound.iter().map(enum_name).collect());
    let inbound = list(dlp.inbound.iter().map(enum_name).collect());
    format!(
        "dlp out={out} in={inbound} on_match={}",
        enum_name(&dlp.on_match)
    )
}

fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn limits_line(l: &bb_contract::plan::ResourceLimits) -> String {
    let mut line = format!(
        "{} processes, {} memory, {} CPUs",
        l.processes,
        crate::limits::human_bytes(l.memory_bytes),
        l.cpus
    );
    if l.set_by_bottle.is_empty() {
        line.push_str("  (defaults; the bottle's `limits` changes them)");
    } else {
        let _ = write!(line, "  (bottle sets {})", l.set_by_bottle.join(", "));
    }
    line
}

fn runtime_line(plan: &Plan) -> String {
    let mut line = match plan.runtime.name {
        RuntimeName::Runsc => "runsc (gVisor)".to_string(),
        RuntimeName::Runc => "runc".to_string(),
    };
    if let Some(note) = &plan.runtime.note {
        let _ = write!(line, "  ({note})");
    }
    line
}
