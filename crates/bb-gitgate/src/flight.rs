//! Coalesced mirror refreshes ("single flight"). Every fetch must see upstream as it was at
//! some moment after the fetch arrived, but a burst of fetches must not each open an SSH login
//! upstream. The rule: a caller reuses the result of a run that *started after it arrived*;
//! if a run is going that started earlier, the caller waits for it to end and then starts (or
//! joins) the next one. So at most one run goes at a time, and N callers arriving during one
//! run share the single next run.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

struct State<T> {
    /// Runs started so far; a run's number is the value after its start.
    started: u64,
    running: bool,
    /// The last run that ended: its number and result.
    last: Option<(u64, T)>,
}

/// One key's coalesced runs.
pub struct SingleFlight<T> {
    state: Mutex<State<T>>,
    ended: Condvar,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            state: Mutex::new(State {
                started: 0,
                running: false,
                last: None,
            }),
            ended: Condvar::new(),
        }
    }
}

/// Clears `running` even when the run panics, so waiters are not stuck.
struct Running<'a, T> {
    flight: &'a SingleFlight<T>,
    seq: u64,
    result: Option<T>,
}

impl<T> Drop for Running<'_, T> {
    fn drop(&mut self) {
        let mut st = self.flight.lock();
        st.running = false;
        if let Some(result) = self.result.take() {
            st.last = Some((self.seq, result));
        }
        self.flight.ended.notify_all();
    }
}

/// How a caller got its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// This caller ran it.
    Own,
    /// Another caller's run, started after this one arrived.
    Shared,
}

impl<T> SingleFlight<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Clone> SingleFlight<T> {
    /// The result of a run of `work` that started after this call.
    pub fn run(&self, work: impl FnOnce() -> T) -> (T, Ran) {
        let mut st = self.lock();
        let arrived = st.started;
        loop {
            if let Some((seq, result)) = &st.last
                && *seq > arrived
            {
                return (result.clone(), Ran::Shared);
            }
            if !st.running {
                break;
            }
            st = self.ended.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.running = true;
        st.started += 1;
        let mut running = Running {
            flight: self,
            seq: st.started,
            result: None,
        };
        drop(st);
        let result = work();
        running.result = Some(result.clone());
        drop(running);
        (result, Ran::Own)
    }
}

/// A [`SingleFlight`] per key (per repo).
pub struct Flights<T> {
    by_key: Mutex<HashMap<String, Arc<SingleFlight<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            by_key: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Flights<T> {
    pub fn get(&self, key: &str) -> Arc<SingleFlight<T>> {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key.to_string()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn alone_a_caller_runs_every_time() {
        let f = SingleFlight::default();
        let runs = AtomicU32::new(0);
        for want in 1..=3 {
            let (got, how) = f.run(|| runs.fetch_add(1, Ordering::SeqCst) + 1);
            assert_eq!((got, how), (want, Ran::Own));
        }
    }

    #[test]
    fn callers_during_a_run_share_the_next_one() {
        let f = Arc::new(SingleFlight::default());
        let runs = Arc::new(AtomicU32::new(0));
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let first = {
            let (f, runs) = (Arc::clone(&f), Arc::clone(&runs));
            std::thread::spawn(move || {
                f.run(|| {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    runs.fetch_add(1, Ordering::SeqCst) + 1
                })
            })
        };
        entered_rx.recv().unwrap();
        // Nine callers arrive while run 1 (which started before them) is going.
        let late: Vec<_> = (0..9)
            .map(|_| {
                let (f, runs) = (Arc::clone(&f), Arc::clone(&runs));
                std::thread::spawn(move || {
                    f.run(|| {
                        std::thread::sleep(Duration::from_millis(50));
                        runs.fetch_add(1, Ordering::SeqCst) + 1
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap(), (1, Ran::Own));
        let results: Vec<_> = late.into_iter().map(|t| t.join().unwrap()).collect();
        // None of them reused run 1; all got run 2, which exactly one of them ran.
        assert!(results.iter().all(|(n, _)| *n == 2), "{results:?}");
        assert_eq!(results.iter().filter(|(_, r)| *r == Ran::Own).count(), 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_run_does_not_block_the_next() {
        let f = Arc::new(SingleFlight::<u32>::default());
        let g = Arc::clone(&f);
        let res = std::thread::spawn(move || g.run(|| panic!("boom"))).join();
        assert!(res.is_err());
        assert_eq!(f.run(|| 7), (7, Ran::Own));
    }

    #[test]
    fn flights_are_per_key() {
        let flights = Flights::<u32>::default();
        assert!(Arc::ptr_eq(&flights.get("a"), &flights.get("a")));
        assert!(!Arc::ptr_eq(&flights.get("a"), &flights.get("b")));
    }
}
