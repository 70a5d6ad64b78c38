//! Every kind of bad input gives one clear line naming file, key path and fix, exits 2, and
//! writes nothing under the state folder.

use bb_testkit::{Fixture, PLANTED, spec_example};

struct Outcome {
    code: i32,
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn run(f: &Fixture, args: &[&str], unset: &[&str]) -> Outcome {
    let mut cmd = f.cmd("bb-plan");
    cmd.args(args).arg("--runtime").arg("runc");
    for (name, value) in PLANTED {
        if !unset.contains(name) {
            cmd.env(name, value);
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let (warnings, errors): (Vec<String>, Vec<String>) = stderr
        .lines()
        .map(str::to_string)
        .partition(|l| l.contains("warning:"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        errors,
        warnings,
    }
}

/// Asserts exit 2, exactly one error line containing every `needle`, and no state written.
fn assert_bad(f: &Fixture, args: &[&str], unset: &[&str], needles: &[&str]) -> String {
    let out = run(f, args, unset);
    assert_eq!(out.code, 2, "exit status; stderr: {:?}", out.errors);
    assert_eq!(out.errors.len(), 1, "one error line: {:?}", out.errors);
    let line = &out.errors[0];
    assert!(line.starts_with("bb-plan: error: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
    assert!(line.contains("; "), "the line gives a fix: {line}");
    assert!(
        f.state_files().is_empty(),
        "nothing written: {:?}",
        f.state_files()
    );
    line.clone()
}

fn with_shop(f: &Fixture, front: &str) {
    spec_example(f);
    f.bottle("shop", front);
}

#[test]
fn unknown_key_has_did_you_mean() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\negres:\n  routes: []\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:3:",
            "egres",
            "unknown key",
            "did you mean `egress`?",
        ],
    );
}

#[test]
fn unknown_personal_data_action_has_did_you_mean() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      dlp: {personal_data: wran}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:",
            "personal_data",
            "`wran`",
            "did you mean `warn`?",
        ],
    );
}

#[test]
fn unknown_nested_key_names_the_path() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      tls_passthru: true\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:6:",
            "egress.routes[0].tls_passthru",
            "did you mean `tls_passthrough`?",
        ],
    );
}

#[test]
fn wrong_type() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\nenv:\n  PORT: 8080\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:4:",
            "env.PORT",
            "expected a string, found a number",
            "quote",
        ],
    );
}

#[test]
fn wrong_type_of_a_section() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\negress: [a]\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["shop.md:3:", "egress", "expected a map, found a list"],
    );
}

#[test]
fn bad_file_name_is_skipped_with_a_warning() {
    let f = Fixture::new();
    spec_example(&f);
    let shop = std::fs::read_to_string(f.path("home/bottles/shop.md")).unwrap();
    std::fs::remove_file(f.path("home/bottles/shop.md")).unwrap();
    f.write("home/bottles/Shop.md", &shop);
    let out = run(&f, &["fixer"], &[]);
    assert!(
        out.warnings.iter().any(|w| w.contains("skipping")
            && w.contains("Shop.md")
            && w.contains("^[a-z][a-z0-9-]*$")),
        "{:?}",
        out.warnings
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["fixer.md:2:", "bottle", "bottle `shop` not found"],
    );
}

#[test]
fn extends_cycle_prints_the_chain() {
    let f = Fixture::new();
    spec_example(&f);
    f.bottle("claude", "extends: base\n");
    f.bottle("base", "extends: shop\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "extends",
            "extends cycle: shop -> claude -> base -> shop",
            "break the cycle",
        ],
    );
}

#[test]
fn extends_self() {
    let f = Fixture::new();
    with_shop(&f, "extends: shop\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["shop.md:2:", "extends", "extends itself"],
    );
}

#[test]
fn extends_missing_parent_suggests_a_name() {
    let f = Fixture::new();
    with_shop(&f, "extends: claud\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:2:",
            "extends",
            "parent bottle `claud` not found (chain: shop -> claud)",
            "did you mean `claude`?",
        ],
    );
}

#[test]
fn extends_non_string() {
    let f = Fixture::new();
    with_shop(&f, "extends: [claude]\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["shop.md:2:", "extends", "expected a string, found a list"],
    );
}

#[test]
fn error_in_a_parent_names_the_chain() {
    let f = Fixture::new();
    spec_example(&f);
    f.bottle("claude", "agent_provider:\n  templte: claude\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "claude.md:3:",
            "agent_provider.templte",
            "(chain: shop -> claude)",
        ],
    );
}

#[test]
fn duplicate_route_host() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n    - host: A.example.org.\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:6:",
            "egress.routes[1].host",
            "duplicate route for `a.example.org`",
            "one route per host",
        ],
    );
}

