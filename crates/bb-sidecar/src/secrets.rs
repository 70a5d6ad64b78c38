//! The values the sidecar holds in memory: route tokens (from the env variables named by the
//! token slots) and the canary. Read at start and at every reload; never logged, never in
//! `Debug` output, never in the allowlist.

use std::collections::BTreeMap;
use std::fmt;

use std::sync::Arc;

use crate::config::RouteTable;
use crate::echo::EchoGuard;

/// The env variable holding the canary: a planted value that must never leave the bottle.
pub const CANARY_ENV: &str = bb_contract::layout::env::SIDECAR_CANARY;

/// The name the canary has among the known secrets.
pub const CANARY_NAME: &str = "canary";

/// Token slot values by slot name, and the canary.
#[derive(Clone, Default)]
pub struct Secrets {
    tokens: BTreeMap<String, String>,
    canary: Option<String>,
    /// Masks the token values in responses.
    echo: Arc<EchoGuard>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("slots", &self.tokens.keys().collect::<Vec<_>>())
            .field("canary", &self.canary.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Secrets {
    /// Reads every slot the table names (its token slots and its routes' `auth.slot`) and the
    /// canary from the process environment. Unset and empty variables are left out.
    pub fn from_env(table: &RouteTable) -> Secrets {
        let tokens = table
            .slot_names()
            .into_iter()
            .filter_map(|slot| {
                let value = std::env::var(&slot).ok().filter(|v| !v.is_empty())?;
                Some((slot, value))
            })
            .collect();
        let canary = std::env::var(CANARY_ENV).ok().filter(|v| !v.is_empty());
        Secrets::new(tokens, canary)
    }

    /// As [`Secrets::from_env`], with `given` (slot values handed over since the start, by
    /// `bb-sidecar set-tokens`) in place of the environment's.
    pub fn from_env_and(table: &RouteTable, given: &BTreeMap<String, String>) -> Secrets {
        let from_env = Secrets::from_env(table);
        let mut tokens = from_env.tokens;
        for slot in table.slot_names() {
            if let Some(value) = given.get(&slot).filter(|v| !v.is_empty()) {
                tokens.insert(slot, value.clone());
            }
        }
        Secrets::new(tokens, from_env.canary)
    }

    fn new(tokens: BTreeMap<String, String>, canary: Option<String>) -> Secrets {
        let echo = Arc::new(EchoGuard::new(
            tokens.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ));
        Secrets {
            tokens,
            canary,
            echo,
        }
    }

    /// What masks the token values in responses.
    pub fn echo_guard(&self) -> Arc<EchoGuard> {
        Arc::clone(&self.echo)
    }

    /// Given values (tests). Empty values are left out.
    pub fn from_values(
        tokens: impl IntoIterator<Item = (String, String)>,
        canary: Option<String>,
    ) -> Secrets {
        Secrets::new(
            tokens.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            canary.filter(|c| !c.is_empty()),
        )
    }

    /// The value of a slot, when it is set and not empty.
    pub fn token(&self, slot: &str) -> Option<&str> {
        self.tokens.get(slot).map(String::as_str)
    }

    /// Every value the outbound scanner must find: `(name, value)` with the slot names and
    /// [`CANARY_NAME`].
    pub fn known(&self) -> Vec<(String, String)> {
        let mut known: Vec<(String, String)> = self
            .tokens
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(c) = &self.canary {
            known.push((CANARY_NAME.to_owned(), c.clone()));
        }
        known
    }

    /// The slots `table` needs that hold no value (names only).
    pub fn missing(&self, table: &RouteTable) -> Vec<String> {
        table
            .slot_names()
            .into_iter()
            .filter(|s| !self.tokens.contains_key(s))
            .collect()
    }

    pub fn has_canary(&self) -> bool {
        self.canary.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_only() {
        let s = Secrets::from_values(
            [
                ("EGRESS_TOKEN_1".to_owned(), "tok-SECRET".to_owned()),
                ("EGRESS_TOKEN_2".to_owned(), String::new()),
            ],
            Some("canary-SECRET".into()),
        );
        let d = format!("{s:?}");
        assert!(d.contains("EGRESS_TOKEN_1"), "{d}");
        assert!(!d.contains("SECRET"), "{d}");
        assert_eq!(s.token("EGRESS_TOKEN_1"), Some("tok-SECRET"));
        assert_eq!(s.token("EGRESS_TOKEN_2"), None);
        let known = s.known();
        assert_eq!(known.len(), 2);
        assert_eq!(known[1], ("canary".to_owned(), "canary-SECRET".to_owned()));
    }
}
