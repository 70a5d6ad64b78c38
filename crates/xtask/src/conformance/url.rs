//! A case URL taken apart the lenient way (RFC 3986 split, no normalisation): `0x7f000001`,
//! `0177.0.0.1` or an IPv6-mapped address must reach the proxy exactly as the case wrote it.
//! The rules are those of Python's `urllib.parse.urlsplit`, which the corpus was written against.

use std::net::Ipv6Addr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitUrl {
    /// Lower-cased; empty when the URL has none.
    pub scheme: String,
    pub netloc: String,
    pub path: String,
    pub query: String,
}

impl SplitUrl {
    /// Splits `url`; an error names what makes it no URL (an unbalanced or bad `[…]` host).
    pub fn parse(url: &str) -> Result<SplitUrl, String> {
        let url: String = url
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        let mut rest = url.as_str();
        let mut split = SplitUrl::default();
        if let Some(colon) = rest.find(':')
            && colon > 0
            && rest.starts_with(|c: char| c.is_ascii_alphabetic())
            && rest[..colon]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            split.scheme = rest[..colon].to_ascii_lowercase();
            rest = &rest[colon + 1..];
        }
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            split.netloc = after[..end].to_owned();
            rest = &after[end..];
            check_brackets(&split.netloc)?;
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        match rest.split_once('?') {
            Some((path, query)) => {
                split.path = path.to_owned();
                split.query = query.to_owned();
            }
            None => split.path = rest.to_owned(),
        }
        Ok(split)
    }

    /// The host (lower-cased, without brackets and port), `None` when empty.
    pub fn hostname(&self) -> Option<String> {
        let (host, _) = self.host_and_port();
        if host.is_empty() {
            return None;
        }
        Some(match host.split_once('%') {
            Some((addr, zone)) => format!("{}%{zone}", addr.to_lowercase()),
            None => host.to_lowercase(),
        })
    }

    /// The port; an error for one that is not a number from 0 to 65535.
    pub fn port(&self) -> Result<Option<u16>, String> {
        let (_, port) = self.host_and_port();
        let Some(port) = port.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "Port could not be cast to integer value as {}",
                super::pyjson::py_repr_str(port)
            ));
        }
        let digits = port.trim_start_matches('0');
        if digits.len() > 5 {
            return Err("Port out of range 0-65535".to_owned());
        }
        let value: u32 = digits.parse().unwrap_or(0);
        u16::try_from(value)
            .map(Some)
            .map_err(|_| "Port out of range 0-65535".to_owned())
    }

    /// The user name of `user[:password]@host`, `None` without `@`.
    pub fn username(&self) -> Option<&str> {
        let (userinfo, _) = self.netloc.rsplit_once('@')?;
        Some(userinfo.split_once(':').map_or(userinfo, |(user, _)| user))
    }

    fn host_and_port(&self) -> (&str, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, h)| h);
        match hostinfo.split_once('[') {
            Some((_, bracketed)) => {
                let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (host, after.split_once(':').map(|(_, port)| port))
            }
            None => match hostinfo.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostinfo, None),
            },
        }
    }
}

fn check_brackets(netloc: &str) -> Result<(), String> {
    let (open, close) = (netloc.contains('['), netloc.contains(']'));
    if open != close {
        return Err("Invalid IPv6 URL".to_owned());
    }
    if !open {
        return Ok(());
    }
    let inside = netloc
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map_or("", |(host, _)| host);
    if let Some(future) = inside.strip_prefix('v') {
        let ok = future.split_once('.').is_some_and(|(version, rest)| {
            !version.is_empty()
                && version.bytes().all(|b| b.is_ascii_hexdigit())
                && !rest.is_empty()
        });
        return if ok {
            Ok(())
        } else {
            Err("IPvFuture address is invalid".to_owned())
        };
    }
    let address = inside.split_once('%').map_or(inside, |(addr, _)| addr);
    if address.parse::<Ipv6Addr>().is_ok() {
        Ok(())
    } else if address.parse::<std::net::Ipv4Addr>().is_ok() {
        Err("An IPv4 address cannot be in brackets".to_owned())
    } else {
        Err(format!(
            "{} does not appear to be an IPv4 or IPv6 address",
            super::pyjson::py_repr_str(inside)
        ))
    }
}

/// Percent-encodes every byte of `text` except ASCII letters, digits, `_.-~` and `safe`.
pub fn quote(text: &str, safe: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let c = byte as char;
        if c.is_ascii_alphanumeric() || "_.-~".contains(c) || (byte.is_ascii() && safe.contains(c))
        {
            out.push(c);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (bad ones stay as they are); invalid UTF-8 becomes U+FFFD.
pub fn unquote(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> SplitUrl {
        SplitUrl::parse(url).unwrap()
    }

    #[test]
    fn splits_scheme_netloc_path_and_query_without_normalising() {
        let s = split("HTTP://User:pw@0x7F000001:8080/a/../b?q=1&r#frag");
        assert_eq!(s.scheme, "http");
        assert_eq!(s.netloc, "User:pw@0x7F000001:8080");
        assert_eq!(s.path, "/a/../b");
        assert_eq!(s.query, "q=1&r");
        assert_eq!(s.hostname().as_deref(), Some("0x7f000001"));
        assert_eq!(s.port(), Ok(Some(8080)));
        assert_eq!(s.username(), Some("User"));
    }

    #[test]
    fn bracketed_hosts_lose_their_brackets_and_keep_the_port_after_them() {
        let s = split("http://[::FFFF:127.0.0.1]:80/admin");
        assert_eq!(s.hostname().as_deref(), Some("::ffff:127.0.0.1"));
        assert_eq!(s.port(), Ok(Some(80)));
        assert_eq!(s.username(), None);
    }

    #[test]
    fn bad_brackets_and_bad_ports_are_errors() {
        assert_eq!(
            SplitUrl::parse("http://[::1/x"),
            Err("Invalid IPv6 URL".to_owned())
        );
        assert!(SplitUrl::parse("http://[127.0.0.1]/").is_err());
        assert!(SplitUrl::parse("http://[nonsense]/").is_err());
        assert_eq!(
            split("http://h:99999/").port(),
            Err("Port out of range 0-65535".to_owned())
        );
        assert!(split("http://h:8o/").port().is_err());
        assert_eq!(split("http://h:/").port(), Ok(None));
    }

    #[test]
    fn no_scheme_or_no_host_is_empty() {
        let s = split("evil.example.com/path");
        assert_eq!(s.scheme, "");
        assert_eq!(s.hostname(), None);
        assert_eq!(s.path, "evil.example.com/path");
        assert_eq!(split("file:///etc/passwd").hostname(), None);
        assert_eq!(split(" \thttps://a.b/\n").scheme, "https");
    }

    #[test]
    fn quote_keeps_the_safe_set_and_escapes_the_rest() {
        let safe = "!#$%&'()*+,/:;=?@[]~";
        assert_eq!(quote("/a b/é%41", safe), "/a%20b/%C3%A9%41");
        assert_eq!(quote("case/1 x", ""), "case%2F1%20x");
    }

    #[test]
    fn unquote_decodes_valid_escapes_only() {
        assert_eq!(unquote("case%2F1%20x"), "case/1 x");
        assert_eq!(unquote("100%zz%4"), "100%zz%4");
        assert_eq!(unquote("%C3%A9%FF"), "é\u{fffd}");
    }
}
