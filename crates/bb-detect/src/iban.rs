//! IBANs (ISO 13616): a country code, two check digits and the country's fixed number of
//! letters and digits, written whole (`DE89370400440532013000`) or printed in groups of four
//! separated by single spaces (`DE89 3704 0044 0532 0130 00`). Taken only with the country's
//! length and a mod-97 checksum that holds, so a random string of the same shape passes about
//! once in a hundred, after the length. An IBAN is personal data, not a credential: what it does
//! on a route is the route's `dlp.personal_data`.

/// The length of an IBAN in each country of the SWIFT IBAN registry.
const LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The IBAN length of the country `cc` (upper case), if it has IBANs.
fn country_length(cc: [u8; 2]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| **c == cc)
        .map(|&(_, len)| usize::from(len))
}

/// Whether an IBAN may start at `data[at]` (an upper-case letter there): nothing alphanumeric is
/// glued before it, and the country exists (or the data ends before its second letter). Cheap;
/// [`judge`] decides.
pub(crate) fn may_start(data: &[u8], at: usize) -> bool {
    let glued = at > 0 && data[at - 1].is_ascii_alphanumeric();
    !glued
        && data
            .get(at + 1)
            .is_none_or(|&b| country_length([data[at], b]).is_some())
}

/// A candidate judged.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    /// An IBAN ends there (exclusive).
    Iban(usize),
    No,
    /// The data ends before it can be decided.
    NeedMore,
}

/// Judges the candidate at `data[at]` (see [`may_start`]); `at_end`: nothing follows `data`.
pub(crate) fn judge(data: &[u8], at: usize, at_end: bool) -> Judged {
    let more = if at_end { Judged::No } else { Judged::NeedMore };
    let Some(&second) = data.get(at + 1) else {
        return more;
    };
    let Some(len) = country_length([data[at], second]) else {
        return Judged::No;
    };
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = at;
    // None until the byte after the first group says whether the IBAN is printed in groups.
    let mut printed: Option<bool> = None;
    while n < len {
        let Some(&b) = data.get(i) else {
            return more;
        };
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            if n > 0 && n % 4 == 0 && printed == Some(true) && data[i - 1] != b' ' {
                return Judged::No;
            }
            if n == 4 && printed.is_none() {
                printed = Some(false);
            }
            chars[n] = b;
            n += 1;
            i += 1;
        } else if b == b' ' && n % 4 == 0 && n > 0 && printed != Some(false) {
            printed = Some(true);
            i += 1;
        } else {
            return Judged::No;
        }
    }
    match data.get(i) {
        None if !at_end => return Judged::NeedMore,
        Some(b) if b.is_ascii_alphanumeric() => return Judged::No,
        _ => {}
    }
    if valid(&chars[..len]) {
        Judged::Iban(i)
    } else {
        Judged::No
    }
}

/// Check digits 02 to 98, the rest letters and digits, and the mod-97 checksum.
fn valid(iban: &[u8]) -> bool {
    let check = &iban[2..4];
    if !check.iter().all(u8::is_ascii_digit) || matches!(check, b"00" | b"01" | b"99") {
        return false;
    }
    let rearranged = iban[4..].iter().chain(&iban[..4]);
    let mut rest = 0u32;
    for &c in rearranged {
        rest = if c.is_ascii_digit() {
            (rest * 10 + u32::from(c - b'0')) % 97
        } else {
            (rest * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    rest == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<&str> {
        let d = text.as_bytes();
        (0..d.len()).find_map(|at| {
            let starts = d[at].is_ascii_uppercase() && may_start(d, at);
            match starts.then(|| judge(d, at, true)) {
                Some(Judged::Iban(end)) => Some(&text[at..end]),
                _ => None,
            }
        })
    }

    #[test]
    fn ibans_whole_and_printed_are_found() {
        for iban in [
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "GB82 WEST 1234 5698 7654 32",
            "FR1420041010050500013M02606",
            "NO9386011117947",
            "MT84MALT011000012345MTLCAST001S",
        ] {
            let text = format!("pay to {iban}, thanks");
            assert_eq!(find(&text), Some(iban), "{iban}");
        }
        assert_eq!(
            find("iban=DE89370400440532013000&x=1"),
            Some("DE89370400440532013000")
        );
    }

    #[test]
    fn near_misses_are_not() {
        for text in [
            "DE89370400440532013001",     // checksum
            "DE8937040044053201300",      // one character short for Germany
            "DE893704004405320130000",    // glued to more
            "XDE89370400440532013000",    // glued before
            "ZZ89370400440532013000",     // no such country
            "DE00370400440532013000",     // check digits out of range
            "DE89 37040044 0532 0130 00", // groups of another size
            "de89370400440532013000",     // lower case
            "SHA256 0123456789abcdef",    // code
        ] {
            assert_eq!(find(text), None, "{text}");
        }
    }

    #[test]
    fn a_cut_candidate_waits_for_more() {
        let d = b"DE89 3704 0044 05";
        assert_eq!(judge(d, 0, false), Judged::NeedMore);
        assert_eq!(judge(d, 0, true), Judged::No);
        let whole = b"DE89370400440532013000";
        assert_eq!(
            judge(whole, 0, false),
            Judged::NeedMore,
            "more digits may follow"
        );
        assert_eq!(judge(whole, 0, true), Judged::Iban(whole.len()));
    }
}
