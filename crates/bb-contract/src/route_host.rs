//! Route host names: exact names or `*.` wildcards, never IP literals. One rule for the
//! routes a bottle file declares (the planner) and the routes an operator grants (supervise).

/// What is wrong with a host, and the fix.
pub type Problem = (String, String);

/// Lower-cases, drops one trailing dot, and checks the name.
pub fn normalise(host: &str) -> Result<String, Problem> {
    let host = host.trim().to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_string();
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host.as_str()),
    };
    if name.parse::<std::net::IpAddr>().is_ok()
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return Err((
            format!("`{host}` is an IP address; routes allow host names"),
            "name the host (add `private: true` for a LAN or VPN service)".into(),
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !labels.iter().all(label_ok) {
        return Err((
            format!("`{host}` is not a host name"),
            "write a name such as `api.example.com` or `*.example.com`".into(),
        ));
    }
    if wildcard && labels.len() < 2 {
        return Err((
            format!("`{host}` would allow a whole top-level domain"),
            "give at least two labels after `*.`, such as `*.example.com`".into(),
        ));
    }
    Ok(host)
}

/// Whether the route host `pattern` covers `host`, both normalised: equal, or for
/// `*.example.com` one or more labels below `example.com`, never the apex.
pub fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(apex) => {
            host.len() > apex.len() + 1
                && host.ends_with(apex)
                && host.as_bytes()[host.len() - apex.len() - 1] == b'.'
        }
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_names_below_their_apex_only() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "badexample.com"));
        assert!(covers("api.example.com", "api.example.com"));
        assert!(!covers("api.example.com", "x.api.example.com"));
    }

    #[test]
    fn normalises_case_and_trailing_dot() {
        assert_eq!(normalise("API.Example.COM.").unwrap(), "api.example.com");
        assert_eq!(normalise("*.Example.com").unwrap(), "*.example.com");
        assert_eq!(normalise("localhost").unwrap(), "localhost");
    }

    #[test]
    fn rejects_ip_literals_bad_labels_and_wide_wildcards() {
        for bad in [
            "10.0.0.1", "::1", "[::1]", "*.com", "a..b", "-a.com", "a b.com", "", "*.", "a.com/x",
        ] {
            assert!(normalise(bad).is_err(), "{bad}");
        }
    }
}
