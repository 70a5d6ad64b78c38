//! A bottle's audit stream in its state folder: every JSON line of its sidecar's log (decisions
//! of the proxy, DNS sink, gate and supervise, and the services' events), each marked with the
//! bottle's identity, so that it outlives the containers and spans resumes. The launch follows
//! the sidecar's log into it while the bottle runs ([`follow`]: the engine's own capped window
//! cannot push a line out first), and every teardown appends what is not kept yet ([`keep`]). Capped by rotation: `audit.jsonl` grows to [`audit::MAX_BYTES`], then becomes
//! `audit.jsonl.1` (and `.1` becomes `.2` …); [`audit::ROTATED`] old files are kept.

mod follow;

pub use follow::{Follower, LogSource, follow, follow_logs};

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bb_contract::layout::{audit, state_files::AUDIT_LOG};
use bb_contract::log::LogLine;
use time::OffsetDateTime;

/// The stream's files, oldest first (those that exist).
pub fn files(state: &Path) -> Vec<PathBuf> {
    (0..=audit::ROTATED)
        .rev()
        .map(|n| rotated(state, n))
        .filter(|p| p.is_file())
        .collect()
}

fn rotated(state: &Path, n: usize) -> PathBuf {
    match n {
        0 => state.join(AUDIT_LOG),
        n => state.join(format!("{AUDIT_LOG}.{n}")),
    }
}

/// Every kept line, oldest first.
pub fn read(state: &Path) -> Result<Vec<LogLine<'static>>> {
    let mut lines = Vec::new();
    for file in files(state) {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        lines.extend(text.lines().filter_map(LogLine::parse));
    }
    Ok(lines)
}

/// Appends the log lines of `raw` (a sidecar's `docker logs` output, with or without
/// `--timestamps`) that are newer than the last kept line, marked as `identity`'s. Returns how
/// many were kept. Dumping the same container twice keeps its lines once. (A line its service
/// wrote before the newest kept one, but the engine got later, is dropped on a second dump of
/// the same container; dumps happen at teardown, when the services have stopped writing.)
pub fn keep(state: &Path, identity: &str, raw: &str) -> Result<usize> {
    let last = last_time(state);
    let mut kept = 0;
    for raw in raw.lines() {
        kept += usize::from(keep_line(state, identity, last, raw)?);
    }
    Ok(kept)
}

/// Appends one `docker logs` line, marked as `identity`'s, when it is a log line newer than
/// `last` (the newest kept when the copy began); whether it did.
pub(crate) fn keep_line(
    state: &Path,
    identity: &str,
    last: Option<OffsetDateTime>,
    raw: &str,
) -> Result<bool> {
    let Some(line) = parse_logged(raw) else {
        return Ok(false);
    };
    let Some(time) = line.time() else {
        return Ok(false);
    };
    if last.is_some_and(|last| time <= last) {
        return Ok(false);
    }
    append(state, &(line.with_bottle(identity).to_json() + "\n"))?;
    Ok(true)
}

/// The engine's time at the start of a `--timestamps` line.
pub fn engine_time(raw: &str) -> Option<OffsetDateTime> {
    let stamp = raw.split_once(' ')?.0;
    OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()
}

/// One line of `docker logs` (`--timestamps` puts the engine's time first), parsed.
pub fn parse_logged(line: &str) -> Option<LogLine<'static>> {
    LogLine::parse(&line[line.find('{')?..])
}

/// The newest time kept (lines are not quite in time order: services write concurrently).
pub(crate) fn last_time(state: &Path) -> Option<OffsetDateTime> {
    files(state).iter().rev().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().filter_map(|l| LogLine::parse(l)?.time()).max()
    })
}

fn append(state: &Path, line: &str) -> Result<()> {
    let current = rotated(state, 0);
    let size = std::fs::metadata(&current).map_or(0, |m| m.len());
    if size > 0 && size + line.len() as u64 > audit::MAX_BYTES {
        rotate(state)?;
    }
    let mut file = open_private(&current)?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("writing {}", current.display()))
}

/// `audit.jsonl.<n>` becomes `.<n+1>` (the oldest is dropped), `audit.jsonl` becomes `.1`.
fn rotate(state: &Path) -> Result<()> {
    let _ = std::fs::remove_file(rotated(state, audit::ROTATED));
    for n in (0..audit::ROTATED).rev() {
        let from = rotated(state, n);
        if from.is_file() {
            std::fs::rename(&from, rotated(state, n + 1))
                .with_context(|| format!("rotating {}", from.display()))?;
        }
    }
    Ok(())
}

fn open_private(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(second: u32, host: &str) -> String {
        format!(
            r#"{{"time":"2026-12-07T10:00:{second:02}Z","service":"egress","host":"{host}","method":"GET","path":"/","verdict":"allow","reason":"route","detector":null}}"#
        )
    }

    #[test]
    fn lines_are_kept_once_marked_with_the_bottle_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let raw = format!(
            "2026-12-07T10:00:01.5Z {}\nnot a log line\n{}\n",
            decision(1, "a.test"),
            decision(2, "b.test")
        );
        assert_eq!(keep(dir.path(), "shop-1", &raw).unwrap(), 2);
        assert_eq!(keep(dir.path(), "shop-1", &raw).unwrap(), 0, "kept once");
        let later = format!("{}\n", decision(3, "c.test"));
        assert_eq!(keep(dir.path(), "shop-1", &later).unwrap(), 1);
        let lines = read(dir.path()).unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.bottle() == Some("shop-1")));
        let hosts: Vec<String> = lines
            .iter()
            .map(|l| match l {
                LogLine::Decision(d) => d.host.clone().unwrap().into_owned(),
                LogLine::Event(_) => unreachable!(),
            })
            .collect();
        assert_eq!(hosts, ["a.test", "b.test", "c.test"]);
        let mode = crate::fsx::mode_of(&dir.path().join(AUDIT_LOG)).unwrap();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_stream_rotates_at_the_cap_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let line = decision(0, &"x".repeat(1000));
        let per_file = (audit::MAX_BYTES / line.len() as u64) as usize;
        // Enough lines for more files than are kept; times must grow to be kept.
        let total = per_file * (audit::ROTATED + 2);
        let mut raw = String::new();
        for i in 0..total {
            let time = OffsetDateTime::from_unix_timestamp(1_800_000_000 + i as i64).unwrap();
            let stamp = time
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            raw.push_str(&line.replace("2026-12-07T10:00:00Z", &stamp));
            raw.push('\n');
        }
        keep(dir.path(), "shop-1", &raw).unwrap();
        let files = files(dir.path());
        assert_eq!(files.len(), audit::ROTATED + 1, "{files:?}");
        let total_size: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
        assert!(total_size <= audit::MAX_BYTES * (audit::ROTATED as u64 + 1));
        for f in &files {
            assert!(f.metadata().unwrap().len() <= audit::MAX_BYTES, "{f:?}");
        }
        // The newest line is in the current file; the oldest ones were dropped.
        let kept = read(dir.path()).unwrap();
        assert!(kept.len() < total);
        let times: Vec<_> = kept.iter().map(|l| l.time().unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "oldest first, in order"
        );
    }
}
