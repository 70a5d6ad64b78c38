//! HTTP/1.1 on a blocking stream, spoken the way the case corpus's reference client (Python's
//! `http.client`) speaks it: the request exactly as built (no header added but
//! `Content-Length`), the answer read up to 1 MiB, every read within one deadline; and the
//! failures named the way that client names them, since they end up in FAIL lines.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use super::pyjson::{py_repr_bytes, py_repr_str};

/// The most of an answer's body the harness reads.
pub const MAX_BODY: usize = 1 << 20;
pub const MAX_LINE: usize = 65536;
const MAX_HEADERS: usize = 100;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The deadline passed.
    Timeout,
    /// The TLS handshake through the tunnel failed; the reason as it is reported.
    Tls(String),
    /// Anything else: the error's class (Python's name for it) and its message.
    Other {
        class: &'static str,
        message: String,
    },
}

impl RequestError {
    pub fn other(class: &'static str, message: impl Into<String>) -> RequestError {
        RequestError::Other {
            class,
            message: message.into(),
        }
    }

    /// The message alone.
    pub fn message(&self) -> String {
        match self {
            RequestError::Timeout => "timed out".to_owned(),
            RequestError::Tls(reason) => reason.clone(),
            RequestError::Other { message, .. } => message.clone(),
        }
    }
}

impl From<io::Error> for RequestError {
    fn from(err: io::Error) -> RequestError {
        use io::ErrorKind::*;
        let class = match err.kind() {
            TimedOut | WouldBlock => return RequestError::Timeout,
            ConnectionRefused => "ConnectionRefusedError",
            ConnectionReset => "ConnectionResetError",
            ConnectionAborted => "ConnectionAbortedError",
            BrokenPipe => "BrokenPipeError",
            NotFound => "FileNotFoundError",
            PermissionDenied => "PermissionError",
            _ => "OSError",
        };
        let message = match err.raw_os_error() {
            Some(code) => {
                let text = err.to_string();
                let text = text
                    .strip_suffix(&format!(" (os error {code})"))
                    .unwrap_or(&text);
                format!("[Errno {code}] {text}")
            }
            None => err.to_string(),
        };
        RequestError::Other { class, message }
    }
}

/// A point in time every read and write of one exchange has to finish by.
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline(Instant::now() + limit)
    }

    /// The time left; a timeout once there is none.
    pub fn left(&self) -> io::Result<Duration> {
        let left = self.0.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        Ok(left)
    }
}

/// A stream whose reads and writes can be bounded in time.
pub trait Timed: Read + Write {
    fn set_timeouts(&self, limit: Duration) -> io::Result<()>;
}

impl Timed for TcpStream {
    fn set_timeouts(&self, limit: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(limit))?;
        self.set_write_timeout(Some(limit))
    }
}

impl Timed for StreamOwned<ClientConnection, TcpStream> {
    fn set_timeouts(&self, limit: Duration) -> io::Result<()> {
        self.sock.set_timeouts(limit)
    }
}

/// `stream` with every read and write bounded by `deadline`. A TLS peer that closes without
/// `close_notify` reads as the end of the stream.
pub struct Within<'a, S> {
    pub stream: &'a mut S,
    pub deadline: &'a Deadline,
}

impl<S: Timed> Read for Within<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_timeouts(self.deadline.left()?)?;
        match self.stream.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

impl<S: Timed> Write for Within<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_timeouts(self.deadline.left()?)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// One request as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Origin form (`/path?q`) or absolute form (`http://host/path`).
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// The bytes to send; `Content-Length` is added for a body that has no length header.
    pub fn encode(&self) -> Result<Vec<u8>, RequestError> {
        control_free(&self.method, |c| c < ' ', "ValueError", "method")?;
        control_free(
            &self.target,
            |c| c <= ' ' || c == '\x7f',
            "InvalidURL",
            "URL",
        )?;
        let line = format!("{} {} HTTP/1.1", self.method, self.target);
        let mut out = ascii(&line)?.as_bytes().to_vec();
        out.extend_from_slice(b"\r\n");
        for (name, value) in self.headers_with_length() {
            check_header(&name, &value)?;
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if let Some(body) = &self.body {
            out.extend_from_slice(body);
        }
        Ok(out)
    }

    fn headers_with_length(&self) -> Vec<(String, Vec<u8>)> {
        let mut headers = self.headers.clone();
        let has_length = headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if let Some(body) = self.body.as_ref().filter(|_| !has_length) {
            headers.push((
                "Content-Length".to_owned(),
                body.len().to_string().into_bytes(),
            ));
        }
        headers
    }
}

/// An error of `class` when `text` holds a character that `control` matches.
fn control_free(
    text: &str,
    control: impl Fn(char) -> bool,
    class: &'static str,
    what: &str,
) -> Result<(), RequestError> {
    match text.chars().find(|c| control(*c)) {
        None => Ok(()),
        Some(c) => Err(RequestError::other(
            class,
            format!(
                "{what} can't contain control characters. {} (found at least {})",
                py_repr_str(text),
                py_repr_str(&c.to_string())
            ),
        )),
    }
}

