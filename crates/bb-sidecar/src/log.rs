//! The sidecar's log: one JSON object per line on stdout.
//!
//! Two kinds of line:
//! - a **decision** for every proxied request and DNS query, with exactly the keys
//!   `time, service, host, method, path, verdict, reason, detector` (see [`Decision`]);
//! - an **event** about the sidecar itself (start, reload, warnings, upstream and TLS failures), with the keys
//!   `time, service: "sidecar", event, ok, message`.
//!
//! Lines never carry header values, query strings or bodies: callers pass the host, the method
//! and the path only. Lines are serialised with serde_json, so a hostile host or path cannot
//! break the one-line framing. A host, method or path that carries a secret (the agent chose
//! all three) is written as `[redacted: <rule>]`, in the reason too: the log is read by people
//! and kept, and must not become the copy of what DLP refused.

use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};

use bb_contract::log::{Decision, Event, SIDECAR_SERVICE};
pub use bb_contract::log::{Service, Verdict, now};
use serde::Serialize;

/// A decision line being filled in ([`Log::decision`]); nothing is written until
/// [`DecisionLine::allow`] or [`DecisionLine::block`]. Fields not given are `null`.
#[must_use = "a decision line is written by .allow() or .block()"]
#[derive(Clone, Copy)]
pub struct DecisionLine<'l, 'a> {
    log: &'l Log,
    service: Service,
    host: Option<&'a str>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    detector: Option<&'a str>,
}

impl<'a> DecisionLine<'_, 'a> {
    pub fn host(mut self, host: impl Into<Option<&'a str>>) -> Self {
        self.host = host.into();
        self
    }

    pub fn method(mut self, method: impl Into<Option<&'a str>>) -> Self {
        self.method = method.into();
        self
    }

    pub fn path(mut self, path: impl Into<Option<&'a str>>) -> Self {
        self.path = path.into();
        self
    }

    /// The DLP detector that decided (or warned).
    pub fn detector(mut self, detector: impl Into<Option<&'a str>>) -> Self {
        self.detector = detector.into();
        self
    }

    pub fn allow(self, reason: &str) {
        self.log.write_decision(&self, Verdict::Allow, reason);
    }

    pub fn block(self, reason: &str) {
        self.log.write_decision(&self, Verdict::Block, reason);
    }
}

/// Names the secret a text carries (the rule that found it), if any. With `thorough` false
/// only the known values are looked for (cheap: every allowed request writes a line, and a
/// clean one's URL already passed the route's detectors).
pub type Redactor = Arc<dyn Fn(&str, bool) -> Option<String> + Send + Sync>;

/// Where lines go: stdout, or memory (tests).
#[derive(Clone)]
pub struct Log {
    sink: Sink,
    redactor: Arc<RwLock<Option<Redactor>>>,
}

#[derive(Clone)]
enum Sink {
    Stdout,
    Memory(Arc<Mutex<Vec<String>>>),
}

