//! What a push may do, besides carrying no secret. Checked in the pre-receive hook, before
//! anything goes upstream:
//!
//! - only branches (`refs/heads/*`) and tags (`refs/tags/*`) can be pushed; any other ref
//!   (`refs/replace/*`, `refs/notes/*`, `HEAD`, `refs/remotes/*`, ...) is refused, always;
//! - deleting a branch or tag needs `git-gate.repos.<name>.allow.delete`;
//! - a forced update needs `allow.force_push`: a branch moved to a commit that does not contain
//!   its current one, or an existing tag moved at all (git itself treats a tag update as forced);
//! - changing CI configuration in any commit of the pushed range needs `allow.ci_config`
//!   ([`is_ci_path`]);
//! - changing `.gitleaksignore` needs `allow.gitleaks_ignore`: the scan honours the file as it
//!   stands in the pushed tree, so an agent could otherwise list its own findings there.
//!
//! Each refusal is one line naming the ref or path and the bottle key that allows it.

use bb_contract::log::Rule;
use bb_contract::plan::{PushAllowance, RepoPlan};

use crate::changes::Change;
use crate::scan::{Update, short};

/// What an update does to its ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    Create,
    FastForward,
    /// Not a fast-forward, or an existing tag moved.
    Forced,
    Delete,
}

/// The kind of `u`; `is_ancestor(old, new)` answers whether `old` is contained in `new`
/// (false when it cannot tell: fail closed).
pub fn classify(u: &Update, is_ancestor: impl Fn(&str, &str) -> bool) -> UpdateKind {
    if u.is_delete() {
        UpdateKind::Delete
    } else if u.is_create() {
        UpdateKind::Create
    } else if u.refname.starts_with("refs/tags/") || !is_ancestor(&u.old, &u.new) {
        UpdateKind::Forced
    } else {
        UpdateKind::FastForward
    }
}

