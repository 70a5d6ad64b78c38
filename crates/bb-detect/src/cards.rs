//! Payment card numbers: 13–19 digits (single spaces or dashes allowed between digits), with a
//! known issuer prefix, Luhn-valid, and not part of a longer run of digits or letters nor of a
//! decimal number (`0.5454545454545454`, `4111111111111111.5`: the digits of a float literal or
//! a numeric table are not a card number, and one in ten random digit strings passes Luhn).

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

/// The shortest: 13 digits. Every card number is a run of at least this many card bytes
/// ([`card_bytes`]): the scan only looks inside such runs.
pub(crate) const MIN_LEN: usize = 13;

/// The card bytes of a block of `width` bytes (bit i for byte i): a digit, or a space, dash or
/// dot followed by a digit (a dot is never inside a card number, but a run that holds it lets
/// the scan see a decimal point next to a candidate). `digit` and `card_sep` are the block's
/// masks, `next_digit` whether the byte after the block is a digit.
#[inline(always)]
pub(crate) fn card_bytes(digit: u64, card_sep: u64, next_digit: bool, width: u32) -> u64 {
    digit | (card_sep & ((digit >> 1) | (u64::from(next_digit) << (width - 1))))
}

/// Checks candidates starting in `data[from..limit]`. `Err(next)`: where to go on; `Ok(held)`:
/// a candidate touches the end of the data and more may follow.
pub(crate) fn scan(
    data: &[u8],
    from: usize,
    limit: usize,
    at_end: bool,
    sink: &mut dyn FnMut(usize, usize),
) -> Result<usize, usize> {
    let mut i = from;
    while let Some(d) = next_digit(&data[..limit], i) {
        i = d;
        if i > 0 && (data[i - 1].is_ascii_alphanumeric() || after_decimal_point(data, i)) {
            // Glued to a word or a longer number, or the fraction of a decimal number: no card
            // starts in this run of digits.
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

/// `data[i]` follows a decimal point: `digit.` right before it.
fn after_decimal_point(data: &[u8], i: usize) -> bool {
    i >= 2 && data[i - 1] == b'.' && data[i - 2].is_ascii_digit()
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
    let mut layout = Layout::default();
    while j < data.len() && j - i < MAX_LEN && count < digits.len() {
        let c = data[j];
        if c.is_ascii_digit() {
            digits[count] = c;
            count += 1;
            layout.group += 1;
            end = j + 1;
            j += 1;
        } else if (c == b' ' || c == b'-')
            && j + 1 < data.len()
            && data[j + 1].is_ascii_digit()
            && data[j - 1].is_ascii_digit()
        {
            layout.separator();
            j += 1;
        } else {
            break;
        }
    }
    let decimal_point = data.get(end) == Some(&b'.');
    if (end == data.len() || (decimal_point && end + 1 == data.len())) && !at_end {
        return None;
    }
    // The integer part of a decimal number (`4111111111111111.25`) is not a card number.
    let integer_part = decimal_point && data.get(end + 1).is_some_and(u8::is_ascii_digit);
    let bounded = (end == data.len() || !data[end].is_ascii_alphanumeric()) && !integer_part;
    let digits = &digits[..count];
    let card_like = layout.printed_like_a_card(count);
    if bounded
        && card_like
        && known_issuer(digits)
        && luhn(digits)
        && (layout.separated || !in_numeric_table(data, i))
    {
        sink(i, end);
    }
    Some(end.max(i + 1))
}

/// How near a number of a numeric table the next one stands.
pub(crate) const TABLE_REACH: usize = 48;
/// The fewest digits of a number that makes its neighbours a numeric table: E.164's longest
/// phone number (few have more than 13 digits), so a card next to a phone number in a customer
/// export stays a card.
const TABLE_DIGITS: usize = 15;

/// An unseparated candidate at `data[i..]` is an entry of a numeric table (curve constants,
/// polynomial coefficients, test vectors of 64-bit numbers): within [`TABLE_REACH`] bytes before
/// it stands a number of [`TABLE_DIGITS`] or more digits that is no card number itself. A list
/// of card numbers is still a list of card numbers. Only what comes before is read, so that a
/// stream decides as a whole scan does (it keeps [`TABLE_REACH`] bytes before its next
/// candidate).
fn in_numeric_table(data: &[u8], i: usize) -> bool {
    data[i.saturating_sub(TABLE_REACH)..i]
        .split(|b| !b.is_ascii_digit())
        .any(|run| {
            run.len() >= TABLE_DIGITS
                && !((15..=16).contains(&run.len()) && known_issuer(run) && luhn(run))
        })
}

/// How the digits of a candidate are grouped by spaces or dashes.
#[derive(Default)]
struct Layout {
    /// Digits in the current group.
    group: usize,
    separated: bool,
    /// Every closed group held 3 to 6 digits.
    groups_ok: bool,
}

impl Layout {
    fn separator(&mut self) {
        self.groups_ok = (!self.separated || self.groups_ok) && (3..=6).contains(&self.group);
        self.separated = true;
        self.group = 0;
    }

    /// Printed cards group their digits in 3 to 6 (`4-4-4-4`, `4-6-5`, `4-4-4-4-3`); without
    /// separators only 13 to 16 digits count, since runs of 17 to 19 digits in code and data
    /// are 64-bit integers (seeds, hashes, table constants) far more often than the rare long
    /// card number, which is then caught when grouped.
    fn printed_like_a_card(&self, count: usize) -> bool {
        if self.separated {
            self.groups_ok && (3..=6).contains(&self.group) && (13..=19).contains(&count)
        } else {
            (13..=16).contains(&count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let data = text.as_bytes();
        assert!(scan(data, 0, data.len(), true, &mut |s, e| out.push(&text[s..e])).is_err());
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
    fn long_integers_and_odd_groupings_are_not_cards() {
        assert!(
            find("seed = 4337234444626115331").is_empty(),
            "19 digits, a u64"
        );
        assert!(find("49 3 35 84 29 15 36 60 78 76 3 95 73 36").is_empty());
        assert!(find("41 1111 1111 1111 11").is_empty(), "groups of 2");
        // Long card numbers count when printed in groups.
        assert_eq!(find("4111 1111 1111 1111 003"), ["4111 1111 1111 1111 003"]);
        assert_eq!(find("amex 3782 822463 10005"), ["3782 822463 10005"]);
    }

    #[test]
    fn entries_of_a_numeric_table_are_not_cards() {
        // Curve constants, 64-bit test vectors: long numbers that are no cards around it.
        assert_eq!(find("x = 4111111111111111;"), ["4111111111111111"]);
        let table = "1259582250014073, 301289933810280, 4111111111111111, 1422107436869536";
        assert!(find(table).is_empty(), "{:?}", find(table));
        assert!(find("c(11270725851789228032, 435, 4111111111111111, 446)").is_empty());
        // A list of card numbers stays one; so does a card next to a phone number or a date.
        assert_eq!(
            find("4111111111111111, 5500000000000004").len(),
            2,
            "a list of cards"
        );
        assert_eq!(
            find("Alice,+14155552671,4111111111111111,12/28"),
            ["4111111111111111"]
        );
        assert_eq!(
            find("card 4111111111111111 on 20260312"),
            ["4111111111111111"]
        );
    }

    #[test]
    fn the_digits_of_a_decimal_number_are_not_a_card() {
        assert!(find("ratio 0.5454545454545454").is_empty(), "the fraction");
        assert!(find("[0.4111111111111111, 1.4111111111111111]").is_empty());
        assert!(
            find("x = 4111111111111111.25").is_empty(),
            "the integer part"
        );
        assert!(find("v=1.6011-1111-1111-1117").is_empty());
        // Dots that are not decimal points change nothing.
        assert_eq!(find("card.4111111111111111"), ["4111111111111111"]);
        assert_eq!(find("paid: .4111111111111111"), ["4111111111111111"]);
        assert_eq!(find("4111111111111111."), ["4111111111111111"]);
        assert_eq!(find("4111111111111111.x"), ["4111111111111111"]);
    }

    #[test]
    fn a_candidate_at_the_end_is_held_until_more_data_comes() {
        let mut seen = 0;
        assert_eq!(
            scan(b"x 41111111", 0, 10, false, &mut |_, _| seen += 1),
            Ok(2)
        );
        assert_eq!(seen, 0);
    }
}
