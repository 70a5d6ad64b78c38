//! The case files: loading a directory of them, telling a usable case from a broken one, and
//! which cases a forward proxy can be asked about at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::host::normalize_host;
use super::pyjson::Json;
use super::url::SplitUrl;

const HTTP_TRANSPORTS: [&str; 2] = ["fetch_proxy", "http_proxy"];
/// The schema's `requires` entries the sidecar's profile satisfies; a case requiring anything
/// else (MCP, WebSocket, A2A, shell analysis, a DNS-rebinding fixture) is not applicable.
const PROFILE: [&str; 4] = [
    "tls_interception",
    "request_body_scanning",
    "header_scanning",
    "response_scanning",
];
const RESPONSE_CATEGORIES: [&str; 2] = ["response_fetch", "response_mitm"];
/// Detectors the spec makes opt-in and warn-only (sidecar.md: "entropy (opt-in, warn only)"): a
/// case expecting them to block cannot apply to this proxy.
const WARN_ONLY_CAPABILITIES: [&str; 1] = ["entropy"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Block,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
            Verdict::Error => "error",
        }
    }

    /// An expected verdict: `block` or `allow`, nothing else.
    fn expected(text: Option<&str>) -> Option<Verdict> {
        match text {
            Some("block") => Some(Verdict::Block),
            Some("allow") => Some(Verdict::Allow),
            _ => None,
        }
    }
}

/// What the proxy did with a replayed case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub verdict: Verdict,
    pub reason: String,
}

/// A case's result line: PASS, FAIL with what failed, N/A with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    NotApplicable(String),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub data: Json,
    /// The case's `id`, or its file when it has none.
    pub id: String,
    pub expected: Option<Verdict>,
    pub url: Option<String>,
    /// `payload.url` taken apart; an error when it is no URL.
    pub split: Option<Result<SplitUrl, String>>,
    /// The URL's host, normalized; empty when there is none.
    pub host: String,
    pub response_body: Option<String>,
    /// The case is about what comes back (the request itself may reach the upstream).
    pub response_side: bool,
    pub replayed: Option<Replayed>,
    pub outcome: Option<Outcome>,
}

impl Case {
    pub fn new(file: &str, data: Json) -> Case {
        let payload = data.get("payload").filter(|p| p.is_object());
        let url = payload.and_then(|p| p.str_at("url")).map(str::to_owned);
        let split = url.as_deref().map(SplitUrl::parse);
        let host = match &split {
            Some(Ok(split)) => normalize_host(&split.hostname().unwrap_or_default()),
            _ => String::new(),
        };
        let response_body = payload
            .and_then(|p| p.str_at("response_body"))
            .map(str::to_owned);
        let category = data.str_at("category");
        Case {
            id: data
                .str_at("id")
                .filter(|id| !id.is_empty())
                .unwrap_or(file)
                .to_owned(),
            expected: Verdict::expected(data.str_at("expected_verdict")),
            response_side: category.is_some_and(|c| RESPONSE_CATEGORIES.contains(&c))
                || response_body.is_some(),
            url,
            split,
            host,
            response_body,
            data,
            replayed: None,
            outcome: None,
        }
    }

    fn unreadable(file: &str, err: impl std::fmt::Display) -> Case {
        let mut case = Case::new(file, Json::Null);
        case.outcome = Some(Outcome::Fail(format!("unreadable case file: {err}")));
        case
    }

    /// The payload object (`null` when there is none).
    pub fn payload(&self) -> &Json {
        self.data
            .get("payload")
            .filter(|p| p.is_object())
            .unwrap_or(&Json::Null)
    }

    pub fn tags(&self) -> Vec<&str> {
        self.data.strings_at("capability_tags")
    }

    /// The parsed URL of a case that is applicable.
    pub fn split_url(&self) -> &SplitUrl {
        match &self.split {
            Some(Ok(split)) => split,
            _ => unreachable!("only applicable cases, which have a URL, are replayed"),
        }
    }

    /// Why this file is not a usable case, or `None`.
    fn invalid(&self) -> Option<String> {
        if self.data.str_at("id").is_none_or(str::is_empty) {
            return Some("no `id`".to_owned());
        }
        if self.expected.is_none() {
            let raw = self.data.get("expected_verdict").unwrap_or(&Json::Null);
            return Some(format!(
                "expected_verdict {} is neither block nor allow",
                raw.py_repr()
            ));
        }
        if !self.payload().is_object() {
            return Some("no `payload` object".to_owned());
        }
        None
    }

