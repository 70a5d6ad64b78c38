//! Case hosts: how they compare, which may become a bottle route, how they go on the wire.

/// Trimmed, lower-cased, without `[…]` and without one trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim().to_lowercase();
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.to_owned(),
        None => host,
    };
    host.strip_suffix('.').map(str::to_owned).unwrap_or(host)
}

/// IPv6 literals, and whatever the C library's `inet_aton` reads as IPv4 (`0x7f000001`,
/// `2130706433`, `0177.0.0.1`).
pub fn is_ip_literal(host: &str) -> bool {
    host.contains(':') || inet_aton(host).is_some()
}

/// glibc's `inet_aton`: one to four parts, each decimal, octal (`0…`) or hex (`0x…`), the last
/// filling the remaining bytes; anything after the number from whitespace on is ignored.
fn inet_aton(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let mut i = 0;
    loop {
        let (value, next) = aton_part(bytes, i)?;
        i = next;
        match bytes.get(i) {
            Some(b'.') => {
                if parts.len() > 2 || value > 0xff {
                    return None;
                }
                parts.push(value);
                i += 1;
            }
            Some(c) if !c.is_ascii_whitespace() => return None,
            _ => {
                let room = 8 * (4 - parts.len() as u32);
                if value >> room != 0 {
                    return None;
                }
                let high = parts.iter().fold(0u64, |acc, p| (acc << 8) | p);
                return u32::try_from((high << room) | value).ok();
            }
        }
    }
}

/// One number of an `inet_aton` address starting at `i`: its value and the index after it.
fn aton_part(bytes: &[u8], mut i: usize) -> Option<(u64, usize)> {
    if !bytes.get(i)?.is_ascii_digit() {
        return None;
    }
    let (mut base, mut any_digit) = (10u64, false);
    if bytes[i] == b'0' {
        i += 1;
        if matches!(bytes.get(i), Some(b'x' | b'X')) {
            base = 16;
            i += 1;
        } else {
            base = 8;
            any_digit = true;
        }
    }
    let mut value = 0u64;
    while let Some(digit) = bytes
        .get(i)
        .and_then(|&c| (c as char).to_digit(base as u32))
    {
        value = value.saturating_mul(base).saturating_add(u64::from(digit));
        any_digit = true;
        i += 1;
    }
    if base == 8 && matches!(bytes.get(i), Some(b'8' | b'9')) {
        return None;
    }
    (any_digit && value <= u64::from(u32::MAX)).then_some((value, i))
}

/// A name a bottle route may hold (bb-plan's rules); IP literals and localhost never.
pub fn routable(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 || is_ip_literal(host) {
        return false;
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return false;
    }
    host.split('.').all(is_route_label)
}

fn is_route_label(label: &str) -> bool {
    let ok_end = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
    let bytes = label.as_bytes();
    match bytes {
        [] => false,
        [only] => ok_end(*only),
        [first, middle @ .., last] => {
            bytes.len() <= 63
                && ok_end(*first)
                && ok_end(*last)
                && middle.iter().all(|&c| ok_end(c) || c == b'-')
        }
    }
}

/// The host as it goes on the wire: IDNA (`xn--…`) for non-ASCII names, brackets for IPv6.
/// An error is the message of a name IDNA cannot encode.
pub fn wire_host(host: &str) -> Result<String, String> {
    let host = if host.is_ascii() {
        host.to_owned()
    } else {
        idna(host)?
    };
    Ok(if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    })
}

/// IDNA 2003 ToASCII per label, with lower-casing standing in for nameprep.
fn idna(host: &str) -> Result<String, String> {
    let dots = ['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'];
    let labels: Vec<&str> = host.split(dots).collect();
    let last = labels.len() - 1;
    let mut out = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() && i == last && i > 0 {
            out.push(String::new());
            continue;
        }
        let label = label.to_lowercase();
        let ascii = if label.is_ascii() {
            label
        } else {
            format!("xn--{}", punycode(&label))
        };
        if ascii.is_empty() || ascii.len() > 63 {
            return Err("label empty or too long".to_owned());
        }
        out.push(ascii);
    }
    Ok(out.join("."))
}

/// RFC 3492 Punycode of one label.
fn punycode(label: &str) -> String {
    const BASE: u32 = 36;
    let code_points: Vec<u32> = label.chars().map(u32::from).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (128u32, 0u32, 72u32, basic);
    while (handled as usize) < code_points.len() {
        let next = code_points
            .iter()
            .copied()
            .filter(|&c| c >= n)
            .min()
            .unwrap_or(n);
        delta += (next - n) * (handled + 1);
        n = next;
        for &c in &code_points {
            if c < n {
                delta += 1;
            }
            if c != n {
                continue;
            }
            let mut q = delta;
            let mut k = BASE;
            loop {
                let t = (k.saturating_sub(bias)).clamp(1, 26);
                if q < t {
                    break;
                }
                out.push(punycode_digit(t + (q - t) % (BASE - t)));
                q = (q - t) / (BASE - t);
                k += BASE;
            }
            out.push(punycode_digit(q));
            bias = punycode_bias(delta, handled + 1, handled == basic);
            delta = 0;
            handled += 1;
        }
        delta += 1;
        n += 1;
    }
    out
}

fn punycode_digit(d: u32) -> char {
    char::from(if d < 26 {
        b'a' + d as u8
    } else {
        b'0' + (d - 26) as u8
    })
}

fn punycode_bias(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((36 - 1) * 26) / 2 {
        delta /= 36 - 1;
        k += 36;
    }
    k + (36 * delta) / (delta + 38)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_brackets_case_and_one_trailing_dot() {
        assert_eq!(normalize_host(" [::1] "), "::1");
        assert_eq!(normalize_host("Api.Example.COM."), "api.example.com");
        assert_eq!(normalize_host("a.."), "a.");
    }

    #[test]
    fn inet_aton_forms_are_ip_literals() {
        for ip in [
            "127.0.0.1",
            "0x7f000001",
            "2130706433",
            "0177.0.0.1",
            "0",
            "10.1",
            "0x7f.1",
            "::1",
        ] {
            assert!(is_ip_literal(ip), "{ip}");
        }
        for name in [
            "example.com",
            "0x",
            "08.0.0.1",
            "1.2.3.4.5",
            "256.1.1.1",
            "4294967296",
            "1.2.3.4a",
            "",
        ] {
            assert!(!is_ip_literal(name), "{name}");
        }
    }

    #[test]
    fn routable_follows_bb_plans_name_rules() {
        assert!(routable("api.example.com"));
        assert!(routable("_dmarc.x-y.example"));
        for bad in [
            "localhost",
            "a.localhost",
            "169.254.169.254",
            "-a.example",
            "a-.example",
            "a..b",
            "UPPER.example",
            "",
        ] {
            assert!(!routable(bad), "{bad}");
        }
        assert!(!routable(&format!("{}.example", "a".repeat(64))));
    }

    #[test]
    fn wire_host_brackets_ipv6_and_encodes_unicode() {
        assert_eq!(wire_host("::1").unwrap(), "[::1]");
        assert_eq!(wire_host("api.example.com").unwrap(), "api.example.com");
        assert_eq!(
            wire_host("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(wire_host("münchen.de.").unwrap(), "xn--mnchen-3ya.de.");
        assert_eq!(wire_host("例え.テスト").unwrap(), "xn--r8jz45g.xn--zckzah");
        assert!(wire_host("ü..x").is_err());
    }
}
