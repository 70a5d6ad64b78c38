//! The proxy's answer to `CONNECT`: its head read a byte at a time (what follows belongs to the
//! tunnel), and the body of a refusal.

use std::collections::HashMap;
use std::io::Read;

use super::pyjson::py_repr_str;
use super::wire::{MAX_BODY, MAX_LINE, RequestError, chunk_size, latin1};

/// The body of a chunked answer already read whole; what follows a bad size line is dropped.
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (size_line, rest) = match data.windows(2).position(|w| w == b"\r\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &data[data.len()..]),
        };
        let size_text = size_line.split(|b| *b == b';').next().unwrap_or_default();
        let Some(size) = chunk_size(size_text) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[..size.min(rest.len())]);
        data = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

/// The head of the answer to `CONNECT`, read a byte at a time (what follows it belongs to the
/// tunnel): its status and its header fields by lower-cased name (the last of a repeated one).
pub fn read_connect_head(
    reader: &mut impl Read,
) -> Result<(u16, HashMap<String, String>), RequestError> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        if reader.read(&mut byte)? == 0 {
            return Err(RequestError::other(
                "ConnectionError",
                format!("the proxy closed the connection after {} bytes", data.len()),
            ));
        }
        data.push(byte[0]);
        if data.len() > MAX_LINE {
            return Err(RequestError::other(
                "ConnectionError",
                "response head over 64 KiB",
            ));
        }
    }
    let text = latin1(&data);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status else {
        return Err(RequestError::other(
            "ConnectionError",
            format!("bad status line {}", py_repr_str(status_line)),
        ));
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// The body of a refused `CONNECT`: by its length, chunked, or up to the close; whatever
/// arrived when reading fails.
pub fn read_refusal_body(reader: &mut impl Read, headers: &HashMap<String, String>) -> Vec<u8> {
    let length = headers.get("content-length").map(|l| l.parse::<usize>());
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        match &length {
            Some(Err(_)) => break,
            Some(Ok(length)) if body.len() >= *length => break,
            _ => {}
        }
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(_) => break,
        };
        if n == 0 || body.len() > MAX_BODY {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        if length.is_none() && body.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked { dechunk(&body) } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn dechunk_joins_chunks_and_stops_at_the_end_or_a_bad_size() {
        assert_eq!(
            dechunk(b"5\r\nblock\r\n3;ext\r\ned:\r\n0\r\n\r\n"),
            b"blocked:"
        );
        assert_eq!(dechunk(b"4\r\nab"), b"ab");
        assert_eq!(dechunk(b"2\r\nok\r\nzz\r\nmore"), b"ok");
        assert_eq!(dechunk(b"0x2\r\nok\r\n"), b"ok");
        assert_eq!(dechunk(b""), b"");
    }

    #[test]
    fn a_connect_head_is_read_to_its_blank_line_and_no_further() {
        let mut wire =
            io::Cursor::new(b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nTLS".to_vec());
        let (status, headers) = read_connect_head(&mut wire).unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["via"], "x");
        assert_eq!(&wire.get_ref()[wire.position() as usize..], b"TLS");
        let mut bad = io::Cursor::new(b"HTTP/1.1 OK\r\n\r\n".to_vec());
        assert!(read_connect_head(&mut bad).is_err());
        let mut short = io::Cursor::new(b"HTTP/1.1 403".to_vec());
        assert_eq!(
            read_connect_head(&mut short).unwrap_err().message(),
            "the proxy closed the connection after 12 bytes"
        );
    }

    /// Answers one piece per read; a read past the last is a test failure.
    struct Pieces(Vec<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            assert!(!self.0.is_empty(), "read past the announced length");
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn a_refusal_body_is_read_by_length_or_dechunked() {
        let headers = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let mut wire = Pieces(vec![b"blocked: no".to_vec(), b" route\n".to_vec()]);
        let body = read_refusal_body(&mut wire, &headers(&[("content-length", "18")]));
        assert_eq!(body, b"blocked: no route\n");
        let mut chunked = io::Cursor::new(b"8\r\nblocked:\r\n0\r\n\r\n".to_vec());
        let body = read_refusal_body(&mut chunked, &headers(&[("transfer-encoding", "chunked")]));
        assert_eq!(body, b"blocked:");
        let mut bad_length = io::Cursor::new(b"blocked:".to_vec());
        assert_eq!(
            read_refusal_body(&mut bad_length, &headers(&[("content-length", "x")])),
            b""
        );
    }
}
