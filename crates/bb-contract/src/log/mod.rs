//! The log lines the sidecar's services write (one JSON object per line on stdout) and
//! `bot-bottle logs` reads: a [`Decision`] per proxied request, DNS query and git push or
//! fetch, and an [`Event`] about a service itself. The JSON Schema of a line ([`LogLine`]) is
//! `docs/schemas/log-line.schema.json`.
//!
//! A refusal line carries [`RefusedBy`]: the [`Rule`] that decided and the bottle key that would
//! allow it. `docs/audit.md` documents every field and maps the lines onto OCSF classes.
//!
//! Fields are [`Cow`] so the sidecar writes borrowed strings on its hot path and readers get
//! owned ones.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod rule;

pub use rule::{RefusedBy, Rule};

/// The `service` of the proxy's event lines.
pub const SIDECAR_SERVICE: &str = "sidecar";
/// The `service` of the git gate's event lines.
pub const GATE_SERVICE: &str = "git-gate";

/// Which service made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Egress,
    Dns,
    /// The operator's answer to an agent's `request-egress` (its host is the host asked for).
    Supervise,
    /// The git gate's verdict on a push (`method` `push`, `repo` the repo's name, `host` its
    /// upstream host) or on a request for a repository (`method` `fetch` or `push`).
    Git,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Block,
}

/// One decision: the keys `time, service, host, method, path, verdict, reason, detector`, and
/// `refused_by` on every refusal (`repo` on the gate's, `bottle` once read by `bot-bottle
/// logs` or kept in the state folder). Never a header value, a query string or a body; a host,
/// method or path that carries a secret is written as `[redacted: <rule>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision<'a> {
    /// RFC 3339, UTC.
    pub time: Cow<'a, str>,
    pub service: Service,
    pub host: Option<Cow<'a, str>>,
    pub method: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub verdict: Verdict,
    pub reason: Cow<'a, str>,
    /// The DLP detector that blocked, redacted or warned; `null` when no content check decided.
    pub detector: Option<Cow<'a, str>>,
    /// On a refusal (`verdict: block`): the rule that decided and the bottle key that would allow
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<RefusedBy>,
    /// The repo a gate decision is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<Cow<'a, str>>,
    /// The bottle's identity: added when a line leaves its sidecar's stream (`bot-bottle logs`,
    /// the state folder's `audit.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottle: Option<Cow<'a, str>>,
}

/// An event about a service itself (start, reload, warnings, failures; the gate's pushes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event<'a> {
    /// RFC 3339, UTC.
    pub time: Cow<'a, str>,
    /// [`SIDECAR_SERVICE`] or [`GATE_SERVICE`].
    pub service: Cow<'a, str>,
    pub event: Cow<'a, str>,
    pub ok: bool,
    /// The repo a gate event is about (the gate writes `null` for the others).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub repo: Option<Option<Cow<'a, str>>>,
    pub message: Cow<'a, str>,
    /// The bottle's identity, as on a [`Decision`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottle: Option<Cow<'a, str>>,
}

/// A key that is there, even as `null`, is `Some`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Any line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "bot-bottle log line")]
pub enum LogLine<'a> {
    Decision(Decision<'a>),
    Event(Event<'a>),
}

impl LogLine<'static> {
    /// Parses one line; `None` for anything else (compose's own output, a torn line).
    pub fn parse(line: &str) -> Option<LogLine<'static>> {
        serde_json::from_str(line).ok()
    }
}

impl<'a> LogLine<'a> {
    /// The line's time, parsed (`None` when it is not RFC 3339).
    pub fn time(&self) -> Option<OffsetDateTime> {
        let time = match self {
            LogLine::Decision(d) => &d.time,
            LogLine::Event(e) => &e.time,
        };
        OffsetDateTime::parse(time, &Rfc3339).ok()
    }

    pub fn bottle(&self) -> Option<&str> {
        match self {
            LogLine::Decision(d) => d.bottle.as_deref(),
            LogLine::Event(e) => e.bottle.as_deref(),
        }
    }

    /// The line marked as `identity`'s.
    pub fn with_bottle(mut self, identity: &str) -> LogLine<'a> {
        let bottle = match &mut self {
            LogLine::Decision(d) => &mut d.bottle,
            LogLine::Event(e) => &mut e.bottle,
        };
        *bottle = Some(identity.to_owned().into());
        self
    }

    /// Whether this is a refusal.
    pub fn is_refusal(&self) -> bool {
        matches!(self, LogLine::Decision(d) if d.verdict == Verdict::Block)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The current time as the lines carry it: RFC 3339, UTC.
pub fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_both_kinds_parse_and_keep_their_keys() {
        let decision = r#"{"time":"2026-01-01T00:00:00Z","service":"egress","host":"a.test","method":"GET","path":"/","verdict":"block","reason":"no route","detector":null}"#;
        let Some(LogLine::Decision(d)) = LogLine::parse(decision) else {
            panic!("not a decision")
        };
        assert_eq!((d.verdict, d.reason.as_ref()), (Verdict::Block, "no route"));
        assert_eq!(serde_json::to_string(&d).unwrap(), decision);
        let gate = r#"{"time":"t","service":"git-gate","event":"push","ok":false,"repo":null,"message":"m"}"#;
        let Some(LogLine::Event(e)) = LogLine::parse(gate) else {
            panic!("not an event")
        };
        assert_eq!(serde_json::to_string(&e).unwrap(), gate);
        let sidecar = r#"{"time":"t","service":"sidecar","event":"start","ok":true,"message":"m"}"#;
        let Some(LogLine::Event(e)) = LogLine::parse(sidecar) else {
            panic!("not an event")
        };
        assert_eq!(serde_json::to_string(&e).unwrap(), sidecar);
        assert_eq!(LogLine::parse("sidecar | starting"), None);
    }
}
