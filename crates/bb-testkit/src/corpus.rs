//! Benchmark text: JSON, code, log and prose lines with no secret in them, the same bytes for
//! every scanner benchmark (`cargo bench -p bb-detect`, `scripts/bench egress`).

pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next_u64() as usize % v.len()]
    }

    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| A[self.next_u64() as usize % A.len()] as char)
            .collect()
    }

    /// Hex with at most six digits in a row: longer digit runs would now and then pass the
    /// Luhn check and be taken for a payment card number (and the upload refused).
    fn hex(&mut self, n: usize) -> String {
        let mut digits = 0;
        (0..n)
            .map(|_| {
                let mut c = b"0123456789abcdef"[self.next_u64() as usize % 16];
                if c.is_ascii_digit() {
                    digits += 1;
                    if digits > 6 {
                        c = b"abcdef"[self.next_u64() as usize % 6];
                    }
                }
                if !c.is_ascii_digit() {
                    digits = 0;
                }
                c as char
            })
            .collect()
    }
}

const WORDS: &[&str] = &[
    "the", "request", "user", "value", "config", "build", "error", "return", "data", "file",
    "module", "server", "client", "update", "token", "session", "create", "delete", "items",
    "result", "response", "handler", "async", "await", "string", "number", "index", "cache",
    "proxy", "route", "secret", "password", "key", "status", "message", "format", "parse",
    "stream", "buffer", "length", "version", "package", "import", "export", "default",
];

fn words(r: &mut Rng, n: usize) -> String {
    (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

/// Appends one line of text.
pub fn line(r: &mut Rng, out: &mut String) {
    use std::fmt::Write;
    let _ = match r.next_u64() % 16 {
        0..=3 => writeln!(
            out,
            "{{\"id\": {}, \"name\": \"{}\", \"email\": \"{}@example.com\", \"created_at\": \"2026-03-{:02}T09:{:02}:00Z\", \"tags\": [\"{}\", \"{}\"], \"score\": 0.{}, \"max_tokens\": 1024}},",
            r.next_u64() % 100000,
            words(r, 2),
            r.pick(WORDS),
            r.next_u64() % 28 + 1,
            r.next_u64() % 60,
            r.pick(WORDS),
            r.pick(WORDS),
            r.next_u64() % 1000,
        ),
        4..=7 => writeln!(
            out,
            "    let {}_{} = {}::{}(&{}, \"{}\")?; // {}",
            r.pick(WORDS),
            r.pick(WORDS),
            r.pick(WORDS),
            r.pick(WORDS),
            r.pick(WORDS),
            words(r, 3),
            words(r, 6),
        ),
        8..=10 => writeln!(
            out,
            "2026-03-10 12:{:02}:{:02} INFO request_id={}-{}-{}-{}-{} path=/api/v1/{}/{} status=200 duration_ms={}",
            r.next_u64() % 60,
            r.next_u64() % 60,
            r.hex(8),
            r.hex(4),
            r.hex(4),
            r.hex(4),
            r.hex(12),
            r.pick(WORDS),
            r.next_u64() % 10000,
            r.next_u64() % 500,
        ),
        11..=13 => writeln!(out, "{}.", words(r, 14)),
        14 => writeln!(
            out,
            "commit {} Merge pull request #{} from {}/{}",
            r.hex(40),
            r.next_u64() % 9000,
            r.pick(WORDS),
            r.pick(WORDS)
        ),
        _ => writeln!(
            out,
            "  \"integrity\": \"sha512-{}==\", \"resolved\": \"https://registry.example.org/{}/-/{}-1.{}.{}.tgz\"",
            r.alnum(86),
            r.pick(WORDS),
            r.pick(WORDS),
            r.next_u64() % 20,
            r.next_u64() % 10,
        ),
    };
}

/// Exactly `len` bytes of text.
pub fn text(len: usize) -> Vec<u8> {
    let mut r = Rng(42);
    let mut out = String::with_capacity(len + 512);
    while out.len() < len {
        line(&mut r, &mut out);
    }
    let mut bytes = out.into_bytes();
    bytes.truncate(len);
    bytes
}
