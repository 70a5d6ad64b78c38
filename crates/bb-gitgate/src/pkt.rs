//! The first pkt-line of a git:// connection, read and judged before anything runs.
//!
//! A client opens with one pkt-line: `git-upload-pack /shop.git\0host=example\0` and, for
//! protocol v2, `\0version=2\0` after it. The gate accepts only the two services it offers,
//! only `/NAME.git` or `/NAME` (NAME a repo name as [`is_repo_name`] defines it), and takes
//! nothing else from the line but a `version=N` parameter: `host=` is parsed past and dropped,
//! never resolved, logged or passed to a program.

use std::io::{self, Read, Write};

use crate::events::sanitize;
use bb_contract::repo::is_repo_name;

/// Largest first pkt-line payload accepted (a real one is well under 300 bytes).
pub const MAX_REQUEST: usize = 2048;

/// The services the gate offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// The git subcommand (`upload-pack`, `receive-pack`).
    pub fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }

    /// What the agent does through it, as decision lines name it: `fetch` or `push`.
    pub fn action(self) -> &'static str {
        match self {
            Service::UploadPack => "fetch",
            Service::ReceivePack => "push",
        }
    }
}

/// A request the gate may serve (the repo is still to be found in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub service: Service,
    pub repo: String,
    /// `version=N` for `GIT_PROTOCOL`, when the client asked for a protocol version.
    pub protocol: Option<String>,
}

/// Why a connection is refused before anything runs. The `Display` form is what the client is
/// told (after `ERR `) and what is logged; agent bytes in it are sanitized and truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// The connection closed before a request (a health check): nothing to answer or log.
    Closed,
    /// No complete request within the init timeout.
    Timeout,
    /// The connection closed in the middle of the request.
    Truncated,
    /// The 4-character length is not hexadecimal, or names a special packet.
    BadLength(String),
    TooLong(usize),
    /// No NUL after `service path` (no `host=` part).
    NoNul,
    UnknownService(String),
    BadPath(String),
    /// Extra parameters that are not `host=...` followed by an empty field.
    BadParameters,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::Closed => f.write_str("connection closed before a request"),
            BadRequest::Timeout => f.write_str("no request within the init timeout"),
            BadRequest::Truncated => f.write_str("connection closed in the middle of the request"),
            BadRequest::BadLength(l) => write!(f, "bad pkt-line length `{l}`"),
            BadRequest::TooLong(n) => {
                write!(f, "request of {n} bytes is longer than {MAX_REQUEST}")
            }
            BadRequest::NoNul => f.write_str("malformed request (no NUL after the path)"),
            BadRequest::UnknownService(s) => write!(f, "service `{s}` is not offered"),
            BadRequest::BadPath(p) => write!(
                f,
                "no such repository `{p}` (paths are /NAME.git for a repo of this gate)"
            ),
            BadRequest::BadParameters => {
                f.write_str("malformed request (bad parameters after the path)")
            }
        }
    }
}

fn io_error(e: &io::Error, read_any: bool) -> BadRequest {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => BadRequest::Timeout,
        _ if read_any => BadRequest::Truncated,
        _ => BadRequest::Closed,
    }
}

/// Reads exactly `buf.len()` bytes; `started` says whether bytes of the request came before.
fn fill(r: &mut impl Read, buf: &mut [u8], started: bool) -> Result<(), BadRequest> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if started || got > 0 => return Err(BadRequest::Truncated),
            Ok(0) => return Err(BadRequest::Closed),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e, started || got > 0)),
        }
    }
    Ok(())
}

/// Reads one pkt-line's payload. A flush, delimiter or response-end packet, a length that is
/// not 4 hex digits and a payload over [`MAX_REQUEST`] are refused without reading further.
pub fn read_pkt(r: &mut impl Read) -> Result<Vec<u8>, BadRequest> {
    let mut head = [0u8; 4];
    fill(r, &mut head, false)?;
    let text = std::str::from_utf8(&head)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(text) = text else {
        return Err(BadRequest::BadLength(sanitize(&head, 16)));
    };
    let len = usize::from_str_radix(text, 16).expect("4 hex digits");
    if len < 4 {
        return Err(BadRequest::BadLength(text.to_string()));
    }
    if len - 4 > MAX_REQUEST {
        return Err(BadRequest::TooLong(len - 4));
    }
    let mut payload = vec![0u8; len - 4];
    fill(r, &mut payload, true)?;
    Ok(payload)
}

