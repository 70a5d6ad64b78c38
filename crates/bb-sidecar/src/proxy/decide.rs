//! The decision vocabulary: [`Decide`] writes the decision line of one request, [`Refusal`]
//! is the one way a request is refused (every refusal goes through [`Decide::refuse`]: the
//! block line, the status, the `blocked: <reason>` answer and the drain of an unread body),
//! [`Notes`] are what the content checks noted on an allowed request, and the proxy's own
//! short answers.

use bb_contract::plan::Route;
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::body::{collect_capped, full};
use super::{Body, BoxError, Target};
use crate::denial::Denial;
use crate::echo::OnFound;
use crate::inspect::{Finding, Part};
use crate::log::{DecisionLine, Log, Rule, Service};

/// Most of a refused request's body read off and dropped while the refusal is answered: an
/// HTTP/2 client still sending would otherwise see its stream reset instead of the 403.
const DRAIN_CAP: u64 = 1 << 20;

/// What the decision line of one request names: host, method and path. Every request except
/// health checks writes exactly one.
#[derive(Clone)]
pub(crate) struct Decide {
    log: Log,
    host: Option<String>,
    method: String,
    path: Option<String>,
    /// The host of the route that took the request, once one did: what a refusal's key names.
    route: Option<String>,
}

impl Decide {
    pub(crate) fn new(log: &Log, host: Option<&str>, method: &str, path: Option<&str>) -> Decide {
        Decide {
            log: log.clone(),
            host: host.map(str::to_owned),
            method: method.to_owned(),
            path: path.map(str::to_owned),
            route: None,
        }
    }

    /// Notes the route that took the request.
    pub(crate) fn routed(&mut self, route: &Route) {
        self.route = Some(route.host.clone());
    }

    /// The request's decision line, to be finished with a detector and a verdict.
    pub(crate) fn line(&self) -> DecisionLine<'_, '_> {
        self.log
            .decision(Service::Egress)
            .host(self.host.as_deref())
            .method(self.method.as_str())
            .path(self.path.as_deref())
    }

    /// The allow line: `base`, then what the content checks noted.
    pub(crate) fn allow(&self, base: String, notes: &Notes) {
        self.line()
            .detector(notes.detector.as_deref())
            .allow(&notes.reason(base));
    }

    /// Writes a block line by `rule`, about the request's route (its host when none took it).
    pub(crate) fn block(&self, rule: Rule, detector: Option<&str>, reason: &str) {
        self.block_at(rule, None, detector, reason);
    }

    fn block_at(&self, rule: Rule, at: Option<&str>, detector: Option<&str>, reason: &str) {
        let at = at
            .or(self.route.as_deref())
            .or(self.host.as_deref())
            .unwrap_or_default();
        self.line()
            .detector(detector)
            .block(rule.refused_by(at), reason);
    }

    /// Writes the block line and answers the refusal, draining the body it holds.
    pub(crate) fn refuse(&self, refusal: Refusal) -> Response<Body> {
        let Refusal {
            status,
            reason,
            detector,
            rule,
            at,
            unread,
            ..
        } = refusal;
        self.block_at(rule, at.as_deref(), detector.as_deref(), &reason);
        if let Some(drain) = unread {
            tokio::spawn(drain);
        }
        let label = if status == StatusCode::BAD_REQUEST {
            "bad request"
        } else {
            "blocked"
        };
        text(status, &format!("{label}: {}\n", one_line(&reason)))
    }

    /// The allow line of a request whose upstream failed, and 502.
    pub(crate) fn upstream_failed(
        &self,
        route: &Route,
        target: &Target,
        why: &str,
    ) -> Response<Body> {
        self.line()
            .allow(&format!("route {}; upstream failed: {why}", route.host));
        text(
            StatusCode::BAD_GATEWAY,
            &format!(
                "bad gateway: {}:{}: {}\n",
                target.host,
                target.port,
                one_line(why)
            ),
        )
    }

    /// Writes a second line when a streamed response turns out to carry a credential.
    pub(crate) fn later_masked(&self) -> OnFound {
        let d = self.clone();
        Box::new(move |slots| {
            d.line().detector("known_secrets").allow(&format!(
                "the response body carried the credential of {}; masked",
                slots.join(", ")
            ));
        })
    }
}

