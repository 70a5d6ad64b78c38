//! The process groups the gate runs (each led by a child started in a group of its own), so
//! that stopping the gate ends them instead of leaving them behind: [`Groups::end`].

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::run::{kill_group, signal_group};

/// The groups of the git commands [`crate::run::Git::run`] started in this process and that
/// still run (in `serve`: the mirror refreshes).
pub static GIT_COMMANDS: Groups = Groups::new();

/// Process groups running now, by the pid of their leader.
#[derive(Default)]
pub struct Groups(Mutex<BTreeSet<u32>>);

/// A group listed in [`Groups`] until this is dropped.
pub struct Listed<'a> {
    groups: &'a Groups,
    pid: u32,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.groups.set().remove(&self.pid);
    }
}

impl Groups {
    pub const fn new() -> Groups {
        Groups(Mutex::new(BTreeSet::new()))
    }

    /// Lists the group led by `pid` while the returned value lives.
    pub fn list(&self, pid: u32) -> Listed<'_> {
        self.set().insert(pid);
        Listed { groups: self, pid }
    }

    fn set(&self) -> MutexGuard<'_, BTreeSet<u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pids(&self) -> Vec<u32> {
        self.set().iter().copied().collect()
    }

    /// Ends every group of `all`: SIGTERM, then SIGKILL to the groups still listed after
    /// `grace` (a group leaves its list once its leader was waited for).
    pub fn end(all: &[&Groups], grace: Duration) {
        for pid in all.iter().flat_map(|g| g.pids()) {
            signal_group(pid, Signal::TERM);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end && all.iter().any(|g| !g.set().is_empty()) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in all.iter().flat_map(|g| g.pids()) {
            kill_group(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn a_listed_group_leaves_when_dropped() {
        let groups = Groups::new();
        let listed = groups.list(7);
        assert_eq!(groups.pids(), [7]);
        drop(listed);
        assert!(groups.pids().is_empty());
    }

    #[test]
    fn ending_sends_sigterm_then_sigkill() {
        let groups = Groups::new();
        // One leader that ends on SIGTERM, one that ignores it.
        let spawn = |script: &str| {
            Command::new("sh")
                .args(["-c", script])
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut polite = spawn("sleep 30");
        let mut stubborn = spawn("trap '' TERM; while :; do sleep 0.1; done");
        std::thread::sleep(Duration::from_millis(200));
        let ended = std::thread::scope(|s| {
            let listed = [groups.list(polite.id()), groups.list(stubborn.id())];
            let waiter = s.spawn(|| {
                let polite = polite.wait().unwrap();
                let stubborn = stubborn.wait().unwrap();
                drop(listed);
                (polite, stubborn)
            });
            let start = Instant::now();
            Groups::end(&[&groups], Duration::from_millis(500));
            let took = start.elapsed();
            (waiter.join().unwrap(), took)
        });
        let ((polite, stubborn), took) = ended;
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(polite.signal(), Some(15), "{polite}");
        assert_eq!(stubborn.signal(), Some(9), "{stubborn}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
