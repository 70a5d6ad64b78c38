//! A route's `matches` decide on the request the upstream will act on, or refuse it.
//!
//! Servers disagree on what a path means: one decodes `%2F` into a separator, another reads
//! `\` as `/`, Tomcat drops `;params` before resolving `..`, frameworks take the method from
//! `X-HTTP-Method-Override` or `_method=`, some treat `get` as `GET`. A prefix check on a form
//! the upstream reads differently checks nothing, so on a route with `matches` every such form
//! is refused, and the path is matched in its decoded form (`%6Dessages` is `messages`).

use hyper::HeaderMap;

/// Headers with which frameworks replace the request's method.
const METHOD_OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The path as the upstream will read it, or why it cannot be known.
pub fn canonical_path(path: &str) -> Result<String, String> {
    if path.contains('\\') {
        return Err("a backslash in the path (some servers read it as `/`)".into());
    }
    if path.contains(';') {
        return Err("a `;` in the path (path parameters change how servers resolve `..`)".into());
    }
    let decoded = percent_decode(path)?;
    if decoded
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("a `.` or `..` segment in the path".into());
    }
    Ok(decoded)
}

/// Decodes `%XX` once; refuses an encoded separator, an encoded `%` (double encoding), an
/// encoded `;` or control character, and a broken escape.
fn percent_decode(path: &str) -> Result<String, String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let byte = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or("a broken `%` escape in the path")?;
        match byte {
            b'/' | b'\\' => return Err("an encoded `/` or `\\` in the path".into()),
            b'%' => return Err("a double-encoded path (`%25`)".into()),
            b';' => return Err("an encoded `;` in the path".into()),
            0..=0x1f | 0x7f => return Err("an encoded control character in the path".into()),
            _ => out.push(byte),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "a path that does not decode to UTF-8".into())
}

/// Why the method cannot be known: not upper case, or replaced by a header or `_method=`.
pub fn method_ambiguity(method: &str, query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some(format!(
            "method `{method}` is not upper case (servers differ on whether it means {})",
            method.to_ascii_uppercase()
        ));
    }
    if let Some(name) = METHOD_OVERRIDES.iter().find(|h| headers.contains_key(**h)) {
        return Some(format!("the method-override header `{name}`"));
    }
    let overridden = query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let key = kv.split('=').next().unwrap_or("");
            percent_decode(key).is_ok_and(|k| k.eq_ignore_ascii_case("_method"))
        })
    });
    overridden.then(|| "the method-override parameter `_method`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_decode_once() {
        assert_eq!(canonical_path("/v1/messages").unwrap(), "/v1/messages");
        assert_eq!(canonical_path("/v1/%6Dessages").unwrap(), "/v1/messages");
        assert_eq!(canonical_path("/files/a%20b").unwrap(), "/files/a b");
    }

    #[test]
    fn every_ambiguous_form_is_refused() {
        for path in [
            "/public/..;/admin",
            "/public;x=1/",
            "/public/%2e%2e/admin",
            "/public/%2E./admin",
            "/public/./admin",
            "/public%2fadmin",
            "/public%2Fadmin",
            "/public%5cadmin",
            "/public\\admin",
            "/public/%252e%252e/admin",
            "/public/%3b/",
            "/public/%00",
            "/public/%zz",
            "/public/%4",
            "/public/%ff",
        ] {
            assert!(canonical_path(path).is_err(), "{path}");
        }
    }

    #[test]
    fn method_forms() {
        let none = HeaderMap::new();
        assert!(method_ambiguity("GET", Some("a=1"), &none).is_none());
        assert!(method_ambiguity("get", None, &none).is_some());
        assert!(method_ambiguity("Post", None, &none).is_some());
        assert!(method_ambiguity("POST", Some("x=1&_method=DELETE"), &none).is_some());
        assert!(method_ambiguity("POST", Some("%5Fmethod=DELETE"), &none).is_some());
        for name in METHOD_OVERRIDES {
            let mut h = HeaderMap::new();
            h.insert(*name, "DELETE".parse().unwrap());
            assert!(method_ambiguity("POST", None, &h).is_some(), "{name}");
        }
    }
}