/// The repo name of a request path: `/NAME.git` or `/NAME`, with at most one trailing `/`.
pub fn repo_of_path(path: &[u8]) -> Result<String, BadRequest> {
    let bad = || BadRequest::BadPath(sanitize(path, 120));
    let text = std::str::from_utf8(path).map_err(|_| bad())?;
    let rest = text.strip_prefix('/').ok_or_else(bad)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let name = rest.strip_suffix(".git").unwrap_or(rest);
    if is_repo_name(name) {
        Ok(name.to_string())
    } else {
        Err(bad())
    }
}

/// `version=N` (N one digit), else `None`: the only parameter passed on.
fn protocol_version(field: &[u8]) -> Option<String> {
    match field {
        [b'v', b'e', b'r', b's', b'i', b'o', b'n', b'=', d] if d.is_ascii_digit() => {
            Some(format!("version={}", char::from(*d)))
        }
        _ => None,
    }
}

/// The parameters after the path, as git daemon reads them: an optional `host=...` field,
/// then (when there was one) an empty field, then parameters. Returns the protocol version.
fn parse_parameters(extra: &[u8]) -> Result<Option<String>, BadRequest> {
    let mut fields = extra.split(|&b| b == 0);
    let first = fields.next().unwrap_or_default();
    if !first.is_empty() {
        if !first.to_ascii_lowercase().starts_with(b"host=") {
            return Err(BadRequest::BadParameters);
        }
        if fields.next().is_some_and(|f| !f.is_empty()) {
            return Err(BadRequest::BadParameters);
        }
    }
    Ok(fields.filter_map(protocol_version).max())
}

/// Judges the first pkt-line's payload.
pub fn parse_request(payload: &[u8]) -> Result<Request, BadRequest> {
    let nul = payload
        .iter()
        .position(|&b| b == 0)
        .ok_or(BadRequest::NoNul)?;
    let (line, extra) = (&payload[..nul], &payload[nul + 1..]);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (service, path) = match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &b""[..]),
    };
    let service = match service {
        b"git-upload-pack" => Service::UploadPack,
        b"git-receive-pack" => Service::ReceivePack,
        other => return Err(BadRequest::UnknownService(sanitize(other, 40))),
    };
    let repo = repo_of_path(path)?;
    let protocol = parse_parameters(extra)?;
    Ok(Request {
        service,
        repo,
        protocol,
    })
}

/// Reads and judges the first pkt-line.
pub fn read_request(r: &mut impl Read) -> Result<Request, BadRequest> {
    parse_request(&read_pkt(r)?)
}

/// One pkt-line holding `data`.
pub fn pkt(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", data.len() + 4).into_bytes();
    out.extend_from_slice(data);
    out
}

