//! Host strings that are IP addresses in disguise: [`classify_host`] tells a name from an IP
//! address in any form `inet_aton` accepts, or from nothing valid.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::valid_host;

/// What a host string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// A DNS name (never an IP form).
    Name,
    /// An IP address, in any form a resolver library would accept.
    Ip(IpAddr),
    /// Neither: the reason.
    Invalid(String),
}

/// Classifies a normalised host (lower case, no brackets, no trailing dot; see
/// [`crate::config::normalize_host`]). A host whose last label is a number (decimal or `0x`
/// hex) must be an IPv4 address in `inet_aton` form, as in the WHATWG URL standard; otherwise
/// it is invalid, never a name to resolve.
pub fn classify_host(host: &str) -> HostKind {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return HostKind::Ip(ip);
    }
    if let Some(v4) = inet_aton(host) {
        return HostKind::Ip(IpAddr::V4(v4));
    }
    let last = host.rsplit('.').next().unwrap_or("");
    if looks_numeric(last) {
        return HostKind::Invalid(format!("`{host}` is neither a host name nor an IP address"));
    }
    if host.contains(':') || !valid_host(host) {
        return HostKind::Invalid(format!("`{host}` is not a valid host name"));
    }
    HostKind::Name
}

fn looks_numeric(label: &str) -> bool {
    if let Some(hex) = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        return hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an IPv4 address the way `inet_aton(3)` does: one to four parts separated by dots,
/// each decimal, octal (leading `0`) or hex (`0x`); the last part fills the remaining bytes.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(aton_part(part)?);
    }
    let (last, init) = values.split_last()?;
    let mut addr: u64 = 0;
    for (i, v) in init.iter().enumerate() {
        if *v > 0xff {
            return None;
        }
        addr |= v << (8 * (3 - i));
    }
    let last_bits = 8 * (4 - init.len());
    if last_bits < 64 && *last >= (1u64 << last_bits) {
        return None;
    }
    addr |= last;
    u32::try_from(addr).ok().map(Ipv4Addr::from)
}

fn aton_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() {
                return Some(0);
            }
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Long digit strings overflow: not an address.
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inet_aton_forms() {
        let cases = [
            ("0x7f000001", "127.0.0.1"),
            ("0X7F000001", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0177.0.0.01", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
            ("0251.0376.0251.0376", "169.254.169.254"),
            ("0", "0.0.0.0"),
            ("0x", "0.0.0.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("4294967295", "255.255.255.255"),
        ];
        for (s, want) in cases {
            assert_eq!(inet_aton(s), Some(want.parse().unwrap()), "{s}");
        }
        for s in [
            "4294967296",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.256.1.1",
            "1.2.65536",
            "08.1.1.1",
            "0xg.1.1.1",
            "1..2",
            "",
            "a.b.c.d",
            "99999999999999999999999",
        ] {
            assert_eq!(inet_aton(s), None, "{s}");
        }
    }

    #[test]
    fn hosts_are_classified() {
        assert_eq!(classify_host("api.example.com"), HostKind::Name);
        assert_eq!(classify_host("1password.com"), HostKind::Name);
        assert_eq!(classify_host("0x7f000001"), HostKind::Ip(ip("127.0.0.1")));
        assert_eq!(classify_host("::1"), HostKind::Ip(ip("::1")));
        assert_eq!(
            classify_host("::ffff:127.0.0.1"),
            HostKind::Ip(ip("::ffff:127.0.0.1"))
        );
        for s in [
            "1.2.3.999",
            "example.123",
            "a.0x1f",
            "08.1.1.1",
            "a..b",
            "a:b",
        ] {
            assert!(
                matches!(classify_host(s), HostKind::Invalid(_)),
                "{s}: {:?}",
                classify_host(s)
            );
        }
        // A label that merely starts with digits is a name.
        assert_eq!(classify_host("example.0xz"), HostKind::Name);
        assert_eq!(classify_host("123abc.example"), HostKind::Name);
    }
}