/// The lines a memory [`Log`] collected.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every line, parsed.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.all()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Log {
    pub fn stdout() -> Log {
        Log {
            sink: Sink::Stdout,
            redactor: Arc::default(),
        }
    }

    /// Sets what finds secrets in the agent-chosen fields of a line (every clone shares it).
    pub fn set_redactor(&self, redactor: Redactor) {
        *self.redactor.write().unwrap_or_else(|e| e.into_inner()) = Some(redactor);
    }

    fn redactor(&self) -> Option<Redactor> {
        self.redactor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A log that keeps its lines in memory.
    pub fn memory() -> (Log, Lines) {
        let lines = Lines::default();
        (
            Log {
                sink: Sink::Memory(lines.0.clone()),
                redactor: Arc::default(),
            },
            lines,
        )
    }

    /// Starts a decision line of `service`; [`DecisionLine::allow`] or [`DecisionLine::block`]
    /// writes it.
    pub fn decision(&self, service: Service) -> DecisionLine<'_, '_> {
        DecisionLine {
            log: self,
            service,
            host: None,
            method: None,
            path: None,
            detector: None,
        }
    }

    fn write_decision(&self, line: &DecisionLine<'_, '_>, verdict: Verdict, reason: &str) {
        let DecisionLine {
            service,
            host,
            method,
            path,
            detector,
            ..
        } = *line;
        // One scan of everything the agent chose; the fields one by one only when it finds
        // something (a decision line is written per request: this is on the hot path).
        let joined = [host, method, path, Some(reason)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let thorough = verdict == Verdict::Block || detector.is_some();
        let Some(redactor) = self.redactor().filter(|r| r(&joined, thorough).is_some()) else {
            return self.write(&Decision {
                time: now().into(),
                service,
                host: host.map(Into::into),
                method: method.map(Into::into),
                path: path.map(Into::into),
                verdict,
                reason: reason.into(),
                detector: detector.map(Into::into),
            });
        };
        let mut reason = reason.to_owned();
        let mut clean = |field: Option<&str>| -> Option<String> {
            let field = field?;
            Some(match redactor(field, thorough) {
                None => field.to_owned(),
                Some(rule) => {
                    let marker = format!("[redacted: {rule}]");
                    reason = reason.replace(field, &marker);
                    marker
                }
            })
        };
        let (host, method, path) = (clean(host), clean(method), clean(path));
        if let Some(rule) = redactor(&reason, thorough) {
            reason = format!("[redacted: the reason named a secret ({rule})]");
        }
        self.write(&Decision {
            time: now().into(),
            service,
            host: host.map(Into::into),
            method: method.map(Into::into),
            path: path.map(Into::into),
            verdict,
            reason: reason.into(),
            detector: detector.map(Into::into),
        });
    }

    /// Writes one event line about the sidecar itself.
    pub fn event(&self, event: &str, ok: bool, message: &str) {
        let redacted = self
            .redactor()
            .and_then(|r| r(message, true))
            .map(|rule| format!("[redacted: the message named a secret ({rule})]"));
        let message = redacted.as_deref().unwrap_or(message);
        self.write(&Event {
            time: now().into(),
            service: SIDECAR_SERVICE.into(),
            event: event.into(),
            ok,
            repo: None,
            message: message.into(),
        });
    }

    fn write(&self, value: &impl Serialize) {
        let Ok(line) = serde_json::to_string(value) else {
            return;
        };
        match &self.sink {
            Sink::Stdout => {
                // A closed stdout must not take the proxy down: write errors are ignored.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_in_host_method_or_path_is_redacted_everywhere_in_the_line() {
        let (log, lines) = Log::memory();
        log.set_redactor(Arc::new(|t: &str, _| {
            t.contains("SeCrEt").then(|| "known".into())
        }));
        log.decision(Service::Egress)
            .host("SeCrEt.evil.example")
            .method("SeCrEt")
            .path("/leak/SeCrEt")
            .block("GET /leak/SeCrEt on SeCrEt.evil.example matches nothing");
        log.event("warning", false, "upstream SeCrEt.evil.example failed");
        let all = lines.all().join("\n");
        assert!(!all.contains("SeCrEt"), "{all}");
        assert_eq!(all.matches("[redacted: known]").count(), 5, "{all}");
    }

    #[test]
    fn decision_line_has_exactly_the_spec_keys() {
        let (log, lines) = Log::memory();
        log.decision(Service::Egress)
            .host("evil.example")
            .method("GET")
            .path("/x\n\"y")
            .block("host evil.example is not in the allowlist");
        let all = lines.all();
        assert_eq!(all.len(), 1);
        assert!(!all[0].contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&all[0]).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "detector", "host", "method", "path", "reason", "service", "time", "verdict"
            ]
        );
        assert_eq!(v["service"], "egress");
        assert_eq!(v["verdict"], "block");
        assert_eq!(v["path"], "/x\n\"y");
        assert!(v["detector"].is_null());
        assert!(
            time::OffsetDateTime::parse(
                v["time"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok(),
            "{v}"
        );
    }

    #[test]
    fn event_line() {
        let (log, lines) = Log::memory();
        log.event("reload", false, "bad JSON");
        let v = &lines.json()[0];
        assert_eq!(v["service"], "sidecar");
        assert_eq!(v["event"], "reload");
        assert_eq!(v["ok"], false);
    }
}
