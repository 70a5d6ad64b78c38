//! The normalised text the inbound rules run over, with a map back to the input offsets.

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
        let (ch, width) = match b {
            0xE2 if next(1) == 0x80 && matches!(next(2), 0x98 | 0x99) => (b'\'', 3),
            0xE2 if next(1) == 0x80 && matches!(next(2), 0x9C | 0x9D) => (b'"', 3),
            0xC2 if next(1) == 0xA0 => (b' ', 2),
            _ => (b.to_ascii_lowercase(), 1),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_maps_offsets() {
        let (n, m) = normalize("A \t\n B\u{200B}C\u{2019}\n\nD".as_bytes());
        assert_eq!(n, b"a\nbc'\n\nd");
        assert_eq!(m, vec![0, 1, 5, 9, 10, 13, 13, 15]);
    }
}
