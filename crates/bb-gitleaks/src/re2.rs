//! Go RE2 syntax (what gitleaks' regexes are written in) translated to the `regex` crate's.
//!
//! The two agree on most of the language; where they differ the translation gives the Go
//! meaning, and what Go rejects is rejected (gitleaks would not load such a file):
//!
//! | Go RE2                                   | here                                         |
//! |------------------------------------------|----------------------------------------------|
//! | `{` not starting `{n}`, `{n,}`, `{n,m}`  | a literal `{` (Rust: an error)               |
//! | a lone `}` or `]`                        | a literal                                    |
//! | repeat count over 1000                   | rejected (Go's limit)                        |
//! | `\Q…\E`                                  | the text between, escaped                    |
//! | `\123`, `\0` (octal)                     | the byte (Rust: an error)                    |
//! | `\<`, `\>`, any escaped punctuation      | the literal (Rust: `\<` is a word boundary)  |
//! | `\d \w \s \b` (ASCII in Go)              | ASCII classes, `(?-u:\b)`; `\s` without `\v` |
//! | `\p{^Greek}`                             | `\P{Greek}`                                  |
//! | in a class: `[` not opening `[:name:]`   | a literal `[` (Rust: a nested class)         |
//! | in a class: `&&`, `--`, `~~`             | literals (Rust: set operations)              |
//! | flags other than `i m s U`, `\C`, `\Z`…  | rejected                                     |
//! | `{01}`, `{0,08}` (leading zeros)         | literal text, as Go reads them               |
//!
//! Left different, on purpose: patterns run over bytes with Unicode off where they compile so
//! (`.` is a byte, not a character; `(?i)` folds ASCII letters only), which compiles a large
//! rule set ~80x faster; Go's limit on nested repeats (`(a{500}){3}`) is not checked (the
//! engine's size limit refuses what is too large, at planning).

use std::fmt::Write as _;

/// Go's maximum repeat count.
const MAX_REPEAT: u32 = 1000;

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

/// Translates a Go RE2 pattern into the `regex` crate's syntax, or says why Go rejects it.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\\' => i = top_escape(&chars, i, &mut out)?,
            '[' => i = class(&chars, i, &mut out)?,
            '{' => match repeat(&chars, i)? {
                Some(end) => {
                    out.extend(&chars[i - 1..end]);
                    i = end;
                }
                None => out.push_str(r"\{"),
            },
            '}' => out.push_str(r"\}"),
            ']' => out.push_str(r"\]"),
            '(' if chars.get(i) == Some(&'?') => i = group(&chars, i + 1, &mut out)?,
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// `{n}`, `{n,}` or `{n,m}` starting after the `{` at `i`: the index after its `}`; `None`
/// when it is not one (then Go reads the `{` as a literal).
fn repeat(chars: &[char], i: usize) -> Result<Option<usize>, String> {
    // Go reads no number with a leading zero (`{01}` is literal text).
    let digits = |from: usize| {
        let end = (from..chars.len())
            .find(|&j| !chars[j].is_ascii_digit())
            .unwrap_or(chars.len());
        let leading_zero = end - from > 1 && chars[from] == '0';
        (end > from && !leading_zero).then(|| (chars[from..end].iter().collect::<String>(), end))
    };
    let Some((min, mut j)) = digits(i) else {
        return Ok(None);
    };
    let mut max = Some(min.clone());
    if chars.get(j) == Some(&',') {
        j += 1;
        max = match digits(j) {
            Some((m, end)) => {
                j = end;
                Some(m)
            }
            None => None,
        };
    }
    if chars.get(j) != Some(&'}') {
        return Ok(None);
    }
    let count = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);
    let (lo, hi) = (count(&min), max.as_deref().map(count));
    if lo > MAX_REPEAT || hi.is_some_and(|h| h > MAX_REPEAT || h < lo) {
        return Err(format!(
            "invalid repeat count `{}` (Go allows 0 to {MAX_REPEAT}, min ≤ max)",
            chars[i - 1..=j].iter().collect::<String>()
        ));
    }
    Ok(Some(j + 1))
}