#[test]
fn partial_auth() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      auth: {scheme: Bearer}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:6:",
            "egress.routes[0].auth",
            "partial auth: `token_ref` is missing",
        ],
    );
}

fn auth_case(auth: &str, expected: &[&str]) {
    let f = Fixture::new();
    with_shop(
        &f,
        &format!(
            "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      auth: {auth}\n"
        ),
    );
    assert_bad(&f, &["fixer"], &[], expected);
}

#[test]
fn token_sources_are_one_of_three_and_a_command_is_a_list() {
    auth_case(
        "{scheme: Bearer, token_ref: GITEA_TOKEN, token_file: /tmp/t}",
        &[
            "egress.routes[0].auth",
            "`token_ref`, `token_file` each name the token: give one",
        ],
    );
    auth_case(
        "{scheme: Bearer, token_command: \"op read op://a/b\"}",
        &[
            "egress.routes[0].auth.token_command",
            "no shell runs it",
            "[pass, show, github/token]",
        ],
    );
    auth_case(
        "{scheme: Bearer, token_command: []}",
        &["egress.routes[0].auth.token_command", "no program named"],
    );
    auth_case(
        "{scheme: Bearer, token_ref: GITEA_TOKEN, token_timeout: 5}",
        &[
            "egress.routes[0].auth.token_timeout",
            "only a `token_command` has a timeout",
        ],
    );
    auth_case(
        "{scheme: Bearer, token_command: [pass, show, x], token_timeout: 0}",
        &["egress.routes[0].auth.token_timeout", "from 1 to 600"],
    );
    auth_case(
        "{scheme: Bearer, token_comand: [pass, show, x]}",
        &[
            "egress.routes[0].auth.token_comand",
            "did you mean `token_command`",
        ],
    );
}

#[test]
fn a_token_file_or_command_that_is_not_there_is_named_before_launch() {
    auth_case(
        "{scheme: Bearer, token_file: /nonexistent/bot-bottle/token}",
        &[
            "egress.routes[0].auth.token_file",
            "/nonexistent/bot-bottle/token (token for a.example.org) is not a file",
        ],
    );
    auth_case(
        "{scheme: Bearer, token_command: [bot-bottle-no-such-vault, read, x]}",
        &[
            "egress.routes[0].auth.token_command",
            "`bot-bottle-no-such-vault` (the token command for a.example.org) is not found",
        ],
    );
}

#[test]
fn empty_auth() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      auth: {}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["egress.routes[0].auth", "partial auth"],
    );
}

#[test]
fn passthrough_with_auth() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      tls_passthrough: true\n      auth: {scheme: Bearer, token_ref: GITEA_TOKEN}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "egress.routes[0].tls_passthrough",
            "cannot be combined with `auth`",
        ],
    );
}

#[test]
fn auth_token_with_codex() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\nagent_provider:\n  template: codex\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "claude.md:4:",
            "agent_provider.auth_token",
            "auth_token is for claude",
            "template `codex` set in",
            "forward_host_credentials",
        ],
    );
}

#[test]
fn literal_with_a_newline() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\nenv:\n  MOTD: \"two\\nlines\"\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:4:",
            "env.MOTD",
            "cannot contain a newline",
            "${NAME}",
        ],
    );
}

#[test]
fn missing_host_variable_at_launch() {
    let f = Fixture::new();
    spec_example(&f);
    let line = assert_bad(
        &f,
        &["fixer"],
        &["CARGO_REGISTRY_TOKEN"],
        &[
            "shop.md:5:",
            "env.CARGO_REGISTRY_TOKEN",
            "host variable `CARGO_REGISTRY_TOKEN` is not set",
            "export CARGO_REGISTRY_TOKEN",
        ],
    );
    assert!(!line.contains("planted"), "{line}");
}

#[test]
fn missing_route_token_at_launch() {
    let f = Fixture::new();
    spec_example(&f);
    assert_bad(
        &f,
        &["fixer"],
        &["GITEA_TOKEN"],
        &["shop.md:", "egress.routes[2].auth.token_ref", "GITEA_TOKEN"],
    );
}

#[test]
fn missing_oauth_token_at_launch() {
    let f = Fixture::new();
    spec_example(&f);
    assert_bad(
        &f,
        &["fixer"],
        &["CLAUDE_OAUTH"],
        &["claude.md:4:", "agent_provider.auth_token", "CLAUDE_OAUTH"],
    );
}

#[test]
fn missing_skill_folder() {
    let f = Fixture::new();
    spec_example(&f);
    std::fs::remove_dir(f.path("user/.claude/skills/code-review")).unwrap();
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "fixer.md:3:",
            "skills[0]",
            "code-review/ does not exist",
            "create it",
        ],
    );
}

