//! May X reach Y on port P? A small evaluator of NetworkPolicy objects, to test the rendered
//! ones. It follows the API's meaning for what bb-kube renders: pod and namespace selectors
//! (`matchLabels` and `matchExpressions`), `ipBlock` with `except`, numbered ports with
//! `endPort`, policy types. Named ports are not understood (they match nothing). An `ipBlock`
//! is applied to pod addresses too, as Calico and Cilium do: a policy that only allows cannot
//! be made to look stricter by that.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::options::Ipv4Net;

type Labels = BTreeMap<String, String>;

/// One end of a connection: a pod (its namespace, the namespace's labels, its own labels and
/// address), or an address outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Pod {
        namespace: String,
        namespace_labels: Labels,
        labels: Labels,
        ip: Ipv4Addr,
    },
    External(Ipv4Addr),
}

impl Endpoint {
    /// A pod whose namespace carries only the label Kubernetes gives every namespace.
    pub fn pod(namespace: &str, labels: Labels, ip: Ipv4Addr) -> Endpoint {
        Endpoint::Pod {
            namespace: namespace.into(),
            namespace_labels: Labels::from([(
                "kubernetes.io/metadata.name".into(),
                namespace.into(),
            )]),
            labels,
            ip,
        }
    }

    fn ip(&self) -> Ipv4Addr {
        match self {
            Endpoint::Pod { ip, .. } | Endpoint::External(ip) => *ip,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(name: &str) -> Option<Protocol> {
        match name {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Whether `from` may open a connection to `to` on `port`/`protocol` under `policies`: the
/// source's egress policies and the destination's ingress policies must both allow it (a pod
/// no policy of a direction selects is open in that direction).
pub fn may_reach(
    policies: &[NetworkPolicy],
    from: &Endpoint,
    to: &Endpoint,
    port: u16,
    protocol: Protocol,
) -> bool {
    let conn = Connection { port, protocol };
    allowed(policies, from, to, Direction::Egress, conn)
        && allowed(policies, to, from, Direction::Ingress, conn)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

#[derive(Clone, Copy)]
struct Connection {
    port: u16,
    protocol: Protocol,
}

/// Whether the policies that isolate `subject` in `direction` let it talk with `peer`.
fn allowed(
    policies: &[NetworkPolicy],
    subject: &Endpoint,
    peer: &Endpoint,
    direction: Direction,
    conn: Connection,
) -> bool {
    let Endpoint::Pod {
        namespace, labels, ..
    } = subject
    else {
        return true;
    };
    let isolating: Vec<&NetworkPolicy> = policies
        .iter()
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.spec.as_ref().is_some_and(|s| {
                    s.pod_selector
                        .as_ref()
                        .is_none_or(|sel| selects(sel, labels))
                })
                && has_type(p, direction)
        })
        .collect();
    isolating.is_empty()
        || isolating.iter().any(|p| {
            rules(p, direction).iter().any(|(peers, ports)| {
                peers_match(*peers, peer, namespace) && ports_match(*ports, conn)
            })
        })
}

fn has_type(policy: &NetworkPolicy, direction: Direction) -> bool {
    let spec = policy.spec.as_ref().expect("checked by the caller");
    match &spec.policy_types {
        Some(types) => types.iter().any(|t| {
            t == match direction {
                Direction::Ingress => "Ingress",
                Direction::Egress => "Egress",
            }
        }),
        None => direction == Direction::Ingress || spec.egress.is_some(),
    }
}

type Rule<'a> = (
    Option<&'a [NetworkPolicyPeer]>,
    Option<&'a [NetworkPolicyPort]>,
);

/// The (peers, ports) of each rule in `direction`.
fn rules(policy: &NetworkPolicy, direction: Direction) -> Vec<Rule<'_>> {
    let spec = policy.spec.as_ref().expect("checked by the caller");
    match direction {
        Direction::Ingress => spec
            .ingress
            .iter()
            .flatten()
            .map(|r| (r.from.as_deref(), r.ports.as_deref()))
            .collect(),
        Direction::Egress => spec
            .egress
            .iter()
            .flatten()
            .map(|r| (r.to.as_deref(), r.ports.as_deref()))
            .collect(),
    }
}

/// No peers (absent or empty): every peer.
fn peers_match(peers: Option<&[NetworkPolicyPeer]>, peer: &Endpoint, policy_ns: &str) -> bool {
    match peers {
        None | Some([]) => true,
        Some(peers) => peers.iter().any(|p| peer_matches(p, peer, policy_ns)),
    }
}

fn peer_matches(rule: &NetworkPolicyPeer, peer: &Endpoint, policy_ns: &str) -> bool {
    if let Some(block) = &rule.ip_block {
        let inside = |cidr: &str| Ipv4Net::parse(cidr).is_ok_and(|n| n.contains(peer.ip()));
        return inside(&block.cidr) && !block.except.iter().flatten().any(|e| inside(e));
    }
    let Endpoint::Pod {
        namespace,
        namespace_labels,
        labels,
        ..
    } = peer
    else {
        return false;
    };
    let namespace_ok = match &rule.namespace_selector {
        Some(selector) => selects(selector, namespace_labels),
        None => namespace == policy_ns,
    };
    namespace_ok
        && rule
            .pod_selector
            .as_ref()
            .is_none_or(|selector| selects(selector, labels))
}

/// No ports (absent or empty): every port and protocol.
fn ports_match(ports: Option<&[NetworkPolicyPort]>, conn: Connection) -> bool {
    let one = |p: &NetworkPolicyPort| {
        let protocol = p.protocol.as_deref().unwrap_or("TCP") == conn.protocol.as_str();
        let port = i32::from(conn.port);
        protocol
            && match (&p.port, p.end_port) {
                (None, _) => true,
                (Some(IntOrString::Int(n)), None) => *n == port,
                (Some(IntOrString::Int(n)), Some(end)) => (*n..=end).contains(&port),
                (Some(IntOrString::String(_)), _) => false,
            }
    };
    match ports {
        None | Some([]) => true,
        Some(ports) => ports.iter().any(one),
    }
}

/// A label selector; the empty one selects everything.
fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyEgressRule, NetworkPolicySpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn egress_policy(ns: &str, rules: Vec<NetworkPolicyEgressRule>) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: None,
                policy_types: None,
                ingress: None,
                egress: Some(rules),
            }),
        }
    }

    #[test]
    fn no_policy_means_open() {
        let a = Endpoint::pod("x", Labels::new(), Ipv4Addr::new(10, 0, 0, 1));
        let b = Endpoint::External(Ipv4Addr::new(1, 1, 1, 1));
        assert!(may_reach(&[], &a, &b, 80, Protocol::Tcp));
        assert!(may_reach(&[], &b, &a, 80, Protocol::Tcp));
    }

    #[test]
    fn a_policy_in_another_namespace_changes_nothing() {
        let deny_all = egress_policy("y", vec![]);
        let a = Endpoint::pod("x", Labels::new(), Ipv4Addr::new(10, 0, 0, 1));
        let b = Endpoint::External(Ipv4Addr::new(1, 1, 1, 1));
        let policies = [deny_all];
        assert!(may_reach(&policies, &a, &b, 80, Protocol::Tcp));
        let a_in_y = Endpoint::pod("y", Labels::new(), Ipv4Addr::new(10, 0, 0, 1));
        assert!(!may_reach(&policies, &a_in_y, &b, 80, Protocol::Tcp));
    }

    #[test]
    fn no_policy_types_means_ingress_and_egress_when_egress_rules_exist() {
        let p = egress_policy("x", vec![]);
        let a = Endpoint::pod("x", Labels::new(), Ipv4Addr::new(10, 0, 0, 1));
        let b = Endpoint::pod("x", Labels::new(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(has_type(&p, Direction::Egress) && has_type(&p, Direction::Ingress));
        assert!(!may_reach(&[p], &a, &b, 80, Protocol::Tcp));
    }

    #[test]
    fn ip_blocks_ports_ranges_and_expressions() {
        let rule = NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: "10.0.0.0/8".into(),
                    except: Some(vec!["10.1.0.0/16".into()]),
                }),
                ..Default::default()
            }]),
            ports: Some(vec![NetworkPolicyPort {
                port: Some(IntOrString::Int(8000)),
                end_port: Some(8080),
                protocol: None,
            }]),
        };
        let mut p = egress_policy("x", vec![rule]);
        p.spec.as_mut().unwrap().pod_selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "role".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
            ..Default::default()
        });
        p.spec.as_mut().unwrap().policy_types = Some(vec!["Egress".into()]);
        let ps = [p];
        let src = Endpoint::pod("x", labels(&[("role", "a")]), Ipv4Addr::new(10, 9, 0, 1));
        let to = |a, b| Endpoint::External(Ipv4Addr::new(10, a, b, 1));
        assert!(may_reach(&ps, &src, &to(2, 0), 8080, Protocol::Tcp));
        assert!(!may_reach(&ps, &src, &to(2, 0), 8081, Protocol::Tcp));
        assert!(!may_reach(&ps, &src, &to(2, 0), 8000, Protocol::Udp));
        assert!(
            !may_reach(&ps, &src, &to(1, 5), 8000, Protocol::Tcp),
            "except"
        );
        let other = Endpoint::pod("x", labels(&[("role", "c")]), Ipv4Addr::new(10, 9, 0, 1));
        assert!(
            may_reach(&ps, &other, &to(1, 5), 1, Protocol::Tcp),
            "not selected"
        );
    }

    #[test]
    fn named_ports_match_nothing() {
        let conn = Connection {
            port: 80,
            protocol: Protocol::Tcp,
        };
        let named = NetworkPolicyPort {
            port: Some(IntOrString::String("http".into())),
            ..Default::default()
        };
        assert!(!ports_match(Some(&[named]), conn));
        assert!(ports_match(Some(&[]), conn));
    }
}
