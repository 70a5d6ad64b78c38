//! `bot-bottle logs IDENTITY | --all [-f] [--json] [--refused]`: a bottle's audit stream (the
//! decisions of its proxy, DNS sink, git gate and supervise, and its services' events), one
//! readable line each (`--json`: the JSON lines of `docs/audit.md`, each with its `bottle`).
//! What was kept in the state folder at earlier teardowns comes first, then the running
//! sidecar's log. `--all` merges every running bottle's stream in time order (`-f` keeps
//! following, bottles started later included); `--refused` shows only refusals, each naming the
//! bottle key that would allow it.

mod merge;
mod readable;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bb_contract::InputError;
use bb_contract::layout::{names, state_files::COMPOSE_LOG};
use bb_contract::log::LogLine;
use bb_core::audit;
use time::OffsetDateTime;

use crate::bottles;
pub use readable::readable;

/// How often `--all -f` looks for bottles started since.
const NEW_BOTTLES_EVERY: Duration = Duration::from_secs(2);

/// What `logs` shows and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One bottle; `None` with `all`.
    pub identity: Option<String>,
    pub all: bool,
    pub follow: bool,
    pub json: bool,
    pub refused: bool,
}

pub fn run(options: &Options) -> Result<()> {
    let mut out = Printer {
        out: std::io::stdout().lock(),
        options: options.clone(),
    };
    let sidecars = match &options.identity {
        Some(identity) if !options.all => {
            let sidecar = one_bottle(identity)?;
            let mut lines = kept(identity)?;
            let until = newest(&lines);
            let live = sidecar.as_ref().map(|t| t.backlog(until)).transpose()?;
            lines.extend(live.iter().flat_map(|(_, l)| l.clone()));
            merge::sort(&mut lines);
            if !out.all(&lines)? || !options.follow {
                return Ok(());
            }
            live.into_iter().map(|(tail, _)| tail).collect()
        }
        _ => {
            let mut lines = Vec::new();
            let mut tails = Vec::new();
            for tail in running_sidecars()? {
                let kept = kept(&tail.identity)?;
                let (tail, live) = tail.backlog(newest(&kept))?;
                lines.extend(kept);
                lines.extend(live);
                tails.push(tail);
            }
            merge::sort(&mut lines);
            if !out.all(&lines)? || !options.follow {
                return Ok(());
            }
            tails
        }
    };
    follow(&mut out, sidecars, options.all)
}

/// The running (or stopped, not yet removed) sidecar of `identity`; an input error when the
/// bottle has neither a sidecar nor a kept stream.
fn one_bottle(identity: &str) -> Result<Option<Tail>> {
    let state = bottles::state_dir(identity)?;
    if crate::kube_bottles::recorded(&state)?.is_none() {
        crate::engine_record::check(&state, identity)?;
    }
    let name = names::sidecar_container(identity);
    let present = bottles::of_identity(identity)?
        .role(bb_contract::layout::labels::SIDECAR_ROLE)
        .is_some_and(|c| c.name == name);
    let kept = !audit::files(&state).is_empty() || state.join(COMPOSE_LOG).is_file();
    if !present && !kept {
        return Err(InputError::new(format!(
            "no running bottle {identity} and no kept log (nothing in {})",
            state.display()
        ))
        .fix("bot-bottle list active shows the running ones")
        .into());
    }
    Ok(present.then(|| Tail::new(identity.to_owned(), name)))
}

/// The stream kept in `identity`'s state folder (from a state older than the audit stream: the
/// sidecar's lines of its `compose.log`).
fn kept(identity: &str) -> Result<Vec<LogLine<'static>>> {
    let state = bottles::state_dir(identity)?;
    if !audit::files(&state).is_empty() {
        return audit::read(&state);
    }
    let Ok(text) = std::fs::read_to_string(state.join(COMPOSE_LOG)) else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter(|(service, _)| service.contains("sidecar"))
        .filter_map(|(_, rest)| audit::parse_logged(rest))
        .map(|l| l.with_bottle(identity))
        .collect())
}

