//! A long request body streamed while it is scanned: the [`Pump`] reads the rest of it, sends
//! on what the scan has cleared through an [`Outflow`], and cuts the upstream request at a
//! finding.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::body::AgentBody;
use super::decide::Refusal;
use super::{Body, BoxError};
use crate::inspect::{BodyScanner, Finding, Part, Verdict};

/// Reads the rest of a long request body, scanning it, and sends on what the scan has cleared
/// (bytes before [`BodyScanner::decided`]) through an [`Outflow`]; the rest only when the
/// scan of the whole body is clean.
pub(super) struct Pump<'s> {
    body: AgentBody,
    scanner: Box<dyn BodyScanner + 's>,
    /// Read, not yet sent, in order.
    pending: std::collections::VecDeque<Bytes>,
    /// Body offset of the first pending byte.
    sent: u64,
    total: u64,
    cap: u64,
    size_hint: hyper::body::SizeHint,
}

/// Why a pumped body was refused after its start had been sent, and how much had been.
pub(super) struct Cut {
    why: Stop,
    sent: u64,
}

enum Stop {
    Found(Finding),
    TooLarge,
    Unreadable(String),
}

impl Cut {
    pub(super) fn refusal(&self) -> Refusal {
        let note = format!(
            "; the upstream request was cut (at most {} clean bytes sent)",
            self.sent
        );
        let refusal = match &self.why {
            Stop::Found(f) => Refusal::found(f, Part::Body),
            Stop::TooLarge => Refusal::too_large(Part::Body),
            Stop::Unreadable(why) => Refusal::unreadable(why),
        };
        refusal.noting(&note)
    }
}

impl<'s> Pump<'s> {
    pub(super) fn new(
        body: AgentBody,
        scanner: Box<dyn BodyScanner + 's>,
        read: Vec<Bytes>,
        total: u64,
        cap: u64,
        size_hint: hyper::body::SizeHint,
    ) -> Pump<'s> {
        Pump {
            body,
            scanner,
            pending: read.into(),
            sent: 0,
            total,
            cap,
            size_hint,
        }
    }

    pub(super) fn size_hint(&self) -> hyper::body::SizeHint {
        self.size_hint
    }

    fn cut(&self, why: Stop) -> Cut {
        Cut {
            why,
            sent: self.sent,
        }
    }

    /// Runs to the end of the body. `Ok`: all of it was sent (or the upstream stopped
    /// reading, and nothing more leaves), with the scanner's warning if any. `Err`: the
    /// upstream body was cut.
    pub(super) async fn run(mut self, tx: OutflowSender) -> Result<Option<Finding>, Cut> {
        loop {
            if !self.send_until(&tx, self.scanner.decided()).await {
                return Ok(None); // the upstream is not reading any more: nothing more leaves
            }
            let Some(frame) = self.body.frame().await else {
                break;
            };
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers are not forwarded
                },
                Err(err) => return Err(self.cut(Stop::Unreadable(err.to_string()))),
            };
            self.total += data.len() as u64;
            if self.total > self.cap {
                return Err(self.cut(Stop::TooLarge));
            }
            if let Some(f) = self.scanner.feed(&data) {
                return Err(self.cut(Stop::Found(f)));
            }
            self.pending.push_back(data);
        }
        let warning = match self.scanner.finish() {
            Verdict::Found { finding, .. } => return Err(self.cut(Stop::Found(finding))),
            Verdict::Warn(f) => Some(f),
            Verdict::Clean => None,
        };
        if self.send_until(&tx, u64::MAX).await {
            tx.complete();
        }
        Ok(warning)
    }

    /// Sends the pending bytes before body offset `upto`; false when the upstream side is gone.
    async fn send_until(&mut self, tx: &OutflowSender, upto: u64) -> bool {
        while self.sent < upto {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let room = upto - self.sent;
            let chunk = if front.len() as u64 <= room {
                self.pending.pop_front().expect("a front chunk")
            } else {
                front.split_to(room as usize)
            };
            self.sent += chunk.len() as u64;
            if !tx.send(chunk).await {
                return false;
            }
        }
        true
    }
}

/// The upstream end of a pumped body. It ends cleanly only after [`OutflowSender::complete`];
/// if the sender is dropped before that (a refusal), the body fails, so the upstream request
/// is aborted instead of ending as a shorter, well-formed request.
pub(super) struct Outflow {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    complete: Arc<std::sync::atomic::AtomicBool>,
    size_hint: hyper::body::SizeHint,
}

pub(super) struct OutflowSender {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    complete: Arc<std::sync::atomic::AtomicBool>,
}

impl OutflowSender {
    async fn send(&self, chunk: Bytes) -> bool {
        self.tx.send(chunk).await.is_ok()
    }

    fn complete(self) {
        self.complete
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Outflow {
    pub(super) fn channel(size_hint: hyper::body::SizeHint) -> (OutflowSender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let complete = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sender = OutflowSender {
            tx,
            complete: complete.clone(),
        };
        let body = Outflow {
            rx,
            complete,
            size_hint,
        };
        (sender, body.boxed())
    }
}

impl hyper::body::Body for Outflow {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk)))),
            Poll::Ready(None) if self.complete.load(std::sync::atomic::Ordering::Acquire) => {
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                Poll::Ready(Some(Err("the proxy refused the rest of the body".into())))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.size_hint
    }
}
