//! Host names as routes name them: normalised, checked, and matched against a route's host
//! pattern (exact, or `*.apex` for the names below it).

use std::net::IpAddr;

/// Lower case, without IPv6 brackets and without one trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    let h = h.strip_suffix('.').unwrap_or(h);
    h.to_ascii_lowercase()
}

/// A normalised host name or IP literal: labels of letters, digits, `-` and `_`, none empty.
pub fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether `host` is allowed by the route host `pattern`: equal (case-insensitive, trailing dot
/// ignored), or for `*.example.com` one or more labels below `example.com`, never the apex.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalize_host(pattern);
    let host = normalize_host(host);
    if !valid_host(&host) {
        return false;
    }
    bb_contract::route_host::covers(&pattern, &host)
}

/// How specific a matching pattern is: an exact host beats every wildcard, a longer apex beats
/// a shorter one.
pub(super) fn specificity(pattern: &str) -> usize {
    match pattern.strip_prefix("*.") {
        Some(apex) => apex.len(),
        None => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_hosts_ignore_case_and_trailing_dot() {
        assert!(host_matches("api.example.com", "API.Example.COM"));
        assert!(host_matches("api.example.com", "api.example.com."));
        assert!(host_matches("API.example.com.", "api.example.com"));
        assert!(!host_matches("api.example.com", "example.com"));
        assert!(!host_matches("api.example.com", "xapi.example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil"));
        assert!(!host_matches("api.example.com", "api.example.com.."));
    }

    #[test]
    fn wildcard_matches_labels_below_the_apex_never_the_apex() {
        let p = "*.example.com";
        assert!(host_matches(p, "a.example.com"));
        assert!(host_matches(p, "a.b.example.com"));
        assert!(host_matches(p, "A.Example.com."));
        assert!(!host_matches(p, "example.com"));
        assert!(!host_matches(p, "example.com."));
        assert!(!host_matches(p, "aexample.com"));
        assert!(!host_matches(p, ".example.com"));
        assert!(!host_matches(p, "a..example.com"));
        assert!(!host_matches(p, "example.com.evil"));
        assert!(!host_matches(p, "a.example.co"));
    }

    #[test]
    fn ip_literals_and_brackets() {
        assert!(host_matches("10.0.0.5", "10.0.0.5"));
        assert!(host_matches("::1", "[::1]"));
        assert!(!host_matches("10.0.0.5", "10.0.0.50"));
    }
}
