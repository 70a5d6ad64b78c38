//! Responses never hand the agent a credential.
//!
//! An upstream that reflects the request (a debugging endpoint, an error page quoting the
//! headers, TRACE) would give the agent the token the sidecar injected. Every token slot's
//! value, and its base64 form, is masked in response headers and bodies, streamed bodies
//! included, before the agent sees a byte of it. The mask has the token's length, so that
//! `Content-Length` stays true. An upstream that transforms the value in other ways (reversed,
//! split, encrypted) is beyond any proxy: the route's host is trusted with its own token.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use bytes::Bytes;
use hyper::HeaderMap;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::proxy::BoxError;

/// Shorter values are not masked: they would match ordinary text.
const MIN_LEN: usize = 8;
/// What a masked value is replaced with, repeated to its length.
const MASK: &[u8] = b"[bot-bottle:redacted]";

/// The credential values to mask, and the slot each comes from.
#[derive(Default)]
pub struct EchoGuard {
    matcher: Option<AhoCorasick>,
    patterns: Vec<Vec<u8>>,
    slots: Vec<String>,
}

impl EchoGuard {
    /// `(slot, value)` pairs: each value and its base64 forms.
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a str, &'a str)>) -> EchoGuard {
        let mut patterns = Vec::new();
        let mut slots = Vec::new();
        for (slot, value) in tokens {
            for form in forms(value) {
                if form.len() >= MIN_LEN && !patterns.contains(&form) {
                    patterns.push(form);
                    slots.push(slot.to_owned());
                }
            }
        }
        let matcher = (!patterns.is_empty())
            .then(|| AhoCorasick::new(&patterns).ok())
            .flatten();
        EchoGuard {
            matcher,
            patterns,
            slots,
        }
    }

    /// Masks every value in `data`; returns the slots found (deduplicated).
    pub fn mask(&self, data: &mut [u8]) -> Vec<String> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let found: Vec<(usize, usize, usize)> = matcher
            .find_overlapping_iter(&*data)
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        let mut slots = Vec::new();
        for (start, end, pattern) in found {
            for (i, byte) in data[start..end].iter_mut().enumerate() {
                *byte = MASK[i % MASK.len()];
            }
            if !slots.contains(&self.slots[pattern]) {
                slots.push(self.slots[pattern].clone());
            }
        }
        slots
    }

    /// Masks every header value; returns the slots found.
    pub fn mask_headers(&self, headers: &mut HeaderMap) -> Vec<String> {
        let mut slots = Vec::new();
        let Some(matcher) = &self.matcher else {
            return slots;
        };
        for value in headers.values_mut() {
            if !matcher.is_match(value.as_bytes()) {
                continue;
            }
            let mut bytes = value.as_bytes().to_vec();
            let found = self.mask(&mut bytes);
            if !found.is_empty() {
                if let Ok(masked) = hyper::header::HeaderValue::from_bytes(&bytes) {
                    *value = masked;
                }
                slots.extend(found);
            }
        }
        slots.dedup();
        slots
    }

    /// How many bytes at the end of `data` could be the start of a value: they wait for the
    /// next chunk.
    fn pending_tail(&self, data: &[u8]) -> usize {
        self.patterns
            .iter()
            .filter_map(|p| longest_prefix_at_end(data, p))
            .max()
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Whether `data` holds a whole value.
    fn matches(&self, data: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(data))
    }
}

/// The length of the longest proper prefix of `pattern` that `data` ends with: only the places
/// in the last `pattern.len() - 1` bytes holding the pattern's first byte are tried.
fn longest_prefix_at_end(data: &[u8], pattern: &[u8]) -> Option<usize> {
    let first = *pattern.first()?;
    let window = pattern.len().saturating_sub(1).min(data.len());
    let start = data.len() - window;
    (start..data.len())
        .filter(|&i| data[i] == first)
        .map(|i| data.len() - i)
        .find(|&k| pattern[..k] == data[data.len() - k..])
}

/// The value and its base64 forms (standard and URL-safe, padded or not).
fn forms(value: &str) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut forms = vec![value.as_bytes().to_vec()];
    let standard = STANDARD.encode(value);
    forms.push(standard.trim_end_matches('=').as_bytes().to_vec());
    forms.push(URL_SAFE_NO_PAD.encode(value).into_bytes());
    forms
}

/// Called once, with the slots, when a streamed body carried a credential.
pub type OnFound = Box<dyn FnOnce(Vec<String>) + Send + Sync>;

/// A response body with every credential masked, chunk boundaries included.
pub struct MaskedBody<B> {
    inner: B,
    guard: Arc<EchoGuard>,
    carry: Vec<u8>,
    on_found: Option<OnFound>,
    trailers: Option<Frame<Bytes>>,
    ended: bool,
}

impl<B> MaskedBody<B> {
    pub fn new(inner: B, guard: Arc<EchoGuard>, on_found: OnFound) -> MaskedBody<B> {
        MaskedBody {
            inner,
            guard,
            carry: Vec::new(),
            on_found: Some(on_found),
            trailers: None,
            ended: false,
        }
    }

