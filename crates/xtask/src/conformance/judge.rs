//! Verdicts: what an answer means (block, allow, error), whether the case passed (the verdict,
//! the upstream never reached by a blocked request, the right refuser named in the sidecar's
//! decision line), and the `--sabotage` self-check.

use std::collections::HashMap;

use super::cases::{Case, Outcome, Replayed, Verdict};
use super::host::normalize_host;
use super::markers::Segments;
use super::pyjson::Json;

/// What came back for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// The proxy refused the `CONNECT` itself (no tunnel).
    pub connect_refused: bool,
}

/// block = 403/413 with a `blocked:` body, or a refused `CONNECT` with 403; allow = 200 from
/// the fixture (its body tells whether it was altered on the way); anything else is an error.
pub fn classify(answer: &Answer, expected_body: &str) -> Replayed {
    let text = String::from_utf8_lossy(&answer.body);
    let first = first_line(&text);
    let (status, refused) = (answer.status, answer.connect_refused);
    let where_ = if refused { "CONNECT " } else { "" };
    let (verdict, reason) = if matches!(status, 403 | 413) && text.starts_with("blocked:") {
        (Verdict::Block, format!("{where_}{status}: {first}"))
    } else if refused && status == 403 {
        (
            Verdict::Block,
            format!("CONNECT 403: {}", or_no_body(first)),
        )
    } else if status == 200 && !refused {
        let reason = if text == expected_body {
            "200 from the fixture"
        } else {
            "200, but the body is not the fixture's (altered on the way)"
        };
        (Verdict::Allow, reason.to_owned())
    } else {
        let shown: String = first.chars().take(200).collect();
        let mut reason = format!("{where_}HTTP {status}: {}", or_no_body(&shown));
        if matches!(status, 403 | 413) {
            reason.push_str(" (a refusal without a `blocked:` body)");
        }
        (Verdict::Error, reason)
    };
    Replayed { verdict, reason }
}

fn or_no_body(text: &str) -> &str {
    if text.is_empty() { "(no body)" } else { text }
}

/// The first line of the trimmed text (Python's `strip().splitlines()[0]`).
fn first_line(text: &str) -> &str {
    let is_space = |c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c);
    let line_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let text = text.trim_matches(is_space);
    text.split(line_break).next().unwrap_or_default()
}

/// The detector tags that make a case a DLP case.
pub const DLP_TAGS: [&str; 4] = [
    "url_dlp",
    "header_dlp",
    "request_body_dlp",
    "encoding_evasion",
];

/// What must have refused a case, by its capability tags, and how its decision line shows it.
struct Refuser {
    tags: &'static [&'static str],
    what: &'static str,
    named_in: fn(&Json) -> bool,
}

const REFUSERS: [Refuser; 4] = [
    Refuser {
        tags: &DLP_TAGS,
        what: "a DLP detector",
        named_in: |e| {
            matches!(
                e.str_at("detector"),
                Some("token_patterns" | "known_secrets")
            )
        },
    },
    Refuser {
        tags: &["response_injection"],
        what: "the injection detector",
        named_in: |e| e.str_at("detector") == Some("injection"),
    },
    Refuser {
        tags: &["ssrf", "ssrf_bypass"],
        what: "the address guard",
        named_in: |e| {
            let reason = e.text_at("reason");
            [
                "address",
                "link-local",
                "loopback",
                "private",
                "IP address",
                "routes allow",
            ]
            .iter()
            .any(|w| reason.contains(w))
        },
    },
    Refuser {
        tags: &["domain_blocklist"],
        what: "the allowlist",
        named_in: |e| e.text_at("reason").contains("not in the allowlist"),
    },
];

/// `None` when a block decision of the case's segment names what its tags expect, else why
/// not. A case without one of those tags needs any block decision.
fn refused_for_the_right_reason(tags: &[&str], segment: &[Json]) -> Option<String> {
    let blocks: Vec<&Json> = segment
        .iter()
        .filter(|e| e.str_at("verdict") == Some("block"))
        .collect();
    let Some(refuser) = REFUSERS
        .iter()
        .find(|r| r.tags.iter().any(|t| tags.contains(t)))
    else {
        return blocks
            .is_empty()
            .then(|| "no block decision in the sidecar's log".to_owned());
    };
    if blocks.iter().any(|e| (refuser.named_in)(e)) {
        return None;
    }
    let seen: Vec<String> = blocks.iter().map(|e| e.text_at("reason")).collect();
    let seen = if seen.is_empty() {
        "no block decision".to_owned()
    } else {
        seen.join("; ")
    };
    Some(format!("refused, but not by {}: {seen}", refuser.what))
}