/// Branches and tags: the only refs a push may touch.
pub fn ref_allowed(refname: &str) -> bool {
    ["refs/heads/", "refs/tags/"]
        .iter()
        .any(|p| refname.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// `set git-gate.repos.<name>.allow.<key>: true in the bottle`.
pub fn allow_hint(repo: &str, key: &str) -> String {
    format!("set git-gate.repos.{repo}.allow.{key}: true in the bottle to allow it")
}

/// One refusal of a push: the rule (which names the key that would allow it) and the line.
pub type Refusal = (Rule, String);

/// One refusal line per update the repo's allowance does not cover. `shown` makes a ref name
/// fit to print (sanitized, secrets redacted).
pub fn check_updates(
    repo: &RepoPlan,
    updates: &[Update],
    kinds: &[UpdateKind],
    shown: impl Fn(&str) -> String,
) -> Vec<Refusal> {
    let allow: &PushAllowance = &repo.allow;
    let mut out = Vec::new();
    for (u, kind) in updates.iter().zip(kinds) {
        let name = shown(&u.refname);
        if !ref_allowed(&u.refname) {
            out.push((
                Rule::RefNotAllowed,
                format!(
                    "{name}: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed through the gate"
                ),
            ));
            continue;
        }
        match kind {
            UpdateKind::Delete if !allow.delete => out.push((
                Rule::RefDelete,
                format!(
                    "deleting {name} is refused; {}",
                    allow_hint(&repo.name, "delete")
                ),
            )),
            UpdateKind::Forced if !allow.force_push => {
                let what = if u.refname.starts_with("refs/tags/") {
                    "moving an existing tag is a forced update"
                } else {
                    "not a fast-forward"
                };
                let line = format!(
                    "{name}: {what} ({}..{}); {}",
                    short(&u.old),
                    short(&u.new),
                    allow_hint(&repo.name, "force_push")
                );
                out.push((Rule::ForcePush, line));
            }
            _ => {}
        }
    }
    out
}

/// Folders whose content is CI configuration (lower case, at the repository root).
pub const CI_DIRS: &[&str] = &[
    ".github/workflows",
    ".github/actions",
    ".gitlab-ci",
    ".circleci",
    ".azure-pipelines",
    ".woodpecker",
    ".buildkite",
    ".gitea/workflows",
    ".forgejo/workflows",
];

/// Files that are CI configuration (lower case, at the repository root).
pub const CI_FILES: &[&str] = &[
    ".gitlab-ci.yml",
    ".gitlab-ci.yaml",
    ".travis.yml",
    ".travis.yaml",
    "azure-pipelines.yml",
    "azure-pipelines.yaml",
    "jenkinsfile",
    ".drone.yml",
    ".drone.yaml",
    ".woodpecker.yml",
    ".woodpecker.yaml",
    "bitbucket-pipelines.yml",
    "bitbucket-pipelines.yaml",
    "appveyor.yml",
    "appveyor.yaml",
    ".appveyor.yml",
    ".appveyor.yaml",
    "cloudbuild.yml",
    "cloudbuild.yaml",
    "cloudbuild.json",
];

/// Whether a path (from the repository root) is CI configuration, compared case-insensitively:
/// one of [`CI_FILES`], anything inside one of [`CI_DIRS`], or an entry standing where one of
/// those folders or their parents would be (`.github` made a symlink or a file).
pub fn is_ci_path(path: &[u8]) -> bool {
    let path = path.to_ascii_lowercase();
    let path = path.as_slice();
    let under = |dir: &str| {
        let dir = dir.as_bytes();
        path == dir
            || path.starts_with(dir) && path.get(dir.len()) == Some(&b'/')
            || dir.starts_with(path) && dir.get(path.len()) == Some(&b'/')
    };
    CI_FILES.iter().any(|f| path == f.as_bytes()) || CI_DIRS.iter().any(|d| under(d))
}

/// Whether a path (from the repository root) is the `.gitleaksignore` the secret scan reads
/// (compared case-insensitively: a case-insensitive checkout reads any spelling).
pub fn is_gitleaks_ignore(path: &[u8]) -> bool {
    path.eq_ignore_ascii_case(bb_gitleaks::ignore::FILE.as_bytes())
}

/// A kind of path a push may change only when the bottle allows it.
struct Guard {
    rule: Rule,
    key: &'static str,
    what: &'static str,
    is: fn(&[u8]) -> bool,
    allowed: fn(&PushAllowance) -> bool,
}

const GUARDS: &[Guard] = &[
    Guard {
        rule: Rule::CiConfig,
        key: "ci_config",
        what: "is CI configuration",
        is: is_ci_path,
        allowed: |a| a.ci_config,
    },
    Guard {
        rule: Rule::GitleaksIgnore,
        key: "gitleaks_ignore",
        what: "lists findings the secret scan lets through",
        is: is_gitleaks_ignore,
        allowed: |a| a.gitleaks_ignore,
    },
];

/// Most refusal lines shown per kind of path; more are counted.
const MAX_PATH_LINES: usize = 20;

/// One refusal line per guarded path (CI configuration, `.gitleaksignore`) the pushed commits
/// change (added, modified, deleted, or either side of a rename), unless the repo allows it.
/// `shown` makes a path fit to print.
pub fn path_refusals(
    repo: &RepoPlan,
    changes: &[Change],
    shown: impl Fn(&[u8]) -> String,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    for guard in GUARDS.iter().filter(|g| !(g.allowed)(&repo.allow)) {
        let mut seen = std::collections::BTreeSet::new();
        let hits: Vec<&Change> = changes
            .iter()
            .filter(|c| (guard.is)(&c.path) && seen.insert(c.path.clone()))
            .collect();
        out.extend(hits.iter().take(MAX_PATH_LINES).map(|c| {
            let line = format!(
                "{} (commit {}) {}; {}",
                shown(&c.path),
                short(&c.commit),
                guard.what,
                allow_hint(&repo.name, guard.key)
            );
            (guard.rule, line)
        }));
        if hits.len() > MAX_PATH_LINES {
            let line = format!(
                "... and {} more such path(s) ({})",
                hits.len() - MAX_PATH_LINES,
                guard.key
            );
            out.push((guard.rule, line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(allow: PushAllowance) -> RepoPlan {
        RepoPlan {
            name: "shop".into(),
            url: "ssh://git@up/srv/shop.git".into(),
            url_as_written: "ssh://git@up/srv/shop.git".into(),
            ssh_user: "git".into(),
            host: "up".into(),
            port: 22,
            path: "/srv/shop.git".into(),
            key: bb_contract::plan::RepoKey::File {
                key_path: "/k".into(),
            },
            host_key: "ssh-ed25519 AAAA".into(),
            allow,
        }
    }

    fn u(old: char, new: char, r: &str) -> Update {
        Update {
            old: old.to_string().repeat(40),
            new: new.to_string().repeat(40),
            refname: r.into(),
        }
    }

    #[test]
    fn only_branches_and_tags() {
        for ok in ["refs/heads/main", "refs/heads/a/b", "refs/tags/v1"] {
            assert!(ref_allowed(ok), "{ok}");
        }
        for bad in [
            "HEAD",
            "refs/heads/",
            "refs/tags/",
            "refs/replace/1111111111111111111111111111111111111111",
            "refs/notes/commits",
            "refs/remotes/origin/main",
            "refs/pull/1/head",
            "refs/stash",
            "refs/headsx/main",
            "heads/main",
        ] {
            assert!(!ref_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn classifies_updates() {
        let anc = |old: &str, _: &str| old.starts_with('a');
        assert_eq!(
            classify(&u('0', 'b', "refs/heads/x"), anc),
            UpdateKind::Create
        );
        assert_eq!(
            classify(&u('b', '0', "refs/heads/x"), anc),
            UpdateKind::Delete
        );
        assert_eq!(
            classify(&u('a', 'b', "refs/heads/x"), anc),
            UpdateKind::FastForward
        );
        assert_eq!(
            classify(&u('c', 'b', "refs/heads/x"), anc),
            UpdateKind::Forced
        );
        // A tag moves only by force, even to a descendant.
        assert_eq!(
            classify(&u('a', 'b', "refs/tags/v1"), anc),
            UpdateKind::Forced
        );
        assert_eq!(
            classify(&u('0', 'b', "refs/tags/v1"), anc),
            UpdateKind::Create
        );
    }

    #[test]
    fn refusals_name_the_ref_and_the_key() {
        let updates = [
            u('a', '0', "refs/heads/gone"),
            u('c', 'd', "refs/heads/main"),
            u('a', 'b', "refs/tags/v1"),
            u('0', 'e', "refs/replace/x"),
            u('a', 'b', "refs/heads/ok"),
            u('0', 'b', "refs/heads/new"),
        ];
        let kinds = [
            UpdateKind::Delete,
            UpdateKind::Forced,
            UpdateKind::Forced,
            UpdateKind::Create,
            UpdateKind::FastForward,
            UpdateKind::Create,
        ];
        let lines = check_updates(&repo(PushAllowance::default()), &updates, &kinds, |s| {
            s.to_string()
        });
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(
            lines[0].1,
            "deleting refs/heads/gone is refused; set git-gate.repos.shop.allow.delete: true in the bottle to allow it"
        );
        assert!(
            lines[1]
                .1
                .starts_with("refs/heads/main: not a fast-forward (cccccccccc..dddddddddd)")
        );
        assert!(
            lines[1]
                .1
                .ends_with("allow.force_push: true in the bottle to allow it")
        );
        assert!(lines[2].1.contains("moving an existing tag"));
        assert!(lines[3].1.starts_with("refs/replace/x: only branches"));
        let rules: Vec<Rule> = lines.iter().map(|(rule, _)| *rule).collect();
        assert_eq!(
            rules,
            [
                Rule::RefDelete,
                Rule::ForcePush,
                Rule::ForcePush,
                Rule::RefNotAllowed
            ]
        );
        assert_eq!(
            Rule::ForcePush.refused_by("shop").key.as_deref(),
            Some("git-gate.repos.shop.allow.force_push")
        );
        let all = PushAllowance {
            delete: true,
            force_push: true,
            ci_config: true,
            gitleaks_ignore: true,
        };
        let lines = check_updates(&repo(all), &updates, &kinds, |s| s.to_string());
        assert_eq!(lines.len(), 1, "other refs stay refused: {lines:?}");
    }

    #[test]
    fn ci_paths_match_at_the_root_in_any_case() {
        for yes in [
            ".github/workflows/ci.yml",
            ".GitHub/Workflows/CI.yml",
            ".github/workflows",
            ".github",
            ".gitea",
            ".github/actions/setup/action.yml",
            ".gitlab-ci.yml",
            ".gitlab-ci/deploy.yml",
            ".circleci/config.yml",
            ".travis.yml",
            "azure-pipelines.yml",
            ".azure-pipelines/build.yml",
            "Jenkinsfile",
            "JENKINSFILE",
            ".drone.yml",
            ".woodpecker.yml",
            ".woodpecker/build.yaml",
            "bitbucket-pipelines.yml",
            ".buildkite/pipeline.yml",
            ".gitea/workflows/x.yaml",
            ".forgejo/workflows/x.yaml",
            "appveyor.yml",
            ".appveyor.yml",
            "cloudbuild.yaml",
        ] {
            assert!(is_ci_path(yes.as_bytes()), "{yes}");
        }
        for no in [
            "src/.github/workflows/ci.yml",
            "docs/Jenkinsfile",
            ".github/dependabot.yml",
            ".github/CODEOWNERS",
            ".github/workflowsx/a.yml",
            ".githubx",
            ".gitlab-ci.yml.bak",
            "Jenkinsfile.old",
            ".pre-commit-config.yaml",
            "Makefile",
            "",
        ] {
            assert!(!is_ci_path(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn guarded_path_refusals_once_per_path_unless_allowed() {
        let change = |c: char, p: &str| Change {
            commit: c.to_string().repeat(40),
            path: p.as_bytes().to_vec(),
            new_mode: "100644".into(),
            deleted: false,
        };
        let changes = [
            change('a', "src/main.rs"),
            change('a', ".github/workflows/ci.yml"),
            change('b', ".github/workflows/ci.yml"),
            change('b', "Jenkinsfile"),
            change('b', ".GitleaksIgnore"),
            change('b', "docs/.gitleaksignore"),
        ];
        let shown = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        let lines = path_refusals(&repo(PushAllowance::default()), &changes, shown);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[2].0, Rule::GitleaksIgnore);
        assert_eq!(lines[0].0, Rule::CiConfig);
        assert_eq!(
            lines[2].1,
            ".GitleaksIgnore (commit bbbbbbbbbb) lists findings the secret scan lets through; set git-gate.repos.shop.allow.gitleaks_ignore: true in the bottle to allow it"
        );
        assert_eq!(
            lines[0].1,
            ".github/workflows/ci.yml (commit aaaaaaaaaa) is CI configuration; set git-gate.repos.shop.allow.ci_config: true in the bottle to allow it"
        );
        let allowed = PushAllowance {
            ci_config: true,
            ..Default::default()
        };
        assert_eq!(path_refusals(&repo(allowed), &changes, shown).len(), 1);
        let allowed = PushAllowance {
            ci_config: true,
            gitleaks_ignore: true,
            ..Default::default()
        };
        assert!(path_refusals(&repo(allowed), &changes, shown).is_empty());
    }
}
