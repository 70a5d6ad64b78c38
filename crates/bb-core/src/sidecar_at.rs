//! Reaching a running bottle's sidecar, wherever it is: its container on the Docker engine
//! (local or remote: `docker exec`, `docker cp`, `docker kill`), or its pod on a cluster
//! (`kubectl exec` into the sidecar's Deployment). Files go in and out as one tar stream on a
//! pipe, never through the launcher's filesystem.

use std::path::Path;

use anyhow::{Context, Result, bail};
use bb_contract::layout::{kube, names, sidecar as in_sidecar};
use bb_contract::plan::KubePlan;

use crate::engine_files::{self, FileIn, FileOut};

/// Where a bottle's sidecar runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarAt {
    Docker {
        container: String,
    },
    Kube {
        context: Option<String>,
        namespace: String,
    },
}

impl SidecarAt {
    /// The sidecar of `identity`: on the cluster `applied` names, else its container.
    pub fn of(identity: &str, applied: Option<&KubePlan>) -> SidecarAt {
        match applied {
            Some(k) => SidecarAt::Kube {
                context: k.context.clone(),
                namespace: k.namespace.clone(),
            },
            None => SidecarAt::Docker {
                container: names::sidecar_container(identity),
            },
        }
    }

    /// The program and arguments that run `argv` in the sidecar (`stdin`: with ours).
    pub fn exec_argv(&self, stdin: bool, argv: &[&str]) -> Result<Vec<String>> {
        let mut all = Vec::new();
        match self {
            SidecarAt::Docker { container } => {
                all.push(crate::docker::docker_bin()?.display().to_string());
                all.push("exec".into());
                if stdin {
                    all.push("-i".into());
                }
                all.push(container.clone());
            }
            SidecarAt::Kube { context, namespace } => {
                all.push(crate::agent_exec::kubectl_bin()?.display().to_string());
                let pod = crate::agent_exec::PodExec {
                    context: context.as_deref(),
                    namespace,
                    target: &kube::sidecar_deployment(),
                    container: kube::SIDECAR,
                };
                all.extend(pod.args(stdin.then_some("-i")));
            }
        }
        all.extend(argv.iter().map(|a| a.to_string()));
        Ok(all)
    }

    /// Runs `argv` in the sidecar with `input` on its stdin; its stdout, or its stderr as the
    /// error.
    pub fn exec(&self, argv: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let all = self.exec_argv(input.is_some(), argv)?;
        let mut cmd = duct::cmd(&all[0], &all[1..])
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        cmd = match input {
            Some(bytes) => cmd.stdin_bytes(bytes),
            None => cmd.stdin_null(),
        };
        let out = cmd.run().with_context(|| format!("running {}", all[0]))?;
        if !out.status.success() {
            bail!("{}", crate::docker::message(&out.stderr));
        }
        Ok(out.stdout)
    }

    /// Whether the sidecar answers its own health check.
    pub fn healthy(&self) -> bool {
        self.exec(&[in_sidecar::SIDECAR_BIN, "health"], None)
            .is_ok()
    }

    /// Puts `files` (and the empty folders `dirs`) under `dir` of the sidecar.
    pub fn put(&self, dir: &str, dirs: &[&str], files: &[FileIn]) -> Result<()> {
        match self {
            SidecarAt::Docker { container } => engine_files::put(container, dir, dirs, files),
            SidecarAt::Kube { .. } => {
                let archive = engine_files::tar_of(dirs, files)?;
                self.exec(&["tar", "-x", "-m", "-C", dir, "-f", "-"], Some(archive))
                    .map(drop)
                    .with_context(|| format!("copying files into the sidecar's {dir}"))
            }
        }
    }

    /// The regular files under the folder `path` of the sidecar, named relative to it; `None`
    /// when the sidecar or the folder is not there.
    pub fn get(&self, path: &str) -> Result<Option<Vec<FileOut>>> {
        match self {
            SidecarAt::Docker { container } => engine_files::get(container, path),
            SidecarAt::Kube { .. } => {
                let path = Path::new(path);
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    bail!("{} is not a folder of the sidecar", path.display());
                };
                let (parent, name) = (parent.to_string_lossy(), name.to_string_lossy());
                match self.exec(&["tar", "-c", "-C", &parent, "-f", "-", &name], None) {
                    Ok(archive) => engine_files::files_of(&archive).map(Some),
                    // tar's own word for a folder not made yet; anything else is the cluster's.
                    Err(e) if format!("{e:#}").contains("No such file or directory") => Ok(None),
                    Err(e) => Err(e.context(format!("reading the sidecar's {}", path.display()))),
                }
            }
        }
    }

    /// Tells the sidecar to read its routes file again (`SIGHUP`). `false` when it is not
    /// running.
    pub fn reload(&self) -> bool {
        match self {
            SidecarAt::Docker { container } => {
                crate::docker::succeeds(["kill", "--signal", "HUP", container.as_str()])
            }
            // bb-sidecar is the container's first process there (no init).
            SidecarAt::Kube { .. } => self.exec(&["sh", "-c", "kill -HUP 1"], None).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_sidecar_is_its_deployment_in_the_bottles_namespace() {
        let applied = KubePlan {
            namespace: "bb-fixer-x".into(),
            context: Some("lab".into()),
            sidecar_ip: "10.96.0.9".into(),
            applied: true,
        };
        let at = SidecarAt::of("fixer-x", Some(&applied));
        assert_eq!(
            at,
            SidecarAt::Kube {
                context: Some("lab".into()),
                namespace: "bb-fixer-x".into()
            }
        );
        let docker = SidecarAt::of("fixer-x", None);
        assert_eq!(
            docker,
            SidecarAt::Docker {
                container: names::sidecar_container("fixer-x")
            }
        );
    }
}