/// `(?` at `i`: flags, a flag group or a named group. Go knows the flags `i m s U`.
fn group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let rest: String = chars[i..].iter().take(3).collect();
    if rest.starts_with("P<") || rest.starts_with('<') {
        let open = if rest.starts_with('P') { i + 2 } else { i + 1 };
        let close = (open..chars.len())
            .find(|&j| chars[j] == '>')
            .ok_or("a named group without `>`")?;
        let name: String = chars[open..close].iter().collect();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid group name `{name}`"));
        }
        write!(out, "(?P<{name}>").expect("write to String");
        return Ok(close + 1);
    }
    let mut j = i;
    let mut flags = String::new();
    while let Some(&c) = chars.get(j) {
        j += 1;
        match c {
            'i' | 'm' | 's' | 'U' | '-' => flags.push(c),
            ':' | ')' => {
                if (flags.is_empty() && c == ')') || flags.ends_with('-') {
                    return Err(format!("invalid flag group `(?{flags}{c}`"));
                }
                write!(out, "(?{flags}{c}").expect("write to String");
                return Ok(j);
            }
            _ => {
                return Err(format!(
                    "unsupported group or flag `(?{flags}{c}` (Go RE2 has no look-around, only the flags i, m, s, U)"
                ));
            }
        }
    }
    Err("a flag group without `)`".into())
}

/// An escape outside a class, after the `\` at `i - 1`.
fn top_escape(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let Some(&c) = chars.get(i) else {
        return Err("trailing `\\`".into());
    };
    match c {
        'A' | 'z' => {
            write!(out, "\\{c}").expect("write to String");
            Ok(i + 1)
        }
        'b' | 'B' => {
            write!(out, "(?-u:\\{c})").expect("write to String");
            Ok(i + 1)
        }
        'Q' => {
            let text: String = chars[i + 1..].iter().collect();
            let (literal, used) = match text.find(r"\E") {
                Some(end) => (&text[..end], text[..end].chars().count() + 2),
                None => (text.as_str(), text.chars().count()),
            };
            out.push_str(&regex_syntax::escape(literal));
            Ok(i + 1 + used)
        }
        'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
            let (set, negated) = perl_class(c);
            write!(out, "[{}{set}]", if negated { "^" } else { "" }).expect("write to String");
            Ok(i + 1)
        }
        'p' | 'P' => unicode_class(chars, i, out),
        _ => {
            let (ch, next) = escaped_char(chars, i)?;
            push_literal(ch, out);
            Ok(next)
        }
    }
}

/// The ASCII set of a Perl class escape and whether it is negated.
fn perl_class(c: char) -> (&'static str, bool) {
    match c {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        's' => (SPACE, false),
        _ => (SPACE, true),
    }
}

/// `\p…`/`\P…` at `i` (the `p`): Go's `\p{^X}` is `\P{X}`.
fn unicode_class(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut negated = chars[i] == 'P';
    match chars.get(i + 1) {
        Some('{') => {
            let close = (i + 2..chars.len())
                .find(|&j| chars[j] == '}')
                .ok_or("a `\\p{` without `}`")?;
            let mut name: String = chars[i + 2..close].iter().collect();
            if let Some(rest) = name.strip_prefix('^') {
                negated = !negated;
                name = rest.to_string();
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid character class `\\p{{{name}}}`"));
            }
            write!(out, "\\{}{{{name}}}", if negated { 'P' } else { 'p' })
                .expect("write to String");
            Ok(close + 1)
        }
        Some(&l) if l.is_ascii_alphabetic() => {
            write!(out, "\\{}{l}", if negated { 'P' } else { 'p' }).expect("write to String");
            Ok(i + 2)
        }
        _ => Err("invalid `\\p` escape".into()),
    }
}

/// A character escape at `i` (after the `\`) that stands for one character: octal, `\x`,
/// control letters and escaped punctuation. Anything else is an error in Go.
fn escaped_char(chars: &[char], i: usize) -> Result<(char, usize), String> {
    let c = chars[i];
    match c {
        '1'..='7' if !chars.get(i + 1).is_some_and(|d| ('0'..='7').contains(d)) => Err(format!(
            "`\\{c}` is a back-reference, which RE2 does not have"
        )),
        '0'..='7' => {
            let end = (i..(i + 3).min(chars.len()))
                .find(|&j| !('0'..='7').contains(&chars[j]))
                .unwrap_or((i + 3).min(chars.len()));
            let digits: String = chars[i..end].iter().collect();
            let code = u32::from_str_radix(&digits, 8).expect("octal digits");
            Ok((char::from_u32(code).expect("octal below 0o777"), end))
        }
        'x' => hex_escape(chars, i + 1),
        'a' => Ok(('\x07', i + 1)),
        'f' => Ok(('\x0C', i + 1)),
        'n' => Ok(('\n', i + 1)),
        'r' => Ok(('\r', i + 1)),
        't' => Ok(('\t', i + 1)),
        'v' => Ok(('\x0B', i + 1)),
        // Go: every escaped ASCII character that is not a letter or digit is itself.
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, i + 1)),
        _ => Err(format!("invalid escape `\\{c}`")),
    }
}

