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
pub use bb_contract::log::{RefusedBy, Rule, Service, Verdict, now};
use serde::Serialize;

/// A decision line being filled in ([`Log::decision`]); nothing is written until
/// [`DecisionLine::allow`] or [`DecisionLine::block`] (which names the rule that refused and
/// the key that would allow it). Fields not given are `null`.
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
        self.log.write_decision(&self, None, reason);
    }

    pub fn block(self, refused_by: RefusedBy, reason: &str) {
        self.log.write_decision(&self, Some(refused_by), reason);
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

    fn write_decision(
        &self,
        line: &DecisionLine<'_, '_>,
        refused_by: Option<RefusedBy>,
        reason: &str,
    ) {
        let DecisionLine {
            service,
            host,
            method,
            path,
            detector,
            ..
        } = *line;
        let verdict = match refused_by {
            Some(_) => Verdict::Block,
            None => Verdict::Allow,
        };
        // One scan of everything the agent chose; the fields one by one only when it finds
        // something (a decision line is written per request: this is on the hot path).
        let remedy = refused_by.as_ref();
        let joined = [host, method, path, Some(reason)]
            .into_iter()
            .chain([
                remedy.and_then(|r| r.key.as_deref()),
                remedy.map(|r| r.fix.as_str()),
            ])
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let thorough = verdict == Verdict::Block || detector.is_some();
        let Some(redactor) = self.redactor().filter(|r| r(&joined, thorough).is_some()) else {
            let fields = [host, method, path];
            return self.write(&decision(service, detector, fields, reason, refused_by));
        };
        // Texts that repeat a field: the reason, and the refusal's key and fix (they name the host).
        let mut texts = [
            reason.to_owned(),
            remedy.and_then(|r| r.key.clone()).unwrap_or_default(),
            remedy.map(|r| r.fix.clone()).unwrap_or_default(),
        ];
        let mut clean = |field: Option<&str>| -> Option<String> {
            let field = field?;
            Some(match redactor(field, thorough) {
                None => field.to_owned(),
                Some(rule) => {
                    let marker = format!("[redacted: {rule}]");
                    for text in &mut texts {
                        *text = text.replace(field, &marker);
                    }
                    marker
                }
            })
        };
        let (host, method, path) = (clean(host), clean(method), clean(path));
        let [reason, key, fix] = texts.map(|text| match redactor(&text, thorough) {
            Some(rule) => format!("[redacted: the text named a secret ({rule})]"),
            None => text,
        });
        let refused_by = refused_by.map(|r| RefusedBy {
            key: r.key.map(|_| key),
            fix,
            rule: r.rule,
        });
        let fields = [host.as_deref(), method.as_deref(), path.as_deref()];
        self.write(&decision(service, detector, fields, &reason, refused_by));
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
            bottle: None,
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

/// A decision line of borrowed fields (one is written per request: nothing is copied).
fn decision<'a>(
    service: Service,
    detector: Option<&'a str>,
    [host, method, path]: [Option<&'a str>; 3],
    reason: &'a str,
    refused_by: Option<RefusedBy>,
) -> Decision<'a> {
    let verdict = match refused_by {
        Some(_) => Verdict::Block,
        None => Verdict::Allow,
    };
    Decision {
        time: now().into(),
        service,
        host: host.map(Into::into),
        method: method.map(Into::into),
        path: path.map(Into::into),
        verdict,
        reason: reason.into(),
        detector: detector.map(Into::into),
        refused_by,
        repo: None,
        bottle: None,
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
            .block(
                Rule::NoRoute.refused_by("SeCrEt.evil.example"),
                "GET /leak/SeCrEt on SeCrEt.evil.example matches nothing",
            );
        log.event("warning", false, "upstream SeCrEt.evil.example failed");
        let all = lines.all().join("\n");
        assert!(!all.contains("SeCrEt"), "{all}");
        assert_eq!(all.matches("[redacted: known]").count(), 6, "{all}");
        let line = &lines.json()[0];
        assert_eq!(line["refused_by"]["key"], "egress.routes");
        assert!(
            line["refused_by"]["fix"]
                .as_str()
                .unwrap()
                .contains("[redacted: known]")
        );
    }

    #[test]
    fn decision_lines_have_the_spec_keys_and_a_refusal_says_why() {
        let (log, lines) = Log::memory();
        log.decision(Service::Egress)
            .host("evil.example")
            .method("GET")
            .path("/x\n\"y")
            .block(
                Rule::NoRoute.refused_by("evil.example"),
                "host evil.example is not in the allowlist",
            );
        log.decision(Service::Egress)
            .host("ok.example")
            .allow("route ok.example");
        let all = lines.all();
        assert_eq!(all.len(), 2);
        assert!(!all[0].contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&all[0]).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "detector",
                "host",
                "method",
                "path",
                "reason",
                "refused_by",
                "service",
                "time",
                "verdict"
            ]
        );
        let allowed: serde_json::Value = serde_json::from_str(&all[1]).unwrap();
        assert_eq!(allowed.as_object().unwrap().len(), 8, "{allowed}");
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
