use std::path::Path;

use super::*;

const RULES: &str = r#"
title = "test rules"

[allowlist]
description = "global"
paths = ['''(^|/)vendor/''']
stopwords = ["example"]

[[rules]]
id = "aws-access-token"
description = "AWS"
regex = '''\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b'''
keywords = ["akia", "asia", "abia", "acca", "a3t"]

[[rules]]
id = "generic-api-key"
regex = '''(?i)(?:key|token|secret)\s*[:=]\s*["']([0-9a-zA-Z_\-]{12,64})["']'''
secretGroup = 1
entropy = 3.0
keywords = ["key", "token", "secret"]
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''(?i)dummy''']

[[rules]]
id = "pem-file"
path = '''\.pem$'''

[[rules]]
id = "unicode-class"
regex = '''\p{Greek}{4}'''
[rules.allowlist]
commits = ["deadbeef01"]
"#;

fn rules(text: &str) -> Rules {
    crate::parse(text, Path::new("rules.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .rules
}

fn ids(r: &Rules, data: &str, path: &str) -> Vec<String> {
    r.scan(data.as_bytes(), path, "0123456789abcdef")
        .into_iter()
        .map(|m| m.rule)
        .collect()
}

#[test]
fn matches_with_secret_group_keywords_and_allowlists() {
    let r = rules(RULES);
    assert_eq!(r.rules.len(), 4);
    let data = "x = 1\naws = \"AKIAIOSFODNN7EXAMPLF\"\n";
    let m = r.scan(data.as_bytes(), "src/a.py", "c0ffee");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].rule, "aws-access-token");
    assert_eq!(&data[m[0].start..m[0].end], "AKIAIOSFODNN7EXAMPLF");
    // Global path allowlist and stopword.
    assert!(ids(&r, data, "vendor/x/a.py").is_empty());
    assert!(ids(&r, "AKIAIOSFODNN7EXAMPLE", "a").is_empty());
    // secretGroup, entropy and a per-rule line allowlist.
    let key = "api_key = \"q8Xv2LmN4pR7sT1w\"";
    let m = r.scan(key.as_bytes(), "a", "c");
    assert_eq!(m.len(), 1);
    assert_eq!(&key[m[0].start..m[0].end], "q8Xv2LmN4pR7sT1w");
    assert!(
        ids(&r, "api_key = \"aaaaaaaaaaaaaaaa\"", "a").is_empty(),
        "low entropy"
    );
    assert!(ids(&r, "api_key = \"q8Xv2LmN4pR7sT1w\" # dummy", "a").is_empty());
    // Path-only rule.
    assert_eq!(ids(&r, "anything", "certs/server.pem"), ["pem-file"]);
    // A rule that needs Unicode, and a commit allowlist.
    assert_eq!(ids(&r, "αβγδ", "a"), ["unicode-class"]);
    assert!(r.scan("αβγδ".as_bytes(), "a", "deadbeef01").is_empty());
}

#[test]
fn keyword_prefilter_skips_rules() {
    let r = rules("[[rules]]\nid = \"needs-kw\"\nregex = '''zzz'''\nkeywords = [\"magic\"]\n");
    assert!(ids(&r, "zzz", "a").is_empty());
    assert_eq!(ids(&r, "MAGIC zzz", "a"), ["needs-kw"]);
}

#[test]
fn and_condition_needs_every_criterion() {
    let r = rules(
        r#"
[[rules]]
id = "t"
regex = '''tok_[a-z]{8}'''
[[rules.allowlists]]
condition = "AND"
paths = ['''^test/''']
regexes = ['''tok_fake''']
"#,
    );
    assert!(ids(&r, "tok_fakexxxx", "test/a").is_empty());
    assert_eq!(ids(&r, "tok_fakexxxx", "src/a"), ["t"]);
    assert_eq!(ids(&r, "tok_realxxxx", "test/a"), ["t"]);
}

const REQUIRED: &str = r#"
[[rules]]
id = "key-id"
regex = '''KID[0-9]{4}'''
skipReport = true

[[rules]]
id = "key-secret"
regex = '''SEC[a-z]{6}'''
[[rules.required]]
id = "key-id"
withinLines = 1
"#;

#[test]
fn required_rules_report_only_with_their_companion_near() {
    let r = rules(REQUIRED);
    assert_eq!(ids(&r, "KID1234\nSECabcdef", "a"), ["key-secret"]);
    assert!(
        ids(&r, "SECabcdef", "a").is_empty(),
        "the companion is missing"
    );
    assert!(ids(&r, "KID1234\n\n\nSECabcdef", "a").is_empty(), "too far");
    assert!(ids(&r, "KID1234", "a").is_empty(), "skipReport");
}

#[test]
fn required_within_columns() {
    let r = rules(&REQUIRED.replace("withinLines = 1", "withinColumns = 3"));
    assert_eq!(ids(&r, "KID1234\nSECabcdef", "a"), ["key-secret"]);
    assert!(ids(&r, "KID1234\n      SECabcdef", "a").is_empty());
}

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
}

#[test]
fn an_allowlisted_commit_is_named_in_full() {
    let r = rules(
        "[[rules]]\nid = 't'\nregex = '''tok_[a-z]{4}'''\n[rules.allowlist]\ncommits = ['abc1234']\n",
    );
    assert!(r.scan(b"tok_abcd", "a", "ABC1234").is_empty(), "any case");
    assert_eq!(ids(&r, "tok_abcd", "a"), ["t"]);
    let ground = "abc1234ffffffffffffffffffffffffffffffff";
    assert_eq!(
        r.scan(b"tok_abcd", "a", ground).len(),
        1,
        "a commit ground to the prefix"
    );
}
