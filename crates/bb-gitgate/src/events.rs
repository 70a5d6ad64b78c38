//! The gate's log: one JSON object per line on `serve`'s stdout, with the keys
//! `time, service: "git-gate", event, ok, repo, message` (`repo` may be null).
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
        })
    }

    pub fn line(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Prints the line on stdout (from `serve`).
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.line());
        let _ = out.flush();
    }

    /// Sends the line to `serve` (from a hook); dropped when `serve` is not listening.
    pub fn send(&self, paths: &Paths) {
        send_to(&paths.events_socket(), self);
    }
}

pub fn send_to(socket: &Path, event: &Event) {
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.set_nonblocking(true);
        let _ = sock.send_to(event.line().as_bytes(), socket);
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
                    if let Ok(event) = serde_json::from_slice::<log::Event>(&buf[..n])
                        && event.service == SERVICE
                    {
                        Event(event).print();
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
