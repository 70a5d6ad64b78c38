//! Names, labels and metadata: the namespace of a bottle, and the labels compose puts on its
//! containers (the same keys), made valid for Kubernetes.

use std::collections::BTreeMap;

use bb_contract::Plan;
use bb_contract::layout::{kube, labels as label};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use sha2::{Digest, Sha256};

/// The longest DNS-1123 label (a namespace name, a label value).
const MAX_LABEL: usize = 63;

/// `bb-<identity>`, a DNS-1123 label. An identity bb-plan minted is used as it is; any other is
/// lower-cased, its other characters made `-`, shortened to fit, and given a hash of the
/// original so two identities never share a namespace.
pub fn namespace(identity: &str) -> String {
    let prefix = kube::NAMESPACE_PREFIX;
    let body: String = identity
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let body = body.trim_matches('-');
    if body == identity && prefix.len() + body.len() <= MAX_LABEL {
        return format!("{prefix}{body}");
    }
    let hash: String = Sha256::digest(identity.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let room = MAX_LABEL - prefix.len() - hash.len() - 1;
    let body = body[..body.len().min(room)].trim_end_matches('-');
    if body.is_empty() {
        format!("{prefix}{hash}")
    } else {
        format!("{prefix}{body}-{hash}")
    }
}

/// A valid label value: at most 63 characters, letters and digits at both ends, `-`, `_`, `.`
/// inside; other characters become `-`.
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trim = |s: &str| {
        s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    };
    let cleaned = trim(&cleaned);
    trim(&cleaned[..cleaned.len().min(MAX_LABEL)])
}

/// A DNS-1123 subdomain (RuntimeClass and StorageClass names).
pub fn is_dns_subdomain(name: &str) -> bool {
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    name.len() <= 253
        && ends(name.chars().next())
        && ends(name.chars().last())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The labels of every object of a bottle.
pub(crate) fn common_labels(plan: &Plan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (label::IDENTITY.into(), label_value(&plan.identity)),
        (label::AGENT.into(), label_value(&plan.agent.name)),
        (kube::MANAGED_BY_LABEL.into(), kube::MANAGED_BY.into()),
    ])
}

/// The labels of the agent's or the sidecar's pod: compose's labels of the same role, and the
/// component the NetworkPolicies select.
pub(crate) fn pod_labels(plan: &Plan, component: &str) -> BTreeMap<String, String> {
    let mut labels = common_labels(plan);
    labels.insert(label::ROLE.into(), component.into());
    labels.insert(label::RUNTIME.into(), plan.runtime.name.as_str().into());
    labels.insert(kube::COMPONENT_LABEL.into(), component.into());
    labels
}

/// Selects the pod of one component of this bottle.
pub(crate) fn selector(plan: &Plan, component: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(plan, component)),
        ..Default::default()
    }
}

pub(crate) fn selector_labels(plan: &Plan, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (label::IDENTITY.into(), label_value(&plan.identity)),
        (kube::COMPONENT_LABEL.into(), component.into()),
    ])
}

/// Metadata of a namespaced object of the bottle. The operator's free-text label is an
/// annotation: it need not be a valid label value.
pub(crate) fn meta(plan: &Plan, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace(&plan.identity)),
        labels: Some(common_labels(plan)),
        annotations: plan
            .label
            .as_ref()
            .map(|text| BTreeMap::from([(label::LABEL.to_string(), text.clone())])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(name: &str) -> bool {
        name.len() <= MAX_LABEL && is_dns_subdomain(name) && !name.contains('.')
    }

    #[test]
    fn a_minted_identity_is_kept_as_it_is() {
        assert_eq!(namespace("fixer-x7k2p"), "bb-fixer-x7k2p");
        let longest = format!("{}-abcde", "a".repeat(40));
        assert_eq!(namespace(&longest), format!("bb-{longest}"));
    }

    #[test]
    fn other_identities_are_made_dns_labels_and_stay_distinct() {
        for id in [
            "Fixer_X7K2P",
            "fixer.x7k2p",
            "---",
            "é",
            &"x".repeat(200),
            &format!("{}-abcde", "a-".repeat(40)),
        ] {
            let ns = namespace(id);
            assert!(is_dns_label(&ns), "{id:?} -> {ns:?}");
        }
        assert_ne!(namespace("fixer_x7k2p"), namespace("fixer.x7k2p"));
        assert_ne!(namespace("fixer_x7k2p"), "bb-fixer-x7k2p");
        assert_ne!(
            namespace(&format!("{}1", "x".repeat(80))),
            namespace(&format!("{}2", "x".repeat(80)))
        );
        assert!(namespace("Fixer_X7K2P").starts_with("bb-fixer-x7k2p-"));
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("fixer-x7k2p"), "fixer-x7k2p");
        assert_eq!(label_value("my agent!"), "my-agent");
        assert_eq!(label_value("_x_"), "x");
        assert_eq!(label_value(&"y".repeat(70)).len(), MAX_LABEL);
        assert_eq!(
            label_value(&format!("{}.z", "y".repeat(62))),
            "y".repeat(62)
        );
        assert_eq!(label_value(""), "");
    }

    #[test]
    fn subdomains() {
        assert!(is_dns_subdomain("gvisor"));
        assert!(is_dns_subdomain("kata-qemu.v2"));
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(254)] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }
}
