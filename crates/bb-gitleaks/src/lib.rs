//! Gitleaks-format secret rules, loaded with gitleaks' own semantics.
//!
//! - [`re2`]: Go RE2 regex syntax translated to the `regex` crate's (the table of differences).
//! - [`load`]: a config file with its `[extend]` chain, merged and validated as gitleaks does;
//!   a file gitleaks would reject is an [`bb_contract::InputError`] naming the file and key.
//! - [`rules`]: the compiled rules and the scan of one fragment (allowlists, keywords, entropy,
//!   `[[rules.required]]`, `skipReport`).
//! - [`ignore`]: `.gitleaksignore` fingerprints.
//! - [`builtin`]: how gitleaks' default rule ids map onto bot-bottle's built-in detectors, which
//!   stand for gitleaks' defaults under `[extend] useDefault = true`.

pub mod builtin;
pub mod ignore;
pub mod load;
mod model;
pub mod re2;
pub mod rules;

pub use load::{Config, load, load_compiled, parse};

/// An error message on one line (the regex crate's span several).
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
pub use rules::{RuleMatch, Rules};
