//! Regexes parsed when a config is loaded (a bad one is an error then) and compiled the first
//! time a scan needs them: a push whose text holds none of a rule's keywords never compiles
//! that rule's regex, so loading gitleaks' 222 default rules in each push's hook costs little.
//! [`super::Rules::compile_all`] compiles everything at once, where a late error would be
//! worse than the time (planning, the gate's start, `check-rules`).

use std::fmt;
use std::sync::OnceLock;

use regex::bytes::{Regex as BytesRegex, RegexBuilder as BytesRegexBuilder};
use regex_syntax::ParserBuilder;

use crate::one_line;

/// A regex compiled on first use.
pub(crate) struct Lazy<T> {
    src: String,
    cell: OnceLock<Result<T, String>>,
    build: fn(&str) -> Result<T, String>,
}

impl<T> Lazy<T> {
    fn new(src: String, build: fn(&str) -> Result<T, String>) -> Lazy<T> {
        Lazy {
            src,
            cell: OnceLock::new(),
            build,
        }
    }

    /// The compiled regex, or why it cannot be compiled (its size limits).
    pub(crate) fn get(&self) -> Result<&T, &str> {
        self.cell
            .get_or_init(|| (self.build)(&self.src))
            .as_ref()
            .map_err(String::as_str)
    }
}

impl<T> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lazy({:?})", self.src)
    }
}

pub(crate) type LazyBytes = Lazy<BytesRegex>;
pub(crate) type LazyPath = Lazy<regex::Regex>;

fn build_bytes(src: &str) -> Result<BytesRegex, String> {
    BytesRegexBuilder::new(src)
        .size_limit(64 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

fn build_path(src: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(src).map_err(|e| one_line(&e.to_string()))
}

/// A Go RE2 regex over bytes: translated and parsed (Unicode off when it parses so, which
/// compiles a large rule set ~80x faster), with its number of capture groups.
pub(crate) fn bytes_pattern(go: &str) -> Result<(LazyBytes, usize), String> {
    let rust = crate::re2::translate(go)?;
    let parse = |p: &str| {
        ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(p)
            .map_err(|e| one_line(&e.to_string()))
    };
    let ascii = format!("(?-u:{rust})");
    let (src, hir) = match parse(&ascii) {
        Ok(hir) => (ascii, hir),
        Err(_) => {
            let hir = parse(&rust)?;
            (rust, hir)
        }
    };
    let groups = hir.properties().explicit_captures_len();
    Ok((Lazy::new(src, build_bytes), groups))
}

/// A Go RE2 regex over paths.
pub(crate) fn path_pattern(go: &str) -> Result<LazyPath, String> {
    let rust = crate::re2::translate(go)?;
    ParserBuilder::new()
        .build()
        .parse(&rust)
        .map_err(|e| one_line(&e.to_string()))?;
    Ok(Lazy::new(rust, build_path))
}
