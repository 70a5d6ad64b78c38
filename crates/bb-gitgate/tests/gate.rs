//! The git gate against the real engine: an sshd upstream, the gate from the sidecar image and
//! a client from the test agent image on one Docker network ([`support::Env`]). Needs Docker
//! (fails without it).

mod support;

use std::time::{Duration, Instant};

use bb_testkit::docker_ok;
use support::{AWS_KEY, CUSTOM, Env, Options, TOKEN, unique, upstream_ref};

#[test]
fn a_key_from_a_command_is_held_by_an_agent_and_replaced_by_set_keys() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/vaulted.git vaulted && cd vaulted && echo v > v.txt && git add v.txt && git commit -q -m vaulted && git push -q origin HEAD:main")
        .expect_ok("clone and push with the key from the gate's environment");
    // The key is in no file of the gate (its agent holds it), only its public half. (The
    // other repos' keys are mounted files, and may be copied: they are left out.)
    let marker = env.key_marker();
    let files = env.exec(
        &env.gate,
        None,
        &format!(
            "test -f /var/lib/bot-bottle/git-gate/ssh/vaulted.pub || echo 'no public key'; \
             grep -rlF '{marker}' /var/lib/bot-bottle /tmp 2>/dev/null \
             | grep -v -e '/ssh/shop.key$' -e '/ssh/free.key$' -e '/ssh/wrongkey.key$'; true"
        ),
    );
    assert!(files.out.trim().is_empty(), "{}", files.out);
    // Another key replaces it: upstream refuses it; the first one again works again.
    let set_keys = |key: &str| {
        let json = serde_json::json!({"vaulted": key}).to_string();
        let out = std::process::Command::new("docker")
            .args(["exec", "-i", &env.gate, "bb-gitgate", "set-keys"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(json.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    set_keys(&env.other_key());
    env.client("git clone -q git://git-gate/vaulted.git second")
        .expect_fail("upstream does not know the other key");
    set_keys(&env.key());
    env.client("git clone -q git://git-gate/vaulted.git third")
        .expect_ok("the deploy key again");
}

#[test]
fn clone_fetch_and_push_through_the_gate() {
    let env = Env::new();
    let readme = env
        .client("git clone -q git://git-gate/shop.git shop && cat shop/README")
        .expect_ok("clone through the gate");
    assert!(readme.contains("hello"), "README from upstream: {readme}");

    // A commit made upstream out of band is seen by the next fetch.
    // Upstream's own history may hold a secret: only what the agent pushes is scanned.
    let oob = env.upstream_commit("main", "oob.txt", &format!("upstream history {AWS_KEY}"));
    let fetched = env
        .client("cd shop && git fetch -q origin && git rev-parse origin/main")
        .last_line("fetch through the gate");
    assert_eq!(fetched, oob);

    // A clean push lands upstream.
    let head = env
        .client(
            "cd shop && git merge -q --ff-only origin/main && echo feature > f.txt && git add f.txt \
             && git commit -q -m 'clean change' && git push -q origin HEAD:main && git rev-parse HEAD",
        )
        .last_line("clean push");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(head.clone())
    );

    // A new branch and a new tag are forwarded.
    env.client("cd shop && git tag v1 && git push -q origin HEAD:refs/heads/topic v1")
        .expect_ok("push a new branch and a tag");
    let refs = env.upstream_refs();
    assert_eq!(upstream_ref(&refs, "refs/heads/topic"), Some(head.clone()));
    assert_eq!(upstream_ref(&refs, "refs/tags/v1"), Some(head));

    // HEAD follows upstream's default branch.
    env.upstream_commit("main", "x.txt", "out of band");
    env.exec(
        &env.upstream,
        Some("git"),
        "git --git-dir /srv/git/shop.git branch trunk main && git --git-dir /srv/git/shop.git symbolic-ref HEAD refs/heads/trunk",
    )
    .expect_ok("switching upstream's default branch");
    let branch = env
        .client("git clone -q git://git-gate/shop.git second && git -C second symbolic-ref --short HEAD")
        .expect_ok("second clone");
    assert_eq!(branch.trim(), "trunk");

    // Requests the gate does not serve get one line, and the gate goes on serving.
    let out = env
        .client("git ls-remote git://git-gate/nope.git 2>&1")
        .expect_fail("an unknown repo");
    assert!(
        out.contains("remote error: bot-bottle git-gate: no repository `nope`"),
        "{out}"
    );
    env.client("git -C shop fetch -q origin")
        .expect_ok("fetch after a refused request");

    let events = env.events();
    assert!(
        events.iter().any(|e| e["event"] == "start"),
        "{}",
        env.gate_logs()
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "fetch" && e["ok"] == true)
    );
    assert!(
        events
            .iter()
            .any(|e| e["service"] == "git" && e["method"] == "push" && e["verdict"] == "allow")
    );
    assert!(
        events.iter().any(|e| e["event"] == "rules"
            && e["ok"] == true
            && e["message"]
                .as_str()
                .unwrap_or("")
                .contains("3 rule(s) loaded")),
        "the rules file is loaded: {}",
        env.gate_logs()
    );
}

/// A push through `free` (everything allowed), after a fetch that brings its mirror up to date.
fn push_free(env: &Env, args: &str) -> String {
    env.client(&format!(
        "cd shop && git fetch -q git://git-gate/free.git && git push -q git://git-gate/free.git {args} 2>&1"
    ))
    .expect_ok(&format!("allowed push {args}"))
}

#[test]
fn destructive_and_privileged_pushes_need_the_bottle_allowance() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop && cd shop && git push -q origin HEAD:refs/heads/topic")
        .expect_ok("clone and push a branch");

    // Deleting a branch.
    let out = env
        .client("cd shop && git push origin --delete topic 2>&1")
        .expect_fail("delete a branch");
    assert!(
        out.contains("deleting refs/heads/topic is refused; set git-gate.repos.shop.allow.delete: true in the bottle"),
        "{out}"
    );
    assert!(upstream_ref(&env.upstream_refs(), "refs/heads/topic").is_some());
    push_free(&env, "--delete topic");
    assert_eq!(upstream_ref(&env.upstream_refs(), "refs/heads/topic"), None);

    // A push that is not a fast-forward.
    let first = env
        .client("cd shop && echo a > a.txt && git add a.txt && git commit -q -m a && git push -q origin HEAD:main && git rev-parse HEAD")
        .last_line("fast-forward push");
    let out = env
        .client("cd shop && git reset -q --hard HEAD~1 && echo b > b.txt && git add b.txt && git commit -q -m b && git push -f origin HEAD:main 2>&1")
        .expect_fail("force push");
    assert!(out.contains("refs/heads/main: not a fast-forward"), "{out}");
    assert!(
        out.contains("set git-gate.repos.shop.allow.force_push: true in the bottle"),
        "{out}"
    );
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(first)
    );
    push_free(&env, "-f HEAD:main");
    let rewritten = env
        .client("git -C shop rev-parse HEAD")
        .last_line("rev-parse");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(rewritten.clone())
    );

    // A change of CI configuration (any case, at the root).
    let out = env
        .client("cd shop && git fetch -q origin && mkdir -p .GitHub/workflows && echo 'on: push' > .GitHub/workflows/ci.yml && git add -A && git commit -q -m ci && git push origin HEAD:main 2>&1")
        .expect_fail("a workflow change");
    assert!(
        out.contains(".GitHub/workflows/ci.yml (commit ") && out.contains("is CI configuration"),
        "{out}"
    );
    assert!(
        out.contains("set git-gate.repos.shop.allow.ci_config: true in the bottle"),
        "{out}"
    );
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(rewritten)
    );
    push_free(&env, "HEAD:main");
    let ci = env
        .client("git -C shop rev-parse HEAD")
        .last_line("rev-parse");
    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(ci)
    );
    // Each refusal's line names its rule and the key that would allow it.
    let refusals: Vec<(String, String)> = env
        .events()
        .iter()
        .filter(|e| e["service"] == "git" && e["verdict"] == "block")
        .map(|e| {
            assert_eq!(e["repo"], "shop", "{e}");
            let by = &e["refused_by"];
            (
                by["rule"].as_str().unwrap().to_owned(),
                by["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for (rule, key) in [
        ("ref_delete", "git-gate.repos.shop.allow.delete"),
        ("force_push", "git-gate.repos.shop.allow.force_push"),
        ("ci_config", "git-gate.repos.shop.allow.ci_config"),
    ] {
        assert!(
            refusals.contains(&(rule.to_owned(), key.to_owned())),
            "{rule}: {refusals:?}"
        );
    }

    // `.gitleaksignore`: a change needs the allowance; once upstream, the scan honours it for
    // the rules it lists, never for a known secret.
    let out = env
        .client("cd shop && printf 't.txt:test-internal-token:1\\n' > .gitleaksignore && git add .gitleaksignore && git commit -q -m ignore && git push origin HEAD:main 2>&1")
        .expect_fail("a .gitleaksignore change");
    assert!(
        out.contains(".gitleaksignore (commit ")
            && out.contains("set git-gate.repos.shop.allow.gitleaks_ignore: true in the bottle"),
        "{out}"
    );
    push_free(&env, "HEAD:main");
    env.client(&format!(
        "cd shop && git fetch -q origin && echo 'tok: {CUSTOM}' > t.txt && git add t.txt && git commit -q -m listed && git push -q origin HEAD:main 2>&1"
    ))
    .expect_ok("a finding .gitleaksignore lists");
    let out = env
        .client(&format!(
            "cd shop && printf 'tok: {CUSTOM} {TOKEN}\\nid = {CUSTOM}\\n' > t.txt && git commit -q -am more && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("findings it does not list");
    assert!(
        out.contains("t.txt:1") && out.contains("known_secrets"),
        "{out}"
    );
    assert!(
        out.contains("t.txt:2") && out.contains("gitleaks:test-internal-token"),
        "{out}"
    );
    // The list is upstream's as it stood before the push: a tree pushed to a tag (no commit, so
    // no change to refuse) cannot bring one of its own.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && printf 'id = {CUSTOM}\\n' > s.txt && printf 's.txt:test-internal-token:1\\n' > .gitleaksignore && git add -A && git push origin $(git write-tree):refs/tags/tree-with-a-list 2>&1"
        ))
        .expect_fail("a tree carrying its own .gitleaksignore");
    assert!(
        out.contains("s.txt:1") && out.contains("gitleaks:test-internal-token"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "{out}");

    // Refs other than branches and tags, whatever the bottle allows.
    let before = env.upstream_refs();
    for (what, push) in [
        (
            "a replace ref",
            "git push URL HEAD:refs/replace/$(git rev-parse HEAD~1)",
        ),
        (
            "a notes ref",
            "git notes add -f -m note && git push URL refs/notes/commits",
        ),
        (
            "a remote-tracking ref",
            "git push URL HEAD:refs/remotes/origin/x",
        ),
    ] {
        for repo in ["shop", "free"] {
            let push = push.replace("URL", &format!("git://git-gate/{repo}.git"));
            let out = env
                .client(&format!("cd shop && {push} 2>&1"))
                .expect_fail(what);
            assert!(
                out.contains(": only branches (refs/heads/*) and tags (refs/tags/*) can be pushed"),
                "{what} through {repo}: {out}"
            );
        }
    }
    assert_eq!(env.upstream_refs(), before);
}

#[test]
fn secrets_are_rejected_before_upstream_is_contacted() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop")
        .expect_ok("clone");
    let before = env.upstream_refs();
    let gate_before = env
        .client("git ls-remote git://git-gate/shop.git")
        .expect_ok("ls-remote");
    let connections = env.upstream_connections();

    // 1. A new file with an AWS-shaped key.
    let out = env
        .client(&format!(
            "cd shop && printf 'region = eu\\naws = {AWS_KEY}\\n' > creds.txt && git add creds.txt && \
             git commit -q -m creds && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a key in a new file");
    eprintln!("push with a key in a new file:\n{out}");
    assert!(out.contains("creds.txt:2"), "{out}");
    assert!(out.contains("AKIA…(20 chars)"), "{out}");
    assert_eq!(
        out.matches("creds.txt:2").count(),
        1,
        "one finding per secret: {out}"
    );
    assert!(
        out.contains("token_patterns:aws-access-key-id, gitleaks:custom-aws"),
        "the finding names every rule: {out}"
    );
    assert!(out.contains("rule "), "{out}");
    assert!(!out.contains(AWS_KEY), "the key is not echoed: {out}");
    let short = env
        .client("git -C shop rev-parse --short=10 HEAD")
        .expect_ok("rev-parse");
    assert!(out.contains(short.trim()), "commit named: {out}");

    // 2. The key in the second of three commits of a range.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && \
             echo one > a.txt && git add a.txt && git commit -q -m one && \
             printf 'x\\ny\\nkey={AWS_KEY}\\n' > b.txt && git add b.txt && git commit -q -m two && \
             echo three > c.txt && git add c.txt && git commit -q -m three && \
             git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a key in the middle of a range");
    let second = env
        .client("git -C shop rev-parse --short=10 HEAD~1")
        .expect_ok("rev-parse");
    assert!(out.contains("b.txt:3"), "{out}");
    assert!(out.contains(second.trim()), "{out}");

    // 3. The key on a new branch.
    let out = env
        .client("cd shop && git push origin HEAD:refs/heads/leak 2>&1")
        .expect_fail("push a new branch with a key");
    assert!(out.contains("b.txt:3"), "{out}");

    // 4. A known secret (a token slot's value) in a commit message.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && git commit -q --allow-empty -m 'token {TOKEN}' && \
             git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a known secret in a message");
    assert!(out.contains("(commit message)"), "{out}");
    assert!(out.contains("known_secrets"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");

    // 5. The gitleaks rules file's own rule.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && echo 'tok: {CUSTOM}' > t.txt && git add t.txt && \
             git commit -q -m custom && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a custom-rule token");
    assert!(out.contains("gitleaks:test-internal-token"), "{out}");
    assert!(out.contains("t.txt:1"), "{out}");
    // A Go RE2 regex with a literal brace (Rust's syntax would reject it).
    let out = env
        .client(
            "cd shop && git reset -q --hard origin/main && echo 'x bbbrace_{abc} y' > b.txt && \
             git add b.txt && git commit -q -m brace && git push origin HEAD:main 2>&1",
        )
        .expect_fail("push matching a Go-syntax rule");
    assert!(out.contains("gitleaks:go-literal-brace"), "{out}");

    // 6. Names are content: a key in a file's path, in a branch name, a token as the author.
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && mkdir -p conf && echo clean > conf/{AWS_KEY}.txt && \
             git add -A && git commit -q -m path && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a key in a path");
    assert!(out.contains("path conf/AKIA…(20 chars).txt"), "{out}");
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && echo clean > n.txt && git add n.txt && \
             git commit -q -m clean && git push origin HEAD:refs/heads/leak-{AWS_KEY} 2>&1"
        ))
        .expect_fail("push with a key in the branch name");
    assert!(
        out.contains("ref name refs/heads/leak-AKIA…(20 chars)"),
        "{out}"
    );
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && \
             GIT_AUTHOR_NAME='{TOKEN}' git commit -q --allow-empty -m author && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a token as the author");
    assert!(out.contains("(commit author)"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");

    // Upstream received nothing: no ref moved, not even a connection was made.
    assert_eq!(env.upstream_refs(), before);
    assert_eq!(
        env.upstream_connections(),
        connections,
        "a refused push contacts nothing upstream"
    );

    // A replace ref in the gate's mirror that shows a clean, known commit in place of a dirty
    // one does not hide the dirty one. The clean push is also the control: it does reach
    // upstream.
    let clean = env
        .client(
            "cd shop && git reset -q --hard origin/main && echo ok > ok.txt && git add ok.txt && \
                 git commit -q -m ok && git push -q origin HEAD:main && git rev-parse HEAD",
        )
        .last_line("clean push");
    assert!(
        env.upstream_connections() > connections,
        "a clean push is forwarded"
    );
    let dirty = env
        .client(&format!(
            "cd shop && echo 'k={AWS_KEY}' > d.txt && git add d.txt && git commit -q -m dirty && git rev-parse HEAD"
        ))
        .last_line("dirty commit");
    env.gate_git(&format!("update-ref refs/replace/{dirty} {clean}"))
        .expect_ok("planting a replace ref in the mirror");
    let out = env
        .client("cd shop && git push origin HEAD:main 2>&1")
        .expect_fail("push of a commit the mirror's replace ref hides");
    assert!(out.contains("d.txt:1"), "{out}");
    env.gate_git(&format!("update-ref -d refs/replace/{dirty}"))
        .expect_ok("removing the replace ref");

    assert_eq!(
        upstream_ref(&env.upstream_refs(), "refs/heads/main"),
        Some(clean)
    );
    assert_ne!(
        env.client("git ls-remote git://git-gate/shop.git")
            .expect_ok("ls-remote"),
        gate_before
    );
    // The rules were loaded at the gate's start, and the hooks ask the gate: a rules file
    // broken since changes nothing until a SIGHUP.
    env.break_rules();
    let out = env
        .client(&format!(
            "cd shop && git reset -q --hard origin/main && echo 'tok: {CUSTOM}' > t2.txt && \
             git add t2.txt && git commit -q -m custom2 && git push origin HEAD:main 2>&1"
        ))
        .expect_fail("push with a custom-rule token after the rules file broke");
    assert!(out.contains("gitleaks:test-internal-token"), "{out}");
    assert!(!out.contains("cannot be used"), "{out}");

    // The log names the finding but never the value.
    let logs = env.gate_logs();
    eprintln!("gate logs:\n{logs}");
    assert!(logs.contains("creds.txt:2"), "{logs}");
    let secret = env
        .events()
        .into_iter()
        .find(|e| e["refused_by"]["rule"] == "secret_in_push")
        .expect("a refusal line for the secret");
    assert!(secret["refused_by"]["key"].is_null(), "{secret}");
    assert!(
        secret["reason"].as_str().unwrap().contains("creds.txt:2"),
        "{secret}"
    );
    assert!(
        !logs.contains(AWS_KEY) && !logs.contains(TOKEN) && !logs.contains(CUSTOM),
        "{logs}"
    );
}

#[test]
fn the_host_parameter_is_never_resolved_nor_an_option() {
    let env = Env::with(Options { resolver: true });
    // Control: a lookup from inside the gate's container does reach the recording resolver.
    let control = format!("ctl{}", unique());
    env.exec(
        &env.gate,
        None,
        &format!("timeout 3 getent hosts {control}.attacker.example; true"),
    );
    env.wait_for("the control query", || env.resolver_saw(&control));

    // A request naming an attacker's host is served, and that host is never looked up.
    let label = format!("exfil{}", unique());
    let out = env.raw_request(
        format!("git-upload-pack /shop.git\0host={label}.attacker.example\0").as_bytes(),
    );
    assert!(out.contains("refs/heads/main"), "served: {out}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!env.resolver_saw(&label), "the host= name was looked up");

    // `host=--help` is not an option to anything: the fetch refreshes from upstream as usual.
    let connections = env.upstream_connections();
    let out = env.raw_request(b"git-upload-pack /shop.git\0host=--help\0");
    assert!(out.contains("refs/heads/main"), "served: {out}");
    assert!(
        env.upstream_connections() > connections,
        "the refresh contacted upstream"
    );

    // Malformed requests get one sanitized ERR line.
    let out = env.raw_request(b"git-upload-pack /../etc.git\0host=x\0");
    assert!(
        out.contains("ERR bot-bottle git-gate: no such repository `/../etc.git`"),
        "{out}"
    );
    let out = env.raw_request(b"git-upload-archive /shop.git\0host=x\0");
    assert!(
        out.contains("service `git-upload-archive` is not offered"),
        "{out}"
    );
    let logs = env.gate_logs();
    assert!(!logs.contains(&label) && !logs.contains("--help"), "{logs}");
}

#[test]
fn concurrent_fetches_share_upstream_logins() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop")
        .expect_ok("clone");
    let before = env.upstream_connections();
    let out = env
        .client(
            "for i in 1 2 3 4 5 6 7 8 9 10; do \
             (git ls-remote git://git-gate/shop.git >/dev/null 2>&1 || echo failed) & done; wait",
        )
        .expect_ok("10 concurrent fetches");
    assert!(!out.contains("failed"), "{out}");
    let opened = env.upstream_connections() - before;
    eprintln!("10 concurrent fetches opened {opened} upstream connection(s)");
    assert!((1..10).contains(&opened), "{opened} connection(s)");
    assert!(
        env.events().iter().any(|e| e["event"] == "fetch"
            && e["message"]
                .as_str()
                .unwrap_or("")
                .contains("shared refresh")),
        "{}",
        env.gate_logs()
    );
}

#[test]
fn a_wrong_pinned_host_key_fails_closed() {
    let env = Env::new();
    let out = env
        .client("git clone git://git-gate/wrongkey.git w 2>&1")
        .expect_fail("clone with a wrong host key");
    eprintln!("clone with a wrong host key:\n{out}");
    assert!(out.contains("unreachable"), "{out}");
    assert!(out.contains("Host key verification failed"), "{out}");

    let before = env.upstream_refs();
    let out = env
        .client(
            "mkdir p && cd p && git init -q -b main && echo x > x && git add x && git commit -q -m x && \
             git push git://git-gate/wrongkey.git HEAD:refs/heads/main 2>&1",
        )
        .expect_fail("push with a wrong host key");
    assert!(out.contains("Host key verification failed"), "{out}");
    assert_eq!(env.upstream_refs(), before);
    let gate_refs = env
        .exec(
            &env.gate,
            None,
            "git --git-dir /var/lib/bot-bottle/git-gate/mirrors/wrongkey.git for-each-ref",
        )
        .expect_ok("gate refs");
    assert_eq!(gate_refs.trim(), "", "the gate's ref was not moved");

    // SIGTERM stops the gate, cleanly.
    let start = Instant::now();
    docker_ok(&["stop", "-t", "20", &env.gate]);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &env.gate]),
        "0"
    );
    assert!(
        env.events().iter().any(|e| e["event"] == "stop"),
        "{}",
        env.gate_logs()
    );
}

#[test]
fn upstream_down_fails_fetch_and_push_with_a_message() {
    let env = Env::new();
    env.client("git clone -q git://git-gate/shop.git shop")
        .expect_ok("clone");
    docker_ok(&["stop", "-t", "1", &env.upstream]);
    let out = env
        .client("git -C shop fetch origin 2>&1")
        .expect_fail("fetch with upstream down");
    eprintln!("fetch with upstream down:\n{out}");
    assert!(
        out.contains("upstream upstream:2222 is unreachable"),
        "{out}"
    );
    assert!(out.contains("stale"), "{out}");
    let out = env
        .client("cd shop && echo y > y && git add y && git commit -q -m y && git push origin HEAD:main 2>&1")
        .expect_fail("push with upstream down");
    eprintln!("push with upstream down:\n{out}");
    assert!(
        out.contains("forwarding to upstream upstream:2222 failed"),
        "{out}"
    );
    let gate_main = env
        .gate_git("rev-parse refs/heads/main")
        .expect_ok("gate main");
    let local_origin = env
        .client("git -C shop rev-parse origin/main")
        .expect_ok("origin/main");
    assert_eq!(
        gate_main.trim(),
        local_origin.trim(),
        "the gate's ref was not moved"
    );
}
