//! Which OCI runtime the agent gets: runsc when a container really works under it.

use bb_contract::plan::{RuntimeChoice, RuntimeName, RuntimePlan};
use bb_core::docker::RuntimeProbe;

use super::Host;

/// The sidecar image a runsc probe can fall back to (built from the base, has `true`).
const PROBE_FALLBACK_IMAGE: &str = "bot-bottle-sidecar:latest";

/// runsc when the engine has it registered and a container actually works under it (on some
/// kernels it needs runtime arguments to start at all, and old versions fail common syscalls);
/// runc otherwise, with the reason.
pub(super) fn runtime(
    engine: &anyhow::Result<bb_core::docker::EngineInfo>,
    host: &Host,
    flag: Option<RuntimeName>,
    agent_image: &str,
) -> RuntimePlan {
    if let Some(name) = flag {
        // Forced, but still tried: a runtime the agent cannot work under is said so up front.
        let note = match name {
            RuntimeName::Runsc => {
                match (host.probe_runtime)("runsc", &[agent_image, PROBE_FALLBACK_IMAGE]) {
                    RuntimeProbe::Fails(why) => Some(format!(
                        "UNUSABLE here: a test container could not `stat /` under runsc ({why}); the agent will fail ordinary file operations"
                    )),
                    RuntimeProbe::Works | RuntimeProbe::NoImage => None,
                }
            }
            RuntimeName::Runc => None,
        };
        return RuntimePlan {
            name,
            chosen_by: RuntimeChoice::Flag,
            note,
        };
    }
    let runc = |note: String| RuntimePlan {
        name: RuntimeName::Runc,
        chosen_by: RuntimeChoice::Probe,
        note: Some(note),
    };
    match engine.as_ref().map(|e| &e.runtimes) {
        Ok(list) if list.iter().any(|r| r == "runsc") => {
            match (host.probe_runtime)("runsc", &[agent_image, PROBE_FALLBACK_IMAGE]) {
                RuntimeProbe::Works => RuntimePlan {
                    name: RuntimeName::Runsc,
                    chosen_by: RuntimeChoice::Probe,
                    note: None,
                },
                RuntimeProbe::Fails(why) => runc(format!(
                    "runsc (gVisor) is registered but a test container (`stat /`) failed under it: {why}; using runc"
                )),
                RuntimeProbe::NoImage => runc(format!(
                    "runsc (gVisor) is registered but could not be tried yet (neither {agent_image} nor {PROBE_FALLBACK_IMAGE} is built); using runc, pass --runtime runsc to force it"
                )),
            }
        }
        Ok(_) => runc("the engine has no runsc (gVisor) runtime registered".into()),
        Err(err) => runc(format!("could not ask the engine for runtimes: {err:#}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn host(registered: &[&str], probe: RuntimeProbe) -> Host {
        let registered: Vec<String> = registered.iter().map(|s| s.to_string()).collect();
        Host {
            home: PathBuf::from("/nonexistent"),
            cwd: PathBuf::from("/nonexistent"),
            user_home: PathBuf::from("/nonexistent"),
            env: Box::new(|_| None),
            engine: Box::new(move || {
                Ok(bb_core::docker::EngineInfo {
                    runtimes: registered.clone(),
                    cpus: 4,
                    memory: 8 << 30,
                })
            }),
            probe_runtime: Box::new(move |runtime, images| {
                assert_eq!(runtime, "runsc");
                assert_eq!(images, ["agent:img", PROBE_FALLBACK_IMAGE]);
                probe.clone()
            }),
            warn: Box::new(|_| {}),
        }
    }

    fn runtime_of(host: &Host, flag: Option<RuntimeName>, image: &str) -> RuntimePlan {
        runtime(&(host.engine)(), host, flag, image)
    }

    #[test]
    fn runsc_is_chosen_only_when_a_container_works_under_it() {
        let plan = runtime_of(
            &host(&["runc", "runsc"], RuntimeProbe::Works),
            None,
            "agent:img",
        );
        assert_eq!((plan.name, plan.note), (RuntimeName::Runsc, None));

        let failing = RuntimeProbe::Fails("cannot run with network enabled".into());
        let plan = runtime_of(&host(&["runc", "runsc"], failing), None, "agent:img");
        assert_eq!(plan.name, RuntimeName::Runc);
        let note = plan.note.unwrap();
        assert!(
            note.contains("failed under it: cannot run with network enabled; using runc"),
            "{note}"
        );

        let plan = runtime_of(
            &host(&["runc", "runsc"], RuntimeProbe::NoImage),
            None,
            "agent:img",
        );
        assert_eq!(plan.name, RuntimeName::Runc);
        assert!(
            plan.note
                .unwrap()
                .contains("pass --runtime runsc to force it")
        );

        let plan = runtime_of(&host(&["runc"], RuntimeProbe::Works), None, "agent:img");
        assert_eq!(plan.name, RuntimeName::Runc);
        assert!(plan.note.unwrap().contains("no runsc"));

        let plan = runtime_of(
            &host(&["runc"], RuntimeProbe::Works),
            Some(RuntimeName::Runsc),
            "agent:img",
        );
        assert_eq!(
            (plan.name, plan.chosen_by),
            (RuntimeName::Runsc, RuntimeChoice::Flag)
        );
        assert_eq!(plan.note, None);

        let failing = RuntimeProbe::Fails("stat: Invalid argument".into());
        let plan = runtime_of(
            &host(&["runc", "runsc"], failing),
            Some(RuntimeName::Runsc),
            "agent:img",
        );
        assert_eq!(plan.name, RuntimeName::Runsc);
        assert!(plan.note.unwrap().contains("UNUSABLE"));
    }
}