/// Decides every replayed case that has no outcome yet, from its verdict, the fixture's
/// request log and (when the log has markers) the sidecar's decision lines.
pub fn judge(cases: &mut [Case], requests: &[Json], segments: Option<&Segments>) {
    let mut by_case: HashMap<&str, Vec<&Json>> = HashMap::new();
    let mut unlabelled = Vec::new();
    for entry in requests {
        match entry.truthy_at("case") {
            Some(Json::String(id)) => by_case.entry(id).or_default().push(entry),
            Some(_) => {}
            None => unlabelled.push(entry),
        }
    }
    for case in cases.iter_mut().filter(|c| c.outcome.is_none()) {
        case.outcome = Some(outcome(case, &by_case, &unlabelled, segments));
    }
}

fn outcome(
    case: &Case,
    by_case: &HashMap<&str, Vec<&Json>>,
    unlabelled: &[&Json],
    segments: Option<&Segments>,
) -> Outcome {
    let replayed = case.replayed.as_ref();
    if replayed.map(|r| r.verdict) != case.expected {
        let reason = replayed.map_or("", |r| r.reason.as_str());
        return Outcome::Fail(format!("verdict: {reason}"));
    }
    if case.expected != Some(Verdict::Block) {
        return Outcome::Pass;
    }
    if !case.response_side
        && let Some(hit) = upstream_hit(case, by_case, unlabelled)
    {
        let scheme = hit
            .truthy_at("scheme")
            .map(|s| format!("{}://", s.py_str()))
            .unwrap_or_default();
        return Outcome::Fail(format!(
            "upstream: the fixture received {} {scheme}{}{} although the proxy answered block",
            hit.text_at("method"),
            hit.text_at("host"),
            hit.text_at("path"),
        ));
    }
    if let Some(segments) = segments {
        let segment = segments.get(&case.id).map_or(&[][..], Vec::as_slice);
        if let Some(why) = refused_for_the_right_reason(&case.tags(), segment) {
            return Outcome::Fail(format!("reason: {why}"));
        }
    }
    Outcome::Pass
}

/// The first request the fixture got for this case: labelled with its id, or unlabelled for
/// its host and path.
fn upstream_hit<'a>(
    case: &Case,
    by_case: &HashMap<&str, Vec<&'a Json>>,
    unlabelled: &[&'a Json],
) -> Option<&'a Json> {
    if let Some(hit) = by_case.get(case.id.as_str()).and_then(|hits| hits.first()) {
        return Some(hit);
    }
    let split = case.split_url();
    let path = if split.path.is_empty() {
        "/"
    } else {
        &split.path
    };
    unlabelled.iter().copied().find(|e| {
        let host = e.truthy_at("host").map(Json::py_str).unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let got_path = e.truthy_at("path").map(Json::py_str).unwrap_or_default();
        normalize_host(host) == case.host && got_path.split('?').next() == Some(path)
    })
}