#[test]
fn missing_key_file() {
    let f = Fixture::new();
    spec_example(&f);
    std::fs::remove_file(f.path("user/.ssh/shop_deploy")).unwrap();
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:12:",
            "git-gate.repos.shop.key.path",
            "shop_deploy does not exist",
        ],
    );
}

#[test]
fn repo_without_host_key_refuses_trust_on_first_use() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\ngit-gate:\n  repos:\n    shop:\n      url: git@h.example.org:a/b.git\n      key: {provider: static, path: ~/.ssh/shop_deploy}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:5:",
            "git-gate.repos.shop",
            "missing `host_key`",
            "no trust on first use",
        ],
    );
}

fn key_case(key: &str, expected: &[&str]) {
    let f = Fixture::new();
    with_shop(
        &f,
        &format!(
            "extends: claude\ngit-gate:\n  repos:\n    shop:\n      url: git@h.example.org:a/b.git\n      key: {key}\n      host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbase\n"
        ),
    );
    assert_bad(&f, &["fixer"], &[], expected);
}

#[test]
fn a_repo_key_is_a_file_or_a_command_given_as_a_list() {
    key_case(
        "{provider: vault, path: /k}",
        &[
            "git-gate.repos.shop.key.provider",
            "unknown key provider `vault`",
            "`static` (a file) and `command`",
        ],
    );
    key_case(
        "{provider: command, command: \"pass show deploy\"}",
        &["git-gate.repos.shop.key.command", "no shell runs it"],
    );
    key_case(
        "{provider: command}",
        &["git-gate.repos.shop.key.command", "missing"],
    );
    key_case(
        "{provider: command, command: [pass, show, k], path: /k}",
        &[
            "git-gate.repos.shop.key.path",
            "not a key of provider `command`",
        ],
    );
    key_case(
        "{provider: static, path: /k, timeout: 5}",
        &[
            "git-gate.repos.shop.key.timeout",
            "not a key of provider `static`",
        ],
    );
    key_case(
        "{provider: command, command: [pass, show, k], timeout: 601}",
        &["git-gate.repos.shop.key.timeout", "from 1 to 600"],
    );
    key_case(
        "{provider: command, command: [bot-bottle-no-such-vault, k]}",
        &[
            "git-gate.repos.shop.key.command",
            "`bot-bottle-no-such-vault` (the key command of repo `shop`) is not found",
        ],
    );
}

#[test]
fn host_key_types_openssh_refuses_are_refused_at_planning() {
    // `ssh-dss` used to pass planning and fail inside the sidecar: one rule now decides both.
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\ngit-gate:\n  repos:\n    shop:\n      url: git@h.example.org:a/b.git\n      key: {provider: static, path: ~/.ssh/shop_deploy}\n      host_key: ssh-dss AAAAB3NzaC1kc3MAAACBAP1\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:8:",
            "git-gate.repos.shop.host_key",
            "`ssh-dss` does not start with a key type OpenSSH accepts",
            "ssh-ed25519, ssh-rsa",
        ],
    );
}

#[test]
fn bottle_in_the_working_directory_is_ignored_with_a_warning() {
    let f = Fixture::new();
    spec_example(&f);
    f.write(
        "repo/.bot-bottle/bottles/shop.md",
        "---\negress:\n  routes:\n    - host: evil.example.net\n---\n",
    );
    let out = f
        .cmd("bb-plan")
        .args(["fixer", "--runtime", "runc"])
        .envs(PLANTED.iter().copied())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: ignoring")
            && stderr.contains("a repository may ship agents, never bottles"),
        "{stderr}"
    );
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        !plan.contains("evil.example.net"),
        "the repo's bottle was used"
    );
    assert!(plan.contains("registry.example.org"));
}

#[test]
fn agent_naming_a_missing_bottle() {
    let f = Fixture::new();
    spec_example(&f);
    f.write(
        "repo/.bot-bottle/agents/fixer.md",
        "---\nbottle: shpo\n---\nPrompt\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "fixer.md:2:",
            "bottle",
            "bottle `shpo` not found",
            "did you mean `shop`?",
        ],
    );
}

#[test]
fn unknown_agent_and_unknown_bottle_flag() {
    let f = Fixture::new();
    spec_example(&f);
    assert_bad(
        &f,
        &["fixr"],
        &[],
        &["agent `fixr` not found", "did you mean `fixer`?"],
    );
    assert_bad(
        &f,
        &["fixer", "--bottle", "sho"],
        &[],
        &["--bottle sho", "did you mean `shop`?"],
    );
}

#[test]
fn yaml_syntax_error_and_missing_front_matter() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\nenv: {A: [\n");
    assert_bad(&f, &["fixer"], &[], &["shop.md:", "invalid YAML"]);
    f.write("home/bottles/shop.md", "just text\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:1:",
            "no YAML front matter",
            "start the file with a `---` line",
        ],
    );
}

