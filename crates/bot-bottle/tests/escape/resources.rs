//! Class 6: one bottle cannot starve the others or the host. The escape bottle sets `limits`
//! low; bottle B is the one that misbehaves (it is not needed afterwards), A and the host must
//! answer meanwhile. Under gVisor the process limit counts the sandbox's own threads, so a fork
//! bomb stops B's sandbox instead of failing a fork inside it: also contained.

use std::time::{Duration, Instant};

use bb_testkit::docker_try;

use crate::attacks::expect;
use crate::run::Runner;
use crate::util::{exec, stdout};
use crate::world::{Launch, MEMORY_LIMIT_MIB, PROCESS_LIMIT, World};

/// Bottle A and the host each run a command within a few seconds.
fn others_answer(w: &World) -> Result<(), String> {
    let started = Instant::now();
    let a = exec(&w.a.agent, "node", "echo alive");
    expect(stdout(&a) == "alive", || "bottle A did not answer".into())?;
    let host = std::process::Command::new("true")
        .status()
        .map_err(|e| e.to_string())?;
    expect(host.success(), || "the host could not run a command".into())?;
    expect(started.elapsed() < Duration::from_secs(20), || {
        format!(
            "A and the host took {:.1} s to answer",
            started.elapsed().as_secs_f64()
        )
    })
}

fn running(l: &Launch) -> bool {
    docker_try(&["inspect", "-f", "{{.State.Running}}", &l.agent]).is_ok_and(|s| s == "true")
}

/// The processes (and threads) of B's container now, as the engine counts them.
fn pids(l: &Launch) -> Option<u32> {
    docker_try(&["stats", "--no-stream", "--format", "{{.PIDs}}", &l.agent])
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn limits(run: &mut Runner, w: &World) {
    let b = &w.b;
    run.case("6 the agent runs with the bottle's limits", || {
        let limits = docker_try(&[
            "inspect",
            "-f",
            "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            &b.agent,
        ])?;
        let expected = format!("{PROCESS_LIMIT} {}", MEMORY_LIMIT_MIB << 20);
        expect(limits.starts_with(&expected), || {
            format!("limits: {limits}")
        })
    });
    run.case(
        "6 a memory hog in one bottle is stopped; the other and the host answer",
        || {
            // Twice the limit held in one process.
            let hog = exec(
                &b.agent,
                "node",
                &format!(
                    "head -c {}m /dev/zero | tail -c {}m > /dev/null; echo status=$?",
                    MEMORY_LIMIT_MIB * 2,
                    MEMORY_LIMIT_MIB * 2
                ),
            );
            others_answer(w)?;
            if !running(b) {
                w.b_used_up.set(true);
                return Ok(());
            }
            let out = stdout(&hog);
            expect(!out.contains("status=0"), || {
                format!("the hog finished: {out}")
            })
        },
    );
    run.case(
        "6 a fork bomb in one bottle stops at its limit; the other and the host answer",
        || {
            if w.b_used_up.get() {
                return others_answer(w);
            }
            let _ = docker_try(&[
                "exec",
                "-d",
                "-u",
                "node",
                &b.agent,
                "sh",
                "-c",
                "while :; do sleep 8 & done",
            ]);
            let mut most = 0;
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                most = most.max(pids(b).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(300));
            }
            others_answer(w)?;
            if !running(b) {
                w.b_used_up.set(true);
                return Ok(());
            }
            expect(most <= PROCESS_LIMIT, || {
                format!("{most} processes, over the limit of {PROCESS_LIMIT}")
            })?;
            expect(most > PROCESS_LIMIT / 2, || {
                format!("control: the bomb made only {most} processes")
            })
        },
    );
}
