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
id = "broken"
regex = '''(unclosed'''

[[rules]]
id = "unicode-class"
regex = '''\p{Greek}{4}'''
[rules.allowlist]
commits = ["deadbeef"]
"#;

fn ids(r: &Rules, data: &str, path: &str) -> Vec<String> {
    r.scan(data.as_bytes(), path, "0123456789abcdef")
        .into_iter()
        .map(|m| m.rule)
        .collect()
}

#[test]
fn loads_rules_and_skips_broken_ones() {
    let r = Rules::parse(RULES).unwrap();
    assert_eq!(r.rules.len(), 4);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].id, "broken");
    assert!(!r.skipped[0].reason.contains('\n'));
}

#[test]
fn matches_with_secret_group_keywords_and_allowlists() {
    let r = Rules::parse(RULES).unwrap();
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
    let r = Rules::parse(
        r#"
[[rules]]
id = "needs-kw"
regex = '''zzz'''
keywords = ["magic"]
"#,
    )
    .unwrap();
    assert!(ids(&r, "zzz", "a").is_empty());
    assert_eq!(ids(&r, "MAGIC zzz", "a"), ["needs-kw"]);
}

#[test]
fn toml_errors_and_bad_allowlists() {
    assert!(Rules::parse("[[rules]\n").is_err());
    let r = Rules::parse(
        "[[rules]]\nid='x'\nregex='a'\n[rules.allowlist]\ncondition='XOR'\nregexes=['b']\n",
    )
    .unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(Rules::parse("[allowlist]\nregexTarget='nope'\nregexes=['a']\n").is_err());
    let r = Rules::parse("[[rules]]\nid='nothing'\n").unwrap();
    assert_eq!(r.skipped[0].reason, "a rule needs a regex or a path");
    let r = Rules::parse("[[rules]]\nid='g'\nregex='(a)'\nsecretGroup=3\n").unwrap();
    assert!(r.skipped[0].reason.contains("secretGroup"));
}

#[test]
fn and_condition_needs_every_criterion() {
    let r = Rules::parse(
        r#"
[[rules]]
id = "t"
regex = '''tok_[a-z]{8}'''
[[rules.allowlists]]
condition = "AND"
paths = ['''^test/''']
regexes = ['''tok_fake''']
"#,
    )
    .unwrap();
    assert!(ids(&r, "tok_fakexxxx", "test/a").is_empty());
    assert_eq!(ids(&r, "tok_fakexxxx", "src/a"), ["t"]);
    assert_eq!(ids(&r, "tok_realxxxx", "test/a"), ["t"]);
}

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
}
