//! What stands right before a phrase: an instruction starts there, or the phrase is only
//! mentioned (quoted, given as an example).

/// Text right before a phrase that makes it an instruction.
const IMPERATIVE_BEFORE: &[&str] = &[
    "please",
    "now",
    "you must",
    "you should",
    "you need to",
    "you have to",
    "you to",
    "must",
    "immediately",
    "instead",
    "kindly",
    "important",
    "urgent",
    "assistant",
    "agent",
    "ai",
    "<!--",
];

/// Text right before a phrase that makes it a mention, not an instruction.
const MENTION_BEFORE: &[&str] = &[
    "like",
    "such as",
    "e.g.",
    "e.g.,",
    "i.e.",
    "i.e.,",
    "for example",
    "for example,",
    "for instance",
    "for instance,",
    "called",
    "known as",
    "phrase",
    "phrases",
    "string",
    "says",
    "said",
    "reads",
    "includes",
    "including",
    "as in",
    "the words",
];

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

fn ends_with_word(pre: &[u8], w: &str) -> bool {
    pre.ends_with(w.as_bytes())
        && (pre.len() == w.len() || !pre[pre.len() - w.len() - 1].is_ascii_alphanumeric())
}

/// `pre` ends where a JSON string value starts (`"key": "` or `["`): the quote delimits data
/// the agent reads, it does not quote someone.
fn json_value_start(pre: &[u8]) -> bool {
    match pre {
        [rest @ .., b'"'] => matches!(trim_end(rest).last(), Some(b':' | b'[')),
        _ => false,
    }
}

pub(super) fn is_mention(norm: &[u8], s: usize) -> bool {
    let pre = trim_end(&norm[s.saturating_sub(40)..s]);
    if json_value_start(pre) {
        return false;
    }
    if matches!(pre.last(), Some(b'\'' | b'"' | b'`')) {
        return true;
    }
    MENTION_BEFORE.iter().any(|w| ends_with_word(pre, w))
}

pub(super) fn is_imperative(norm: &[u8], s: usize) -> bool {
    let from = s.saturating_sub(200);
    let mut pre = trim_end(&norm[from..s]);
    if pre.last() == Some(&b'\n') {
        // A line break starts an instruction after a blank line, a heading or list item, or
        // a line that ends a sentence; in hard-wrapped prose it is just a space.
        let before = &pre[..pre.len() - 1];
        let line = before.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        let line = trim_end(line);
        if before.is_empty()
            || before.last() == Some(&b'\n')
            || line.is_empty()
            || matches!(line[0], b'#' | b'-' | b'*' | b'>' | b'|' | b'<')
            || matches!(
                line.last(),
                Some(b'.' | b'!' | b'?' | b':' | b';' | b'>' | b'`')
            )
        {
            return true;
        }
        pre = line;
    }
    if json_value_start(pre) {
        return true;
    }
    match pre.last() {
        None => true,
        Some(
            b'.' | b'!' | b'?' | b':' | b';' | b',' | b'-' | b'*' | b'>' | b'#' | b')' | b']'
            | b'(' | b'|' | b'{' | b'}',
        ) => true,
        Some(_) => IMPERATIVE_BEFORE.iter().any(|w| ends_with_word(pre, w)),
    }
}
