//! The stdin/stdout contract shared by every stage tool.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};

use bb_contract::{InputError, Plan};

/// Reads the plan from `file`, or from stdin when `file` is `None` or `-`.
pub fn read_plan(file: Option<&Path>) -> Result<Plan> {
    let text = match file.filter(|f| *f != Path::new("-")) {
        Some(path) => std::fs::read_to_string(path).map_err(|err| {
            InputError::new(format!("cannot read the plan file ({err})")).in_file(path)
        })?,
        None => read_stdin_plan()?,
    };
    Ok(Plan::from_json(&text)?)
}

fn read_stdin_plan() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(InputError::new("no plan on stdin")
            .fix("pipe one in (`bb-plan AGENT | …`) or pass --plan FILE")
            .into());
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .context("reading the plan from stdin")?;
    Ok(text)
}

/// Renders the plan as one line, or pretty-printed for a person.
pub fn render_plan(plan: &Plan, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(plan)
    } else {
        serde_json::to_string(plan)
    };
    text.expect("a plan always serialises")
}

/// Writes the plan to stdout: pretty when stdout is a terminal, one line otherwise.
pub fn write_plan(plan: &Plan) -> Result<()> {
    let stdout = std::io::stdout();
    let pretty = stdout.is_terminal();
    let mut out = stdout.lock();
    writeln!(out, "{}", render_plan(plan, pretty)).context("writing the plan to stdout")?;
    out.flush().context("writing the plan to stdout")
}
