//! The agent's `~/.gitconfig`: identity, and every upstream URL rewritten to the git gate.

use std::fmt::Write as _;

use bb_contract::plan::GitGatePlan;

/// Quotes a value for git's config format.
fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The URL forms an agent may have for a repo: as written in the bottle, the normalised
/// `ssh://` form, and the scp-like form.
fn upstream_forms(repo: &bb_contract::plan::RepoPlan) -> Vec<String> {
    let mut forms = vec![repo.url_as_written.clone(), repo.url.clone()];
    let scp_path = repo
        .path
        .strip_prefix("/~/")
        .or_else(|| repo.path.strip_prefix('/'))
        .unwrap_or(&repo.path);
    if repo.port == 22 {
        forms.push(format!(
            "{}@{}:{}",
            repo.ssh_user,
            repo.host,
            repo.path.strip_prefix("/~/").unwrap_or(&repo.path)
        ));
        forms.push(format!("{}@{}:{scp_path}", repo.ssh_user, repo.host));
    }
    let mut unique = Vec::new();
    for form in forms {
        if !unique.contains(&form) {
            unique.push(form);
        }
    }
    unique
}

pub fn render(gate: &GitGatePlan) -> String {
    let mut out =
        String::from("# Written by bot-bottle: pushes and fetches go through the git gate.\n");
    let user = &gate.user;
    if user.name.is_some() || user.email.is_some() {
        out.push_str("[user]\n");
        if let Some(name) = &user.name {
            let _ = writeln!(out, "\tname = {}", quote(&name.value));
        }
        if let Some(email) = &user.email {
            let _ = writeln!(out, "\temail = {}", quote(&email.value));
        }
    }
    for repo in &gate.repos {
        let _ = writeln!(
            out,
            "[url {}]",
            quote(&format!("git://git-gate/{}.git", repo.name))
        );
        for form in upstream_forms(repo) {
            let _ = writeln!(out, "\tinsteadOf = {}", quote(&form));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::plan::{GitUser, RepoPlan, Sourced};

    #[test]
    fn identity_and_rewrites() {
        let gate = GitGatePlan {
            user: GitUser {
                name: Some(Sourced {
                    value: "Shop \"Bot\"".into(),
                    from: "bottle:shop".into(),
                }),
                email: Some(Sourced {
                    value: "bot@example.org".into(),
                    from: "bottle:shop".into(),
                }),
            },
            repos: vec![RepoPlan {
                name: "shop".into(),
                url: "ssh://git@git.example.org/~/team/shop.git".into(),
                url_as_written: "git@git.example.org:team/shop.git".into(),
                ssh_user: "git".into(),
                host: "git.example.org".into(),
                port: 22,
                path: "team/shop.git".into(),
                key: bb_contract::plan::RepoKey::File {
                    key_path: "/k".into(),
                },
                host_key: "ssh-ed25519 AAAA".into(),
                allow: Default::default(),
            }],
            rules: None,
        };
        let text = render(&gate);
        assert!(text.contains("\tname = \"Shop \\\"Bot\\\"\"\n"), "{text}");
        assert!(
            text.contains("[url \"git://git-gate/shop.git\"]\n"),
            "{text}"
        );
        assert!(
            text.contains("\tinsteadOf = \"git@git.example.org:team/shop.git\"\n"),
            "{text}"
        );
        assert!(
            text.contains("\tinsteadOf = \"ssh://git@git.example.org/~/team/shop.git\"\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("git@git.example.org:team/shop.git").count(),
            1,
            "no duplicates"
        );
    }
}