/// `text` when it is ASCII; else the error of encoding it as ASCII.
fn ascii(text: &str) -> Result<&str, RequestError> {
    match text.char_indices().find(|(_, c)| !c.is_ascii()) {
        None => Ok(text),
        Some((at, c)) => {
            let position = text[..at].chars().count();
            let shown = match u32::from(c) {
                n if n < 0x100 => format!("\\x{n:02x}"),
                n if n < 0x10000 => format!("\\u{n:04x}"),
                n => format!("\\U{n:08x}"),
            };
            Err(RequestError::other(
                "UnicodeEncodeError",
                format!(
                    "'ascii' codec can't encode character '{shown}' in position {position}: \
                     ordinal not in range(128)"
                ),
            ))
        }
    }
}

/// A header name without `:`, line breaks or leading space; a value whose line breaks only
/// continue it.
fn check_header(name: &str, value: &[u8]) -> Result<(), RequestError> {
    let name = ascii(name)?.as_bytes();
    let name_ok = name.first().is_some_and(|c| *c != b':' && !is_py_space(*c))
        && name[1..].iter().all(|c| !matches!(c, b':' | b'\r' | b'\n'));
    if !name_ok {
        return Err(RequestError::other(
            "ValueError",
            format!("Invalid header name {}", py_repr_bytes(name)),
        ));
    }
    let illegal = value.iter().enumerate().any(|(i, c)| {
        let next = value.get(i + 1);
        match c {
            b'\n' => !matches!(next, Some(b' ' | b'\t')),
            b'\r' => !matches!(next, Some(b' ' | b'\t' | b'\n')),
            _ => false,
        }
    });
    if illegal {
        return Err(RequestError::other(
            "ValueError",
            format!("Invalid header value {}", py_repr_bytes(value)),
        ));
    }
    Ok(())
}

fn is_py_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// An answer: its status and up to [`MAX_BODY`] of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Reads one answer (skipping `100 Continue`); `head_request` for an answer to `HEAD`.
pub fn read_response(
    reader: &mut impl BufRead,
    head_request: bool,
) -> Result<Response, RequestError> {
    let (version, status, headers) = loop {
        let (version, status) = read_status(reader)?;
        let headers = read_headers(reader)?;
        if status != 100 {
            break (version, status, headers);
        }
    };
    if version != "HTTP/1.0" && !version.starts_with("HTTP/1.") {
        return Err(RequestError::other(
            "UnknownProtocol",
            py_repr_str(&version),
        ));
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    let mut length: Option<usize> = headers
        .get("content-length")
        .and_then(|l| l.trim().parse().ok());
    if matches!(status, 204 | 304) || (100..200).contains(&status) || head_request {
        length = Some(0);
    }
    let body = if head_request {
        Vec::new()
    } else if chunked {
        read_chunked(reader, MAX_BODY)?
    } else {
        let limit = length.map_or(MAX_BODY, |l| l.min(MAX_BODY));
        let mut body = Vec::new();
        reader.by_ref().take(limit as u64).read_to_end(&mut body)?;
        body
    };
    Ok(Response { status, body })
}

/// A line of at most 64 KiB, with its line break; `what` names it in the error.
fn read_line(reader: &mut impl BufRead, what: &str) -> Result<Vec<u8>, RequestError> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if line.len() > MAX_LINE {
        return Err(RequestError::other(
            "LineTooLong",
            format!("got more than {MAX_LINE} bytes when reading {what}"),
        ));
    }
    Ok(line)
}

/// Text read as ISO-8859-1, every byte one character.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn read_status(reader: &mut impl BufRead) -> Result<(String, u16), RequestError> {
    let line = latin1(&read_line(reader, "status line")?);
    if line.is_empty() {
        return Err(RequestError::other(
            "RemoteDisconnected",
            "Remote end closed connection without response",
        ));
    }
    let mut words = line.split_whitespace();
    let version = words.next().unwrap_or_default().to_owned();
    let status = words
        .next()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s));
    match status {
        Some(status) if version.starts_with("HTTP/") => Ok((version, status)),
        _ => Err(RequestError::other("BadStatusLine", line)),
    }
}

/// The header fields up to the blank line, by lower-cased name (the first of a repeated one).
fn read_headers(reader: &mut impl BufRead) -> Result<HashMap<String, String>, RequestError> {
    let mut headers = HashMap::new();
    for count in 0.. {
        let line = read_line(reader, "header line")?;
        if matches!(line.as_slice(), b"\r\n" | b"\n" | b"") {
            break;
        }
        if count >= MAX_HEADERS {
            return Err(RequestError::other(
                "HTTPException",
                format!("got more than {MAX_HEADERS} headers"),
            ));
        }
        let line = latin1(&line);
        if let Some((name, value)) = line.split_once(':') {
            headers
                .entry(name.trim().to_ascii_lowercase())
                .or_insert_with(|| value.trim().to_owned());
        }
    }
    Ok(headers)
}

