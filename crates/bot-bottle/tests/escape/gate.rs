//! Classes 2 and 3: what the gate scans is what it forwards, and pushes that destroy or run
//! code upstream need the bottle's word. Every refused push must leave upstream untouched and
//! uncontacted; the controls push the same kind of change cleanly.

use crate::attacks::expect;
use crate::classes::upstream_logins;
use crate::run::Runner;
use crate::util::{exec, stderr, stdout};
use crate::world::{PLANTED, World};

/// The planted GitHub token: `token_patterns` knows its shape (rule `github-pat`).
fn token() -> &'static str {
    PLANTED[2].2
}

/// Agent A's clone of `shop`, reset to upstream's `main`.
fn fresh_clone(w: &World) -> Result<(), String> {
    let out = exec(
        &w.a.agent,
        "node",
        "cd ~ && (test -d shop || git clone -q ssh://git@git.test:2222/srv/git/shop.git shop) && cd shop && git fetch -q origin && git checkout -q -B main origin/main && git reset -q --hard origin/main && git clean -qfdx",
    );
    expect(out.status.success(), || format!("clone: {}", stderr(&out)))
}

/// Upstream's refs (`git for-each-ref` in the bare repository).
fn upstream_refs(w: &World) -> String {
    stdout(&exec(
        &w.git,
        "git",
        "git -C /srv/git/shop.git for-each-ref --format='%(refname) %(objectname)'",
    ))
}

/// Runs `script` in the clone; the push in it must fail naming every one of `reasons`, leave
/// upstream's refs as they were and open no login upstream.
fn refused(w: &World, script: &str, reasons: &[&str]) -> Result<(), String> {
    fresh_clone(w)?;
    let refs = upstream_refs(w);
    let logins = upstream_logins(w);
    let out = exec(&w.a.agent, "node", &format!("cd ~/shop && {script}"));
    let err = stderr(&out);
    expect(!out.status.success(), || {
        format!("the push was accepted: {err}")
    })?;
    for reason in reasons {
        expect(err.contains(reason), || {
            format!("the refusal does not say {reason:?}: {err}")
        })?;
    }
    // The gate's own lines (`remote:`) never show it; git's summary line echoes the ref name.
    let shown = err
        .lines()
        .filter(|l| l.starts_with("remote:"))
        .any(|l| l.contains(token()));
    expect(!shown, || {
        format!("the gate's refusal shows the secret: {err}")
    })?;
    expect(upstream_refs(w) == refs, || {
        "upstream's refs changed".into()
    })?;
    expect(upstream_logins(w) == logins, || {
        "the gate logged in upstream for a push it refused".into()
    })
}

/// Runs `script` in the clone; the push must succeed and log in upstream.
fn accepted(w: &World, script: &str) -> Result<(), String> {
    fresh_clone(w)?;
    let logins = upstream_logins(w);
    let out = exec(&w.a.agent, "node", &format!("cd ~/shop && {script}"));
    expect(out.status.success(), || {
        format!("control refused: {}", stderr(&out))
    })?;
    expect(upstream_logins(w) > logins, || {
        "control: the accepted push never reached upstream (the login count cannot see contact)"
            .into()
    })
}

pub fn pushes(run: &mut Runner, w: &World) {
    let t = token();
    run.case(
        "2 a push of refs/replace/*: refused (branches and tags only)",
        || {
            refused(
                w,
                "c=$(git rev-parse HEAD) && git push origin $c:refs/replace/$c",
                &["refs/replace/", "only branches"],
            )
        },
    );
    run.case("2 a push of refs/notes/*: refused", || {
        refused(
            w,
            "git push origin HEAD:refs/notes/commits",
            &["refs/notes/commits", "only branches"],
        )
    });
    for (what, script) in [
        (
            "a file path",
            format!(
                "mkdir -p d && echo x > 'd/{t}.txt' && git add -A && git commit -qm path && git push origin main"
            ),
        ),
        (
            "a branch name",
            format!("git commit -q --allow-empty -m b && git push origin HEAD:refs/heads/x-{t}"),
        ),
        (
            "the commit author",
            format!(
                "git -c user.name='{t}' commit -q --allow-empty -m author && git push origin main"
            ),
        ),
        (
            "the commit message",
            format!("git commit -q --allow-empty -m 'note {t}' && git push origin main"),
        ),
        (
            "a symlink target",
            format!(
                "ln -s '/tmp/{t}' link && git add link && git commit -qm link && git push origin main"
            ),
        ),
        (
            "a submodule URL",
            format!(
                "printf '[submodule \"s\"]\\n\\tpath = s\\n\\turl = https://x.example/{t}.git\\n' > .gitmodules && git add .gitmodules && git commit -qm sub && git push origin main"
            ),
        ),
    ] {
        run.case(
            &format!("2 a secret in {what}: refused (names are content)"),
            || refused(w, &script, &["github-pat"]),
        );
    }
    run.case(
        "3 deleting a branch: refused unless the bottle allows it",
        || {
            accepted(w, "git push -q origin main:refs/heads/to-delete")?;
            refused(
                w,
                "git push origin :refs/heads/to-delete",
                &["deleting refs/heads/to-delete", "allow.delete"],
            )
        },
    );
    run.case(
        "3 a non-fast-forward push: refused unless the bottle allows it",
        || {
            accepted(
                w,
                "git commit -q --allow-empty -m ff-control && git push -q origin main",
            )?;
            refused(
                w,
                "git push -f origin main~1:refs/heads/main",
                &["refs/heads/main", "allow.force_push"],
            )
        },
    );
    run.case(
        "2 a secret with a .gitleaksignore listing it, in one push or first the list: refused",
        || {
            refused(
                w,
                &format!(
                    "echo 'key = {t}' > s.txt && printf 's.txt:github-pat:1\\ns.txt:generic-api-key:1\\n' > .gitleaksignore && git add -A && git commit -qm s && git push origin main"
                ),
                &["github-pat", ".gitleaksignore", "allow.gitleaks_ignore"],
            )?;
            refused(
                w,
                "printf 's.txt:github-pat:1\\n' > .gitleaksignore && git add -A && git commit -qm list && git push origin main",
                &[".gitleaksignore", "allow.gitleaks_ignore"],
            )
        },
    );
    run.case("3 a change to CI configuration: refused unless the bottle allows it", || {
        refused(
            w,
            "mkdir -p .github/workflows && printf 'on: push\\n' > .github/workflows/x.yml && git add -A && git commit -qm ci && git push origin main",
            &[".github/workflows/x.yml", "allow.ci_config"],
        )?;
        accepted(w, "mkdir -p docs && echo ok > docs/notes.md && git add -A && git commit -qm docs && git push -q origin main")
    });
}
