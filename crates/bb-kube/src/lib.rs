//! A bottle on Kubernetes: the plan rendered as typed objects (`k8s-openapi`, API 1.30 and
//! later) in a namespace of its own.
//!
//! - [`render`] makes every object of a bottle, in the order to create them: the namespace,
//!   the NetworkPolicies (before any pod runs), Secrets without values, ConfigMaps, the agent
//!   home's claim, the sidecar's Service and Deployment, the agent Pod.
//! - [`List`] prints them as one `v1` `List` in JSON or YAML.
//! - [`reach::may_reach`] evaluates NetworkPolicies: what the tests prove the rendered ones
//!   allow and refuse.
//!
//! The renderer reads no file and no environment: host files come in [`options::HostFiles`]
//! ([`config::read_host_files`] reads them), so `apply` can render the very same objects.

pub mod agent;
pub mod apply;
pub mod config;
pub mod error;
pub mod kubectl;
pub mod names;
pub mod options;
mod pod;
pub mod policy;
pub mod reach;
pub mod sidecar;
pub mod teardown;

use bb_contract::Plan;
use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub use error::RenderError;
pub use options::{HostFiles, Options};

/// The Pod Security Standard every pod of a bottle meets, enforced on its namespace: the
/// sidecar needs no capability (its DNS sink listens on an unprivileged port).
pub const POD_SECURITY: &str = "restricted";
const POD_SECURITY_LABEL: &str = "pod-security.kubernetes.io/enforce";

macro_rules! objects {
    ($($kind:ident),* $(,)?) => {
        /// One object of a bottle (a dozen or so per bottle: their sizes do not matter).
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(untagged)]
        pub enum Object {
            $($kind($kind)),*
        }

        impl Object {
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$kind(_) => <$kind as Resource>::KIND),*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata),*
                }
            }
        }
    };
}

objects!(
    Namespace,
    NetworkPolicy,
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    Service,
    Deployment,
    Pod,
);

impl Object {
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// Objects as one `v1` `List`, the form `kubectl apply -f` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub items: Vec<Object>,
}

impl List {
    pub fn new(items: Vec<Object>) -> List {
        List {
            api_version: "v1".into(),
            kind: "List".into(),
            items,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("objects serialise")
    }

    /// YAML that YAML 1.1 readers (kubectl's) read the same: `on`, `yes`, `1.0` and the
    /// like stay strings.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("objects serialise")
    }
}

/// What the object builders share.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub opts: &'a Options,
    pub sidecar_image: String,
    pub ca_cert: String,
}

/// Every object of the bottle of `plan`, in the order to create them. Needs the `ca` stage,
/// a sidecar image (the plan's `compose` section or [`Options::sidecar_image`]) and the sidecar
/// Service's address.
pub fn render(plan: &Plan, opts: &Options) -> Result<Vec<Object>, RenderError> {
    let ca_cert = config::ca_cert(plan, opts.files.ca_cert.as_ref())?;
    let sidecar_image = opts
        .sidecar_image
        .clone()
        .or_else(|| plan.compose.as_ref().map(|c| c.sidecar_image.clone()))
        .ok_or(RenderError::NoSidecarImage)?;
    let sidecar_ip = opts.sidecar_ip.ok_or_else(|| RenderError::NoSidecarIp {
        service_cidr: opts.service_cidr.to_string(),
        example: opts.service_cidr.nth(200).to_string(),
    })?;
    let ctx = Ctx {
        plan,
        opts,
        sidecar_image,
        ca_cert,
    };
    let mut objects = vec![Object::Namespace(namespace(plan))];
    objects.extend(
        policy::policies(plan, opts)
            .into_iter()
            .map(Object::NetworkPolicy),
    );
    objects.extend(config::secrets(plan).into_iter().map(Object::Secret));
    objects.extend(
        config::config_maps(&ctx)?
            .into_iter()
            .map(Object::ConfigMap),
    );
    objects.push(Object::PersistentVolumeClaim(agent::home_claim(&ctx)));
    objects.push(Object::Service(sidecar::service(plan, Some(sidecar_ip))));
    objects.push(Object::Deployment(sidecar::deployment(&ctx)));
    objects.push(Object::Pod(agent::pod(&ctx, sidecar_ip)));
    Ok(objects)
}