/// A chunked body, up to `limit` bytes of it.
fn read_chunked(reader: &mut impl BufRead, limit: usize) -> Result<Vec<u8>, RequestError> {
    let mut body = Vec::new();
    let incomplete = |body: &Vec<u8>| {
        RequestError::other(
            "IncompleteRead",
            format!("IncompleteRead({} bytes read)", body.len()),
        )
    };
    loop {
        let line = read_line(reader, "chunk size")?;
        let size_text = line.split(|b| *b == b';').next().unwrap_or_default();
        let Some(size) = chunk_size(size_text) else {
            return Err(incomplete(&body));
        };
        if size == 0 {
            while !matches!(
                read_line(reader, "trailer line")?.as_slice(),
                b"\r\n" | b"\n" | b""
            ) {}
            return Ok(body);
        }
        let want = size.min(limit - body.len());
        let got = reader.by_ref().take(want as u64).read_to_end(&mut body)?;
        if got < want {
            return Err(incomplete(&body));
        }
        if body.len() == limit {
            return Ok(body);
        }
        let mut crlf = Vec::new();
        reader.by_ref().take(2).read_to_end(&mut crlf)?;
        if crlf.len() < 2 {
            return Err(incomplete(&body));
        }
    }
}

/// A chunk size: hexadecimal, optionally `0x`-prefixed, blanks around it allowed.
pub fn chunk_size(text: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    usize::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], body: Option<&str>) -> Request {
        Request {
            method: "POST".to_owned(),
            target: "http://api.example.com/x?y=1".to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_request_goes_out_as_built_plus_its_length() {
        let bytes = request(
            &[("Host", "api.example.com"), ("X-Egress-Case", "c1")],
            Some("hi"),
        )
        .encode()
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST http://api.example.com/x?y=1 HTTP/1.1\r\nHost: api.example.com\r\n\
             X-Egress-Case: c1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let chunked = request(&[("Transfer-Encoding", "chunked")], Some("0\r\n\r\n"));
        assert!(
            !String::from_utf8(chunked.encode().unwrap())
                .unwrap()
                .contains("Content-Length")
        );
        let no_body = request(&[], None).encode().unwrap();
        assert!(no_body.ends_with(b"HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn what_the_reference_client_refuses_to_send_is_an_error() {
        let class = |r: Request| match r.encode() {
            Err(RequestError::Other { class, .. }) => class,
            other => panic!("{other:?}"),
        };
        assert_eq!(class(request(&[("Bad:Name", "v")], None)), "ValueError");
        assert_eq!(class(request(&[(" Lead", "v")], None)), "ValueError");
        assert_eq!(class(request(&[("X", "a\nb")], None)), "ValueError");
        assert_eq!(class(request(&[("Nämé", "v")], None)), "UnicodeEncodeError");
        let mut spaced = request(&[], None);
        spaced.target = "/a b".to_owned();
        assert_eq!(class(spaced), "InvalidURL");
        let mut unicode = request(&[], None);
        unicode.target = "/é".to_owned();
        assert_eq!(class(unicode), "UnicodeEncodeError");
        assert!(
            request(&[("X", "folded\r\n continued")], None)
                .encode()
                .is_ok()
        );
    }

    fn response(raw: &str, head: bool) -> Result<Response, RequestError> {
        read_response(&mut io::Cursor::new(raw.as_bytes().to_vec()), head)
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_close() {
        let by_length = response(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nblockedXX",
            false,
        );
        assert_eq!(
            by_length.unwrap(),
            Response {
                status: 403,
                body: b"block".to_vec()
            }
        );
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(response(chunked, false).unwrap().body, b"abcde");
        let to_close = response("HTTP/1.0 200 OK\r\n\r\nall of it", false);
        assert_eq!(to_close.unwrap().body, b"all of it");
        let continued = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(response(continued, false).unwrap().status, 204);
        let head = response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
        assert_eq!(head.unwrap().body, b"");
    }

    #[test]
    fn broken_answers_are_named_errors() {
        let class = |raw: &str| match response(raw, false) {
            Err(RequestError::Other { class, .. }) => class,
            other => panic!("{other:?}"),
        };
        assert_eq!(class(""), "RemoteDisconnected");
        assert_eq!(class("SSH-2.0-OpenSSH\r\n\r\n"), "BadStatusLine");
        assert_eq!(class("HTTP/1.1 2000 OK\r\n\r\n"), "BadStatusLine");
        assert_eq!(
            class("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
            "IncompleteRead"
        );
        assert_eq!(
            class("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            "IncompleteRead"
        );
    }

    #[test]
    fn os_errors_carry_pythons_class_and_errno_form() {
        let refused = RequestError::from(io::Error::from_raw_os_error(111));
        assert_eq!(
            refused,
            RequestError::other("ConnectionRefusedError", "[Errno 111] Connection refused")
        );
        let timeout = io::Error::new(io::ErrorKind::WouldBlock, "x");
        assert_eq!(RequestError::from(timeout), RequestError::Timeout);
    }
}
