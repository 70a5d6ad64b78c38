//! The gate's log: one JSON object per line on `serve`'s stdout. A [`Ruling`] is the decision
//! on a push or on a request for a repository (the decision line every service writes, with
//! `service: "git"`, `repo`, and on a refusal the rule and the bottle key that would allow it);
//! an [`Event`] is about the gate itself (`time, service: "git-gate", event, ok, repo,
//! message`; `repo` may be null).
//!
//! Hooks run under `git receive-pack`, whose stdout is the client's socket; they send their
//! lines as datagrams to `serve` ([`Paths::events_socket`]), which prints them. Lines never hold
//! a secret value (findings are logged with rule, place, line and commit; a name with a secret
//! in it is redacted) nor raw bytes the agent chose ([`sanitize`]).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use bb_contract::log::{self, GATE_SERVICE as SERVICE};

use crate::config::Paths;

/// One event line of the gate ([`bb_contract::log::Event`] with its `repo` key always there).
#[derive(Debug, Clone, PartialEq)]
pub struct Event(log::Event<'static>);

impl Event {
    pub fn new(event: &str, ok: bool, repo: Option<&str>, message: impl Into<String>) -> Event {
        Event(log::Event {
            time: log::now().into(),
            service: SERVICE.into(),
            event: event.to_string().into(),
            ok,
            repo: Some(repo.map(|r| r.to_string().into())),
            message: message.into().into(),
            bottle: None,
        })
    }

    pub fn line(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Prints the line on stdout (from `serve`).
    pub fn print(&self) {
        print_line(&self.line());
    }

    /// Sends the line to `serve` (from a hook); dropped when `serve` is not listening.
    pub fn send(&self, paths: &Paths) {
        send_to(&paths.events_socket(), self);
    }
}

pub fn send_to(socket: &Path, event: &Event) {
    send_line(socket, &event.line());
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn send_line(socket: &Path, line: &str) {
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.set_nonblocking(true);
        let _ = sock.send_to(line.as_bytes(), socket);
    }
}

/// One decision of the gate: on a push (`push`) or a request for a repository (`fetch`,
/// `push`; no method when the request could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct Ruling(log::Decision<'static>);

impl Ruling {
    /// The decision on `method` of `repo` (its upstream `host` when the gate knows it).
    pub fn on(method: Option<&str>, repo: Option<&str>, host: Option<&str>) -> Ruling {
        let owned = |s: Option<&str>| s.map(|s| s.to_owned().into());
        Ruling(log::Decision {
            time: log::now().into(),
            service: log::Service::Git,
            host: owned(host),
            method: owned(method),
            path: None,
            verdict: log::Verdict::Allow,
            reason: "".into(),
            detector: None,
            refused_by: None,
            repo: owned(repo),
            bottle: None,
        })
    }

    pub fn allow(mut self, reason: impl Into<String>) -> Ruling {
        self.0.reason = reason.into().into();
        self
    }

    /// Refused by `rule`: the line names the bottle key that would allow it.
    pub fn refuse(mut self, rule: log::Rule, reason: impl Into<String>) -> Ruling {
        let at = self.0.repo.as_deref().unwrap_or_default();
        self.0.refused_by = Some(rule.refused_by(at));
        self.0.verdict = log::Verdict::Block;
        self.0.reason = reason.into().into();
        self
    }

    pub fn line(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    pub fn print(&self) {
        print_line(&self.line());
    }

    /// Sends the line to `serve` (from a hook).
    pub fn send(&self, paths: &Paths) {
        send_line(&paths.events_socket(), &self.line());
    }
}

/// Agent-controlled bytes made fit for a log line or a message: printable ASCII kept, `\` as
/// `\\`, every other byte as `\xNN`; cut after `max` characters (ending in `…`).
pub fn sanitize(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes {
        if out.len() >= max {
            out.push('…');
            break;
        }
        match b {
            b'\\' => out.push_str("\\\\"),
            b' ' => out.push(' '),
            _ if b.is_ascii_graphic() => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Binds the events socket and prints every well-formed event it receives, from a thread.
pub fn relay(paths: &Paths) -> anyhow::Result<()> {
    let path = paths.events_socket();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path)?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    // Re-serialised: a stray datagram cannot break the one-line framing.
                    match serde_json::from_slice::<log::LogLine<'static>>(&buf[..n]) {
                        Ok(log::LogLine::Event(event)) if event.service == SERVICE => {
                            Event(event).print();
                        }
                        Ok(log::LogLine::Decision(d)) if d.service == log::Service::Git => {
                            Ruling(d).print();
                        }
                        _ => {}
                    }
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_the_keys() {
        let e = Event::new("service", false, None, "git upload-pack said\nagain");
        let line = e.line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["event", "message", "ok", "repo", "service", "time"]);
        assert_eq!(v["service"], "git-gate");
    }

    #[test]
    fn sanitize_escapes_and_cuts() {
        assert_eq!(sanitize(b"refs/heads/a b", 100), "refs/heads/a b");
        assert_eq!(
            sanitize(b"a\nb\x1b[2J\\\xff", 100),
            "a\\x0ab\\x1b[2J\\\\\\xff"
        );
        assert_eq!(sanitize("ä".as_bytes(), 100), "\\xc3\\xa4");
        assert_eq!(sanitize(&[b'x'; 50], 10), format!("{}…", "x".repeat(10)));
    }
}
