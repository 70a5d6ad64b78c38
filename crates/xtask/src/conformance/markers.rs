//! Splitting the sidecar's log by case: after each case the harness asks the proxy for a name
//! no route holds, which the proxy refuses and logs; the lines between two such markers are
//! the lines of one case, whatever the clocks say.

use std::collections::HashMap;

use super::pyjson::Json;
use super::url::{quote, unquote};

/// Never a route: every marker request is refused.
pub const MARKER_HOST: &str = "egress-conformance-marker.invalid";
const AFTER: &str = "/after/";

/// The sidecar's decision lines by case id.
pub type Segments = HashMap<String, Vec<Json>>;

/// The URL of the marker sent after `case_id`.
pub fn marker_url(case_id: &str) -> String {
    format!("http://{MARKER_HOST}{AFTER}{}", quote(case_id, ""))
}

/// {case id: the sidecar's lines between the previous marker and this case's marker}.
pub fn split_log(log: &[Json]) -> Segments {
    let mut segments = Segments::new();
    let mut current = Vec::new();
    for entry in log {
        if entry.str_at("host") != Some(MARKER_HOST) {
            current.push(entry.clone());
            continue;
        }
        let path = entry
            .truthy_at("path")
            .map(Json::py_str)
            .unwrap_or_default();
        let lines = std::mem::take(&mut current);
        if let Some(id) = path.strip_prefix(AFTER) {
            segments.insert(unquote(id), lines);
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    fn marker(id: &str) -> Json {
        let path = &marker_url(id)["http://".len() + MARKER_HOST.len()..];
        line(&format!(
            r#"{{"verdict": "block", "host": "{MARKER_HOST}", "path": "{path}"}}"#
        ))
    }

    #[test]
    fn lines_between_markers_belong_to_the_case_named_by_the_second() {
        let log = vec![
            line(r#"{"service": "sidecar", "event": "start"}"#),
            line(r#"{"verdict": "block", "host": "a.example", "reason": "r1"}"#),
            marker("case/1 é"),
            marker("case-2"),
            line(r#"{"verdict": "allow", "host": "b.example"}"#),
            line(r#"{"verdict": "block", "host": "b.example"}"#),
            marker("case-3"),
            line(r#"{"verdict": "allow", "host": "after.example"}"#),
        ];
        let segments = split_log(&log);
        assert_eq!(segments.len(), 3);
        assert_eq!(segments["case/1 é"].len(), 2);
        assert!(segments["case-2"].is_empty());
        assert_eq!(segments["case-3"][1].str_at("verdict"), Some("block"));
    }

    #[test]
    fn a_log_without_markers_has_no_segments() {
        let log = vec![line(r#"{"verdict": "block", "host": "a.example"}"#)];
        assert!(split_log(&log).is_empty());
    }

    #[test]
    fn the_marker_url_escapes_the_whole_id() {
        assert_eq!(
            marker_url("a/b c"),
            "http://egress-conformance-marker.invalid/after/a%2Fb%20c"
        );
    }
}
