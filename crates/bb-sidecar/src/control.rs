//! The sidecar's control socket ([`CONTROL_SOCKET`], in the container's own `/tmp`, a 0700
//! folder): `bb-sidecar set-tokens`, run in the container by `bot-bottle reload`, hands the
//! running proxy new token values without a restart. Values travel only through the socket
//! (from the launcher's memory through `docker exec`'s stdin): never argv, a file or a log.
//!
//! The message is `SLOT=VALUE` lines, then the end of the stream; the answer is one line,
//! `ok: N token slots` or `error: why`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

pub use bb_contract::layout::sidecar::CONTROL_SOCKET;

use crate::Shutdown;
use crate::log::Log;

/// Token values handed over since the start, by slot.
pub type GivenTokens = Arc<Mutex<BTreeMap<String, String>>>;

/// The most a message may hold.
const MAX_MESSAGE: u64 = 256 * 1024;
/// How long a client may take to send its message.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Parses `SLOT=VALUE` lines: slots as the plan names them (`EGRESS_TOKEN_<n>`), values
/// without control characters. Names the first bad line by number, never its value.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut tokens = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = || format!("line {} is not EGRESS_TOKEN_<n>=VALUE", i + 1);
        let (slot, value) = line.split_once('=').ok_or_else(bad)?;
        let numbered = slot
            .strip_prefix("EGRESS_TOKEN_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !numbered || value.is_empty() || value.chars().any(char::is_control) {
            return Err(bad());
        }
        tokens.insert(slot.to_string(), value.to_string());
    }
    Ok(tokens)
}

/// Serves the socket at `path` until shutdown: each message's tokens are kept in `given`, then
/// `apply` reloads the routes and the secrets.
pub async fn serve(
    path: PathBuf,
    given: GivenTokens,
    apply: Arc<dyn Fn() -> bool + Send + Sync>,
    log: Log,
    mut shutdown: Shutdown,
) {
    let listener = match bind(&path) {
        Ok(l) => l,
        Err(e) => {
            log.event("control", false, &format!("no control socket: {e:#}"));
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let mut bytes = Vec::new();
        // A client that never ends its message does not hold the socket for the next one.
        let read = tokio::time::timeout(
            READ_TIMEOUT,
            (&mut stream).take(MAX_MESSAGE + 1).read_to_end(&mut bytes),
        )
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("the message did not end in time")));
        let read = read.and_then(|n| {
            if n as u64 > MAX_MESSAGE {
                Err(std::io::Error::other("the message is too long"))
            } else {
                Ok(n)
            }
        });
        let answer = match read.map_err(|e| e.to_string()).and_then(|_| {
            String::from_utf8(bytes).map_err(|_| "the message is not text".to_string())
        }) {
            Ok(text) => match parse(&text) {
                Ok(tokens) => {
                    let n = tokens.len();
                    given
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(tokens);
                    if apply() {
                        log.event("set-tokens", true, &format!("{n} token slots handed over"));
                        format!("ok: {n} token slots\n")
                    } else {
                        "error: the routes file did not load; the old table is in force\n".into()
                    }
                }
                Err(why) => format!("error: {why}\n"),
            },
            Err(why) => format!("error: {why}\n"),
        };
        let _ = stream.write_all(answer.as_bytes()).await;
    }
}

/// Binds the socket in a folder only the sidecar's user may enter (an old socket replaced).
fn bind(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().context("the socket has no folder")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))
}

/// `bb-sidecar set-tokens`: sends `message` (read from stdin) to the socket at `path`; returns
/// the proxy's answer, or fails with it.
pub fn send(path: &Path, message: &[u8]) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to {} (is the proxy running?)", path.display()))?;
    stream.write_all(message)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let answer = answer.trim().to_string();
    match answer.strip_prefix("ok: ") {
        Some(ok) => Ok(ok.to_string()),
        None => bail!("the proxy refused the tokens: {answer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_slot_lines_and_bad_ones_name_the_line_not_the_value() {
        let ok = parse("EGRESS_TOKEN_1=abc=def\nEGRESS_TOKEN_12=x\n").unwrap();
        assert_eq!(ok["EGRESS_TOKEN_1"], "abc=def");
        assert_eq!(ok.len(), 2);
        for bad in [
            "PATH=/bin",
            "EGRESS_TOKEN_=x",
            "EGRESS_TOKEN_1=",
            "EGRESS_TOKEN_1",
            "EGRESS_TOKEN_1=a\u{7}b",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err, "line 1 is not EGRESS_TOKEN_<n>=VALUE", "{bad}");
        }
    }

    #[tokio::test]
    async fn tokens_handed_over_reach_the_proxy_and_it_reloads() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ctl").join("control.sock");
        let given = GivenTokens::default();
        let applied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let apply: Arc<dyn Fn() -> bool + Send + Sync> = {
            let applied = applied.clone();
            Arc::new(move || {
                applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                true
            })
        };
        let (log, lines) = Log::memory();
        let (_stop, shutdown) = crate::Shutdown::channel();
        tokio::spawn(serve(path.clone(), given.clone(), apply, log, shutdown));
        while !path.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let sent = path.clone();
        let answer =
            tokio::task::spawn_blocking(move || send(&sent, b"EGRESS_TOKEN_1=new-value-7Qp\n"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(answer, "1 token slots");
        assert_eq!(given.lock().unwrap()["EGRESS_TOKEN_1"], "new-value-7Qp");
        assert_eq!(applied.load(std::sync::atomic::Ordering::SeqCst), 1);
        let refused = tokio::task::spawn_blocking(move || send(&path, b"EGRESS_TOKEN_1\n"))
            .await
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(refused.contains("line 1"), "{refused}");
        assert!(
            !lines.all().concat().contains("new-value-7Qp"),
            "never logged"
        );
    }
}
