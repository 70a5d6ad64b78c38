//! Cryptocurrency private keys in their Base58Check forms: extended private keys (BIP-32
//! `xprv`, `tprv` and the SegWit `yprv`/`zprv`/`uprv`/`vprv`) and WIF private keys. The
//! checksum (four bytes of a double SHA-256) is verified, so a random base58 string of the
//! same shape is taken one time in four billion.

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The length of a serialized BIP-32 key (version, depth, fingerprint, child number, chain
/// code, key data).
const EXTENDED_KEY_LEN: usize = 78;
/// Where the key data starts; a private key's starts with a zero byte.
const KEY_DATA_AT: usize = 45;

fn digit(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u32)
}

/// Base58 to bytes (leading `1`s are zero bytes); `None` for a byte outside the alphabet.
fn base58_decode(text: &[u8]) -> Option<Vec<u8>> {
    let zeros = text.iter().take_while(|&&b| b == b'1').count();
    // Little-endian base-256 digits of the number.
    let mut num: Vec<u8> = Vec::with_capacity(text.len());
    for &b in &text[zeros..] {
        let mut carry = digit(b)?;
        for byte in &mut num {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            num.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(num.iter().rev());
    Some(out)
}

/// The payload of a Base58Check string whose checksum holds.
fn base58check(text: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = base58_decode(text)?;
    if bytes.len() < 5 {
        return None;
    }
    let split = bytes.len() - 4;
    let check = Sha256::digest(Sha256::digest(&bytes[..split]));
    if check[..4] != bytes[split..] {
        return None;
    }
    bytes.truncate(split);
    Some(bytes)
}

/// A BIP-32 extended private key (`xprv…`, 111 or 112 characters) with a valid checksum.
pub(crate) fn is_extended_private_key(text: &[u8]) -> bool {
    base58check(text).is_some_and(|p| p.len() == EXTENDED_KEY_LEN && p[KEY_DATA_AT] == 0)
}

/// A WIF private key: 51 or 52 characters, version 0x80 (main network) or 0xEF (test
/// networks), 32 key bytes and, for a compressed key, a trailing 0x01; checksum valid.
pub(crate) fn is_wif(text: &[u8]) -> bool {
    if !matches!(text.len(), 51 | 52) {
        return false;
    }
    base58check(text).is_some_and(|p| {
        matches!(p.first(), Some(0x80 | 0xef))
            && (p.len() == 33 || (p.len() == 34 && p[33] == 0x01))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Base58Check of `payload` (for the tests).
    pub(crate) fn encode(payload: &[u8]) -> String {
        let mut bytes = payload.to_vec();
        let check = Sha256::digest(Sha256::digest(payload));
        bytes.extend_from_slice(&check[..4]);
        let zeros = bytes.iter().take_while(|&&b| b == 0).count();
        let mut digits: Vec<u8> = Vec::new(); // little-endian base 58
        for &b in &bytes {
            let mut carry = u32::from(b);
            for d in &mut digits {
                carry += u32::from(*d) << 8;
                *d = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits.push((carry % 58) as u8);
                carry /= 58;
            }
        }
        let mut out = "1".repeat(zeros);
        out.extend(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char));
        out
    }

    /// A made-up extended private key with the `xprv` version bytes.
    pub(crate) fn xprv() -> String {
        let mut p = vec![0x04, 0x88, 0xAD, 0xE4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend((0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
        p.push(0);
        p.extend((0..32u8).map(|i| i.wrapping_mul(91).wrapping_add(5)));
        encode(&p)
    }

    /// A made-up compressed WIF key for the main network.
    pub(crate) fn wif() -> String {
        let mut p = vec![0x80];
        p.extend((0..32u8).map(|i| i.wrapping_mul(53).wrapping_add(7)));
        p.push(0x01);
        encode(&p)
    }

    #[test]
    fn checked_keys_are_recognised() {
        let x = xprv();
        assert!(x.starts_with("xprv") && x.len() == 111, "{x}");
        assert!(is_extended_private_key(x.as_bytes()));
        let w = wif();
        assert!(w.starts_with('K') || w.starts_with('L'), "{w}");
        assert!(is_wif(w.as_bytes()));
    }

    #[test]
    fn a_changed_character_or_a_public_key_is_not() {
        let mut x = xprv().into_bytes();
        x[50] = if x[50] == b'a' { b'b' } else { b'a' };
        assert!(!is_extended_private_key(&x));
        // An extended public key: the key data starts with 02 or 03.
        let mut p = vec![0x04, 0x88, 0xB2, 0x1E, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend([7u8; 32]);
        p.push(0x02);
        p.extend([9u8; 32]);
        assert!(!is_extended_private_key(encode(&p).as_bytes()));
        let mut w = wif().into_bytes();
        w[10] = if w[10] == b'z' { b'y' } else { b'z' };
        assert!(!is_wif(&w));
        assert!(!is_wif(
            b"5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTX"
        ));
    }

    #[test]
    fn the_engine_finds_them_whole_and_streamed() {
        let engine = crate::Engine::new(Vec::new());
        let cfg = crate::OutboundConfig {
            token_patterns: true,
            ..Default::default()
        };
        let text = format!("backup: {}\nwif={}\n", xprv(), wif());
        let want = ["crypto-extended-private-key", "crypto-wif-private-key"];
        let rules = |found: Vec<crate::Finding>| -> Vec<String> {
            let mut r: Vec<String> = found.into_iter().map(|f| f.rule).collect();
            r.sort();
            r
        };
        assert_eq!(rules(engine.scan(&cfg, text.as_bytes())), want);
        for size in [1, 7, 50] {
            let found = crate::streamed(&engine, cfg, text.as_bytes(), size);
            assert_eq!(rules(found), want, "chunks of {size}");
        }
    }
}
