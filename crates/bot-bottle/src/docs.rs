//! Shell completions and man pages, generated from the command line definition.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Shell};

pub fn completions(shell: Shell) -> Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "bot-bottle",
        &mut std::io::stdout(),
    );
    Ok(())
}

/// `bot-bottle.1` and `bot-bottle-<command>.1` for each command.
pub fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cli = Cli::command();
    write_page(dir, "bot-bottle", cli.clone())?;
    for sub in cli.get_subcommands() {
        let name = format!("bot-bottle-{}", sub.get_name());
        write_page(dir, &name, sub.clone().name(name.clone()))?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    bb_core::progress::info("bot-bottle", format_args!("wrote {}", path.display()));
    Ok(())
}
