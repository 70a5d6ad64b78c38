//! Finding bottle and agent files. Listing reads directory entries only; a file is parsed
//! when it is used, so one broken file does not break the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bb_contract::InputError;
use bb_contract::plan::Origin;

use super::agent::{self, AgentSpec};
use super::bottle::{self, BottleSpec};
use super::walk::did_you_mean;
use super::{is_manifest_name, read_document};

/// An agent file and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEntry {
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    /// The home file of the same name that this working-directory file replaces.
    pub shadows: Option<PathBuf>,
}

/// The bottles and agents visible from one working directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub home: PathBuf,
    bottles: BTreeMap<String, PathBuf>,
    agents: BTreeMap<String, AgentEntry>,
    /// Skipped files and ignored folders, to print on stderr.
    pub warnings: Vec<String>,
}

impl Catalog {
    /// Lists `HOME/bottles`, `HOME/agents` and `CWD/.bot-bottle/agents`.
    pub fn discover(home: &Path, cwd: &Path) -> anyhow::Result<Catalog> {
        let mut warnings = Vec::new();
        let bottles = list_dir(&home.join("bottles"), &mut warnings)?;
        let mut agents: BTreeMap<String, AgentEntry> =
            list_dir(&home.join("agents"), &mut warnings)?
                .into_iter()
                .map(|(name, path)| {
                    let entry = AgentEntry {
                        name: name.clone(),
                        path,
                        origin: Origin::Home,
                        shadows: None,
                    };
                    (name, entry)
                })
                .collect();
        let repo_dir = cwd.join(".bot-bottle");
        if !same_dir(&repo_dir, home) {
            let repo_bottles = repo_dir.join("bottles");
            if repo_bottles.is_dir() {
                warnings.push(format!(
                    "ignoring {}: bottles are read only from {} (a repository may ship agents, never bottles)",
                    repo_bottles.display(),
                    home.join("bottles").display()
                ));
            }
            for (name, path) in list_dir(&repo_dir.join("agents"), &mut warnings)? {
                let shadows = agents.get(&name).map(|home_entry| home_entry.path.clone());
                let entry = AgentEntry {
                    name: name.clone(),
                    path,
                    origin: Origin::Cwd,
                    shadows,
                };
                agents.insert(name, entry);
            }
        }
        Ok(Catalog {
            home: home.to_path_buf(),
            bottles,
            agents,
            warnings,
        })
    }

    pub fn agents(&self) -> impl Iterator<Item = &AgentEntry> {
        self.agents.values()
    }

    pub fn bottle_names(&self) -> impl Iterator<Item = &str> {
        self.bottles.keys().map(String::as_str)
    }

    /// The file of bottle `name`, or an error with a did-you-mean hint.
    pub fn bottle_path(&self, name: &str) -> Result<&Path, InputError> {
        self.bottles.get(name).map(PathBuf::as_path).ok_or_else(|| {
            InputError::new(format!(
                "bottle `{name}` not found in {}",
                self.home.join("bottles").display()
            ))
            .fix(self.hint(name, self.bottle_names(), "bottles"))
        })
    }

    /// Finds agent `name`, or an error with a did-you-mean hint.
    pub fn agent(&self, name: &str) -> Result<&AgentEntry, InputError> {
        self.agents.get(name).ok_or_else(|| {
            InputError::new(format!(
                "agent `{name}` not found in {} or ./.bot-bottle/agents",
                self.home.join("agents").display()
            ))
            .fix(self.hint(name, self.agents.keys().map(String::as_str), "agents"))
        })
    }

    fn hint<'a>(&self, name: &str, names: impl Iterator<Item = &'a str>, what: &str) -> String {
        let all: Vec<&str> = names.collect();
        match did_you_mean(name, all.iter().copied()) {
            Some(guess) => format!("did you mean `{guess}`?"),
            None if all.is_empty() => {
                format!("there are no {what} yet; `bot-bottle init` writes a starter")
            }
            None => format!("available {what}: {}", all.join(", ")),
        }
    }

    /// Reads and checks bottle `name`.
    pub fn load_bottle(&self, name: &str) -> Result<(PathBuf, BottleSpec), InputError> {
        let path = self.bottle_path(name)?.to_path_buf();
        let (ctx, doc, _body) = read_document(&path)?;
        Ok((path, bottle::parse(&ctx, &doc)?))
    }

    /// Reads and checks agent `name`.
    pub fn load_agent(&self, name: &str) -> Result<(AgentEntry, AgentSpec), InputError> {
        let entry = self.agent(name)?.clone();
        let (ctx, doc, body) = read_document(&entry.path)?;
        let spec = agent::parse(&ctx, &doc, body)?;
        Ok((entry, spec))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `name -> path` for every `<name>.md` with a valid name; other entries become warnings.
fn list_dir(dir: &Path, warnings: &mut Vec<String>) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let stem = file_name.strip_suffix(".md");
        match stem {
            Some(stem) if is_manifest_name(stem) && path.is_file() => {
                found.insert(stem.to_string(), path);
            }
            _ => warnings.push(format!(
                "skipping {}: file names must be `<name>.md` with a name matching ^[a-z][a-z0-9-]*$",
                path.display()
            )),
        }
    }
    Ok(found)
}
