//! DLP holds: a request the proxy's content checks flagged on a route that says
//! `on_match: supervise` is filed as a proposal ([`Hold`]) and waits for the operator, like an
//! agent's `request-egress`. Released, the proxy sends it on; refused or unanswered, it is
//! refused with the reason. The proposal names the rule and where it matched, never the text.

use std::sync::{Arc, OnceLock};

use bb_contract::supervise::{Hold, Verdict};

use super::queue::{Outcome, Queue};
use crate::log::{Log, Rule, Service};

/// The operator's answer to a held request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send it on (the rule may also be released on the route for the bottle's life).
    Released,
    /// Refuse it, for this reason.
    Refused(String),
}

/// Where the proxy files its holds: the supervise queue, and how to reload the routes file
/// (an answer for the bottle's life changed it).
pub struct Holds {
    queue: Arc<Queue>,
    reload: OnceLock<Arc<dyn Fn() + Send + Sync>>,
    log: Log,
}

impl Holds {
    pub fn new(queue: Arc<Queue>, log: Log) -> Holds {
        Holds {
            queue,
            reload: OnceLock::new(),
            log,
        }
    }

    /// How to reload the routes file (set once the proxy's configuration exists).
    pub fn reload_with(&self, reload: Arc<dyn Fn() + Send + Sync>) {
        let _ = self.reload.set(reload);
    }

    /// Files `hold` of a request to `host` and waits for the answer.
    pub async fn ask(&self, host: &str, hold: Hold) -> Answer {
        let rule = hold.rule.clone();
        let route = hold.route.clone();
        let refused_by = || Rule::HoldRefused.refused_by(&route);
        let asked = self.queue.ask(hold.request(host), Some(hold), &self.log);
        let (proposal, outcome) = match asked.await {
            Ok(answered) => answered,
            Err(why) => return Answer::Refused(format!("the operator cannot be asked: {why}")),
        };
        let line = || self.log.decision(Service::Supervise).host(host);
        match outcome {
            Outcome::Decided(d)
                if d.verdict == Verdict::Approved
                    && d.route
                        .as_ref()
                        .is_some_and(|r| !r.dlp.released.contains(&rule)) =>
            {
                // A route without the rule answers a request for a route, not this hold (an
                // operator's tool that does not know holds): nothing is released.
                let why = "the answer does not release this hold (is bot-bottle supervise older than the sidecar?)";
                line().block(refused_by(), &format!("held {} refused: {why}", d.id));
                Answer::Refused(why.to_string())
            }
            Outcome::Decided(d) if d.verdict == Verdict::Approved => {
                let remembered = d.route.is_some();
                if remembered && let Some(reload) = self.reload.get() {
                    reload();
                }
                let lasting = if remembered {
                    "for the bottle's life"
                } else {
                    "once"
                };
                line().allow(&format!("held {} released by the operator {lasting}", d.id));
                Answer::Released
            }
            Outcome::Decided(d) => {
                let reason = d.reason.unwrap_or_else(|| "no reason given".into());
                let text = format!("held {} refused by the operator: {reason}", d.id);
                line().block(refused_by(), &text);
                Answer::Refused(format!("refused by the operator: {reason}"))
            }
            Outcome::TimedOut => {
                let why = self.queue.silence();
                line().block(
                    refused_by(),
                    &format!("held {} refused: {why}", proposal.id),
                );
                Answer::Refused(why)
            }
        }
    }
}
