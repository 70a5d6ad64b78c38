//! Pieces both pods use: the restricted security contexts, volumes, mounts, variables and
//! resources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, PodSecurityContext,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// What the `restricted` Pod Security Standard asks of a pod: not root, the runtime's seccomp
/// profile.
pub(crate) fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// ... and of each container: no privilege escalation, no capability; a read-only root.
pub(crate) fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        ..Default::default()
    }
}

/// A container that runs `sh -c SCRIPT` once before the pod's own, small and as restricted.
pub(crate) fn init_container(
    name: &str,
    image: &str,
    script: String,
    volume_mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["sh".into(), "-c".into(), script]),
        resources: Some(resources(
            quantities(&[("cpu", "50m"), ("memory", "32Mi")]),
            quantities(&[("cpu", "200m"), ("memory", "64Mi")]),
        )),
        security_context: Some(container_security()),
        volume_mounts: Some(volume_mounts),
        ..Default::default()
    }
}

/// An emptyDir capped at `size`, in memory (a tmpfs, as compose's `/tmp`) or on the node.
pub(crate) fn empty_dir(name: &str, size: &str, memory: bool) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".into()),
            size_limit: Some(Quantity(size.into())),
        }),
        ..Default::default()
    }
}

pub(crate) fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// One file of a volume mounted over a path of the image.
pub(crate) fn file_mount(volume: &str, file: &str, path: &str) -> VolumeMount {
    VolumeMount {
        sub_path: Some(file.into()),
        ..mount(volume, path, true)
    }
}

/// A variable with a value. Kubernetes expands `$(NAME)` in values and reads `$$` as `$`: every
/// `$` is doubled so the agent sees the value as written (compose's rule too).
pub(crate) fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.replace('$', "$$")),
        ..Default::default()
    }
}

/// A variable whose value is the key `key` of the Secret `secret` (the pod does not start
/// until the Secret holds it).
pub(crate) fn env_from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

pub(crate) fn resources(
    requests: BTreeMap<String, Quantity>,
    limits: BTreeMap<String, Quantity>,
) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_doubled_so_kubernetes_expands_nothing() {
        let var = env_value("PRICE", "costs $5 or $(HOME) or ${X}");
        assert_eq!(var.value.as_deref(), Some("costs $$5 or $$(HOME) or $${X}"));
    }
}
