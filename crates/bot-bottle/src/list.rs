//! `bot-bottle list`: the available agents.

use anyhow::Result;
use serde::Serialize;

use bb_contract::error::display_path;
use bb_contract::plan::Origin;
use bb_plan::Host;
use bb_plan::manifest::Catalog;

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    source: std::path::PathBuf,
    origin: Origin,
    /// The agent's `bottle`, or why it could not be read.
    bottle: Option<String>,
    error: Option<String>,
}

/// Lists agents; a broken agent file is shown with its error and does not stop the listing.
pub fn run(json: bool) -> Result<()> {
    let host = Host::from_process("bot-bottle")?;
    let catalog = Catalog::discover(&host.home, &host.cwd)?;
    for warning in &catalog.warnings {
        eprintln!("bot-bottle: warning: {warning}");
    }
    let rows: Vec<Row> = catalog
        .agents()
        .map(|entry| {
            let (bottle, error) = match catalog.load_agent(&entry.name) {
                Ok((_, spec)) => (spec.bottle.map(|b| b.value), None),
                Err(err) => (None, Some(err.to_string())),
            };
            Row {
                name: entry.name.clone(),
                source: entry.path.clone(),
                origin: entry.origin,
                bottle,
                error,
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!(
            "no agents in {} or ./.bot-bottle/agents (write one as <name>.md)",
            display_path(&host.home.join("agents"))
        );
        return Ok(());
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    println!("{:<width$}  {:<12}  SOURCE", "AGENT", "BOTTLE");
    for row in rows {
        let bottle = match (&row.bottle, &row.error) {
            (_, Some(_)) => "(broken)".to_string(),
            (Some(b), None) => b.clone(),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:<width$}  {bottle:<12}  {}",
            row.name,
            display_path(&row.source)
        );
        if let Some(err) = row.error {
            println!("{:<width$}  error: {err}", "");
        }
    }
    Ok(())
}
