//! SHA-256 for content-addressed names (image tags) and pinned downloads.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of a file's contents, read in blocks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a sequence of parts; each is length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ.
#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// Feeds a reader's bytes as one part of unknown length (a large file).
    pub fn reader(&mut self, mut reader: impl std::io::Read) -> std::io::Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        let mut total: u64 = 0;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            self.0.update(&buf[..n]);
        }
        self.0.update(total.to_le_bytes());
        Ok(())
    }

    pub fn hex(self) -> String {
        hex(&self.0.finalize())
    }

    /// The first 12 hex digits: enough to tell image versions apart.
    pub fn short(self) -> String {
        self.hex()[..12].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parts_are_delimited() {
        let mut a = Hasher::new();
        a.part(b"ab");
        a.part(b"c");
        let mut b = Hasher::new();
        b.part(b"a");
        b.part(b"bc");
        assert_ne!(a.hex(), b.hex());
    }
}