/// `\xHH` or `\x{H…}` after the `x` at `i`.
fn hex_escape(chars: &[char], i: usize) -> Result<(char, usize), String> {
    let (digits, next) = if chars.get(i) == Some(&'{') {
        let close = (i + 1..chars.len())
            .find(|&j| chars[j] == '}')
            .ok_or("a `\\x{` without `}`")?;
        (chars[i + 1..close].iter().collect::<String>(), close + 1)
    } else {
        // Exactly two digits (Go rejects `\x4` at the end).
        let end = (i + 2).min(chars.len());
        let digits: String = chars[i..end].iter().collect();
        if digits.len() < 2 {
            return Err(format!("invalid escape `\\x{digits}`"));
        }
        (digits, end)
    };
    let valid = !digits.is_empty() && digits.chars().all(|d| d.is_ascii_hexdigit());
    u32::from_str_radix(&digits, 16)
        .ok()
        .filter(|_| valid)
        .and_then(char::from_u32)
        .map(|c| (c, next))
        .ok_or_else(|| format!("invalid escape `\\x{digits}`"))
}

/// One literal character, escaped when the `regex` crate gives it a meaning.
fn push_literal(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        out.push(c);
    } else {
        write!(out, "\\x{{{:X}}}", c as u32).expect("write to String");
    }
}

/// A class: `i` is after its `[`. Items are written so that the `regex` crate cannot read a
/// nested class or a set operation where Go sees literals.
fn class(chars: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        match chars.get(i) {
            None => return Err("a character class without `]`".into()),
            Some(']') if !first => {
                out.push(']');
                return Ok(i + 1);
            }
            _ => {}
        }
        first = false;
        if let Some(next) = named_class(chars, i, out)? {
            i = next;
            continue;
        }
        if chars[i] == '\\' {
            match chars.get(i + 1) {
                Some(&c @ ('d' | 'D' | 'w' | 'W' | 's' | 'S')) => {
                    let (set, negated) = perl_class(c);
                    if negated {
                        write!(out, "[^{set}]").expect("write to String");
                    } else {
                        out.push_str(set);
                    }
                    i += 2;
                    continue;
                }
                Some('p' | 'P') => {
                    i = unicode_class(chars, i + 1, out)?;
                    continue;
                }
                _ => {}
            }
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        push_literal(lo, out);
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let (hi, next) = class_char(chars, i + 1)?;
            if hi < lo {
                return Err(format!("invalid class range `{lo}-{hi}`"));
            }
            i = next;
            out.push('-');
            push_literal(hi, out);
        }
    }
}

/// `[:name:]` or `[:^name:]` at `i`, written as is; `None` when `[` is a literal there.
fn named_class(chars: &[char], i: usize, out: &mut String) -> Result<Option<usize>, String> {
    if chars.get(i) != Some(&'[') || chars.get(i + 1) != Some(&':') {
        return Ok(None);
    }
    let Some(close) =
        (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']')
    else {
        return Ok(None);
    };
    let name: String = chars[i + 2..close].iter().collect();
    const NAMES: &[&str] = &[
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    if !NAMES.contains(&name.trim_start_matches('^')) {
        return Err(format!("invalid character class `[:{name}:]`"));
    }
    write!(out, "[:{name}:]").expect("write to String");
    Ok(Some(close + 2))
}

/// One character of a class at `i`: an escape or the character itself (`[`, `&`, `-`, `~`
/// included).
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), String> {
    match chars[i] {
        '\\' => match chars.get(i + 1) {
            Some(_) => escaped_char(chars, i + 1),
            None => Err("trailing `\\`".into()),
        },
        c => Ok((c, i + 1)),
    }
}

#[cfg(test)]
mod tests;
