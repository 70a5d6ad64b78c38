//! The manifest: bottle and agent files, where they live, and how they combine.
//!
//! - [`catalog`] finds the files (home and working directory) by name only — loading is lazy;
//! - [`bottle`] and [`agent`] read one file each and check every key;
//! - [`resolve`] follows `extends`, merges several bottles and the agent's git identity.
//!
//! Trust: bottles carry credentials, routes and remotes, so they are read only from the home
//! folder. A working directory (a possibly hostile repo) may ship agents, never bottles.

pub mod agent;
pub mod bottle;
pub mod catalog;
pub mod dlp;
pub mod egress;
pub mod frontmatter;
pub mod limits;
pub mod repo_url;
pub mod resolve;
pub mod token;
pub mod walk;
pub mod yaml;

use std::path::{Path, PathBuf};

use bb_contract::InputError;

pub use catalog::Catalog;

/// A place in a manifest file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: usize,
}

impl Loc {
    pub fn new(file: &Path, line: usize) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
        }
    }

    /// An input error at this place.
    pub fn error(&self, key: &str, message: impl Into<String>) -> InputError {
        InputError::new(message)
            .in_file(&self.file)
            .at_line(self.line)
            .key(key)
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The file-name rule for bottles and agents: `^[a-z][a-z0-9-]*$`.
pub fn is_manifest_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A repo or skill name that is safe as one path component (the gate applies the same rule).
pub use bb_contract::repo::is_repo_name;

/// Reads a manifest file's front matter into a YAML tree, with file-level errors.
pub(crate) fn read_document(path: &Path) -> Result<(walk::Ctx, yaml::Node, String), InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| InputError::new(format!("cannot read the file ({err})")).in_file(path))?;
    let doc = frontmatter::split(&text).map_err(|e| {
        InputError::new(e.message())
            .in_file(path)
            .at_line(1)
            .fix(e.fix())
    })?;
    let ctx = walk::Ctx::new(path, doc.yaml_first_line);
    let node = yaml::parse(doc.yaml).map_err(|e| {
        ctx.error(e.line, "", format!("invalid YAML: {}", e.message))
            .fix("check the indentation and quoting of the front matter")
    })?;
    Ok((ctx, node, doc.body.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_manifest_name("fixer"));
        assert!(is_manifest_name("shop-2"));
        for bad in ["Fixer", "2shop", "-x", "a_b", "", "a.b"] {
            assert!(!is_manifest_name(bad), "{bad}");
        }
        assert!(is_env_name("_X1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(is_repo_name("shop"));
        assert!(is_repo_name("my_repo.v2"));
        for bad in ["../x", "a/b", "x.git", ".hidden", "", "a..b"] {
            assert!(!is_repo_name(bad), "{bad}");
        }
    }
}