/// The newest time of `lines`.
fn newest(lines: &[LogLine<'static>]) -> Option<OffsetDateTime> {
    lines.iter().filter_map(LogLine::time).max()
}

fn running_sidecars() -> Result<Vec<Tail>> {
    Ok(bottles::containers()?
        .into_iter()
        .filter(|c| {
            c.running && c.role.as_deref() == Some(bb_contract::layout::labels::SIDECAR_ROLE)
        })
        .filter_map(|c| {
            let mut tail = Tail::new(c.identity?, c.name);
            tail.started = c.started_at;
            Some(tail)
        })
        .collect())
}

/// One sidecar's `docker logs`, read up to now and then followed from there.
#[derive(Debug, Clone)]
struct Tail {
    identity: String,
    container: String,
    /// When the container started: a resumed bottle's sidecar has its name and another start.
    started: String,
    /// The engine's time of the last line read: the next read starts after it.
    after: Option<OffsetDateTime>,
}

impl Tail {
    fn new(identity: String, container: String) -> Tail {
        Tail {
            identity,
            container,
            started: String::new(),
            after: None,
        }
    }

    /// Which run of which container this is.
    fn key(&self) -> String {
        format!("{} {}", self.container, self.started)
    }

    /// Everything the sidecar logged so far that is newer than what was read from the state
    /// folder (`kept_until`: the newest line read there; the launch keeps copying meanwhile).
    fn backlog(&self, kept_until: Option<OffsetDateTime>) -> Result<(Tail, Vec<LogLine<'static>>)> {
        let out = bb_core::docker::raw(["logs", "--timestamps", &self.container])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tail = self.clone();
        let mut lines = Vec::new();
        for raw in text.lines() {
            tail.after = audit::engine_time(raw).or(tail.after);
            if let Some(line) = audit::parse_logged(raw)
                && kept_until.is_none_or(|k| line.time().is_none_or(|t| t > k))
            {
                lines.push(line.with_bottle(&self.identity));
            }
        }
        Ok((tail, lines))
    }

    /// `docker logs -f` from after the backlog (from the start when there was none: a bottle
    /// found while following); its lines go to `tx` until it ends.
    fn follow(&self, tx: mpsc::Sender<Live>) -> Result<Child> {
        let source = audit::LogSource::Docker {
            container: self.container.clone(),
        };
        let (child, stdout) = audit::follow_logs(&source, self.after)?;
        let (identity, after, key) = (self.identity.clone(), self.after, self.key());
        std::thread::spawn(move || {
            for raw in BufReader::new(stdout).lines().map_while(Result::ok) {
                let repeated =
                    after.is_some_and(|a| audit::engine_time(&raw).is_some_and(|t| t <= a));
                if let Some(line) = audit::parse_logged(&raw).filter(|_| !repeated) {
                    let line = line.with_bottle(&identity);
                    if tx.send(Live::Line(Box::new(line), Instant::now())).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Live::Ended(key));
        });
        Ok(child)
    }
}

enum Live {
    Line(Box<LogLine<'static>>, Instant),
    /// The `docker logs -f` of this [`Tail::key`] ended (its container stopped).
    Ended(String),
}

/// The `docker logs -f` processes being read: ended when this is dropped, on every way out.
#[derive(Default)]
struct Followers(Vec<Child>);

impl Drop for Followers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Follows `tails` (and, with `all`, bottles started later) until stdout closes, or, for one
/// bottle, until its sidecar stops.
fn follow(out: &mut Printer<impl Write>, tails: Vec<Tail>, all: bool) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut children = Followers::default();
    let mut followed = BTreeSet::new();
    for tail in &tails {
        followed.insert(tail.key());
        children.0.push(tail.follow(tx.clone())?);
    }
    let mut order = merge::Reorder::default();
    let mut looked = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Live::Line(line, arrived)) => order.push(*line, arrived),
            Ok(Live::Ended(key)) => {
                followed.remove(&key);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if !out.all(&order.ready(Instant::now()))? {
            return Ok(());
        }
        if !all && followed.is_empty() {
            return out.all(&order.drain()).map(|_| ());
        }
        if all && looked.elapsed() >= NEW_BOTTLES_EVERY {
            looked = Instant::now();
            for tail in running_sidecars()? {
                if followed.insert(tail.key()) {
                    children.0.push(tail.follow(tx.clone())?);
                }
            }
        }
    }
}

/// Writes lines as asked: readable or JSON, refusals only or all.
struct Printer<W: Write> {
    out: W,
    options: Options,
}

impl<W: Write> Printer<W> {
    /// False when stdout is closed (`| head`).
    fn all(&mut self, lines: &[LogLine<'static>]) -> Result<bool> {
        for line in lines {
            if self.options.refused && !line.is_refusal() {
                continue;
            }
            let text = if self.options.json {
                line.to_json()
            } else {
                readable(line, self.options.all)
            };
            match writeln!(self.out, "{text}") {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
                Err(err) => return Err(err.into()),
            }
        }
        self.out
            .flush()
            .map(|_| true)
            .or_else(|err| match err.kind() {
                std::io::ErrorKind::BrokenPipe => Ok(false),
                _ => Err(err.into()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_shows_only_refusals_and_json_keeps_the_bottle() {
        let allow = LogLine::parse(r#"{"time":"2026-12-07T10:00:00Z","service":"egress","host":"a.test","method":"GET","path":"/","verdict":"allow","reason":"route a.test","detector":null}"#).unwrap().with_bottle("shop-1");
        let block = LogLine::parse(r#"{"time":"2026-12-07T10:00:01Z","service":"egress","host":"b.test","method":"GET","path":"/","verdict":"block","reason":"host b.test is not in the allowlist","detector":null,"refused_by":{"rule":"no_route","key":"egress.routes","fix":"add a route"}}"#).unwrap().with_bottle("shop-1");
        let mut printer = Printer {
            out: Vec::new(),
            options: Options {
                refused: true,
                json: true,
                ..Options::default()
            },
        };
        assert!(printer.all(&[allow, block]).unwrap());
        let text = String::from_utf8(printer.out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["bottle"], "shop-1");
        assert_eq!(v["refused_by"]["key"], "egress.routes");
    }

    #[test]
    fn the_engines_timestamp_is_read_off_a_line() {
        let t = audit::engine_time("2026-12-07T10:00:01.123456789Z {\"a\":1}").unwrap();
        assert_eq!(t.nanosecond(), 123_456_789);
        assert_eq!(audit::engine_time("{\"a\":1}"), None);
    }
}
