//! Lines of several bottles in one order, by the time each line carries: a backlog is sorted
//! whole; live lines wait a moment ([`Reorder`]) so that a line one sidecar wrote earlier but
//! `docker logs` delivered later still goes first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use bb_contract::log::LogLine;
use time::OffsetDateTime;

/// How long a live line waits for earlier lines of other bottles.
pub const SETTLE: Duration = Duration::from_millis(500);

/// Sorts lines by their time; lines of the same time keep their order.
pub fn sort(lines: &mut [LogLine<'static>]) {
    lines.sort_by_key(time_of);
}

fn time_of(line: &LogLine<'_>) -> OffsetDateTime {
    line.time().unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Live lines, released in time order once they have waited [`SETTLE`].
#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Pending>,
    next: u64,
}

struct Pending {
    time: OffsetDateTime,
    seq: u64,
    arrived: Instant,
    line: LogLine<'static>,
}

impl Ord for Pending {
    // The earliest first (BinaryHeap pops the greatest).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl Eq for Pending {}

impl Reorder {
    pub fn push(&mut self, line: LogLine<'static>, arrived: Instant) {
        self.next += 1;
        self.heap.push(Pending {
            time: time_of(&line),
            seq: self.next,
            arrived,
            line,
        });
    }

    /// The lines that may go now, in order: the earliest, while it has waited long enough.
    pub fn ready(&mut self, now: Instant) -> Vec<LogLine<'static>> {
        let mut out = Vec::new();
        while self
            .heap
            .peek()
            .is_some_and(|p| now.duration_since(p.arrived) >= SETTLE)
        {
            out.extend(self.heap.pop().map(|p| p.line));
        }
        out
    }

    /// Every line still waiting, in order.
    pub fn drain(&mut self) -> Vec<LogLine<'static>> {
        let mut out = Vec::new();
        while let Some(p) = self.heap.pop() {
            out.push(p.line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(second: u32, bottle: &str) -> LogLine<'static> {
        LogLine::parse(&format!(
            r#"{{"time":"2026-12-07T10:00:{second:02}.5Z","service":"dns","host":"x","method":"A","path":null,"verdict":"block","reason":"sink","detector":null,"bottle":"{bottle}"}}"#
        ))
        .unwrap()
    }

    fn order(lines: &[LogLine<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{}@{}", l.bottle().unwrap(), l.time().unwrap().second()))
            .collect()
    }

    #[test]
    fn a_backlog_is_sorted_by_time_and_ties_keep_their_order() {
        let mut lines = vec![line(3, "a"), line(1, "b"), line(2, "c"), line(1, "a")];
        sort(&mut lines);
        assert_eq!(order(&lines), ["b@1", "a@1", "c@2", "a@3"]);
    }

    #[test]
    fn a_late_line_of_another_bottle_still_goes_first() {
        let start = Instant::now();
        let mut r = Reorder::default();
        r.push(line(5, "a"), start);
        r.push(line(6, "a"), start);
        assert!(
            r.ready(start + SETTLE / 2).is_empty(),
            "nothing before it settled"
        );
        // Delivered later, written earlier.
        r.push(line(4, "b"), start + SETTLE / 2);
        let first = r.ready(start + SETTLE);
        assert!(
            first.is_empty(),
            "the earliest line has not settled: {:?}",
            order(&first)
        );
        let all = r.ready(start + SETTLE * 2);
        assert_eq!(order(&all), ["b@4", "a@5", "a@6"]);
        r.push(line(7, "c"), start);
        assert_eq!(order(&r.drain()), ["c@7"]);
    }
}
