//! Where a private key block ends, after the header the `private-key` rule matched.

use regex::bytes::Regex;

pub(super) enum KeyEnd {
    At(usize),
    NoBody,
    NeedMore,
}

pub(super) struct KeyBlock {
    end_re: Regex,
}

impl KeyBlock {
    pub(super) fn new() -> KeyBlock {
        let end_re = Regex::new(r"(?-u)\A-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----")
            .expect("end regex");
        KeyBlock { end_re }
    }

    /// The end of a private key block whose header ends at `h`: through the `-----END ...`
    /// line when it comes within 16 KiB, else through the base64 body. A header without a
    /// body (40 base64 bytes within the next 300, as in code that only names the format) is
    /// no key.
    pub(super) fn end(&self, data: &[u8], h: usize, at_end: bool) -> KeyEnd {
        const MAX_BODY: usize = 16 * 1024;
        const BODY_WITHIN: usize = 300;
        let mut near = &data[h..data.len().min(h + BODY_WITHIN)];
        let mut ended = false;
        if let Some(q) = memchr::memmem::find(near, b"-----") {
            near = &near[..q];
            ended = true;
        }
        let mut run = 0;
        let has_body = near.iter().any(|&b| {
            run = if b.is_ascii_alphanumeric() || b"+/=".contains(&b) {
                run + 1
            } else {
                0
            };
            run >= 40
        });
        if !has_body {
            return if !ended && near.len() < BODY_WITHIN && !at_end {
                KeyEnd::NeedMore
            } else {
                KeyEnd::NoBody
            };
        }
        let limit = data.len().min(h + MAX_BODY);
        if let Some(q) = memchr::memmem::find(&data[h..limit], b"-----END") {
            let at = h + q;
            let tail = &data[at..data.len().min(at + 80)];
            if let Some(m) = self.end_re.find(tail) {
                return KeyEnd::At(at + m.end());
            }
            if tail.len() < 80 && !at_end {
                return KeyEnd::NeedMore;
            }
            return KeyEnd::At(at);
        }
        if h + MAX_BODY > data.len() && !at_end {
            return KeyEnd::NeedMore;
        }
        let body = data[h..limit]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b"+/=\r\n\t \\".contains(&b)))
            .unwrap_or(limit - h);
        KeyEnd::At(h + body)
    }
}