/// How a request is refused: the status, the reason (of the answer and of the block line), the
/// rule that decided and what it is about (the route's host when not given), the DLP detector
/// that decided, and the agent's body when it is still unread.
#[must_use = "a refusal is answered by Decide::refuse"]
pub(crate) struct Refusal {
    status: StatusCode,
    reason: String,
    rule: Rule,
    at: Option<String>,
    detector: Option<String>,
    /// What a content check found, and where (`body`, `header x-key`): what a hold names.
    finding: Option<Box<(Finding, String)>>,
    /// Reads off the agent's body, not read yet.
    unread: Option<Drain>,
}

type Drain = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Refusal {
    /// 403 `blocked: <reason>`, by `rule`.
    pub(crate) fn blocked(rule: Rule, reason: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            reason: reason.into(),
            rule,
            at: None,
            detector: None,
            finding: None,
            unread: None,
        }
    }

    /// 403 `blocked: <reason>` of a check that refused before any content was read.
    pub(crate) fn denied(denial: Denial) -> Refusal {
        Refusal {
            at: Some(denial.at),
            ..Refusal::blocked(denial.rule, denial.reason)
        }
    }

    /// 403: a content check found `finding` in `part`.
    pub(crate) fn found(finding: &Finding, part: Part<'_>) -> Refusal {
        let rule = finding_rule(finding);
        Refusal {
            rule,
            detector: Some(finding.detector.clone()),
            finding: Some(Box::new((finding.clone(), part.to_string()))),
            ..Refusal::blocked(
                rule,
                format!("{} found {} in {part}", finding.detector, finding.rule),
            )
        }
    }

    /// The refusal about `route` (the key it names).
    pub(crate) fn on_route(self, route: &Route) -> Refusal {
        Refusal {
            at: Some(route.host.clone()),
            ..self
        }
    }

    /// The refusal of the operator, who was asked about this one.
    pub(crate) fn by_operator(self) -> Refusal {
        Refusal {
            rule: Rule::HoldRefused,
            ..self
        }
    }

    /// 413 (403 for a response): larger than the cap.
    pub(crate) fn too_large(part: Part<'_>) -> Refusal {
        let (status, rule, reason) = match part {
            Part::Response => (
                StatusCode::FORBIDDEN,
                Rule::AnswerTooLarge,
                "response body larger than the scanning limit",
            ),
            _ => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Rule::TooLarge,
                "body larger than the scanning limit",
            ),
        };
        Refusal {
            status,
            ..Refusal::blocked(rule, reason)
        }
    }

    /// 400: the agent's request body could not be read.
    pub(crate) fn unreadable(why: &str) -> Refusal {
        let reason = format!("cannot read the request body: {}", one_line(why));
        Refusal {
            status: StatusCode::BAD_REQUEST,
            ..Refusal::blocked(Rule::BadRequest, reason)
        }
    }

    /// The content check's finding and the part it was found in, when one refused.
    pub(crate) fn finding(&self) -> Option<&(Finding, String)> {
        self.finding.as_deref()
    }

    /// `note` after the reason.
    pub(crate) fn noting(self, note: &str) -> Refusal {
        Refusal {
            reason: format!("{}{note}", self.reason),
            ..self
        }
    }

    /// The agent's `body`, not read yet: most of it is read off and dropped while the refusal
    /// is answered (an HTTP/2 client still sending would otherwise see its stream reset instead
    /// of the answer).
    pub(crate) fn draining<B>(self, body: B) -> Refusal
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let drain = async move {
            let _ = collect_capped(body, DRAIN_CAP).await;
        };
        Refusal {
            unread: Some(Box::pin(drain)),
            ..self
        }
    }
}

/// The rule of a content check's finding: the bottle's own secrets are never allowed; anything
/// else is the route's DLP.
pub(crate) fn finding_rule(finding: &Finding) -> Rule {
    if finding.detector == bb_detect::Detector::KnownSecrets.as_str() {
        Rule::KnownSecret
    } else {
        Rule::Dlp
    }
}

