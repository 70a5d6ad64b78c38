use std::path::Path;

use super::*;
use crate::rules::Candidate;

fn parse_str(text: &str) -> Result<Config, InputError> {
    parse(text, Path::new("/r/rules.toml"))
}

fn error(text: &str) -> String {
    match parse_str(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn found(c: &Config, data: &str) -> Vec<String> {
    c.rules
        .scan(data.as_bytes(), "src/a.txt", "c0ffee")
        .into_iter()
        .map(|m| m.rule)
        .collect()
}

#[test]
fn files_gitleaks_rejects_are_rejected_with_file_and_key() {
    let cases = [
        ("[[rules]]\nid='x'\nregex='(unclosed'\n", "rules[0].regex"),
        ("[[rules]]\nid='x'\n", "both regex and path are empty"),
        ("[[rules]]\nregex='a'\n", "rules[0].id: is missing"),
        (
            "[[rules]]\nid='g'\nregex='(a)'\nsecretGroup=3\n",
            "rules[0].secretGroup",
        ),
        (
            "[[rules]]\nid='x'\nregex='a'\n[rules.allowlist]\ncondition='XOR'\nregexes=['b']\n",
            "condition",
        ),
        (
            "[allowlist]\nregexTarget='nope'\nregexes=['a']\n",
            "allowlists[0].regexTarget",
        ),
        ("[allowlist]\ndescription='empty'\n", "at least one check"),
        (
            "[allowlist]\npaths=['a']\n[[allowlists]]\npaths=['b']\n",
            "cannot be used alongside",
        ),
        (
            "[[rules]]\nid='x'\nregex='a'\n[rules.allowlist]\npaths=['a']\n[[rules.allowlists]]\npaths=['b']\n",
            "cannot be used alongside",
        ),
        (
            "[[rules]]\nid='x'\nregex='a'\n[[rules.required]]\nid='nope'\n",
            "not a rule of this file",
        ),
        (
            "[[allowlists]]\ntargetRules=['nope']\npaths=['a']\n",
            "targetRules",
        ),
        (
            "[extend]\nuseDefault=true\npath='x.toml'\n",
            "cannot both be set",
        ),
        (
            "[extend]\nurl='https://example.invalid/x.toml'\n",
            "extend.url",
        ),
        ("[[rules]\n", "not valid TOML"),
        ("[[rules]]\nid='x'\nregex='a{2000}'\n", "repeat count"),
    ];
    for (text, wanted) in cases {
        let err = error(text);
        assert!(err.contains(wanted), "{err:?} lacks {wanted:?}");
        assert!(err.starts_with("/r/rules.toml: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn unknown_keys_are_rejected_with_a_guess_and_known_keys_are_case_insensitive() {
    let err = error("[[rules]]\nid='x'\nregex='a'\nkeyword=['a']\n");
    assert!(err.contains("rules[0].keyword: unknown key"), "{err}");
    assert!(err.contains("did you mean `keywords`?"), "{err}");
    let c = parse_str(
        "[[rules]]\nID='x'\nRegex='tok_[a-z]{4}'\nsecretgroup=0\n[[rules.allowlists]]\nstopWords=['fake']\n",
    )
    .unwrap();
    assert_eq!(found(&c, "tok_abcd"), ["x"]);
    assert!(found(&c, "tok_fake").is_empty());
}

#[test]
fn the_last_definition_of_an_id_wins() {
    let c =
        parse_str("[[rules]]\nid='x'\nregex='first'\n[[rules]]\nid='x'\nregex='second'\n").unwrap();
    assert_eq!(c.rules.rules.len(), 1);
    assert!(found(&c, "first").is_empty());
    assert_eq!(found(&c, "second"), ["x"]);
}

#[test]
fn extend_path_merges_rules_by_id_and_drops_disabled_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.toml"),
        r#"
[[rules]]
id = "tok"
description = "base"
regex = '''tok_[a-z]{6}'''
[[rules]]
id = "gone"
regex = '''gone_[0-9]+'''
[[rules]]
id = "kept"
regex = '''kept_[0-9]+'''
[[allowlists]]
paths = ['''^fixtures/''']
"#,
    )
    .unwrap();
    let top = dir.path().join("top.toml");
    std::fs::write(
        &top,
        r#"
[extend]
path = "base.toml"
disabledRules = ["gone", "never-was"]
[[rules]]
id = "tok"
[[rules.allowlists]]
regexes = ['''tok_fake''']
"#,
    )
    .unwrap();
    let c = load(&top).unwrap();
    assert_eq!(found(&c, "tok_abcdef"), ["tok"]);
    assert!(
        found(&c, "tok_fakexx").is_empty(),
        "the extending rule's allowlist adds up"
    );
    assert!(found(&c, "gone_1").is_empty());
    assert_eq!(found(&c, "kept_1"), ["kept"]);
    assert!(c.rules.scan(b"kept_1", "fixtures/a", "c").is_empty());
    assert!(
        c.warnings.iter().any(|w| w.contains("never-was")),
        "{:?}",
        c.warnings
    );
    // The merged file stands alone.
    let flat = parse_str(&c.to_toml()).unwrap();
    assert_eq!(found(&flat, "tok_abcdef"), ["tok"]);
    assert!(found(&flat, "tok_fakexx").is_empty());
    assert!(found(&flat, "gone_1").is_empty());
}

#[test]
fn an_extend_chain_deeper_than_gitleaks_follows_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, next) in [("a", "b"), ("b", "c"), ("c", "d")] {
        std::fs::write(
            dir.path().join(format!("{name}.toml")),
            format!("[extend]\npath = \"{next}.toml\"\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("d.toml"), "").unwrap();
    let err = load(&dir.path().join("a.toml")).unwrap_err().to_string();
    assert!(
        err.contains("c.toml: extend: extends more than 2 levels"),
        "{err}"
    );
    assert!(load(&dir.path().join("b.toml")).is_ok());
}

#[test]
fn an_error_in_an_extended_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.toml"),
        "[[rules]]\nid='x'\nregex='('\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("top.toml"), "[extend]\npath='base.toml'\n").unwrap();
    let err = load(&dir.path().join("top.toml")).unwrap_err().to_string();
    assert!(err.contains("base.toml: rules[0].regex"), "{err}");
    let err = load(&dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.toml: cannot read"), "{err}");
}

#[test]
fn use_default_reaches_the_builtin_rules() {
    let c = parse_str(
        r#"
[extend]
useDefault = true
disabledRules = ["jwt", "not-a-rule"]

[[rules]]
id = "generic-api-key"
[[rules.allowlists]]
regexes = ['''^dummy''']

[[rules]]
id = "private-key"
regex = '''MY-OWN-KEY-[0-9]+'''
"#,
    )
    .unwrap();
    let off = c.rules.disabled_builtins();
    assert!(off.contains("jwt"));
    assert!(
        off.contains("private-key"),
        "a rule with a regex replaces the built-in one"
    );
    assert!(!off.contains("generic-credential"));
    assert_eq!(found(&c, "MY-OWN-KEY-12"), ["private-key"]);
    let dummy = Candidate::new(b"dummy_value", 0..11, 0..11, "a", "c");
    assert!(c.rules.silences_builtin("generic-credential", &dummy));
    let real = Candidate::new(b"x9vQ2mR7tL4w", 0..12, 0..12, "a", "c");
    assert!(!c.rules.silences_builtin("generic-credential", &real));
    assert!(c.rules.silences_builtin("jwt/base64", &real));
    assert!(c.warnings.iter().any(|w| w.contains("not-a-rule")));
    let flat = parse_str(&c.to_toml()).unwrap();
    assert_eq!(flat.rules.disabled_builtins(), off);
}

#[test]
fn targeted_allowlists_reach_builtin_rules_and_untargeted_ones_do_not() {
    let c = parse_str(
        r#"
[extend]
useDefault = true
[[allowlists]]
paths = ['''^vendor/''']
[[allowlists]]
targetRules = ["aws-access-token"]
regexes = ['''EXAMPLE$''']
"#,
    )
    .unwrap();
    let key = Candidate::new(b"AKIAABCDEFGHIJKLMNOP", 0..20, 0..20, "src/a", "c");
    assert!(!c.rules.silences_builtin("aws-access-key-id", &key));
    // The agent chooses its paths: a path allowed for the file's own rules is no hiding place
    // for a built-in finding.
    let vendored = Candidate::new(b"AKIAABCDEFGHIJKLMNOP", 0..20, 0..20, "vendor/x", "c");
    assert!(!c.rules.silences_builtin("aws-access-key-id", &vendored));
    let example = Candidate::new(b"AKIAIOSFODNN7EXAMPLE", 0..20, 0..20, "src/a", "c");
    assert!(c.rules.silences_builtin("aws-access-key-id", &example));
    assert!(!c.rules.silences_builtin("github-pat", &example));
    // Without useDefault, a target must be a rule of the config.
    let err = error("[[allowlists]]\ntargetRules=['aws-access-token']\nregexes=['a']\n");
    assert!(err.contains("targetRules"), "{err}");
}

#[test]
fn regexes_compile_on_first_use_and_one_past_the_size_limit_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.toml");
    std::fs::write(
        &file,
        "[[rules]]\nid = 'big'\nregex = '''(?:(?:a{1000}){1000}){1000}'''\nkeywords = ['zzz']\n\n[[rules]]\nid = 'small'\nregex = '''tok_[a-z]{6}'''\n",
    )
    .unwrap();
    let lazy = load(&file).unwrap();
    assert_eq!(
        found(&lazy, "tok_abcdef"),
        ["small"],
        "a push without `zzz` never needs `big`"
    );
    assert_eq!(
        lazy.rules
            .scan(b"zzz", "a.txt", "c")
            .into_iter()
            .map(|m| (m.rule, m.start, m.end))
            .collect::<Vec<_>>(),
        [("big".to_string(), 0, 0)],
        "a rule that cannot be compiled finds the file itself"
    );
    let err = load_compiled(&file).unwrap_err().to_string();
    assert!(err.contains("big.toml: rules.big.regex: "), "{err}");
}
