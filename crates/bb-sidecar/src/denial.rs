//! [`Denial`]: why a check refused, typed, from the check that decides to the decision line.

use std::fmt;

use bb_contract::log::{RefusedBy, Rule};

/// A refusal before any content is read: the [`Rule`] that decided, what it is about (the
/// route's host, or the requested host when no route took it) and the reason the line and the
/// agent's answer give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: Rule,
    pub at: String,
    pub reason: String,
}

impl Denial {
    pub fn new(rule: Rule, at: impl Into<String>, reason: impl Into<String>) -> Denial {
        Denial {
            rule,
            at: at.into(),
            reason: reason.into(),
        }
    }

    /// The rule and the bottle key that would allow what it refused.
    pub fn refused_by(&self) -> RefusedBy {
        self.rule.refused_by(&self.at)
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}
