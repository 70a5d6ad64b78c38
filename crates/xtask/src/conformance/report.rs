//! The report on stdout: one line per case (a FAIL followed by the sidecar's decision lines for
//! it) and the closing count.

use super::cases::{Case, Outcome};
use super::host::normalize_host;
use super::markers::{Segments, split_log};
use super::pyjson::Json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
}

/// Prints the report; returns the counts.
pub fn print_report(cases: &[Case], log: &[Json]) -> Counts {
    let (lines, counts) = report(cases, log);
    for line in lines {
        println!("{line}");
    }
    counts
}

/// The report's lines and counts.
pub fn report(cases: &[Case], log: &[Json]) -> (Vec<String>, Counts) {
    let segments = split_log(log);
    let mut counts = Counts::default();
    let mut lines = Vec::new();
    for case in cases {
        let expected = case.expected.map_or("?", |v| v.as_str());
        let got = case
            .replayed
            .as_ref()
            .map_or("none", |r| r.verdict.as_str());
        match &case.outcome {
            Some(Outcome::NotApplicable(why)) => {
                counts.not_applicable += 1;
                lines.push(format!("N/A {} {why}", case.id));
            }
            Some(Outcome::Pass) => {
                counts.passed += 1;
                lines.push(format!("PASS {} expected={expected} got={got}", case.id));
            }
            Some(Outcome::Fail(detail)) => {
                counts.failed += 1;
                lines.push(format!(
                    "FAIL {} expected={expected} got={got} {detail}",
                    case.id
                ));
                if case.replayed.is_some() {
                    lines.extend(decision_lines(case, &segments, log));
                }
            }
            None => unreachable!("every case is decided before the report"),
        }
    }
    lines.push(format!(
        "{} passed, {} failed, {} not applicable",
        counts.passed, counts.failed, counts.not_applicable
    ));
    (lines, counts)
}

/// What the sidecar logged for a failed case: its segment, or without markers every line for
/// its host.
fn decision_lines(case: &Case, segments: &Segments, log: &[Json]) -> Vec<String> {
    let (lines, what): (Vec<&Json>, String) = if segments.is_empty() {
        let lines = log
            .iter()
            .filter(|e| {
                let host = e.truthy_at("host").map(Json::py_str).unwrap_or_default();
                normalize_host(&host) == case.host
            })
            .collect();
        let what = format!(
            "for {} (no marker lines in the log to split it by case)",
            case.host
        );
        (lines, what)
    } else {
        let lines = segments
            .get(&case.id)
            .map(|segment| {
                segment
                    .iter()
                    .filter(|e| e.str_at("event") != Some("start"))
                    .collect()
            })
            .unwrap_or_default();
        (lines, "during this case".to_owned())
    };
    if lines.is_empty() {
        return vec![format!("    sidecar: no log line {what}")];
    }
    lines.into_iter().map(decision_line).collect()
}

fn decision_line(e: &Json) -> String {
    if e.str_at("service") == Some("sidecar") {
        return format!(
            "    sidecar event {}: {}",
            e.text_at("event"),
            e.text_at("message")
        );
    }
    let detector = e
        .truthy_at("detector")
        .map(|d| format!(" [{}]", d.py_str()))
        .unwrap_or_default();
    let path = e.truthy_at("path").map(Json::py_str).unwrap_or_default();
    format!(
        "    sidecar {} {} {}{path}{detector}: {}",
        e.text_at("verdict"),
        e.text_at("method"),
        e.text_at("host"),
        e.text_at("reason")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::cases::{Replayed, Verdict};
    use crate::conformance::markers::MARKER_HOST;

    fn json(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    fn case(id: &str, outcome: Outcome, got: Option<Verdict>) -> Case {
        let text = format!(
            r#"{{"id": "{id}", "expected_verdict": "block", "transport": "fetch_proxy",
                "payload": {{"url": "https://evil.example.com/x"}}}}"#
        );
        let mut case = Case::new(&format!("{id}.json"), json(&text));
        case.outcome = Some(outcome);
        case.replayed = got.map(|verdict| Replayed {
            verdict,
            reason: String::new(),
        });
        case
    }

    #[test]
    fn one_line_per_case_then_the_count() {
        let cases = vec![
            case("p", Outcome::Pass, Some(Verdict::Block)),
            case("n", Outcome::NotApplicable("(why)".to_owned()), None),
            case(
                "f",
                Outcome::Fail("invalid case (f.json): no `id`".to_owned()),
                None,
            ),
        ];
        let (lines, counts) = report(&cases, &[]);
        assert_eq!(
            lines,
            [
                "PASS p expected=block got=block",
                "N/A n (why)",
                "FAIL f expected=block got=none invalid case (f.json): no `id`",
                "1 passed, 1 failed, 1 not applicable",
            ]
        );
        assert_eq!(
            counts,
            Counts {
                passed: 1,
                failed: 1,
                not_applicable: 1
            }
        );
    }

    #[test]
    fn a_replayed_failure_shows_its_segment_without_start_events() {
        let cases = vec![case(
            "f",
            Outcome::Fail("verdict: 200 from the fixture".to_owned()),
            Some(Verdict::Allow),
        )];
        let log = vec![
            json(r#"{"service": "sidecar", "event": "start", "message": "up"}"#),
            json(r#"{"service": "sidecar", "event": "reload", "message": "new routes"}"#),
            json(
                r#"{"verdict": "allow", "method": "CONNECT", "host": "evil.example.com", "reason": "route"}"#,
            ),
            json(
                r#"{"verdict": "block", "method": "GET", "host": "evil.example.com", "path": "/x", "detector": "known_secrets", "reason": "key"}"#,
            ),
            json(&format!(
                r#"{{"verdict": "block", "host": "{MARKER_HOST}", "path": "/after/f"}}"#
            )),
        ];
        let (lines, _) = report(&cases, &log);
        assert_eq!(
            lines[1..4],
            [
                "    sidecar event reload: new routes",
                "    sidecar allow CONNECT evil.example.com: route",
                "    sidecar block GET evil.example.com/x [known_secrets]: key",
            ]
        );
    }

    #[test]
    fn without_markers_a_failure_shows_its_hosts_lines() {
        let cases = vec![case(
            "f",
            Outcome::Fail("verdict: x".to_owned()),
            Some(Verdict::Error),
        )];
        let log = vec![json(r#"{"verdict": "block", "host": "other.example"}"#)];
        let (lines, _) = report(&cases, &log);
        assert_eq!(
            lines[1],
            "    sidecar: no log line for evil.example.com (no marker lines in the log to split it by case)"
        );
        let log = vec![json(
            r#"{"verdict": "block", "method": "GET", "host": "Evil.Example.com."}"#,
        )];
        let (lines, _) = report(&cases, &log);
        assert_eq!(lines[1], "    sidecar block GET Evil.Example.com.: None");
    }
}
