//! Typed reading of a YAML [`Node`] tree with errors that name file, line, key path and fix.

use std::path::{Path, PathBuf};

use bb_contract::InputError;

use super::yaml::{Node, Value};

/// The file being read and the line offset of its front matter.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub file: PathBuf,
    /// Added to YAML line numbers to give file line numbers.
    pub line_offset: usize,
}

/// The entries of a YAML map.
pub type Entries = [(Node, Node)];

impl Ctx {
    pub fn new(file: &Path, yaml_first_line: usize) -> Self {
        Self {
            file: file.to_path_buf(),
            line_offset: yaml_first_line.saturating_sub(1),
        }
    }

    /// An input error at `node`'s line and `path`.
    pub fn error(&self, line: usize, path: &str, message: impl Into<String>) -> InputError {
        let line = if line == 0 {
            0
        } else {
            line + self.line_offset
        };
        InputError::new(message)
            .in_file(&self.file)
            .at_line(line)
            .key(path)
    }

    fn wrong_type(&self, node: &Node, path: &str, expected: &str) -> InputError {
        let fix = match expected {
            "a map" => "indent `key: value` lines under it (or write `{key: value}`)",
            "a list" => "write the items as `- item` lines under it (or `[a, b]`)",
            "true or false" => "write true or false without quotes",
            _ => "write a quoted string",
        };
        self.error(
            node.line,
            path,
            format!("expected {expected}, found {}", node.value.kind()),
        )
        .fix(fix)
    }

    /// The entries of a map; `Null` (an empty front matter or `key:`) is an empty map.
    pub fn map<'n>(&self, node: &'n Node, path: &str) -> Result<&'n Entries, InputError> {
        match &node.value {
            Value::Map(entries) => Ok(entries),
            Value::Null => Ok(&[]),
            _ => Err(self.wrong_type(node, path, "a map")),
        }
    }

    /// Checks that every key is a string in `allowed`; unknown keys get a did-you-mean hint.
    pub fn check_keys(
        &self,
        entries: &Entries,
        path: &str,
        allowed: &[&str],
    ) -> Result<(), InputError> {
        for (key, _) in entries {
            let Value::Str(name) = &key.value else {
                return Err(self.error(
                    key.line,
                    path,
                    format!("keys must be strings, found {}", key.value.kind()),
                ));
            };
            if !allowed.contains(&name.as_str()) {
                return Err(self
                    .error(key.line, &join(path, name), format!("unknown key `{name}`"))
                    .fix(unknown_key_fix(name, allowed)));
            }
        }
        Ok(())
    }

    pub fn string(&self, node: &Node, path: &str) -> Result<String, InputError> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Err(self
                .wrong_type(node, path, "a string")
                .fix("quote the value, for example \"8080\" or \"yes\"")),
            _ => Err(self.wrong_type(node, path, "a string")),
        }
    }

    pub fn bool(&self, node: &Node, path: &str) -> Result<bool, InputError> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.wrong_type(node, path, "true or false")),
        }
    }

    pub fn list<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node], InputError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.wrong_type(node, path, "a list")),
        }
    }

    pub fn string_list(&self, node: &Node, path: &str) -> Result<Vec<String>, InputError> {
        self.list(node, path)?
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &index(path, i)))
            .collect()
    }
}

/// The value of `key` in a map's entries.
pub fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
        .map(|(_, v)| v)
}

/// The string keys of a map with their value nodes, in file order.
pub fn string_entries(entries: &Entries) -> impl Iterator<Item = (&str, &Node, usize)> {
    entries.iter().filter_map(|(k, v)| match &k.value {
        Value::Str(s) => Some((s.as_str(), v, k.line)),
        _ => None,
    })
}

/// `parent.key`, or `key` at the top.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

pub use bb_contract::error::did_you_mean;

fn unknown_key_fix(name: &str, allowed: &[&str]) -> String {
    let list = allowed.join(", ");
    match did_you_mean(name, allowed.iter().copied()) {
        Some(guess) => format!("did you mean `{guess}`? (allowed: {list})"),
        None => format!("allowed keys: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new(Path::new("/h/bottles/shop.md"), 2)
    }

    #[test]
    fn unknown_key_suggests_the_closest_and_lists_all() {
        let doc = yaml::parse("env: {}\negres: {}\n").unwrap();
        let entries = ctx().map(&doc, "").unwrap();
        let err = ctx()
            .check_keys(entries, "", &["env", "egress", "extends"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/h/bottles/shop.md:3: egres: unknown key `egres`; did you mean `egress`? (allowed: env, egress, extends)"
        );
    }

    #[test]
    fn no_guess_for_a_distant_key() {
        assert_eq!(did_you_mean("zzz", ["env", "egress"]), None);
        assert_eq!(
            did_you_mean("agent_providr", ["agent_provider", "env"]),
            Some("agent_provider")
        );
        assert_eq!(
            did_you_mean("git_gate", ["git-gate", "env"]),
            Some("git-gate")
        );
    }

    #[test]
    fn wrong_types_name_what_was_expected_and_found() {
        let doc = yaml::parse("a: 8080\nb: [x]\n").unwrap();
        let entries = ctx().map(&doc, "").unwrap();
        let err = ctx()
            .string(get(entries, "a").unwrap(), "env.a")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/h/bottles/shop.md:2: env.a: expected a string, found a number; quote the value, for example \"8080\" or \"yes\""
        );
        let err = ctx().map(get(entries, "b").unwrap(), "egress").unwrap_err();
        assert!(
            err.to_string().contains("expected a map, found a list"),
            "{err}"
        );
    }
}
