//! A gitleaks config with its `[extend]` chain, merged and checked as gitleaks does.
//!
//! What gitleaks rejects is rejected here, as one [`InputError`] naming the file and key:
//! TOML errors, a regex RE2 does not accept ([`crate::re2`]), a rule without `regex` and
//! `path` or without `id`, `secretGroup` past the regex's groups, an allowlist with nothing to
//! check or an unknown `condition`/`regexTarget`, `[allowlist]` next to `[[allowlists]]` (in a
//! rule or at the top), a `[[rules.required]]` naming no rule of its file, `targetRules`
//! naming no rule, `extend.path` with `extend.useDefault`. Stricter than gitleaks, because a
//! silently ignored key weakens a scan without a word: unknown keys (did-you-mean),
//! `extend.url` (gitleaks ignores it), and an extend chain deeper than the two levels
//! gitleaks follows.
//!
//! Semantics kept: keys are case-insensitive; the last definition of a rule id wins; a rule
//! whose id is in the extended config merges into it (its non-empty description, entropy,
//! secretGroup, regex and path replace the base's; keywords, tags and allowlists add up);
//! `disabledRules` drops rules of the extended config; global allowlists add up. `extend.path`
//! is relative to the file that names it (gitleaks: to its working folder). Under
//! `useDefault`, the built-in detectors stand for gitleaks' defaults ([`crate::builtin`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bb_contract::InputError;

use crate::builtin::builtin_rules;
use crate::model::{KeyError, RawAllowlist, RawConfig, RawExtend, RawRule};
use crate::one_line;
use crate::rules::Rules;

/// How deep `[extend] path` chains go (gitleaks' limit).
pub const MAX_EXTEND_DEPTH: usize = 2;

/// A loaded config: the compiled rules, the merged config (written back by [`Config::to_toml`])
/// and warnings for things gitleaks only warns about.
#[derive(Debug)]
pub struct Config {
    pub rules: Rules,
    pub warnings: Vec<String>,
    merged: RawConfig,
}

/// What one file and its extensions add up to.
struct Merged {
    raw: RawConfig,
    use_default: bool,
    disabled_builtins: BTreeSet<String>,
    warnings: Vec<String>,
}

/// Loads a config file and the files it extends. Regexes are parsed, and compiled when a scan
/// first needs them ([`load_compiled`] compiles them all).
pub fn load(path: &Path) -> Result<Config, InputError> {
    finish(load_file(path, 0)?, path)
}

/// [`load`], every regex compiled: what a regex past the engine's size limits would only show
/// at a scan is an error here.
pub fn load_compiled(path: &Path) -> Result<Config, InputError> {
    let config = load(path)?;
    config
        .rules
        .compile_all()
        .map_err(|(key, why)| InputError::new(why).in_file(path).key(key))?;
    Ok(config)
}

/// Parses a config given as text; `file` names it in errors and anchors `extend.path`.
pub fn parse(text: &str, file: &Path) -> Result<Config, InputError> {
    finish(parse_file(text, file, 0)?, file)
}

impl Config {
    /// The merged config as one self-contained gitleaks file: no `extend.path` left;
    /// `useDefault` and the disabled built-in rules kept.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.merged).expect("a config serialises")
    }
}

fn finish(merged: Merged, file: &Path) -> Result<Config, InputError> {
    let Merged {
        mut raw,
        use_default,
        disabled_builtins,
        warnings,
    } = merged;
    raw.extend = use_default.then(|| RawExtend {
        use_default: true,
        disabled_rules: disabled_builtins.iter().cloned().collect(),
        ..RawExtend::default()
    });
    let rules = Rules::compile(&raw, use_default, &disabled_builtins).map_err(|e| at(file, e))?;
    Ok(Config {
        rules,
        warnings,
        merged: raw,
    })
}

fn at(file: &Path, e: KeyError) -> InputError {
    let mut err = InputError::new(e.message).in_file(file).key(e.key);
    if let Some(fix) = e.fix {
        err = err.fix(fix);
    }
    err
}

fn load_file(path: &Path, depth: usize) -> Result<Merged, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("cannot read the rules file: {e}")).in_file(path))?;
    parse_file(&text, path, depth)
}

