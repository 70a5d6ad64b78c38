//! A case's payload as the request the harness sends: method, target, headers in the case's
//! order (`Host` first unless the case sets one, `X-Egress-Case` last), body.

use super::cases::Case;
use super::host::wire_host;
use super::pyjson::Json;
use super::url::quote;
use super::wire::{Request, RequestError};

/// The header naming the case; the fixture files what it receives under it.
pub const CASE_HEADER: &str = "X-Egress-Case";
/// Characters a case's path and query keep as they are (everything else is percent-encoded).
const PATH_SAFE: &str = "!#$%&'()*+,/:;=?@[]~";

/// The request of an applicable case, its target in origin form (`/path?query`), and the
/// authority (`host[:port]`) it is for.
pub fn case_request(case: &Case) -> Result<(Request, String), RequestError> {
    let payload = case.payload();
    let split = case.split_url();
    let method = payload
        .str_at("method")
        .filter(|m| !m.is_empty())
        .unwrap_or("GET");
    let host = wire_host(&split.hostname().unwrap_or_default())
        .map_err(|why| RequestError::other("UnicodeError", why))?;
    let port = split
        .port()
        .map_err(|why| RequestError::other("ValueError", why))?;
    let authority = match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    let path = if split.path.is_empty() {
        "/"
    } else {
        &split.path
    };
    let mut target = quote(path, PATH_SAFE);
    if !split.query.is_empty() {
        target = format!("{target}?{}", quote(&split.query, PATH_SAFE));
    }
    let mut headers = case_headers(payload)?;
    let has = |headers: &[(String, Vec<u8>)], name: &str| {
        headers.iter().any(|(n, _)| n.to_lowercase() == name)
    };
    let named_type = has(&headers, "content-type");
    let named_host = has(&headers, "host");
    let body = payload
        .get("body")
        .filter(|b| **b != Json::Null)
        .map(|body| match body {
            Json::String(text) => text.as_bytes().to_vec(),
            other => other.dumps().into_bytes(),
        });
    if let (Some(_), Some(content_type), false) =
        (&body, payload.str_at("content_type"), named_type)
    {
        headers.push(("Content-Type".to_owned(), content_type.as_bytes().to_vec()));
    }
    if !named_host {
        headers.insert(0, ("Host".to_owned(), authority.as_bytes().to_vec()));
    }
    headers.push((CASE_HEADER.to_owned(), case.id.as_bytes().to_vec()));
    let request = Request {
        method: method.to_owned(),
        target,
        headers,
        body,
    };
    Ok((request, authority))
}

/// `payload.headers`: an object (in file order) or a list of `[name, value]` pairs.
fn case_headers(payload: &Json) -> Result<Vec<(String, Vec<u8>)>, RequestError> {
    let pair = |name: &Json, value: &Json| (name.py_str(), value.py_str().into_bytes());
    match payload.truthy_at("headers") {
        None => Ok(Vec::new()),
        Some(Json::Object(entries)) => Ok(entries
            .iter()
            .map(|(name, value)| pair(&Json::String(name.clone()), value))
            .collect()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|item| match item {
                Json::Array(two) if two.len() == 2 => Ok(pair(&two[0], &two[1])),
                _ => Err(RequestError::other(
                    "ValueError",
                    format!(
                        "payload.headers: {} is no [name, value] pair",
                        item.py_repr()
                    ),
                )),
            })
            .collect(),
        Some(other) => Err(RequestError::other(
            "ValueError",
            format!(
                "payload.headers: {} is neither an object nor a list",
                other.py_repr()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(payload: &str) -> Case {
        let text = format!(
            r#"{{"id": "c1", "expected_verdict": "block", "transport": "fetch_proxy", "payload": {payload}}}"#
        );
        Case::new("c1.json", Json::parse(text.as_bytes()).unwrap())
    }

    fn request_of(payload: &str) -> Result<(Request, String), RequestError> {
        case_request(&case(payload))
    }

    fn header_text(request: &Request) -> Vec<String> {
        request
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
            .collect()
    }

    #[test]
    fn host_goes_first_and_the_case_header_last() {
        let (request, authority) = request_of(
            r#"{"method": "POST", "url": "http://API.example.com:8080/v1/x y?q=a b&r=é",
                "headers": {"Z-First": "1", "Authorization": "Bearer t"},
                "body": "k=v", "content_type": "application/x-www-form-urlencoded"}"#,
        )
        .unwrap();
        assert_eq!(authority, "api.example.com:8080");
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/v1/x%20y?q=a%20b&r=%C3%A9");
        assert_eq!(
            header_text(&request),
            [
                "Host: api.example.com:8080",
                "Z-First: 1",
                "Authorization: Bearer t",
                "Content-Type: application/x-www-form-urlencoded",
                "X-Egress-Case: c1",
            ]
        );
        assert_eq!(request.body.as_deref(), Some(&b"k=v"[..]));
    }

    #[test]
    fn a_case_host_or_content_type_header_wins_and_objects_are_sent_as_python_json() {
        let (request, _) = request_of(
            r#"{"url": "https://[::1]/", "headers": [["host", "x"], ["content-type", "a/b"]],
                "body": {"b": 1, "a": [true]}, "content_type": "c/d"}"#,
        )
        .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/");
        assert_eq!(
            header_text(&request),
            ["host: x", "content-type: a/b", "X-Egress-Case: c1"]
        );
        assert_eq!(
            request.body.as_deref(),
            Some(&br#"{"b": 1, "a": [true]}"#[..])
        );
    }

    #[test]
    fn an_ipv6_authority_keeps_its_brackets() {
        let (_, authority) =
            request_of(r#"{"url": "http://[::ffff:127.0.0.1]:80/admin"}"#).unwrap();
        assert_eq!(authority, "[::ffff:127.0.0.1]:80");
    }

    #[test]
    fn a_bad_port_or_header_list_is_a_request_error() {
        let error = |payload: &str| request_of(payload).unwrap_err();
        assert_eq!(
            error(r#"{"url": "http://h:99999/"}"#),
            RequestError::other("ValueError", "Port out of range 0-65535")
        );
        assert!(matches!(
            error(r#"{"url": "http://h/", "headers": [["only-name"]]}"#),
            RequestError::Other {
                class: "ValueError",
                ..
            }
        ));
        assert!(matches!(
            error(r#"{"url": "http://h/", "headers": "X: y"}"#),
            RequestError::Other {
                class: "ValueError",
                ..
            }
        ));
    }
}
