//! The sandbox-escape suite (README, "The sandbox-escape suite"; spec: acceptance.md), the acceptance gate
//! of every change to the sidecar, the networks and the compose rendering.
//!
//! Two bottles are launched side by side with `bot-bottle start --headless`; their stub agent
//! waits until the suite is done. Fixtures on bottle A's egress network: an HTTPS upstream
//! (`api.test`, certificate from a test CA the sidecar trusts through
//! `BOT_BOTTLE_EXTRA_ROOTS`) that records every request, an sshd git upstream (`git.test`) and
//! a fake resolver that records every packet; a listener on the host's 0.0.0.0 and one on the
//! host's 127.0.0.1:53. Every attack of the spec then runs inside agent A, and each case checks
//! that it failed and why: the proxy's `blocked:` reason, the detector in the decision log, no
//! route, the gate's rule, and that no fixture recorded anything it should not have.
//!
//! Then the self-check sabotages bottle A three ways (DLP switched off by a route reload, the
//! agent's resolver pointed past the sink, the agent attached to the egress network) and
//! expects the matching attacks to report the escape; a sabotage that goes unnoticed fails the
//! suite. Everything runs again with the agent under gVisor when the engine has runsc (required
//! when `CI` is set: `scripts/gvisor` registers it). `BB_ESCAPE_RUNTIMES=runc` (a comma-separated
//! list) chooses the runtimes by hand.
//!
//! Prints one line per case and `N passed, N failed`; a failed case prints the sidecar decision
//! lines written while it ran. Exit status 1 when anything failed.

mod attacks;
mod classes;
mod gate;
mod resources;
mod run;
mod selfcheck;
mod supervise;
mod util;
mod world;

use std::time::Instant;

use bb_testkit::{docker_try, require_images};

use run::Tally;

fn main() {
    require_images();
    let runtimes = match std::env::var("BB_ESCAPE_RUNTIMES") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) => default_runtimes(),
    };
    let mut total = Tally::default();
    for runtime in runtimes {
        let started = Instant::now();
        let tally = run::suite(&runtime);
        println!(
            "escape ({runtime}): {} passed, {} failed in {:.0} s",
            tally.passed,
            tally.failed,
            started.elapsed().as_secs_f64()
        );
        total.passed += tally.passed;
        total.failed += tally.failed;
        total.unusable.extend(tally.unusable);
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    for why in &total.unusable {
        println!("runtime reported unusable, not counted as a pass: {why}");
    }
    if total.failed > 0 || total.passed == 0 {
        std::process::exit(1);
    }
}

/// runc, and runsc when the engine has it (required under CI).
pub fn default_runtimes() -> Vec<String> {
    let mut runtimes = vec!["runc".to_string()];
    if runsc_registered() {
        runtimes.push("runsc".into());
    } else if std::env::var_os("CI").is_some() {
        println!("FAIL  gVisor: the engine has no runsc runtime (scripts/gvisor registers it)");
        std::process::exit(1);
    } else {
        println!("note  gVisor: the engine has no runsc runtime; run scripts/gvisor as root");
    }
    runtimes
}

pub fn runsc_registered() -> bool {
    docker_try(&["info", "--format", "{{json .Runtimes}}"])
        .map(|o| o.contains("\"runsc\""))
        .unwrap_or(false)
}
