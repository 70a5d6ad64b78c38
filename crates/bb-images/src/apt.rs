//! The Debian suite and mirror for debootstrap, from the host's apt sources: the first enabled
//! `deb` entry with component `main` and a release suite (not `-security`, `-updates`,
//! `-backports`, ...), read in apt's order (`sources.list`, then `sources.list.d/*.list` and
//! `*.sources` sorted by name). Both the one-line format and deb822 are understood.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::env;

/// Where debootstrap gets Debian from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub suite: String,
    pub mirror: String,
    /// The entry's `signed-by` keyring, only when it is an absolute path (an inline key is not).
    pub keyring: Option<PathBuf>,
}

/// Neither the environment nor the host's apt sources name a suite and a mirror.
#[derive(Debug, thiserror::Error)]
#[error(
    "no Debian suite/mirror found in {etc}/sources.list{{,.d/*}}; set {suite} and {mirror}",
    etc = .0.display(),
    suite = env::DEBIAN_SUITE,
    mirror = env::DEBIAN_MIRROR
)]
pub struct NoSource(pub PathBuf);

/// The source for debootstrap: `BB_DEBIAN_SUITE` and `BB_DEBIAN_MIRROR` override the host's
/// (either one set means no keyring), whose apt sources live in `BB_APT_ETC` (default
/// `/etc/apt`). `var` looks an environment variable up (empty counts as unset).
pub fn resolve(var: &dyn Fn(&str) -> Option<String>) -> Result<AptSource, NoSource> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let etc = PathBuf::from(var(env::APT_ETC).unwrap_or_else(|| "/etc/apt".into()));
    let host = host_source(&etc);
    let suite_override = var(env::DEBIAN_SUITE);
    let mirror_override = var(env::DEBIAN_MIRROR);
    let overridden = suite_override.is_some() || mirror_override.is_some();
    let suite = suite_override.or_else(|| host.as_ref().map(|h| h.suite.clone()));
    let mirror = mirror_override.or_else(|| host.as_ref().map(|h| h.mirror.clone()));
    match (suite, mirror) {
        (Some(suite), Some(mirror)) => Ok(AptSource {
            suite,
            mirror,
            keyring: if overridden {
                None
            } else {
                host.and_then(|h| h.keyring)
            },
        }),
        _ => Err(NoSource(etc)),
    }
}

/// The first good entry of the apt sources under `etc`, in apt's order.
pub fn host_source(etc: &Path) -> Option<AptSource> {
    source_files(etc).iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        if file.extension().is_some_and(|e| e == "sources") {
            in_deb822(&text)
        } else {
            in_list(&text)
        }
    })
}

/// `sources.list`, then `sources.list.d/*.list` and `*.sources` sorted by name.
pub fn source_files(etc: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(etc.join("sources.list.d"))
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
                .collect()
        })
        .unwrap_or_default();
    parts.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    let mut files = vec![etc.join("sources.list")];
    files.extend(parts);
    files
}

/// A release suite: not a security, updates, backports or proposed pocket, and not a flat
/// repository (`./`) or the old `suite/updates` security layout.
fn good_suite(s: &str) -> bool {
    const POCKETS: [&str; 6] = [
        "-security",
        "-updates",
        "-proposed-updates",
        "-backports",
        "-backports-sloppy",
        "-proposed",
    ];
    !s.is_empty()
        && !s.ends_with('/')
        && !s.ends_with("/updates")
        && !POCKETS.iter().any(|p| s.ends_with(p))
}

fn good_uri(u: &str) -> bool {
    ["http:", "https:", "file:", "ftp:"]
        .iter()
        .any(|scheme| u.starts_with(scheme))
}

fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// The first good URI × suite pair.
fn pick(suites: &str, uris: &str, key: &str) -> Option<AptSource> {
    let uri = uris.split_whitespace().find(|u| good_uri(u))?;
    let suite = suites.split_whitespace().find(|s| good_suite(s))?;
    Some(AptSource {
        suite: suite.to_string(),
        mirror: uri.to_string(),
        keyring: key.starts_with('/').then(|| PathBuf::from(key)),
    })
}

/// The one-line format: `deb [opt=value ...] URI SUITE COMPONENT...`.
pub fn in_list(text: &str) -> Option<AptSource> {
    text.lines().find_map(|line| {
        let line = line.split_once('#').map_or(line, |(before, _)| before);
        let mut tokens = line.split_whitespace().peekable();
        if tokens.next()? != "deb" {
            return None;
        }
        let mut key = "";
        if tokens.peek()?.starts_with('[') {
            let mut options = String::new();
            for token in tokens.by_ref() {
                options.push(' ');
                options.push_str(token);
                if token.ends_with(']') {
                    break;
                }
            }
            key = signed_by(&options).unwrap_or("");
            return list_entry(tokens, key);
        }
        list_entry(tokens, key)
    })
}

fn list_entry<'a>(mut tokens: impl Iterator<Item = &'a str>, key: &str) -> Option<AptSource> {
    let uri = tokens.next().unwrap_or("");
    let suite = tokens.next().unwrap_or("");
    let components: Vec<&str> = tokens.collect();
    if !components.contains(&"main") {
        return None;
    }
    pick(suite, uri, key)
}

/// The value of the first `signed-by=` option (up to a blank or `]`).
fn signed_by(options: &str) -> Option<&str> {
    let start = options.find("signed-by=")? + "signed-by=".len();
    let rest = &options[start..];
    let end = rest.find([' ', ']']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|v| !v.is_empty())
}

/// deb822 (`*.sources`): stanzas of `Field: value` separated by blank lines.
pub fn in_deb822(text: &str) -> Option<AptSource> {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut last = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if let Some(found) = stanza(&fields) {
                return Some(found);
            }
            fields.clear();
            last.clear();
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line: a multi-line field (an inline Signed-By key is not a path).
            if last == "signed-by" {
                fields.insert(last.clone(), String::new());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        last = name.to_lowercase();
        fields.insert(last.clone(), value.trim_matches([' ', '\t']).to_string());
    }
    stanza(&fields)
}

fn stanza(fields: &HashMap<String, String>) -> Option<AptSource> {
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let uris = fields.get("uris")?;
    if field("enabled").eq_ignore_ascii_case("no")
        || !has_word(field("types"), "deb")
        || !has_word(field("components"), "main")
    {
        return None;
    }
    pick(field("suites"), uris, field("signed-by"))
}

#[cfg(test)]
#[path = "apt_tests.rs"]
mod tests;