    fn report(&mut self, slots: Vec<String>) {
        if !slots.is_empty()
            && let Some(report) = self.on_found.take()
        {
            report(slots);
        }
    }

    /// Masks `carry + chunk` and returns what may go on; keeps a possible start of a value.
    /// A chunk with nothing to mask and nothing held before it goes on without a copy.
    fn pass(&mut self, chunk: Bytes) -> Bytes {
        if self.carry.is_empty() && !self.guard.matches(&chunk) {
            let keep = self.guard.pending_tail(&chunk);
            self.carry.extend_from_slice(&chunk[chunk.len() - keep..]);
            return chunk.slice(..chunk.len() - keep);
        }
        self.pass_copied(&chunk)
    }

    fn pass_copied(&mut self, chunk: &[u8]) -> Bytes {
        self.carry.extend_from_slice(chunk);
        let mut data = std::mem::take(&mut self.carry);
        let found = self.guard.mask(&mut data);
        self.report(found);
        let keep = self.guard.pending_tail(&data);
        self.carry = data.split_off(data.len() - keep);
        Bytes::from(data)
    }
}

impl<B> HttpBody for MaskedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(trailers) = this.trailers.take() {
                return Poll::Ready(Some(Ok(trailers)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(chunk) => {
                        let out = this.pass(chunk);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(trailers) => {
                        // What is held back goes first: nothing more can complete it.
                        let rest = std::mem::take(&mut this.carry);
                        if rest.is_empty() {
                            return Poll::Ready(Some(Ok(trailers)));
                        }
                        this.trailers = Some(trailers);
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                    }
                },
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = std::mem::take(&mut this.carry);
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }

    fn is_end_stream(&self) -> bool {
        self.ended
            || (self.carry.is_empty() && self.trailers.is_none() && self.inner.is_end_stream())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const TOKEN: &str = "tok-Zq81Lm3Np5Rt";

    fn guard() -> Arc<EchoGuard> {
        Arc::new(EchoGuard::new([("EGRESS_TOKEN_1", TOKEN)]))
    }

    #[test]
    fn masks_the_value_and_its_base64_with_the_same_length() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(TOKEN);
        let text = format!("echo: Bearer {TOKEN} and {b64}");
        let mut data = text.clone().into_bytes();
        assert_eq!(guard().mask(&mut data), ["EGRESS_TOKEN_1"]);
        let out = String::from_utf8(data).unwrap();
        assert_eq!(out.len(), text.len());
        assert!(
            !out.contains(TOKEN) && !out.contains(b64.trim_end_matches('=')),
            "{out}"
        );
        assert!(out.contains("[bot-bottle:redacted]"), "{out}");
    }

    #[test]
    fn masks_header_values() {
        let mut headers = HeaderMap::new();
        headers.insert("x-echo", format!("Bearer {TOKEN}").parse().unwrap());
        headers.insert("x-other", "fine".parse().unwrap());
        assert_eq!(guard().mask_headers(&mut headers), ["EGRESS_TOKEN_1"]);
        assert!(!headers["x-echo"].to_str().unwrap().contains(TOKEN));
        assert_eq!(headers["x-other"], "fine");
    }

    /// A body of the given chunks.
    struct Parts(std::collections::VecDeque<Bytes>);

    impl HttpBody for Parts {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn a_value_cut_across_chunks_is_masked() {
        for cut in 1..TOKEN.len() {
            let whole = format!("data: {TOKEN}\n\n");
            let at = "data: ".len() + cut;
            let parts = Parts(
                [&whole[..at], &whole[at..]]
                    .map(|s| Bytes::from(s.to_owned()))
                    .into(),
            );
            let found = Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = found.clone();
            let body = MaskedBody::new(
                parts,
                guard(),
                Box::new(move |slots| sink.lock().unwrap().extend(slots)),
            );
            let out = body.collect().await.unwrap().to_bytes();
            let out = String::from_utf8(out.to_vec()).unwrap();
            assert_eq!(out.len(), whole.len());
            assert!(!out.contains(TOKEN), "{out}");
            assert_eq!(*found.lock().unwrap(), ["EGRESS_TOKEN_1"]);
        }
    }

    #[test]
    fn the_longest_prefix_at_the_end_is_found() {
        assert_eq!(longest_prefix_at_end(b"xx abab", b"ababc"), Some(4));
        assert_eq!(longest_prefix_at_end(b"xx ab", b"ababc"), Some(2));
        assert_eq!(longest_prefix_at_end(b"xx", b"ababc"), None);
        assert_eq!(longest_prefix_at_end(b"ab", b"ababc"), Some(2));
        assert_eq!(
            longest_prefix_at_end(b"abc", b"abc"),
            None,
            "a whole value is masked, not held"
        );
    }

    #[test]
    fn only_a_possible_start_of_a_value_is_held_back() {
        let g = guard();
        assert_eq!(g.pending_tail(b"event: done\n\n"), 0);
        assert_eq!(g.pending_tail(b"xx tok-Zq"), 6);
    }
}
