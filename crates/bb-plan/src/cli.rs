//! The `bb-plan` command line (also used by `bot-bottle start` for the same flags).

use clap::{Args, ValueEnum};

use bb_contract::plan::RuntimeName;

use crate::planner::Request;

/// Flags that choose what to launch.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The agent: ~/.bot-bottle/agents/AGENT.md or ./.bot-bottle/agents/AGENT.md (which wins)
    pub agent: Option<String>,
    /// Bottle(s) to use instead of the agent's `bottle`, merged left to right
    #[arg(long = "bottle", value_name = "B")]
    pub bottles: Vec<String>,
    /// Copy the working directory (with .git) into the agent at /home/node/workspace
    #[arg(long)]
    pub cwd: bool,
    /// Free text shown by `bot-bottle list active`
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Use this runtime instead of asking the engine whether gVisor (runsc) is registered
    #[arg(long, value_enum, value_name = "RUNTIME")]
    pub runtime: Option<RuntimeArg>,
    /// Build the agent image again even when it exists (after editing a custom image's context)
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RuntimeArg {
    Runc,
    Runsc,
}

impl PlanArgs {
    pub fn request(&self, identity: Option<String>) -> Request {
        Request {
            agent: self.agent.clone(),
            bottles: self.bottles.clone(),
            workspace: self.cwd,
            identity,
            label: self.label.clone(),
            runtime: self.runtime.map(|r| match r {
                RuntimeArg::Runc => RuntimeName::Runc,
                RuntimeArg::Runsc => RuntimeName::Runsc,
            }),
            rebuild: self.rebuild,
        }
    }
}
