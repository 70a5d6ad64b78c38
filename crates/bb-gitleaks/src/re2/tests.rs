use super::translate;

/// Translates a Go pattern and compiles it as the gate does (bytes, Unicode off when possible).
fn go(pattern: &str) -> regex::bytes::Regex {
    let rust = translate(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    regex::bytes::Regex::new(&format!("(?-u:{rust})"))
        .or_else(|_| regex::bytes::Regex::new(&rust))
        .unwrap_or_else(|e| panic!("{pattern} -> {rust}: {e}"))
}

fn matches(pattern: &str, text: &str) -> bool {
    go(pattern).is_match(text.as_bytes())
}

#[test]
fn a_brace_that_starts_no_repeat_is_a_literal() {
    assert!(matches(r"^\$(?:\d+|{\d+})$", "${12}"));
    assert!(matches(r"^\$(?:\d+|{\d+})$", "$7"));
    assert!(matches(r"a{,3}", "a{,3}"));
    assert!(matches(r"x{y}", "x{y}"));
    assert!(matches(r"a\b{start}", "a{start}"));
    assert!(matches(r"a{2}", "aa") && !matches(r"^a{2}$", "a{2}"));
    assert!(matches(r"^a{2,}$", "aaaa") && matches(r"^a{1,2}b$", "aab"));
    assert!(matches(r"^}$", "}") && matches(r"^]$", "]"));
}

#[test]
fn repeat_counts_over_go_limit_are_rejected() {
    assert!(translate("a{1001}").is_err());
    assert!(translate("a{2,1}").is_err());
    assert!(translate("a{1000}").is_ok());
}

#[test]
fn quoted_text_is_literal() {
    assert!(matches(r"\Q.*+?\E!", ".*+?!"));
    assert!(!matches(r"^\Q.*\E$", "abc"));
    assert!(matches(r"\Q(unclosed", "(unclosed"));
}

#[test]
fn octal_escapes_are_characters_and_single_digits_are_back_references() {
    assert!(matches(r"^\101\0$", "A\0"));
    assert!(matches(r"^\12$", "\n"));
    assert!(translate(r"(a)\1").is_err());
    assert!(translate(r"\8").is_err());
}

#[test]
fn escaped_punctuation_is_literal_even_where_rust_gives_it_a_meaning() {
    assert!(matches(r"^\<tag\>$", "<tag>"));
    assert!(!matches(r"\<tag", "tag"));
    assert!(matches(r"^\#\ \'\/$", "# '/"));
    assert!(translate(r"\Z").is_err());
    assert!(translate(r"\C").is_err());
    assert!(translate(r"\e").is_err());
}

#[test]
fn perl_classes_are_ascii_as_in_go() {
    assert!(!matches(r"^\d$", "٣"));
    assert!(!matches(r"^\w$", "é"));
    assert!(!matches(r"^\s$", "\x0B"), "Go's \\s has no vertical tab");
    assert!(matches(r"^[\s]$", "\x0C") && !matches(r"^[\S]$", " "));
    assert!(matches(r"^[\D]+$", "ab") && !matches(r"^[^\d]$", "5"));
    assert!(matches(r"a\bb|x\b", "x "));
}

#[test]
fn negated_unicode_class() {
    assert!(matches(r"^\p{^Greek}$", "a"));
    assert!(!matches(r"^\p{^Greek}$", "α"));
    assert!(matches(r"^\P{^Greek}$", "α"));
    assert!(matches(r"^\pL$", "é"));
}

#[test]
fn class_items_rust_would_read_as_nesting_or_set_operations_are_literals() {
    assert!(matches(r"^[[a]+$", "[a["));
    assert!(matches(r"^[a&&b]+$", "a&b"));
    assert!(
        translate("[a--]").is_err(),
        "Go reads a range from a down to -"
    );
    assert!(matches(r"^[~~]$", "~"));
    assert!(matches(r"^[+--]+$", "+,-"), "a range from + to -");
    assert!(matches(r"^[]a]+$", "]a"));
    assert!(matches(r"^[^]a]$", "b") && !matches(r"^[^]a]$", "]"));
    assert!(matches(r"^[[:alpha:][:digit:]]+$", "a1") && !matches(r"^[[:^alpha:]]$", "a"));
    assert!(matches(r"^[a-]+$", "a-"));
    assert!(translate("[z-a]").is_err());
    assert!(translate("[[:nope:]]").is_err());
    assert!(translate("[abc").is_err());
}

#[test]
fn groups_and_flags_go_knows() {
    assert!(matches(r"(?i)^abc$", "ABC"));
    assert!(matches(r"(?P<x>a)(?<y>b)", "ab"));
    assert!(matches(r"(?s:a.b)", "a\nb"));
    assert!(matches(r"(?U)a+", "a"));
    assert!(translate("(?x)a b").is_err(), "Go has no x flag");
    assert!(translate("(?=a)").is_err());
    assert!(translate("(?<!a)b").is_err());
    assert!(translate("(?)").is_err());
}

#[test]
fn hex_escapes() {
    assert!(matches(r"^\x41\x{42}$", "AB"));
    assert!(translate(r"\x{zz}").is_err());
    assert!(translate(r"a\x4").is_err(), "Go wants two digits");
}

#[test]
fn repeat_counts_with_a_leading_zero_are_literal_text() {
    assert!(matches(r"^a{01}$", "a{01}"));
    assert!(matches(r"^a{0,08}$", "a{0,08}"));
    assert!(matches(r"^a{0}b$", "b"));
}

#[test]
fn group_names_are_ascii() {
    assert!(translate("(?P<é>a)").is_err());
    assert!(translate("(?P<name_1>a)").is_ok());
}
