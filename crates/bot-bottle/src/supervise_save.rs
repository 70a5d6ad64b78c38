//! Writing an approved route back into a bottle file, on the operator's explicit choice only
//! (`supervise --approve ID --save`, or `w` in the queue): the route then outlives the bottle.
//!
//! The file is the one whose `egress.routes` are in force for the bottle (the last layer of its
//! bottles and `extends` chains that declares them; a route added to another file would replace
//! the inherited list rather than extend it). The route is added as one more item of that list,
//! leaving every other line of the file as it was; the new file is read back with the planner's
//! own parser before anything is written; the change is shown as a diff of the Markdown file
//! and written only after a yes. Nothing the agent wrote goes into the file but the route the
//! operator approved (no reason, no comment of the agent's).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_contract::InputError;
use bb_contract::plan::Route;
use bb_plan::manifest::catalog::Catalog;

/// Where the route goes and what the file becomes.
pub struct Change {
    pub file: PathBuf,
    pub before: String,
    pub after: String,
}

/// The change that adds `route` to the bottle file of `identity`'s routes.
pub fn plan_change(identity: &str, route: &Route) -> Result<Change> {
    let meta = crate::resume::read_metadata(identity)?;
    let home = bb_core::paths::home()?;
    let catalog = Catalog::discover(&home, &meta.cwd)?;
    let (source, last) = bb_plan::manifest::resolve::routes_source(&catalog, &meta.bottles)?;
    let file = source.clone().unwrap_or(last);
    let before =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let after = with_route(&before, route, source.is_some()).map_err(|why| {
        InputError::new(format!(
            "cannot add the route for {} to the bottle file: {why}",
            route.host
        ))
        .in_file(&file)
        .fix("add it to egress.routes by hand")
    })?;
    check_parses(&file, &after, &route.host)?;
    Ok(Change {
        file,
        before,
        after,
    })
}

/// The unified diff of the change, as `diff -u` prints it.
pub fn diff(change: &Change) -> String {
    let name = change.file.display().to_string();
    similar::TextDiff::from_lines(&change.before, &change.after)
        .unified_diff()
        .context_radius(3)
        .header(&name, &name)
        .to_string()
}

/// Writes the change (whole, then renamed; the file keeps its mode).
pub fn write(change: &Change) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&change.file)?.permissions().mode() & 0o777;
    bb_core::fsx::write_file(&change.file, change.after.as_bytes(), mode)
        .with_context(|| format!("writing {}", change.file.display()))
}

/// `text` (a bottle file) with `route` added to its `egress.routes`, or why that cannot be
/// done by adding lines: `declares` says the file declares routes already.
pub fn with_route(text: &str, route: &Route, declares: bool) -> Result<String, String> {
    if route.grant.is_some() {
        return Err("only a route for the bottle's life is written to a bottle file".into());
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return Err("the file has no front matter".into());
    }
    let close = lines
        .iter()
        .skip(1)
        .position(|l| l.trim_end() == "---")
        .map(|i| i + 1)
        .ok_or("the front matter is not closed")?;
    let front = &lines[1..close];
    let (at, indent) = if declares {
        routes_end(front)?
    } else if front.iter().any(|l| key_of(l) == Some("egress")) {
        return Err("`egress` has no `routes` list".into());
    } else {
        (front.len(), None)
    };
    let mut item = String::new();
    if indent.is_none() {
        item.push_str("egress:\n  routes:\n");
    }
    let ind = " ".repeat(indent.unwrap_or(4));
    item.push_str(&format!(
        "{ind}# approved with bot-bottle supervise on {}\n",
        crate::supervise::today()
    ));
    item.push_str(&format!("{ind}- host: {}\n", json(&route.host)));
    if !route.matches.is_empty() {
        let matches = serde_json::to_value(&route.matches).map_err(|e| e.to_string())?;
        item.push_str(&format!("{ind}  matches: {matches}\n"));
    }
    let mut out: String = lines[..=at].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&item);
    out.push_str(&lines[at + 1..].concat());
    Ok(out)
}

/// A JSON string: a YAML scalar that needs no more quoting (`*.example.org` would be an alias).
fn json(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The top-level key a front-matter line opens, if any.
fn key_of(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    line.split_once(':').map(|(k, _)| k.trim())
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// In the front matter: the line (index into the file, from the opening `---`) after which
/// a new item of `egress.routes` goes, and the items' indent.
fn routes_end(front: &[&str]) -> Result<(usize, Option<usize>), String> {
    let egress = front
        .iter()
        .position(|l| key_of(l) == Some("egress"))
        .ok_or("no `egress` key")?;
    if front[egress]
        .split_once(':')
        .is_some_and(|(_, rest)| is_content(rest))
    {
        return Err("`egress` is written inline".into());
    }
    let block_end = front[egress + 1..]
        .iter()
        .position(|l| is_content(l) && indent_of(l) == 0)
        .map_or(front.len(), |i| egress + 1 + i);
    let routes = (egress + 1..block_end)
        .find(|&i| front[i].trim_start().starts_with("routes:"))
        .ok_or("`egress` has no `routes` list")?;
    let routes_indent = indent_of(front[routes]);
    let rest = front[routes].trim_start()["routes:".len()..].to_string();
    if is_content(&rest) {
        return Err("`routes` is written inline".into());
    }
    let mut last = routes;
    let mut item_indent = None;
    for (i, line) in front.iter().enumerate().take(block_end).skip(routes + 1) {
        if !is_content(line) {
            continue;
        }
        let indent = indent_of(line);
        let item = line.trim_start().starts_with('-');
        if indent < routes_indent || (indent == routes_indent && !item) {
            break;
        }
        if item && item_indent.is_none() {
            item_indent = Some(indent);
        }
        last = i;
    }
    // `last` indexes the front matter; the file has the opening `---` before it.
    Ok((last + 1, Some(item_indent.unwrap_or(routes_indent + 2))))
}

/// Reads `text` back as bottle `file` with the planner's parser, and checks it has a route
/// for `host`.
fn check_parses(file: &Path, text: &str, host: &str) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bottle".into());
    let bottles = tmp.path().join("home/bottles");
    std::fs::create_dir_all(&bottles)?;
    std::fs::create_dir_all(tmp.path().join("cwd"))?;
    std::fs::write(bottles.join(format!("{name}.md")), text)?;
    let catalog = Catalog::discover(&tmp.path().join("home"), &tmp.path().join("cwd"))?;
    let (_, spec) = catalog.load_bottle(&name)?;
    let found = spec.routes.iter().flatten().any(|r| r.host == host);
    if !found {
        bail!(
            "the bottle file with the route added does not read back with it; nothing was written"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
