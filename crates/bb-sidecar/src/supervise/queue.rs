//! The bottle's supervise folder as the sidecar sees it: proposals filed, decisions awaited
//! ([`bb_contract::supervise`] has the files).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bb_contract::supervise::timestamp;
use bb_contract::supervise::{
    self, Decision, EgressRequest, Hold, PROPOSALS, Proposal, decision_path, proposal_path,
};
use time::OffsetDateTime;

/// Proposals of one bottle waiting at once; more are refused until one is answered or expires
/// (an agent cannot bury the operator's queue).
pub const MAX_PENDING: usize = 8;
/// How often a waiting call looks for its decision.
const POLL: Duration = Duration::from_millis(200);

/// Where proposals go and answers come from.
pub struct Queue {
    dir: PathBuf,
    timeout: Duration,
    /// Counting the waiting proposals and filing one happen as one step.
    filing: std::sync::Mutex<()>,
}

/// What became of a filed proposal.
#[derive(Debug)]
pub enum Outcome {
    Decided(Box<Decision>),
    /// No answer before the proposal expired.
    TimedOut,
}

impl Queue {
    /// The queue in `dir`; a call waits `timeout` for its answer.
    pub fn new(dir: PathBuf, timeout: Duration) -> Queue {
        Queue {
            dir,
            timeout,
            filing: std::sync::Mutex::new(()),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files `request` (already [`EgressRequest::normalized`], or a hold's) as a new proposal,
    /// or says why not: too many waiting, or the folder cannot be written.
    pub fn file(&self, request: EgressRequest, hold: Option<Hold>) -> Result<Proposal, String> {
        let _one_at_a_time = self.filing.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = self.waiting();
        if waiting >= MAX_PENDING {
            return Err(format!(
                "{waiting} requests already wait for the operator; wait for their answers"
            ));
        }
        let now = OffsetDateTime::now_utc();
        let proposal = Proposal {
            id: new_id(),
            created_at: timestamp(now),
            expires_at: timestamp(now + self.timeout),
            request,
            hold,
        };
        supervise::write_whole(&proposal_path(&self.dir, &proposal.id), &proposal)
            .map_err(|e| format!("the request could not be filed: {e}"))?;
        Ok(proposal)
    }

    /// Files `request` (with `hold`, for a held request), says so in `log`, and waits for the
    /// answer; or why it could not be filed.
    pub async fn ask(
        &self,
        request: EgressRequest,
        hold: Option<Hold>,
        log: &crate::log::Log,
    ) -> Result<(Proposal, Outcome), String> {
        let proposal = self.file(request, hold)?;
        let what = if proposal.hold.is_some() {
            "held request"
        } else {
            "request-egress"
        };
        log.event(
            "supervise",
            true,
            &format!(
                "{what} {} filed for {}; waiting up to {} s for the operator",
                proposal.id,
                proposal.request.host,
                self.timeout.as_secs()
            ),
        );
        let outcome = self.wait(&proposal).await;
        Ok((proposal, outcome))
    }

    /// Why a proposal nobody answered is denied.
    pub fn silence(&self) -> String {
        format!(
            "no answer from the operator within {} s",
            self.timeout.as_secs()
        )
    }

    /// Waits for the operator's decision on `proposal` until it expires.
    pub async fn wait(&self, proposal: &Proposal) -> Outcome {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let path = decision_path(&self.dir, &proposal.id);
        loop {
            if let Ok(Some(decision)) = supervise::read_whole::<Decision>(&path)
                && decision.id == proposal.id
            {
                return Outcome::Decided(Box::new(decision));
            }
            if tokio::time::Instant::now() >= deadline {
                return Outcome::TimedOut;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Proposals not answered and not expired.
    fn waiting(&self) -> usize {
        let now = supervise::now();
        let Ok(entries) = std::fs::read_dir(self.dir.join(PROPOSALS)) else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.strip_suffix(".json")?.to_owned();
                supervise::is_id(&id).then_some(id)
            })
            .filter(|id| !decision_path(&self.dir, id).exists())
            .filter_map(|id| {
                supervise::read_whole::<Proposal>(&proposal_path(&self.dir, &id))
                    .ok()
                    .flatten()
            })
            .filter(|p| p.expires_at > now)
            .count()
    }
}

/// 128 random bits in hex.
fn new_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_contract::supervise::Verdict;

    fn request() -> EgressRequest {
        EgressRequest {
            host: "docs.rs".into(),
            paths: vec![],
            methods: vec![],
            reason: "docs".into(),
        }
    }

    #[tokio::test]
    async fn a_filed_proposal_gets_the_decision_written_for_it() {
        let tmp = tempfile::tempdir().unwrap();
        let queue = Queue::new(tmp.path().to_path_buf(), Duration::from_secs(10));
        let proposal = queue.file(request(), None).unwrap();
        assert!(supervise::is_id(&proposal.id));
        assert!(proposal.expires_at > proposal.created_at);
        let on_disk: Proposal = supervise::read_whole(&proposal_path(tmp.path(), &proposal.id))
            .unwrap()
            .unwrap();
        assert_eq!(on_disk, proposal);

        let decision = Decision {
            id: proposal.id.clone(),
            verdict: Verdict::Rejected,
            reason: Some("not today".into()),
            route: None,
            decided_at: supervise::now(),
        };
        let dir = tmp.path().to_path_buf();
        let answer = decision.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            supervise::write_whole(&decision_path(&dir, &answer.id), &answer).unwrap();
        });
        match queue.wait(&proposal).await {
            Outcome::Decided(d) => assert_eq!(*d, decision),
            Outcome::TimedOut => panic!("the decision was written"),
        }
    }

    #[tokio::test]
    async fn no_answer_times_out_and_the_waiting_are_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let queue = Queue::new(tmp.path().to_path_buf(), Duration::from_millis(300));
        let proposal = queue.file(request(), None).unwrap();
        assert!(matches!(queue.wait(&proposal).await, Outcome::TimedOut));

        let queue = Queue::new(tmp.path().to_path_buf(), Duration::from_secs(60));
        for _ in 0..MAX_PENDING {
            queue.file(request(), None).unwrap();
        }
        let err = queue.file(request(), None).unwrap_err();
        assert!(err.contains("already wait"), "{err}");
    }
}
