//! Running the cases: one line each, a tally, the decision lines of a failed case.

use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::time::Instant;

use bb_testkit::{DockerCleanup, unique_name};
use serde_json::Value;

use crate::world::World;
use crate::{attacks, classes, selfcheck};

#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// Runtimes that failed the controls of ordinary work: their cases are not counted.
    pub unusable: Vec<String>,
}

/// One launch of both bottles, every attack, the positive checks and the self-check.
pub fn suite(runtime: &str) -> Tally {
    let name = unique_name("esc");
    let _cleanup = DockerCleanup::new(&name);
    let mut run = Runner::default();
    let world = match World::new(&name, runtime) {
        Ok(world) => world,
        Err(why) => {
            println!("FAIL  setup ({runtime}): {why}");
            run.tally.failed += 1;
            return run.tally;
        }
    };
    run.sidecar = world.a.sidecar.clone();
    println!(
        "escape ({runtime}): bottles {} and {} up",
        world.a.identity, world.b.identity
    );
    match ordinary_work(&world) {
        Ok(()) => {
            attacks::attacks(&mut run, &world, runtime);
            classes::classes(&mut run, &world, runtime);
            attacks::positives(&mut run, &world);
            selfcheck::self_check(&mut run, &world);
        }
        Err(why) => {
            println!(
                "UNUSABLE  {runtime}: the agent cannot do ordinary work ({why}); no case of this runtime is counted"
            );
            run.tally.unusable.push(format!("{runtime}: {why}"));
        }
    }
    let teardown = world.finish();
    run.case("teardown: both launches exit 0 and leave nothing", || {
        teardown
    });
    run.tally
}

/// The controls every runtime must pass before its refusals mean anything: list, stat, read
/// and write files, run git. (Debian's 2022 runsc fails `statx` with EINVAL on bookworm: under
/// it an agent cannot even `ls`, and every attack would "fail" for that reason alone.)
fn ordinary_work(w: &World) -> Result<(), String> {
    let out = crate::util::exec(
        &w.a.agent,
        "node",
        "set -e; ls /home/node >/dev/null; stat -c %s /etc/hostname >/dev/null; echo work > /tmp/bb-work; test \"$(cat /tmp/bb-work)\" = work; rm -rf /tmp/bb-g; git init -q /tmp/bb-g; git -C /tmp/bb-g -c user.name=n -c user.email=n@x commit -q --allow-empty -m w; echo ok",
    );
    if crate::util::stdout(&out) == "ok" {
        Ok(())
    } else {
        Err(crate::util::stderr(&out)
            .lines()
            .next()
            .unwrap_or("failed")
            .to_string())
    }
}

#[derive(Default)]
pub struct Runner {
    pub tally: Tally,
    pub sidecar: String,
}

impl Runner {
    /// Runs one case: `check` gets the decision lines the sidecar writes while it runs.
    pub fn case(&mut self, name: &str, check: impl FnOnce() -> Result<(), String>) {
        let before = decision_lines(&self.sidecar).len();
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(check))
            .unwrap_or_else(|panic| Err(panic_text(&panic)));
        match result {
            Ok(()) => {
                self.tally.passed += 1;
                println!("ok    {name} ({:.1} s)", started.elapsed().as_secs_f64());
            }
            Err(why) => {
                self.tally.failed += 1;
                println!("FAIL  {name}: {why}");
                for line in decision_lines(&self.sidecar).iter().skip(before) {
                    println!("      decision: {line}");
                }
            }
        }
    }
}

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// The sidecar's log (decision and event lines), one entry per line.
pub fn decision_lines(sidecar: &str) -> Vec<String> {
    if sidecar.is_empty() {
        return Vec::new();
    }
    Command::new("docker")
        .args(["logs", sidecar])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The decision lines (parsed) of `sidecar` from index `from`.
pub fn decisions_since(sidecar: &str, from: usize) -> Vec<Value> {
    decision_lines(sidecar)
        .iter()
        .skip(from)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
