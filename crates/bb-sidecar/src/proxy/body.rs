//! Reading bodies under the cap: whole ([`collect_capped`]), or a request body fed to the
//! scanner as it arrives ([`read_body`], which hands a long one to a [`Pump`]); and the bodies
//! the proxy sends of what it has read.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::pump::Pump;
use super::{Body, BoxError};
use crate::inspect::{BodyScanner, Finding, Verdict};

/// Why a body was not read whole.
pub(super) enum Collect {
    TooLarge,
    Failed(String),
}

/// Reads a whole body, refusing one larger than `cap` (at once when its length says so).
pub(super) async fn collect_capped<B>(body: B, cap: u64) -> Result<Bytes, Collect>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > cap {
        return Err(Collect::TooLarge);
    }
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(Collect::TooLarge),
        Err(err) => Err(Collect::Failed(err.to_string())),
    }
}

pub(super) enum Read<'s> {
    /// The whole body, and the scanner's verdict on it when there was a scanner.
    Done(Vec<Bytes>, Option<Verdict>),
    /// The scanner found this, and reading stopped there.
    Blocked(Finding),
    /// More than the hold limit came, none of it refused yet: the rest is to be streamed.
    Streaming(Pump<'s>),
}

/// Reads a request body up to `cap`, feeding each chunk to `scanner` as it arrives; stops at
/// the first blocking finding when `stop_on_finding`, and once `stream_after` bytes are read
/// (when there is a scanner), leaving the rest to a [`Pump`].
pub(super) async fn read_body<'s>(
    mut body: AgentBody,
    cap: u64,
    mut scanner: Option<Box<dyn BodyScanner + 's>>,
    stop_on_finding: bool,
    stream_after: Option<u64>,
) -> Result<Read<'s>, Collect> {
    let size_hint = hyper::body::Body::size_hint(&body);
    if size_hint.lower() > cap {
        return Err(Collect::TooLarge);
    }
    let mut chunks = Vec::new();
    let mut total = 0u64;
    let mut found = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| Collect::Failed(err.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not forwarded
        };
        total += data.len() as u64;
        if total > cap {
            return Err(Collect::TooLarge);
        }
        if let (None, Some(s)) = (&found, scanner.as_mut()) {
            found = s.feed(&data);
            if stop_on_finding && let Some(f) = found.take() {
                return Ok(Read::Blocked(f));
            }
        }
        chunks.push(data);
        if let (Some(limit), Some(_)) = (stream_after, &scanner)
            && total > limit
            && found.is_none()
            && !hyper::body::Body::is_end_stream(&body)
        {
            let scanner = scanner.take().expect("checked above");
            return Ok(Read::Streaming(Pump::new(
                body, scanner, chunks, total, cap, size_hint,
            )));
        }
    }
    let verdict = scanner.map(|mut s| match found {
        Some(finding) => Verdict::Found {
            finding,
            redacted: None,
        },
        None => s.finish(),
    });
    Ok(Read::Done(chunks, verdict))
}

/// A request body as the outbound scan reads it: the agent's, as it arrives, or one the proxy
/// read whole before (a held request, scanned again after the operator's answer).
pub(super) enum AgentBody {
    Incoming(Incoming),
    Read(Option<Bytes>),
}

impl hyper::body::Body for AgentBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            AgentBody::Incoming(body) => std::pin::Pin::new(body).poll_frame(cx),
            AgentBody::Read(bytes) => {
                std::task::Poll::Ready(bytes.take().map(|b| Ok(hyper::body::Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AgentBody::Incoming(body) => body.is_end_stream(),
            AgentBody::Read(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            AgentBody::Incoming(body) => body.size_hint(),
            AgentBody::Read(bytes) => {
                hyper::body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

pub(super) fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

pub(super) fn join(chunks: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(chunks) {
        Ok([one]) => one,
        Err(chunks) => Bytes::from(chunks.concat()),
    }
}

/// A body of chunks already read, sent as they came (no copy into one buffer).
pub(super) fn chunks_body(chunks: Vec<Bytes>) -> Body {
    Chunks(chunks.into()).boxed()
}

struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_capped() {
        let small = Full::new(Bytes::from_static(b"12345"));
        assert_eq!(collect_capped(small, 5).await.ok().unwrap(), "12345");
        let big = Full::new(Bytes::from_static(b"123456"));
        assert!(matches!(
            collect_capped(big, 5).await,
            Err(Collect::TooLarge)
        ));
    }
}
