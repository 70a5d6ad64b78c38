//! Content codings of HTTP bodies (RFC 9110, 8.4): a compressed body is decoded under a size
//! and a ratio cap before it is scanned, so compression hides nothing from the detectors.
//! gzip (any number of members), deflate (zlib-wrapped, or raw as some clients send it), br and
//! zstd, in any stack (`Content-Encoding: gzip, br`).

use std::io::Read;

use hyper::header::{self, HeaderMap};

/// A content coding the proxy can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// How much larger than its encoded form a decoded body may be (deflate's own limit is
/// about 1032): past it, and past [`RATIO_FREE`], the body is a decompression bomb.
pub const MAX_RATIO: u64 = 1024;
/// Decoded bodies up to this size are never refused for their ratio.
pub const RATIO_FREE: u64 = 1 << 20;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the decoded body is larger than the scanning limit ({0} bytes)")]
    TooLarge(u64),
    #[error("the body decodes to over {MAX_RATIO} times its size (a decompression bomb)")]
    Ratio,
    #[error("the {0} data is corrupt: {1}")]
    Corrupt(&'static str, String),
}

/// The codings of the `Content-Encoding` headers in the order they were applied, `identity`
/// left out; `Err` names a coding that cannot be decoded.
pub fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push(match name {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Br,
                "zstd" => Coding::Zstd,
                other => return Err(other.chars().take(40).collect()),
            });
        }
    }
    Ok(out)
}

/// Undoes `codings` (last applied first), every stage capped at `cap` bytes and at
/// [`MAX_RATIO`] times the encoded size.
pub fn decode(codings: &[Coding], data: &[u8], cap: u64) -> Result<Vec<u8>, DecodeError> {
    let encoded = data.len() as u64;
    let limit = cap.min(RATIO_FREE.max(encoded.saturating_mul(MAX_RATIO)));
    let mut current = data.to_vec();
    for &coding in codings.iter().rev() {
        current = decode_one(coding, &current, limit).map_err(|e| match e {
            DecodeError::TooLarge(_) if limit < cap => DecodeError::Ratio,
            DecodeError::TooLarge(_) => DecodeError::TooLarge(cap),
            other => other,
        })?;
    }
    Ok(current)
}

fn decode_one(coding: Coding, data: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let name = coding.name();
    match coding {
        Coding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), limit, name),
        Coding::Deflate => match read_capped(flate2::read::ZlibDecoder::new(data), limit, name) {
            Err(DecodeError::Corrupt(..)) => {
                read_capped(flate2::read::DeflateDecoder::new(data), limit, name)
            }
            done => done,
        },
        Coding::Br => read_capped(
            brotli_decompressor::Decompressor::new(data, 8192),
            limit,
            name,
        ),
        Coding::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| DecodeError::Corrupt(name, e.to_string()))?;
            read_capped(decoder, limit, name)
        }
    }
}

fn read_capped(reader: impl Read, limit: u64, name: &'static str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(name, e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use hyper::header::HeaderValue;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn codings_are_read_in_the_order_applied() {
        assert_eq!(codings(&headers(&[])), Ok(vec![]));
        assert_eq!(
            codings(&headers(&["gzip, identity", "BR"])),
            Ok(vec![Coding::Gzip, Coding::Br])
        );
        assert_eq!(codings(&headers(&["x-gzip"])), Ok(vec![Coding::Gzip]));
        assert_eq!(codings(&headers(&["compress"])), Err("compress".into()));
    }

    #[test]
    fn every_coding_and_a_stack_of_them_decode() {
        let text = b"token=q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy".repeat(10);
        let same = |got: Result<Vec<u8>, DecodeError>| got.is_ok_and(|g| g == text);
        assert!(same(decode(&[Coding::Gzip], &gzip(&text), 1 << 20)));
        assert!(same(decode(&[Coding::Deflate], &zlib(&text), 1 << 20)));
        assert!(same(decode(
            &[Coding::Deflate],
            &raw_deflate(&text),
            1 << 20
        )));
        let two_members = [gzip(&text[..100]), gzip(&text[100..])].concat();
        assert!(same(decode(&[Coding::Gzip], &two_members, 1 << 20)));
        let stacked = gzip(&zlib(&text));
        assert!(same(decode(
            &[Coding::Deflate, Coding::Gzip],
            &stacked,
            1 << 20
        )));
    }

    #[test]
    fn brotli_and_zstd_decode() {
        // "hello" compressed by the reference `brotli -c` and `zstd -c` command-line tools.
        let br = [0x0b, 0x02, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x03];
        assert_eq!(decode(&[Coding::Br], &br, 1024).unwrap(), b"hello");
        let zstd = [
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x29, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
            0x86, 0xb4, 0xd6, 0x6c,
        ];
        assert_eq!(decode(&[Coding::Zstd], &zstd, 1024).unwrap(), b"hello");
    }

    #[test]
    fn bombs_and_oversize_bodies_are_refused() {
        // Never print a decoded body: a failing test would dump megabytes.
        let zeros = vec![0u8; 8 << 20];
        let bomb = gzip(&gzip(&zeros));
        let two = [Coding::Gzip, Coding::Gzip];
        assert!(matches!(
            decode(&two, &bomb, 64 << 20),
            Err(DecodeError::Ratio)
        ));
        assert!(decode(&two, &bomb, 64 << 20).is_err());
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert!(matches!(
            decode(&[Coding::Gzip], &gzip(&text), 100_000),
            Err(DecodeError::TooLarge(100_000))
        ));
        assert!(matches!(
            decode(&[Coding::Gzip], b"not gzip", 1024),
            Err(DecodeError::Corrupt("gzip", _))
        ));
    }
}