#[test]
fn reserved_env_names_are_refused() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\nenv:\n  HTTPS_PROXY: http://elsewhere:3128\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &["shop.md:4:", "env.HTTPS_PROXY", "set by bot-bottle itself"],
    );
}

#[test]
fn bad_identity_and_usage_errors_exit_2() {
    let f = Fixture::new();
    spec_example(&f);
    assert_bad(
        &f,
        &["fixer", "--identity", "../../etc"],
        &[],
        &["--identity", "not a bottle identity"],
    );
    let out = f
        .cmd("bb-plan")
        .args(["fixer", "--runtime", "kvm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(f.state_files().is_empty());
}

#[test]
fn missing_gitleaks_rules_file() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\ngit-gate:\n  rules: ~/no-such-rules.toml\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:4:",
            "git-gate.rules",
            "no-such-rules.toml does not exist",
        ],
    );
}

#[test]
fn env_cannot_copy_a_credential_the_sidecar_injects() {
    let f = Fixture::new();
    with_shop(&f, "extends: claude\nenv:\n  LEAK: \"${CLAUDE_OAUTH}\"\n");
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "shop.md:",
            "env.LEAK",
            "copies $CLAUDE_OAUTH, the credential the sidecar injects for api.anthropic.com",
            "remove env.LEAK",
        ],
    );
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\nenv:\n  GIT_TOKEN: \"${GITEA_TOKEN}\"\negress:\n  routes:\n    - host: git.example.org\n      auth: {scheme: token, token_ref: GITEA_TOKEN}\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "env.GIT_TOKEN",
            "copies $GITEA_TOKEN",
            "for git.example.org",
        ],
    );
}

#[test]
fn env_cannot_set_the_providers_placeholder_variable() {
    let f = Fixture::new();
    with_shop(
        &f,
        "extends: claude\nenv:\n  CLAUDE_CODE_OAUTH_TOKEN: sk-ant-oat01-typed-in-by-hand\n",
    );
    assert_bad(
        &f,
        &["fixer"],
        &[],
        &[
            "env.CLAUDE_CODE_OAUTH_TOKEN",
            "is the placeholder bot-bottle sets",
            "remove env.CLAUDE_CODE_OAUTH_TOKEN",
        ],
    );
}

/// The error lines themselves, as users read them (a wording change shows up in review).
#[test]
fn error_lines_snapshot() {
    let cases = [
        "extends: claude\negres:\n  routes: []\n",
        "extends: claude\nenv: {A: 1}\n",
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      dlp: {outbound: [tokens]}\n",
        "extends: claude\negress:\n  routes:\n    - host: a.example.org\n      auth: {scheme: Bearer}\n",
        "extends: claude\ngit-gate:\n  repos:\n    ../x:\n      url: git@h.example.org:a/b.git\n",
        "extends: claude\nlimits: {memory: lots}\n",
    ];
    let mut lines = Vec::new();
    for front in cases {
        let f = Fixture::new();
        with_shop(&f, front);
        let out = run(&f, &["fixer"], &[]);
        assert_eq!(out.code, 2, "{front}: {:?}", out.errors);
        let root = f.path("").display().to_string();
        lines.extend(out.errors.iter().map(|l| l.replace(&root, "<fixture>/")));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn gitleaks_rules_that_gitleaks_would_reject() {
    let cases = [
        (
            "[[rules]]\nid = 'x'\nregex = '(unclosed'\n",
            "rules[0].regex",
        ),
        (
            "[[rules]]\nid = 'x'\nregex = 'a'\nkeyword = ['a']\n",
            "did you mean `keywords`?",
        ),
        (
            "[extend]\npath = 'missing.toml'\n",
            "missing.toml: cannot read",
        ),
    ];
    for (text, needle) in cases {
        let f = Fixture::new();
        f.write("home/bottles/leaks.toml", text);
        with_shop(&f, "extends: claude\ngit-gate:\n  rules: leaks.toml\n");
        assert_bad(
            &f,
            &["fixer"],
            &[],
            &[needle, "git-gate.rules in ", "shop.md"],
        );
    }
}

#[test]
fn gitleaks_rules_warnings_reach_stderr() {
    let f = Fixture::new();
    f.write(
        "home/bottles/leaks.toml",
        "[extend]\nuseDefault = true\ndisabledRules = ['no-such-rule']\n",
    );
    with_shop(&f, "extends: claude\ngit-gate:\n  rules: leaks.toml\n");
    let out = run(&f, &["fixer"], &[]);
    assert_eq!(out.code, 0, "{:?}", out.errors);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("leaks.toml") && w.contains("no-such-rule")),
        "{:?}",
        out.warnings
    );
}