fn parse_file(text: &str, file: &Path, depth: usize) -> Result<Merged, InputError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        InputError::new(format!("not valid TOML: {}", one_line(e.message()))).in_file(file)
    })?;
    let mut raw = RawConfig::from_table(&table).map_err(|e| at(file, e))?;
    check_file(&mut raw).map_err(|e| at(file, e))?;
    let mut merged = Merged {
        use_default: false,
        disabled_builtins: BTreeSet::new(),
        warnings: Vec::new(),
        raw,
    };
    let Some(extend) = merged.raw.extend.clone() else {
        return Ok(merged);
    };
    if depth >= MAX_EXTEND_DEPTH && (extend.use_default || extend.path.is_some()) {
        return Err(InputError::new(format!(
            "extends more than {MAX_EXTEND_DEPTH} levels deep; gitleaks ignores deeper levels, so their rules would not apply"
        ))
        .in_file(file)
        .key("extend")
        .fix("merge this file into the one that extends it"));
    }
    if extend.use_default {
        merged.use_default = true;
        disable_builtins(&mut merged, &extend.disabled_rules, &[]);
    } else if let Some(rel) = &extend.path {
        let path = resolve(file, rel);
        let base = load_file(&path, depth + 1)?;
        extend_with(&mut merged, base, &extend.disabled_rules);
    }
    Ok(merged)
}

fn resolve(file: &Path, rel: &str) -> PathBuf {
    let rel = Path::new(rel);
    match file.parent() {
        Some(dir) if rel.is_relative() => dir.join(rel),
        _ => rel.to_path_buf(),
    }
}

/// Marks the built-in rules `ids` name as disabled; warns for ids that name neither a
/// built-in rule nor one of `known` (gitleaks warns too).
fn disable_builtins(merged: &mut Merged, ids: &[String], known: &[String]) {
    for id in ids {
        let builtins = builtin_rules(id);
        if builtins.is_empty() && !known.contains(id) {
            merged.warnings.push(format!(
                "extend.disabledRules: `{id}` names no rule of the extended config"
            ));
        }
        merged
            .disabled_builtins
            .extend(builtins.into_iter().map(str::to_string));
    }
}

/// Merges an extended config into the one that extends it, as gitleaks does.
fn extend_with(merged: &mut Merged, base: Merged, disabled: &[String]) {
    let base_ids: Vec<String> = base.raw.rules.iter().map(|r| r.id.clone()).collect();
    merged.warnings.extend(base.warnings);
    if base.use_default {
        merged.use_default = true;
        merged.disabled_builtins.extend(base.disabled_builtins);
        disable_builtins(merged, disabled, &base_ids);
    } else {
        for id in disabled.iter().filter(|id| !base_ids.contains(id)) {
            merged.warnings.push(format!(
                "extend.disabledRules: `{id}` names no rule of the extended config"
            ));
        }
    }
    for rule in base.raw.rules {
        if disabled.contains(&rule.id) {
            continue;
        }
        match merged.raw.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(current) => *current = merge_rule(rule, std::mem::take(current)),
            None => merged.raw.rules.push(rule),
        }
    }
    merged.raw.allowlists.extend(base.raw.allowlists);
}

/// `current` (the extending file's rule) merged into `base` (the extended file's).
fn merge_rule(mut base: RawRule, current: RawRule) -> RawRule {
    if !current.description.is_empty() {
        base.description = current.description;
    }
    if current.entropy != 0.0 {
        base.entropy = current.entropy;
    }
    if current.secret_group != 0 {
        base.secret_group = current.secret_group;
    }
    if current.regex.is_some() {
        base.regex = current.regex;
    }
    if current.path.is_some() {
        base.path = current.path;
    }
    base.tags.extend(current.tags);
    base.keywords.extend(current.keywords);
    base.allowlists.extend(current.allowlists);
    base
}