/// A credential found in the response, masked: noted on the decision line.
pub(crate) fn note_masked(notes: &mut Notes, part: &str, slots: Vec<String>) {
    if !slots.is_empty() {
        notes.detector.get_or_insert_with(|| "known_secrets".into());
        notes.notes.push(format!(
            "the response {part} carried the credential of {}; masked",
            slots.join(", ")
        ));
    }
}

/// What the content checks noted on an allowed request (for its decision line).
#[derive(Default)]
pub(crate) struct Notes {
    detector: Option<String>,
    notes: Vec<String>,
}

impl Notes {
    pub(crate) fn warn(&mut self, f: &Finding, part: Part<'_>) {
        self.detector.get_or_insert_with(|| f.detector.clone());
        self.notes
            .push(format!("{} warned of {} in {part}", f.detector, f.rule));
    }

    pub(crate) fn redacted(&mut self, f: &Finding, part: Part<'_>) {
        self.detector.get_or_insert_with(|| f.detector.clone());
        self.notes
            .push(format!("{} redacted {} in {part}", f.detector, f.rule));
    }

    fn reason(&self, base: String) -> String {
        if self.notes.is_empty() {
            base
        } else {
            format!("{base}; {}", self.notes.join("; "))
        }
    }
}

/// One of the proxy's own plain-text answers.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn answer(refusal: Refusal) -> (StatusCode, String, serde_json::Value) {
        let (log, lines) = Log::memory();
        let d = Decide::new(&log, Some("a.test"), "POST", Some("/x"));
        let resp = d.refuse(refusal);
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        (status, body, lines.json().remove(0))
    }

    #[tokio::test]
    async fn every_refusal_writes_its_block_line_and_answers_one_line() {
        let (status, body, line) = answer(Refusal::blocked(Rule::NoRoute, "no\r\nroute")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, "blocked: no  route\n");
        assert_eq!(line["verdict"], "block");
        assert_eq!(line["reason"], "no\r\nroute");
        assert_eq!(line["host"], "a.test");
        assert_eq!(line["path"], "/x");
        assert!(line["detector"].is_null());
        assert_eq!(line["refused_by"]["rule"], "no_route");
        assert_eq!(line["refused_by"]["key"], "egress.routes");

        let (status, body, _) = answer(Refusal::too_large(Part::Body).noting("; cut")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body, "blocked: body larger than the scanning limit; cut\n");
        let (status, _, line) = answer(Refusal::too_large(Part::Response)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            line["refused_by"]["key"],
            "egress.routes[a.test].dlp.inbound"
        );

        let (status, body, _) = answer(Refusal::unreadable("reset\n")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "bad request: cannot read the request body: reset \n");

        let finding = Finding {
            detector: "known_secrets".into(),
            rule: "slot".into(),
        };
        let (_, body, line) = answer(Refusal::found(&finding, Part::Url)).await;
        assert_eq!(body, "blocked: known_secrets found slot in url\n");
        assert_eq!(line["detector"], "known_secrets");
        assert_eq!(line["refused_by"]["rule"], "known_secret");
        assert_eq!(
            line["refused_by"]["key"],
            "egress.routes[a.test].dlp.outbound"
        );
        let finding = Finding::new("token_patterns", "aws-access-key-id");
        let (_, _, line) = answer(Refusal::found(&finding, Part::Body)).await;
        assert_eq!(line["refused_by"]["key"], "egress.routes[a.test].dlp");
    }

    /// A body that reports being read.
    struct Watched(Option<tokio::sync::oneshot::Sender<()>>);

    impl hyper::body::Body for Watched {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            if let Some(read) = self.0.take() {
                let _ = read.send(());
            }
            std::task::Poll::Ready(None)
        }
    }

    #[tokio::test]
    async fn a_refusal_drains_the_body_it_holds() {
        let (read, was_read) = tokio::sync::oneshot::channel();
        answer(Refusal::blocked(Rule::BadRequest, "no").draining(Watched(Some(read)))).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), was_read)
            .await
            .expect("the body was read off")
            .unwrap();
    }
}