/// Sends `ERR <message>` (git shows `fatal: remote error: <message>`); the message is made one
/// printable line first.
pub fn send_err(w: &mut impl Write, message: &str) -> io::Result<()> {
    let line = sanitize(message.as_bytes(), 1000);
    w.write_all(&pkt(format!("ERR {line}").as_bytes()))?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(payload: &[u8]) -> Result<Request, BadRequest> {
        read_request(&mut &pkt(payload)[..])
    }

    #[test]
    fn reads_the_requests_git_sends() {
        let r = request(b"git-upload-pack /shop.git\0host=git-gate\0").unwrap();
        assert_eq!(r.service, Service::UploadPack);
        assert_eq!(r.repo, "shop");
        assert_eq!(r.protocol, None);
        let r = request(b"git-receive-pack /shop\0host=git-gate:9418\0\0version=2\0").unwrap();
        assert_eq!(r.service, Service::ReceivePack);
        assert_eq!(r.repo, "shop");
        assert_eq!(r.protocol.as_deref(), Some("version=2"));
        // No host, only parameters; a newline before the NUL; a trailing slash.
        let r = request(b"git-upload-pack /shop.git/\n\0\0version=1\0").unwrap();
        assert_eq!(
            (r.repo.as_str(), r.protocol.as_deref()),
            ("shop", Some("version=1"))
        );
    }

    #[test]
    fn host_is_ignored_whatever_it_holds() {
        for host in [
            &b"--help"[..],
            b"-oProxyCommand=touch /tmp/x",
            b"x.attacker.example",
            b"\x1b[31mred",
            b"",
        ] {
            let mut payload = b"git-upload-pack /shop.git\0host=".to_vec();
            payload.extend_from_slice(host);
            payload.push(0);
            let r = request(&payload).unwrap();
            assert_eq!(r.repo, "shop");
            assert_eq!(r.protocol, None);
        }
    }

    #[test]
    fn only_version_parameters_pass() {
        let r = request(b"git-upload-pack /shop.git\0host=h\0\0evil=1\0version=2\0x\0").unwrap();
        assert_eq!(r.protocol.as_deref(), Some("version=2"));
        for bad in [
            &b"version=22"[..],
            b"version=",
            b"version=2:evil=1",
            b"VERSION=2",
        ] {
            let mut payload = b"git-upload-pack /shop.git\0host=h\0\0".to_vec();
            payload.extend_from_slice(bad);
            payload.push(0);
            assert_eq!(request(&payload).unwrap().protocol, None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_malformed_lengths() {
        let read = |bytes: &[u8]| read_request(&mut &bytes[..]);
        assert_eq!(read(b""), Err(BadRequest::Closed));
        assert_eq!(read(b"00"), Err(BadRequest::Truncated));
        assert_eq!(read(b"0000"), Err(BadRequest::BadLength("0000".into())));
        assert_eq!(read(b"0001"), Err(BadRequest::BadLength("0001".into())));
        assert_eq!(read(b"0003"), Err(BadRequest::BadLength("0003".into())));
        assert_eq!(
            read(b"zz1\n"),
            Err(BadRequest::BadLength("zz1\\x0a".into()))
        );
        assert_eq!(read(b"+032"), Err(BadRequest::BadLength("+032".into())));
        assert_eq!(read(b"0040git-upload-pack"), Err(BadRequest::Truncated));
        assert_eq!(read(b"ffff"), Err(BadRequest::TooLong(0xffff - 4)));
        let long = format!(
            "git-upload-pack /shop.git\0host={}\0",
            "a".repeat(MAX_REQUEST)
        );
        assert!(matches!(
            request(long.as_bytes()),
            Err(BadRequest::TooLong(_))
        ));
    }

    #[test]
    fn refuses_bad_services_paths_and_parameters() {
        assert_eq!(
            request(b"git-upload-pack /shop.git"),
            Err(BadRequest::NoNul)
        );
        assert_eq!(
            request(b"git-upload-archive /shop.git\0host=h\0"),
            Err(BadRequest::UnknownService("git-upload-archive".into()))
        );
        assert_eq!(
            request(b"--help /shop.git\0host=h\0"),
            Err(BadRequest::UnknownService("--help".into()))
        );
        assert!(matches!(
            request(b"git-upload-pack\0host=h\0"),
            Err(BadRequest::BadPath(_))
        ));
        for path in [
            &b"/../x.git"[..],
            b"/shop.git/../..",
            b"/shop.git/..",
            b"shop.git",
            b"//shop.git",
            b"/a/shop.git",
            b"/.git",
            b"/-x.git",
            b"/shop.git.git",
            b"/~git/shop.git",
            b"/sh\xffop.git",
            b"/",
            b"",
        ] {
            let mut payload = b"git-upload-pack ".to_vec();
            payload.extend_from_slice(path);
            payload.extend_from_slice(b"\0host=h\0");
            assert!(
                matches!(request(&payload), Err(BadRequest::BadPath(_))),
                "{path:?}"
            );
        }
        assert_eq!(
            request(b"git-upload-pack /shop.git\0user=x\0"),
            Err(BadRequest::BadParameters)
        );
        assert_eq!(
            request(b"git-upload-pack /shop.git\0host=h\0version=2\0"),
            Err(BadRequest::BadParameters)
        );
    }

    #[test]
    fn messages_are_one_sanitized_line() {
        let e = request(b"git-upload-pack /a\nb\x1b[2J\0host=h\0").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/a\\x0ab\\x1b[2J"), "{text}");
        let mut out = Vec::new();
        send_err(&mut out, "line one\nline two").unwrap();
        assert_eq!(out, b"001cERR line one\\x0aline two".to_vec());
    }
}