    /// Why this case cannot be replayed as a forward-proxy request, or `None`.
    pub fn not_applicable(&self) -> Option<String> {
        let transport = self.data.str_at("transport");
        if !transport.is_some_and(|t| HTTP_TRANSPORTS.contains(&t)) {
            let transport = self.data.text_at("transport");
            return Some(format!(
                "(transport {transport}: not an HTTP forward-proxy request)"
            ));
        }
        let warn_only: Vec<&str> = self
            .tags()
            .into_iter()
            .filter(|t| WARN_ONLY_CAPABILITIES.contains(t))
            .collect();
        if !warn_only.is_empty() && self.expected == Some(Verdict::Block) {
            return Some(format!(
                "(capability {}: opt-in and warn-only by design, never a block)",
                warn_only.join(", ")
            ));
        }
        let missing = self.missing_requirements();
        if !missing.is_empty() {
            return Some(format!(
                "(requires {}: not in the sidecar's profile)",
                missing.join(", ")
            ));
        }
        let split = match &self.split {
            None => return Some("(no payload.url)".to_owned()),
            Some(Err(why)) => return Some(format!("(payload.url is no URL: {why})")),
            Some(Ok(split)) => split,
        };
        if split.scheme != "http" && split.scheme != "https" {
            let scheme = if split.scheme.is_empty() {
                "missing"
            } else {
                &split.scheme
            };
            return Some(format!(
                "(URL scheme {scheme}: only http and https are proxied)"
            ));
        }
        if self.host.is_empty() {
            return Some("(no host in payload.url)".to_owned());
        }
        None
    }

