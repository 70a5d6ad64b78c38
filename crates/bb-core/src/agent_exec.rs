//! Running a command in the agent, wherever the bottle is: `docker exec` into a compose
//! bottle's container (as `node`), or `kubectl exec` into a Kubernetes bottle's pod (which runs
//! as the agent's user only: there is no other user to choose).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
use bb_contract::Plan;
use bb_contract::layout::{agent as in_agent, kube};

/// Where the agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAt {
    Docker {
        container: String,
    },
    /// The bottle's agent Pod ([`kube::AGENT`], its one container of the same name).
    Kube {
        context: Option<String>,
        namespace: String,
    },
}

/// What the command's standard input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// None: the command reads nothing.
    Closed,
    /// Our stdin, piped.
    Piped,
    /// Our stdin with a terminal.
    Terminal,
}

impl AgentAt {
    /// The agent of a bottle that is up: applied to a cluster, else a compose project.
    pub fn of(plan: &Plan) -> Result<AgentAt, bb_contract::InputError> {
        if let Some(kube) = plan.kube.as_ref().filter(|k| k.applied) {
            return Ok(AgentAt::Kube {
                context: kube.context.clone(),
                namespace: kube.namespace.clone(),
            });
        }
        Ok(AgentAt::Docker {
            container: plan.compose_up()?.agent_container.clone(),
        })
    }

    pub fn is_kube(&self) -> bool {
        matches!(self, AgentAt::Kube { .. })
    }

    /// The program and arguments that run `sh -c SCRIPT` as the agent's user, in `workdir`
    /// (the agent's home when `None`).
    pub fn argv(&self, script: &str, input: Input, workdir: Option<&str>) -> Result<Vec<String>> {
        let program = match self {
            AgentAt::Docker { .. } => crate::docker::docker_bin()?,
            AgentAt::Kube { .. } => kubectl_bin()?,
        };
        Ok(self.argv_of(&program, script, input, workdir))
    }

    fn argv_of(
        &self,
        program: &std::path::Path,
        script: &str,
        input: Input,
        workdir: Option<&str>,
    ) -> Vec<String> {
        let workdir = workdir.unwrap_or(in_agent::HOME);
        let flag = match input {
            Input::Closed => None,
            Input::Piped => Some("-i"),
            Input::Terminal => Some("-it"),
        };
        let mut argv = vec![program.display().to_string()];
        match self {
            AgentAt::Docker { container } => {
                argv.push("exec".into());
                argv.extend(flag.map(str::to_string));
                argv.extend(["-u", in_agent::USER, "-w", workdir].map(str::to_string));
                argv.extend([container.clone(), "sh".into(), "-c".into(), script.into()]);
            }
            AgentAt::Kube { context, namespace } => {
                let pod = PodExec {
                    context: context.as_deref(),
                    namespace,
                    target: kube::AGENT,
                    container: kube::AGENT,
                };
                argv.extend(pod.args(flag));
                // kubectl exec has no working-folder flag.
                let script = format!("cd {} || exit 1; {script}", sh_quote(workdir));
                argv.extend(["sh".into(), "-c".into(), script]);
            }
        }
        argv
    }

    /// [`AgentAt::argv`] as a command.
    pub fn command(&self, script: &str, input: Input, workdir: Option<&str>) -> Result<Command> {
        let argv = self.argv(script, input, workdir)?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        Ok(cmd)
    }

    /// Whether `sh -c SCRIPT` succeeds in the agent.
    pub fn succeeds(&self, script: &str) -> bool {
        self.command(script, Input::Closed, None)
            .and_then(|mut cmd| {
                Ok(cmd
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()?)
            })
            .is_ok_and(|s| s.success())
    }
}

/// A container of a bottle's pod, as `kubectl exec` reaches it (the agent's, the sidecar's).
pub struct PodExec<'a> {
    pub context: Option<&'a str>,
    pub namespace: &'a str,
    /// `agent` (a pod) or `deployment/sidecar`.
    pub target: &'a str,
    pub container: &'a str,
}

impl PodExec<'_> {
    /// `[--context C] exec [FLAG] -n NAMESPACE TARGET -c CONTAINER --`: what follows the
    /// program, before the command.
    pub fn args(&self, flag: Option<&str>) -> Vec<String> {
        let mut args = context_args(self.context);
        args.push("exec".into());
        args.extend(flag.map(str::to_string));
        args.extend(
            [
                "-n",
                self.namespace,
                self.target,
                "-c",
                self.container,
                "--",
            ]
            .map(str::to_string),
        );
        args
    }
}

/// `--context C` when a context is pinned: the first arguments of every kubectl command.
pub fn context_args(context: Option<&str>) -> Vec<String> {
    context
        .map(|c| vec!["--context".to_string(), c.to_string()])
        .unwrap_or_default()
}

/// `$BB_KUBECTL` (tests put a fake one there), else `kubectl` on `PATH`.
pub fn kubectl_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("BB_KUBECTL").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    which::which("kubectl").map_err(|_| {
        bb_contract::InputError::new("kubectl is not on PATH")
            .fix("install kubectl and point it at the cluster (or set BB_KUBECTL)")
            .into()
    })
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_exec_names_the_pod_and_changes_folder_itself() {
        let at = AgentAt::Kube {
            context: Some("prod".into()),
            namespace: "bb-fixer-x".into(),
        };
        let argv = at.argv_of(
            std::path::Path::new("/opt/kubectl"),
            "exec claude",
            Input::Terminal,
            Some("/home/node/it's"),
        );
        assert_eq!(
            argv,
            [
                "/opt/kubectl",
                "--context",
                "prod",
                "exec",
                "-it",
                "-n",
                "bb-fixer-x",
                "agent",
                "-c",
                "agent",
                "--",
                "sh",
                "-c",
                "cd '/home/node/it'\\''s' || exit 1; exec claude"
            ]
        );
    }

    #[test]
    fn docker_exec_runs_as_the_agents_user() {
        let at = AgentAt::Docker {
            container: "bot-bottle-x-agent".into(),
        };
        let argv = at.argv_of(std::path::Path::new("docker"), "true", Input::Closed, None);
        assert_eq!(
            argv[1..],
            [
                "exec",
                "-u",
                "node",
                "-w",
                "/home/node",
                "bot-bottle-x-agent",
                "sh",
                "-c",
                "true"
            ]
        );
    }
}
