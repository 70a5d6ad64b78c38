//! The normalised text the inbound rules run over, with a map back to the input offsets.
//!
//! Besides case and whitespace, the spellings that hide a phrase from a reader of the raw text
//! but not from a model are undone: escapes (`\n`, `\u0069` in JSON and JavaScript strings,
//! `&#105;`, `&nbsp;` in HTML), look-alike letters from the Cyrillic and Greek alphabets
//! (`ignоre` with a Cyrillic `о`) and full-width forms.

/// Lower-cased text with whitespace runs collapsed (to a space, a line break, or two line
/// breaks for a blank line); `map[i]` is the input offset of byte `i`.
pub(super) fn normalize(data: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(data.len());
    let mut map = Vec::with_capacity(data.len());
    let mut space: Option<(usize, u32)> = None;
    let mut i = 0;
    let n = data.len();
    while i < n {
        let b = data[i];
        let next = |k: usize| data.get(i + k).copied().unwrap_or(0);
        // Zero-width and invisible characters: dropped.
        if (b == 0xE2 && next(1) == 0x80 && (0x8B..=0x8F).contains(&next(2)))
            || (b == 0xE2 && next(1) == 0x81 && next(2) == 0xA0)
            || (b == 0xEF && next(1) == 0xBB && next(2) == 0xBF)
        {
            i += 3;
            continue;
        }
        if b == 0xC2 && next(1) == 0xAD {
            i += 2;
            continue;
        }
        let (ch, width) = match fold(&data[i..]) {
            Some(folded) => folded,
            None => match b {
                0xE2 if next(1) == 0x80 && matches!(next(2), 0x98 | 0x99) => (b'\'', 3),
                0xE2 if next(1) == 0x80 && matches!(next(2), 0x9C | 0x9D) => (b'"', 3),
                0xC2 if next(1) == 0xA0 => (b' ', 2),
                _ => (b.to_ascii_lowercase(), 1),
            },
        };
        if matches!(ch, b' ' | b'\t' | b'\r' | b'\n' | 0x0B | 0x0C) {
            let nl = (ch == b'\n') as u32;
            space = Some(match space {
                Some((at, had)) => (at, had + nl),
                None => (i, nl),
            });
        } else {
            if let Some((at, nl)) = space.take() {
                out.push(if nl > 0 { b'\n' } else { b' ' });
                map.push(at);
                if nl > 1 {
                    // A blank line: kept as two line breaks (a paragraph).
                    out.push(b'\n');
                    map.push(at);
                }
            }
            out.push(ch);
            map.push(i);
        }
        i += width;
    }
    (out, map)
}

/// An escaped, look-alike or full-width spelling of an ASCII character at the start of `rest`:
/// the character (lower case) and how many bytes it takes.
fn fold(rest: &[u8]) -> Option<(u8, usize)> {
    match *rest.first()? {
        b'\\' => unescape(rest),
        b'&' => entity(rest),
        0xCE..=0xD1 => {
            let code = (u32::from(rest[0] & 0x1F) << 6) | u32::from(*rest.get(1)? & 0x3F);
            look_alike(code).map(|c| (c, 2))
        }
        0xEF => {
            let (b1, b2) = (*rest.get(1)?, *rest.get(2)?);
            let code = (u32::from(rest[0] & 0x0F) << 12)
                | (u32::from(b1 & 0x3F) << 6)
                | u32::from(b2 & 0x3F);
            // Full-width forms of the printable ASCII characters.
            (0xFF01..=0xFF5E)
                .contains(&code)
                .then(|| ((code - 0xFEE0) as u8).to_ascii_lowercase())
                .map(|c| (c, 3))
        }
        _ => None,
    }
}

/// `\n`, `\t`, `\r`, `\xHH` and `\uHHHH` (ASCII only).
fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    let hex = |digits: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    match *rest.get(1)? {
        b'n' => Some((b'\n', 2)),
        b't' | b'r' => Some((b' ', 2)),
        b'x' => ascii(hex(rest.get(2..4)?)?).map(|c| (c, 4)),
        b'u' => ascii(hex(rest.get(2..6)?)?).map(|c| (c, 6)),
        _ => None,
    }
}

/// `&#DDD;`, `&#xHH;` (ASCII only), `&nbsp;` and the five XML entities.
fn entity(rest: &[u8]) -> Option<(u8, usize)> {
    let end = rest.iter().take(10).position(|&b| b == b';')?;
    let name = &rest[1..end];
    let c = match name {
        b"nbsp" => b' ',
        b"lt" => b'<',
        b"gt" => b'>',
        b"amp" => b'&',
        b"quot" => b'"',
        b"apos" => b'\'',
        [b'#', b'x' | b'X', hex @ ..] => {
            ascii(u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?)?
        }
        [b'#', dec @ ..] => ascii(std::str::from_utf8(dec).ok()?.parse().ok()?)?,
        _ => return None,
    };
    Some((c, end + 1))
}

fn ascii(code: u32) -> Option<u8> {
    u8::try_from(code)
        .ok()
        .filter(u8::is_ascii)
        .map(|c| c.to_ascii_lowercase())
}

/// Cyrillic and Greek letters drawn like a Latin one.
fn look_alike(code: u32) -> Option<u8> {
    Some(match code {
        0x0430 | 0x0410 | 0x03B1 | 0x0391 => b'a',
        0x0412 | 0x0392 => b'b',
        0x0441 | 0x0421 => b'c',
        0x0435 | 0x0415 | 0x03B5 | 0x0395 => b'e',
        0x041D | 0x0397 => b'h',
        0x0456 | 0x0406 | 0x03B9 | 0x0399 => b'i',
        0x0458 | 0x0408 => b'j',
        0x043A | 0x041A | 0x03BA | 0x039A => b'k',
        0x041C | 0x039C => b'm',
        0x039D => b'n',
        0x043E | 0x041E | 0x03BF | 0x039F => b'o',
        0x0440 | 0x0420 | 0x03C1 | 0x03A1 => b'p',
        0x0455 | 0x0405 => b's',
        0x0442 | 0x0422 | 0x03C4 | 0x03A4 => b't',
        0x03C5 => b'u',
        0x03BD => b'v',
        0x0445 | 0x0425 | 0x03C7 | 0x03A7 => b'x',
        0x0443 | 0x0423 | 0x03A5 => b'y',
        0x0396 => b'z',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_maps_offsets() {
        let (n, m) = normalize("A \t\n B\u{200B}C\u{2019}\n\nD".as_bytes());
        assert_eq!(n, b"a\nbc'\n\nd");
        assert_eq!(m, vec![0, 1, 5, 9, 10, 13, 13, 15]);
    }

    #[test]
    fn escapes_look_alikes_and_full_width_forms_are_undone() {
        let text = |s: &str| String::from_utf8(normalize(s.as_bytes()).0).unwrap();
        assert_eq!(text(r"ign\u006fre\nprevious"), "ignore\nprevious");
        assert_eq!(text(r"ign\x6fre"), "ignore");
        assert_eq!(text("&#105;gnore&nbsp;all &#x70;rior"), "ignore all prior");
        assert_eq!(
            text("ign\u{43e}re ins\u{442}ructions"),
            "ignore instructions"
        );
        assert_eq!(text("\u{FF29}\u{FF47}\u{FF4E}ore"), "ignore");
        assert_eq!(text("\u{3bf}\u{3b9}"), "oi");
        // Other text is left as it is.
        assert_eq!(text(r"caf\u00e9 &unknown; \q"), r"caf\u00e9 &unknown; \q");
    }
}
