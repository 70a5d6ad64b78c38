//! `bot-bottle info AGENT`.

use anyhow::Result;

use bb_plan::{Host, Request, planner, report};

/// Prints the resolved agent. Host variables are not required to be set: this only reads files.
pub fn run(agent: &str, bottles: &[String]) -> Result<()> {
    let host = Host::from_process("bot-bottle")?;
    let request = Request {
        agent: Some(agent.to_string()),
        bottles: bottles.to_vec(),
        ..Request::default()
    };
    let resolution = planner::resolve(&host, &request)?;
    print!("{}", report::info(&resolution));
    Ok(())
}