/// The bottle's namespace, with compose's labels and the enforced Pod Security Standard.
pub fn namespace(plan: &Plan) -> Namespace {
    let mut labels = names::common_labels(plan);
    labels.insert(POD_SECURITY_LABEL.into(), POD_SECURITY.into());
    let mut metadata = names::meta(plan, &names::namespace(&plan.identity));
    metadata.namespace = None;
    metadata.labels = Some(labels);
    Namespace {
        metadata,
        ..Default::default()
    }
}

/// The last part of a container path: a key of a ConfigMap or Secret that becomes that file.
pub(crate) const fn file_name(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    while i > 0 && bytes[i - 1] != b'/' {
        i -= 1;
    }
    path.split_at(i).1
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::net::Ipv4Addr;

    use super::*;

    /// A fixture plan of `tests/fixtures/`.
    pub fn plan(name: &str) -> Plan {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let text = std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap();
        Plan::from_json(&text.replace("@FIXTURES@", dir)).unwrap()
    }

    pub fn options() -> Options {
        Options {
            sidecar_ip: Some(Ipv4Addr::new(10, 96, 0, 200)),
            files: HostFiles {
                ca_cert: Some("CERT".into()),
                gate_rules: Some("RULES".into()),
            },
            ..Options::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::{options, plan};

    #[test]
    fn paths_become_keys_and_relative_paths() {
        assert_eq!(file_name("/etc/x/routes.json"), "routes.json");
        assert_eq!(file_name("plain"), "plain");
        use bb_contract::layout::sidecar::{ROUTES, in_config};
        assert_eq!(in_config(ROUTES), "egress/routes.json");
    }

    #[test]
    fn objects_come_in_creation_order_policies_before_pods() {
        let kinds: Vec<&str> = render(&plan("plain"), &options())
            .unwrap()
            .iter()
            .map(Object::kind)
            .collect();
        assert_eq!(kinds.first(), Some(&"Namespace"));
        assert_eq!(kinds.last(), Some(&"Pod"));
        let first_pod = kinds.iter().position(|k| *k == "Deployment").unwrap();
        let last_policy = kinds.iter().rposition(|k| *k == "NetworkPolicy").unwrap();
        assert!(last_policy < first_pod, "{kinds:?}");
    }

    #[test]
    fn stopping_deletes_every_kind_rendered_but_the_namespace_and_the_home() {
        let mut kinds: Vec<String> = ["plain", "repos"]
            .iter()
            .flat_map(|p| render(&plan(p), &options()).unwrap())
            .map(|o| o.kind().to_lowercase())
            .filter(|k| k != "namespace" && k != "persistentvolumeclaim")
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut stopped: Vec<&str> = teardown::WORKLOADS
            .split(',')
            .chain(teardown::AFTER_WORKLOADS.split(','))
            .collect();
        stopped.sort();
        assert_eq!(kinds, stopped);
    }

    #[test]
    fn what_is_missing_is_named_with_its_fix() {
        let mut p = plan("plain");
        p.compose = None;
        let err = render(&p, &options()).unwrap_err().to_string();
        assert!(err.contains("--sidecar-image"), "{err}");
        p.ca = None;
        let err = render(&p, &options()).unwrap_err().to_string();
        assert_eq!(err, "the plan has no `ca` section; run bb-ca first");
        let opts = Options {
            sidecar_ip: None,
            ..options()
        };
        let err = render(&plan("plain"), &opts).unwrap_err().to_string();
        assert!(err.starts_with("--sidecar-ip is required"), "{err}");
    }
}