/// With DLP switched off, every applicable case a detector must block has to fail: a case that
/// still passes does not test what it claims. The lines to print, and whether the check holds.
pub fn self_check(cases: &[Case]) -> (Vec<String>, bool) {
    let detector_cases: Vec<&Case> = cases
        .iter()
        .filter(|c| matches!(c.outcome, Some(Outcome::Pass | Outcome::Fail(_))))
        .filter(|c| c.expected == Some(Verdict::Block))
        .filter(|c| {
            c.tags()
                .iter()
                .any(|t| DLP_TAGS.contains(t) || *t == "response_injection")
        })
        .collect();
    let still: Vec<&str> = detector_cases
        .iter()
        .filter(|c| c.outcome == Some(Outcome::Pass))
        .map(|c| c.id.as_str())
        .collect();
    let mut lines = vec![format!(
        "self-check: with DLP off, {} of {} detector cases now fail",
        detector_cases.len() - still.len(),
        detector_cases.len()
    )];
    lines.extend(
        still
            .iter()
            .map(|id| format!("self-check: {id} still passes with DLP off")),
    );
    (lines, !detector_cases.is_empty() && still.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, connect_refused: bool) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            connect_refused,
        }
    }

    fn classified(status: u16, body: &str, refused: bool) -> (Verdict, String) {
        let r = classify(&answer(status, body, refused), "ok");
        (r.verdict, r.reason)
    }

    #[test]
    fn classify_tells_block_allow_and_error() {
        let block = |r: &str| (Verdict::Block, r.to_owned());
        let error = |r: &str| (Verdict::Error, r.to_owned());
        assert_eq!(
            classified(403, "blocked: secret in URL\nmore", false),
            block("403: blocked: secret in URL")
        );
        assert_eq!(
            classified(413, "blocked: body too large", true),
            block("CONNECT 413: blocked: body too large")
        );
        assert_eq!(classified(403, "", true), block("CONNECT 403: (no body)"));
        assert_eq!(
            classified(403, "  nope\r\n", true),
            block("CONNECT 403: nope")
        );
        assert_eq!(
            classified(200, "ok", false),
            (Verdict::Allow, "200 from the fixture".to_owned())
        );
        assert_eq!(
            classified(200, "ok, altered", false).1,
            "200, but the body is not the fixture's (altered on the way)"
        );
        assert_eq!(
            classified(403, "denied", false),
            error("HTTP 403: denied (a refusal without a `blocked:` body)")
        );
        assert_eq!(classified(502, "", false), error("HTTP 502: (no body)"));
        assert_eq!(
            classified(200, "", true),
            error("CONNECT HTTP 200: (no body)")
        );
        let long = "x".repeat(300);
        assert_eq!(
            classified(500, &long, false).1.len(),
            "HTTP 500: ".len() + 200
        );
    }

    fn json(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_right_refuser_must_be_named() {
        let dlp =
            json(r#"{"verdict": "block", "detector": "token_patterns", "reason": "aws key"}"#);
        let guard = json(r#"{"verdict": "block", "reason": "loopback address"}"#);
        let allow = json(r#"{"verdict": "allow", "detector": "known_secrets"}"#);
        assert_eq!(
            refused_for_the_right_reason(&["url_dlp"], &[guard.clone(), dlp.clone()]),
            None
        );
        assert_eq!(
            refused_for_the_right_reason(&["header_dlp"], &[guard.clone(), allow.clone()]),
            Some("refused, but not by a DLP detector: loopback address".to_owned())
        );
        assert_eq!(
            refused_for_the_right_reason(&["ssrf"], std::slice::from_ref(&allow)),
            Some("refused, but not by the address guard: no block decision".to_owned())
        );
        assert_eq!(
            refused_for_the_right_reason(&["ssrf_bypass"], &[guard]),
            None
        );
        assert_eq!(refused_for_the_right_reason(&["other"], &[dlp]), None);
        assert_eq!(
            refused_for_the_right_reason(&["other"], &[allow]),
            Some("no block decision in the sidecar's log".to_owned())
        );
        let listed =
            json(r#"{"verdict": "block", "reason": "evil.example is not in the allowlist"}"#);
        assert_eq!(
            refused_for_the_right_reason(&["domain_blocklist"], &[listed]),
            None
        );
    }

    fn case(id: &str, expected: &str, tags: &str, url: &str) -> Case {
        let text = format!(
            r#"{{"id": "{id}", "expected_verdict": "{expected}", "transport": "fetch_proxy",
                "capability_tags": {tags}, "payload": {{"url": "{url}"}}}}"#
        );
        Case::new(&format!("{id}.json"), json(&text))
    }

    fn replayed(mut case: Case, verdict: Verdict) -> Case {
        case.replayed = Some(Replayed {
            verdict,
            reason: format!("{} reason", verdict.as_str()),
        });
        case
    }

    #[test]
    fn judge_checks_verdict_upstream_and_reason() {
        let mut cases = vec![
            replayed(
                case("wrong", "block", "[]", "http://a.example/"),
                Verdict::Allow,
            ),
            replayed(
                case("leaked", "block", "[]", "http://b.example/p?q"),
                Verdict::Block,
            ),
            replayed(
                case("unlabelled", "block", "[]", "http://c.example/p"),
                Verdict::Block,
            ),
            replayed(
                case("no-reason", "block", r#"["url_dlp"]"#, "http://d.example/"),
                Verdict::Block,
            ),
            replayed(
                case("good", "block", r#"["url_dlp"]"#, "http://e.example/"),
                Verdict::Block,
            ),
            replayed(
                case("allowed", "allow", "[]", "http://f.example/"),
                Verdict::Allow,
            ),
        ];
        let requests = vec![
            json(
                r#"{"case": "leaked", "method": "GET", "host": "b.example", "path": "/p?q", "scheme": "http"}"#,
            ),
            json(r#"{"case": null, "method": "POST", "host": "C.example:80", "path": "/p?x=1"}"#),
            json(r#"{"case": "allowed", "method": "GET", "host": "f.example", "path": "/"}"#),
        ];
        let segments: Segments = [
            (
                "no-reason",
                r#"{"verdict": "block", "reason": "private address"}"#,
            ),
            (
                "good",
                r#"{"verdict": "block", "detector": "known_secrets", "reason": "k"}"#,
            ),
            ("unlabelled", r#"{"verdict": "block", "reason": "x"}"#),
        ]
        .into_iter()
        .map(|(id, line)| (id.to_owned(), vec![json(line)]))
        .collect();
        judge(&mut cases, &requests, Some(&segments));
        let outcomes: Vec<Outcome> = cases.iter().map(|c| c.outcome.clone().unwrap()).collect();
        assert_eq!(
            outcomes[0],
            Outcome::Fail("verdict: allow reason".to_owned())
        );
        assert_eq!(
            outcomes[1],
            Outcome::Fail(
                "upstream: the fixture received GET http://b.example/p?q although the proxy answered block"
                    .to_owned()
            )
        );
        assert_eq!(
            outcomes[2],
            Outcome::Fail(
                "upstream: the fixture received POST C.example:80/p?x=1 although the proxy answered block"
                    .to_owned()
            )
        );
        assert_eq!(
            outcomes[3],
            Outcome::Fail("reason: refused, but not by a DLP detector: private address".to_owned())
        );
        assert_eq!(outcomes[4], Outcome::Pass);
        assert_eq!(outcomes[5], Outcome::Pass);
    }

    #[test]
    fn without_markers_the_reason_is_not_checked_and_decided_cases_stay() {
        let mut decided = case("na", "block", "[]", "http://a.example/");
        decided.outcome = Some(Outcome::NotApplicable("(why)".to_owned()));
        let mut cases = vec![
            replayed(
                case("dlp", "block", r#"["url_dlp"]"#, "http://a.example/"),
                Verdict::Block,
            ),
            decided,
        ];
        judge(&mut cases, &[], None);
        assert_eq!(cases[0].outcome, Some(Outcome::Pass));
        assert_eq!(
            cases[1].outcome,
            Some(Outcome::NotApplicable("(why)".to_owned()))
        );
    }

    #[test]
    fn self_check_needs_every_detector_case_to_fail() {
        let with = |id: &str, tags: &str, outcome: Outcome| {
            let mut c = case(id, "block", tags, "http://a.example/");
            c.outcome = Some(outcome);
            c
        };
        let failed = Outcome::Fail("verdict: x".to_owned());
        let all_fail = vec![
            with("a", r#"["url_dlp"]"#, failed.clone()),
            with("b", r#"["response_injection"]"#, failed.clone()),
            with("ssrf", r#"["ssrf"]"#, Outcome::Pass),
        ];
        let (lines, ok) = self_check(&all_fail);
        assert!(ok);
        assert_eq!(
            lines,
            ["self-check: with DLP off, 2 of 2 detector cases now fail"]
        );
        let one_passes = vec![
            with("a", r#"["url_dlp"]"#, failed),
            with("c", r#"["header_dlp"]"#, Outcome::Pass),
        ];
        let (lines, ok) = self_check(&one_passes);
        assert!(!ok);
        assert_eq!(lines[1], "self-check: c still passes with DLP off");
        let (_, ok) = self_check(&[with("ssrf", r#"["ssrf"]"#, Outcome::Pass)]);
        assert!(!ok, "no detector case at all proves nothing");
    }
}