    fn missing_requirements(&self) -> Vec<String> {
        match self.data.get("requires") {
            Some(Json::Array(items)) => items
                .iter()
                .filter(|r| !r.as_str().is_some_and(|r| PROFILE.contains(&r)))
                .map(Json::py_str)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Every `*.json` below `dir` (sorted, depth first) as a case; also the files that are JSON but
/// no case (the schema), relative to `dir`. A broken case file is a case already failed.
pub fn load_cases(dir: &Path) -> (Vec<Case>, Vec<String>) {
    let mut paths = Vec::new();
    json_files(dir, &mut paths);
    let (mut cases, mut skipped) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, String> = HashMap::new();
    for path in paths {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let data = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Json::parse(&bytes).map_err(|e| e.to_string()))
        {
            Ok(data) => data,
            Err(err) => {
                cases.push(Case::unreadable(&rel, err));
                continue;
            }
        };
        if data.get("id").is_none() || data.get("payload").is_none() {
            skipped.push(rel);
            continue;
        }
        let mut case = Case::new(&rel, data);
        let why = case.invalid().or_else(|| {
            seen.get(&case.id)
                .map(|first| format!("duplicate id (also {first})"))
        });
        match why {
            Some(why) => {
                case.outcome = Some(Outcome::Fail(format!("invalid case ({rel}): {why}")));
            }
            None => {
                seen.insert(case.id.clone(), rel);
            }
        }
        cases.push(case);
    }
    (cases, skipped)
}

/// The `*.json` files of `dir`, sorted, then those of each subdirectory in name order (symbolic
/// links to directories are not followed).
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !entry.file_type().is_ok_and(|t| t.is_symlink()) {
                dirs.push(path);
            }
        } else if entry.file_name().to_string_lossy().ends_with(".json") {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    out.extend(files);
    for sub in dirs {
        json_files(&sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(json: &str) -> Case {
        Case::new("x/case.json", Json::parse(json.as_bytes()).unwrap())
    }

    const GOOD: &str = r#"{"id": "c1", "expected_verdict": "block", "transport": "fetch_proxy",
        "category": "url", "capability_tags": ["url_dlp"], "requires": [],
        "payload": {"method": "GET", "url": "https://Evil.Example.com./x?q=1"}}"#;

    #[test]
    fn a_good_case_is_valid_and_applicable() {
        let c = case(GOOD);
        assert_eq!(c.invalid(), None);
        assert_eq!(c.not_applicable(), None);
        assert_eq!(c.host, "evil.example.com");
        assert_eq!(c.expected, Some(Verdict::Block));
        assert!(!c.response_side);
    }

    #[test]
    fn invalid_cases_say_what_is_wrong() {
        assert_eq!(
            case(r#"{"id": "", "payload": {}}"#).invalid().as_deref(),
            Some("no `id`")
        );
        assert_eq!(
            case(r#"{"id": "a", "expected_verdict": "warn", "payload": {}}"#)
                .invalid()
                .as_deref(),
            Some("expected_verdict 'warn' is neither block nor allow")
        );
        assert_eq!(
            case(r#"{"id": "a", "payload": {}}"#).invalid().as_deref(),
            Some("expected_verdict None is neither block nor allow")
        );
        assert_eq!(
            case(r#"{"id": "a", "expected_verdict": "allow", "payload": "x"}"#)
                .invalid()
                .as_deref(),
            Some("no `payload` object")
        );
    }

    fn not_applicable(edit: (&str, &str)) -> Option<String> {
        case(&GOOD.replace(edit.0, edit.1)).not_applicable()
    }

    #[test]
    fn not_applicable_names_the_reason() {
        let cases = [
            (
                ("\"fetch_proxy\"", "\"mcp_stdio\""),
                "(transport mcp_stdio: not an HTTP forward-proxy request)",
            ),
            (
                ("\"transport\": \"fetch_proxy\",", ""),
                "(transport None: not an HTTP forward-proxy request)",
            ),
            (
                ("[\"url_dlp\"]", "[\"entropy\", \"url_dlp\"]"),
                "(capability entropy: opt-in and warn-only by design, never a block)",
            ),
            (
                (
                    "\"requires\": []",
                    "\"requires\": [\"mcp\", \"header_scanning\", 3]",
                ),
                "(requires mcp, 3: not in the sidecar's profile)",
            ),
            (
                ("https://Evil.Example.com./x?q=1", "ftp://evil.example.com/"),
                "(URL scheme ftp: only http and https are proxied)",
            ),
            (
                ("https://Evil.Example.com./x?q=1", "evil.example.com/x"),
                "(URL scheme missing: only http and https are proxied)",
            ),
            (
                ("https://Evil.Example.com./x?q=1", "http:///x"),
                "(no host in payload.url)",
            ),
            (
                ("https://Evil.Example.com./x?q=1", "http://[::1/x"),
                "(payload.url is no URL: Invalid IPv6 URL)",
            ),
            (("\"url\"", "\"uri\""), "(no payload.url)"),
        ];
        for (edit, why) in cases {
            assert_eq!(not_applicable(edit).as_deref(), Some(why), "{edit:?}");
        }
    }

    #[test]
    fn entropy_only_rules_out_an_expected_block() {
        let allow = GOOD
            .replace("\"block\"", "\"allow\"")
            .replace("[\"url_dlp\"]", "[\"entropy\"]");
        assert_eq!(case(&allow).not_applicable(), None);
    }

    #[test]
    fn a_response_body_or_a_response_category_makes_a_response_side_case() {
        let body = GOOD.replace("\"method\"", "\"response_body\": \"hi\", \"method\"");
        assert!(case(&body).response_side);
        let category = GOOD.replace("\"url\",", "\"response_fetch\",");
        assert!(case(&category).response_side);
    }

    #[test]
    fn load_walks_sorted_skips_non_cases_and_fails_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("b/one.json", GOOD);
        write("b/two.json", GOOD);
        write("a/broken.json", "{");
        write("schema.json", r#"{"$schema": "x"}"#);
        write("z.json", &GOOD.replace("\"c1\"", "\"c2\""));
        write("notes.txt", "not json");
        let (cases, skipped) = load_cases(dir.path());
        assert_eq!(skipped, ["schema.json"]);
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c2", "a/broken.json", "c1", "c1"]);
        assert_eq!(cases[0].outcome, None);
        assert_eq!(cases[1].id, "a/broken.json");
        assert!(matches!(&cases[1].outcome, Some(Outcome::Fail(why))
            if why.starts_with("unreadable case file: ")));
        assert_eq!(cases[2].outcome, None);
        assert_eq!(
            cases[3].outcome,
            Some(Outcome::Fail(
                "invalid case (b/two.json): duplicate id (also b/one.json)".to_owned()
            ))
        );
    }
}