/// The checks gitleaks makes on each file before extending; folds `[allowlist]` into
/// `[[allowlists]]` and keeps the last definition of each rule id.
fn check_file(raw: &mut RawConfig) -> Result<(), KeyError> {
    for (i, rule) in raw.rules.iter_mut().enumerate() {
        let key = format!("rules[{i}]");
        if let Some(old) = rule.allowlist.take() {
            if !rule.allowlists.is_empty() {
                return Err(KeyError::new(
                    format!("{key}.allowlist"),
                    "[rules.allowlist] cannot be used alongside [[rules.allowlists]]",
                ));
            }
            rule.allowlists.push(old);
        }
        for (j, a) in rule.allowlists.iter().enumerate() {
            check_allowlist(a, &format!("{key}.allowlists[{j}]"))?;
        }
        for (j, r) in rule.required.iter().enumerate() {
            if r.id.is_empty() {
                return Err(KeyError::new(format!("{key}.required[{j}].id"), "is empty"));
            }
        }
        if let Some(p) = &rule.regex {
            crate::rules::check_regex(p).map_err(|e| KeyError::new(format!("{key}.regex"), e))?;
        }
        if let Some(p) = &rule.path {
            crate::rules::check_path(p).map_err(|e| KeyError::new(format!("{key}.path"), e))?;
        }
    }
    keep_last_definitions(&mut raw.rules);
    for (i, rule) in raw.rules.iter().enumerate() {
        for r in &rule.required {
            if !raw.rules.iter().any(|x| x.id == r.id) {
                return Err(KeyError::new(
                    format!("rules[{i}].required"),
                    format!(
                        "rule `{}` requires `{}`, which is not a rule of this file",
                        rule.id, r.id
                    ),
                ));
            }
        }
    }
    if let Some(old) = raw.allowlist.take() {
        if !raw.allowlists.is_empty() {
            return Err(KeyError::new(
                "allowlist",
                "[allowlist] cannot be used alongside [[allowlists]]",
            ));
        }
        raw.allowlists.push(old);
    }
    for (i, a) in raw.allowlists.iter().enumerate() {
        check_allowlist(a, &format!("allowlists[{i}]"))?;
    }
    if let Some(extend) = &raw.extend {
        if extend.url.is_some() {
            return Err(KeyError::new(
                "extend.url",
                "is not supported (gitleaks does not load it either)",
            ));
        }
        if extend.use_default && extend.path.is_some() {
            return Err(KeyError::new(
                "extend",
                "path and useDefault cannot both be set",
            ));
        }
    }
    Ok(())
}

/// A repeated rule id: the last definition wins, in the place of the first.
fn keep_last_definitions(rules: &mut Vec<RawRule>) {
    let mut seen = BTreeSet::new();
    let mut out: Vec<RawRule> = Vec::with_capacity(rules.len());
    for rule in rules.drain(..) {
        if seen.insert(rule.id.clone()) {
            out.push(rule);
        } else if let Some(slot) = out.iter_mut().find(|r| r.id == rule.id) {
            *slot = rule;
        }
    }
    *rules = out;
}

fn check_allowlist(a: &RawAllowlist, key: &str) -> Result<(), KeyError> {
    if !matches!(
        a.condition.to_ascii_uppercase().as_str(),
        "" | "OR" | "||" | "AND" | "&&"
    ) {
        return Err(KeyError::new(
            format!("{key}.condition"),
            format!("unknown condition `{}` (expected AND or OR)", a.condition),
        ));
    }
    if !matches!(a.regex_target.as_str(), "" | "secret" | "match" | "line") {
        return Err(KeyError::new(
            format!("{key}.regexTarget"),
            format!(
                "unknown target `{}` (expected secret, match or line)",
                a.regex_target
            ),
        ));
    }
    if a.commits.is_empty() && a.paths.is_empty() && a.regexes.is_empty() && a.stopwords.is_empty()
    {
        return Err(KeyError::new(
            key,
            "must contain at least one check for: commits, paths, regexes, or stopwords",
        ));
    }
    for (i, p) in a.paths.iter().enumerate() {
        crate::rules::check_path(p).map_err(|e| KeyError::new(format!("{key}.paths[{i}]"), e))?;
    }
    for (i, r) in a.regexes.iter().enumerate() {
        crate::rules::check_regex(r)
            .map_err(|e| KeyError::new(format!("{key}.regexes[{i}]"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
