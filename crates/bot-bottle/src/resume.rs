//! `bot-bottle resume IDENTITY`: the same agent, bottles, workspace, label and runtime as the
//! launch recorded in `state/<identity>/metadata.json`, under the same identity, with the
//! provider's resume flag.

use anyhow::Result;
use bb_contract::InputError;
use bb_contract::plan::{SCHEMA, SCHEMA_MAJOR};
use bb_contract::state::Metadata;
use bb_plan::{Host, Request, planner};

use crate::bottles;
use crate::start::{Turn, launch};

pub struct ResumeArgs {
    pub identity: String,
    pub yes: bool,
    pub prompt: Option<String>,
    /// Print what would be restored and start nothing.
    pub dry_run: bool,
}

pub fn run(args: &ResumeArgs) -> Result<i32> {
    let meta = read_metadata(&args.identity)?;
    if args.dry_run {
        print_restore(&meta)?;
        return Ok(0);
    }
    let state = bottles::state_dir(&args.identity)?;
    let on_cluster = crate::kube_bottles::record(&state)?;
    if on_cluster.is_none() {
        crate::engine_record::check(&state, &args.identity)?;
    }
    let running = match on_cluster {
        Some(_) => bottles::wrapper_pid(&state).is_some(),
        None => !bottles::of_identity(&args.identity)?.is_empty(),
    };
    if running {
        return Err(
            InputError::new(format!("bottle {} is still running", args.identity))
                .fix(format!(
                    "stop it first: bot-bottle stop {} (or bot-bottle cleanup)",
                    args.identity
                ))
                .into(),
        );
    }
    let mut host = Host::from_process("bot-bottle")?;
    host.cwd = meta.cwd.clone();
    if let Some(image) = crate::commit::committed_image(&args.identity)? {
        eprintln!("bot-bottle: resuming from the committed image {image}");
        host.env = Box::new(move |name| {
            if name == "BOT_BOTTLE_IMAGE" {
                Some(image.clone())
            } else {
                std::env::var(name).ok()
            }
        });
    }
    let request = request_of(&meta);
    let planned = planner::plan(&host, &request)?;
    let turn = Turn {
        prompt: args.prompt.clone(),
        resume: true,
    };
    // A bottle launched on a cluster is applied there again, with the flags it was launched
    // with: its namespace and home were kept.
    let backend = match &on_cluster {
        // The recorded flags hold the context the launch pinned.
        Some(record) => crate::start::Backend::kubernetes(&record.launch)?,
        None => crate::start::Backend::Docker,
    };
    launch(&planned, args.yes || args.prompt.is_some(), &turn, backend)
}

/// The launch `meta` recorded, asked again under the same identity.
pub fn request_of(meta: &Metadata) -> Request {
    Request {
        agent: Some(meta.agent.clone()),
        bottles: meta.bottles.clone(),
        workspace: meta.workspace.is_some(),
        identity: Some(meta.identity.clone()),
        label: meta.label.clone(),
        runtime: Some(meta.runtime),
        rebuild: false,
    }
}

/// What `resume` would bring back, one line each.
fn print_restore(meta: &Metadata) -> Result<()> {
    let volume = bb_contract::layout::names::home_volume(&meta.identity);
    let home = if bb_core::docker::succeeds(["volume", "inspect", &volume]) {
        let size = crate::active::home_sizes()
            .get(&volume)
            .map_or(String::new(), |b| {
                format!(" ({})", crate::active::human_size(*b))
            });
        format!("{volume}{size}: the agent's home, its conversation and workspace")
    } else {
        format!("{volume} is gone: a fresh home (the workspace copied again, no conversation)")
    };
    println!("identity   {}", meta.identity);
    println!(
        "agent      {}  (bottles: {})",
        meta.agent,
        meta.bottles.join(", ")
    );
    println!("home       {home}");
    match crate::commit::committed_image(&meta.identity)? {
        Some(image) => println!("image      {image} (committed)"),
        None => println!("image      the agent's image, as planned"),
    }
    if let Some(w) = &meta.workspace {
        println!(
            "workspace  from the home volume when present, else copied from {}",
            w.display()
        );
    }
    println!("runtime    {}", meta.runtime.as_str());
    Ok(())
}

/// The metadata of a kept launch; a clear input error when it is gone or from another schema.
pub fn read_metadata(identity: &str) -> Result<Metadata> {
    let dir = bottles::state_dir(identity)?;
    let path = dir.join(bb_contract::state::METADATA_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        InputError::new(format!("no saved state for {identity} ({} is missing)", path.display()))
            .fix("state is removed after a clean exit and by cleanup; only a bottle that crashed, was interrupted or has .preserve can be resumed")
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
        InputError::new(format!("{} is not valid JSON ({err})", path.display()))
            .fix(format!("remove {} and start a new bottle", dir.display()))
    })?;
    let schema = value["schema"].as_str().unwrap_or("(none)");
    if bb_contract::plan::schema_major(schema) != Some(SCHEMA_MAJOR) {
        return Err(InputError::new(format!(
            "{} was written with plan schema {schema}; this bot-bottle reads {SCHEMA}",
            path.display()
        ))
        .fix("start a new bottle with bot-bottle start AGENT")
        .into());
    }
    serde_json::from_value(value).map_err(|err| {
        InputError::new(format!(
            "{} does not match {SCHEMA} ({err})",
            path.display()
        ))
        .fix("start a new bottle with bot-bottle start AGENT")
        .into()
    })
}
