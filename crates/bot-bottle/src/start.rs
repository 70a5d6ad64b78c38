//! `bot-bottle start`.

use anyhow::{Result, bail};

use bb_plan::{Host, planner, report};

use crate::cli::{Format, StartArgs};

pub fn run(args: &StartArgs) -> Result<()> {
    let host = Host::from_process("bot-bottle")?;
    let planned = planner::plan(&host, &args.plan.request(None))?;
    if args.dry_run {
        match args.format {
            Format::Text => print!("{}", report::preflight(&planned)),
            Format::Json => bb_core::stage::write_plan(&planned.plan)?,
        }
        return Ok(());
    }
    bail!("launching is not available in this build yet; use --dry-run")
}
