//! Payment card numbers: 13–19 digits (single spaces or dashes allowed between digits), with a
//! known issuer prefix, Luhn-valid, and not part of a longer run of digits or letters.

use crate::decode::{block64, pack};

/// The issuer prefixes checked (Visa, Mastercard, American Express, Discover, JCB, Diners).
fn known_issuer(digits: &[u8]) -> bool {
    let prefix = |n: usize| -> u32 {
        digits[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let len = digits.len();
    match digits[0] {
        b'4' => matches!(len, 13 | 16 | 19),
        b'5' => (51..=55).contains(&prefix(2)) && len == 16,
        b'2' => (2221..=2720).contains(&prefix(4)) && len == 16,
        b'3' => {
            (matches!(prefix(2), 34 | 37) && len == 15)
                || ((3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len))
                || ((matches!(prefix(2), 36 | 38) || (300..=305).contains(&prefix(3)))
                    && (14..=19).contains(&len))
        }
        b'6' => (prefix(4) == 6011 || prefix(2) == 65) && (16..=19).contains(&len),
        _ => false,
    }
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The longest text a card number can take (19 digits and 18 separators).
pub(crate) const MAX_LEN: usize = 37;

/// Calls `sink(start, end)` for each card number in `data[from..]`. Returns the offset from which
/// the data must be seen again (a candidate touching the end when more data may follow).
///
/// Text is skipped 64 bytes at a time unless it holds 13 bytes in a row that could be part of a
/// card number (see [`may_hold_card`]); windows start 48 bytes apart, so the first 13 bytes of
/// any such run lie inside one window. The last [`MAX_LEN`] bytes are always read one by one,
/// so a candidate cut by the end of the data is held.
pub(crate) fn pass(
    data: &[u8],
    from: usize,
    at_end: bool,
    sink: &mut dyn FnMut(usize, usize),
) -> Option<usize> {
    const STEP: usize = 48;
    let tail = data.len().saturating_sub(MAX_LEN + 1).max(from);
    let mut i = from;
    let mut window = from;
    while window < tail {
        let end = (window + 64).min(data.len());
        if may_hold_card(&data[window..end], data.get(end).copied()) {
            i = scan(data, i.max(window), end.min(tail), at_end, sink).err()?;
        }
        window += STEP;
    }
    scan(data, i.max(tail), data.len(), at_end, sink).ok()
}

/// Whether `block` (at most 64 bytes, `next` the byte after it) has 13 bytes in a row each
/// a digit or a space or dash followed by a digit: every card number is such a run.
fn may_hold_card(block: &[u8], next: Option<u8>) -> bool {
    let b = block64(block);
    let mut digit = [0u8; 64];
    let mut sep = [0u8; 64];
    for k in 0..64 {
        digit[k] = u8::from(b[k].wrapping_sub(b'0') < 10);
        sep[k] = u8::from(b[k] == b' ' || b[k] == b'-');
    }
    let width = block.len();
    let d = pack(&digit);
    let after = u64::from(next.is_some_and(|c| c.is_ascii_digit()));
    let followed = (d >> 1) | (after << (width - 1));
    let m = d | (pack(&sep) & followed);
    let m = if width == 64 {
        m
    } else {
        m & ((1 << width) - 1)
    };
    let a2 = m & (m >> 1);
    let a4 = a2 & (a2 >> 2);
    let a8 = a4 & (a4 >> 4);
    let a12 = a8 & (a4 >> 8);
    a12 & (m >> 12) != 0
}

/// Checks candidates starting in `data[from..limit]`. `Err(next)`: where to go on; `Ok(held)`:
/// a candidate touches the end of the data and more may follow.
fn scan(
    data: &[u8],
    from: usize,
    limit: usize,
    at_end: bool,
    sink: &mut dyn FnMut(usize, usize),
) -> Result<usize, usize> {
    let mut i = from;
    while let Some(d) = next_digit(&data[..limit], i) {
        i = d;
        if i > 0 && data[i - 1].is_ascii_alphanumeric() {
            // Glued to a word or a longer number: no card starts in this run of digits.
            while i < data.len() && data[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        match candidate(data, i, at_end, sink) {
            Some(next) => i = next,
            None => return Ok(i),
        }
    }
    Err(i.max(limit))
}

/// The first ASCII digit at or after `from`.
fn next_digit(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| from + p)
}

/// Reads the number starting at digit `i`, reports it when it is a card number, and returns
/// where to look next; `None` when it touches the end of the data and more may follow.
fn candidate(
    data: &[u8],
    i: usize,
    at_end: bool,
    sink: &mut dyn FnMut(usize, usize),
) -> Option<usize> {
    let mut digits = [0u8; 20];
    let mut count = 0;
    let mut j = i;
    let mut end = i;
    while j < data.len() && j - i < MAX_LEN && count < digits.len() {
        let c = data[j];
        if c.is_ascii_digit() {
            digits[count] = c;
            count += 1;
            end = j + 1;
            j += 1;
        } else if (c == b' ' || c == b'-')
            && j + 1 < data.len()
            && data[j + 1].is_ascii_digit()
            && data[j - 1].is_ascii_digit()
        {
            j += 1;
        } else {
            break;
        }
    }
    if end == data.len() && !at_end {
        return None;
    }
    let bounded = end == data.len() || !data[end].is_ascii_alphanumeric();
    let digits = &digits[..count];
    if bounded && (13..=19).contains(&count) && known_issuer(digits) && luhn(digits) {
        sink(i, end);
    }
    Some(end.max(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        pass(text.as_bytes(), 0, true, &mut |s, e| out.push(&text[s..e]));
        out
    }

    #[test]
    fn finds_test_card_numbers_in_their_usual_forms() {
        assert_eq!(find("card 4111111111111111 ok"), ["4111111111111111"]);
        assert_eq!(find("5500 0000 0000 0004"), ["5500 0000 0000 0004"]);
        assert_eq!(find("amex,378282246310005,09/29"), ["378282246310005"]);
        assert_eq!(find("6011-1111-1111-1117"), ["6011-1111-1111-1117"]);
    }

    #[test]
    fn ignores_numbers_that_are_not_cards() {
        assert!(find("4111111111111112").is_empty(), "Luhn fails");
        assert!(find("1234567812345670").is_empty(), "no issuer");
        assert!(find("order 41111111111111110").is_empty(), "a longer run");
        assert!(find("id=a4111111111111111").is_empty(), "glued to letters");
        assert!(find("timestamp 1700000000123").is_empty());
        assert!(find("tel +1 415 555 0100").is_empty());
    }

    #[test]
    fn a_candidate_at_the_end_is_held_until_more_data_comes() {
        let mut seen = 0;
        assert_eq!(
            pass(b"x 41111111", 0, false, &mut |_, _| seen += 1),
            Some(2)
        );
        assert_eq!(seen, 0);
    }

    #[test]
    fn the_window_prefilter_finds_what_a_byte_by_byte_scan_finds() {
        let cards = [
            "4111111111111111",
            "5500 0000 0000 0004",
            "6011-1111-1111-1117",
        ];
        let mut seed = 7u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let mut text = Vec::new();
            while text.len() < 400 {
                match rand(6) {
                    0 => text.extend_from_slice(cards[rand(3) as usize].as_bytes()),
                    1 => text.push(b' '),
                    2 => text.push(b'-'),
                    3 => text.push(b'x'),
                    _ => text.push(b'0' + rand(10) as u8),
                }
            }
            for at_end in [true, false] {
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                let held = pass(&text, 0, at_end, &mut |s, e| fast.push((s, e)));
                let naive = scan(&text, 0, text.len(), at_end, &mut |s, e| slow.push((s, e)));
                assert_eq!(fast, slow, "{}", String::from_utf8_lossy(&text));
                assert_eq!(held, naive.ok());
            }
        }
    }
}
