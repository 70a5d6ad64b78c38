//! The NetworkPolicies: compose's `internal` network, on a cluster. Nothing in the namespace
//! talks to anything by default; the agent may reach the sidecar's ports and nothing else; the
//! sidecar may be reached by the agent only, and may reach the world but not the cluster.

use std::collections::BTreeMap;

use bb_contract::Plan;
use bb_contract::layout::kube;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::names::{meta, selector};
use crate::options::Options;

/// Link-local addresses: the clouds' metadata services (169.254.169.254) live there.
pub const LINK_LOCAL: &str = "169.254.0.0/16";
/// The cluster's DNS (kube-dns or CoreDNS under that label), which the sidecar resolves with.
const KUBE_DNS_PORT: u16 = 53;
const KUBE_SYSTEM: &str = "kube-system";
/// The label every namespace carries with its own name (Kubernetes sets it).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub(crate) fn policies(plan: &Plan, opts: &Options) -> Vec<NetworkPolicy> {
    vec![
        policy(plan, "default-deny", LabelSelector::default(), None, None),
        policy(
            plan,
            "agent-egress",
            selector(plan, kube::AGENT),
            None,
            Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![pods(plan, kube::SIDECAR)]),
                ports: Some(sidecar_ports()),
            }]),
        ),
        policy(
            plan,
            "sidecar-ingress",
            selector(plan, kube::SIDECAR),
            Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![pods(plan, kube::AGENT)]),
                ports: Some(sidecar_ports()),
            }]),
            None,
        ),
        policy(
            plan,
            "sidecar-egress",
            selector(plan, kube::SIDECAR),
            None,
            Some(sidecar_egress(opts)),
        ),
    ]
}

/// A policy of both types: `None` rules allow nothing in that direction.
fn policy(
    plan: &Plan,
    name: &str,
    pod_selector: LabelSelector,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() || egress.is_none() {
        types.push("Ingress".to_string());
    }
    if egress.is_some() || ingress.is_none() {
        types.push("Egress".to_string());
    }
    NetworkPolicy {
        metadata: meta(plan, name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pod_selector),
            policy_types: Some(types),
            ingress,
            egress,
        }),
    }
}

fn pods(plan: &Plan, component: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(selector(plan, component)),
        ..Default::default()
    }
}

/// The sidecar pod's ports (after the Service's translation: DNS is its unprivileged port).
fn sidecar_ports() -> Vec<NetworkPolicyPort> {
    crate::sidecar::ports()
        .iter()
        .map(|p| port(p.target_port, p.protocol))
        .collect()
}

fn port(number: u16, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(number.into())),
        protocol: Some(protocol.into()),
        end_port: None,
    }
}

/// Anywhere but the cluster's pods and services and link-local addresses, on any port; and
/// the cluster's DNS.
fn sidecar_egress(opts: &Options) -> Vec<NetworkPolicyEgressRule> {
    let world = NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: "0.0.0.0/0".into(),
            except: Some(vec![
                opts.pod_cidr.to_string(),
                opts.service_cidr.to_string(),
                LINK_LOCAL.into(),
            ]),
        }),
        ..Default::default()
    };
    let dns = NetworkPolicyPeer {
        namespace_selector: Some(match_labels(NAMESPACE_NAME_LABEL, KUBE_SYSTEM)),
        pod_selector: Some(match_labels("k8s-app", "kube-dns")),
        ..Default::default()
    };
    vec![
        NetworkPolicyEgressRule {
            to: Some(vec![world]),
            ports: None,
        },
        NetworkPolicyEgressRule {
            to: Some(vec![dns]),
            ports: Some(vec![port(KUBE_DNS_PORT, "UDP"), port(KUBE_DNS_PORT, "TCP")]),
        },
    ]
}

fn match_labels(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.into(), value.into())])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::reach::{Endpoint, Protocol, may_reach};
    use crate::test_support::{options, plan};

    struct World {
        policies: Vec<NetworkPolicy>,
        agent: Endpoint,
        sidecar: Endpoint,
        other_pod: Endpoint,
        kube_dns: Endpoint,
    }

    fn world() -> World {
        let plan = plan("plain");
        let ns = crate::names::namespace(&plan.identity);
        let pod = |component: &str, ip: [u8; 4]| {
            Endpoint::pod(
                &ns,
                crate::names::pod_labels(&plan, component),
                Ipv4Addr::from(ip),
            )
        };
        World {
            policies: policies(&plan, &options()),
            agent: pod(kube::AGENT, [10, 244, 1, 5]),
            sidecar: pod(kube::SIDECAR, [10, 244, 2, 7]),
            other_pod: Endpoint::pod("default", BTreeMap::new(), Ipv4Addr::new(10, 244, 3, 9)),
            kube_dns: Endpoint::pod(
                KUBE_SYSTEM,
                BTreeMap::from([("k8s-app".into(), "kube-dns".into())]),
                Ipv4Addr::new(10, 244, 0, 2),
            ),
        }
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Endpoint {
        Endpoint::External(Ipv4Addr::new(a, b, c, d))
    }

    impl World {
        fn reach(&self, from: &Endpoint, to: &Endpoint, port: u16, protocol: Protocol) -> bool {
            may_reach(&self.policies, from, to, port, protocol)
        }
    }

    #[test]
    fn the_agent_reaches_the_sidecars_ports_and_nothing_else() {
        let w = world();
        let (agent, sidecar) = (&w.agent, &w.sidecar);
        for p in crate::sidecar::ports() {
            let protocol = Protocol::parse(p.protocol).unwrap();
            assert!(w.reach(agent, sidecar, p.target_port, protocol), "{p:?}");
        }
        assert!(!w.reach(agent, sidecar, 22, Protocol::Tcp));
        assert!(!w.reach(agent, sidecar, 9099, Protocol::Udp));
        assert!(
            !w.reach(agent, sidecar, bb_contract::layout::DNS_PORT, Protocol::Udp),
            "port 53 of the pod: the Service translates to the unprivileged port"
        );
        assert!(!w.reach(agent, &ip(1, 2, 3, 4), 443, Protocol::Tcp));
        assert!(
            !w.reach(agent, &ip(10, 96, 0, 1), 443, Protocol::Tcp),
            "the API server"
        );
        assert!(!w.reach(agent, &w.kube_dns, 53, Protocol::Udp));
        assert!(!w.reach(agent, &w.other_pod, 80, Protocol::Tcp));
        assert!(!w.reach(agent, &ip(169, 254, 169, 254), 80, Protocol::Tcp));
    }

    #[test]
    fn nothing_reaches_the_agent() {
        let w = world();
        for from in [&w.sidecar, &w.other_pod, &w.kube_dns, &ip(1, 2, 3, 4)] {
            for port in [22, 80, 9099] {
                assert!(
                    !w.reach(from, &w.agent, port, Protocol::Tcp),
                    "{from:?} {port}"
                );
            }
        }
    }

    #[test]
    fn only_the_agent_reaches_the_sidecar() {
        let w = world();
        for from in [&w.other_pod, &w.kube_dns, &ip(1, 2, 3, 4), &ip(10, 0, 0, 1)] {
            assert!(!w.reach(from, &w.sidecar, 9099, Protocol::Tcp), "{from:?}");
        }
    }

    #[test]
    fn the_sidecar_reaches_the_world_and_the_cluster_dns_only() {
        let w = world();
        let sidecar = &w.sidecar;
        assert!(w.reach(sidecar, &ip(1, 2, 3, 4), 443, Protocol::Tcp));
        assert!(
            w.reach(sidecar, &ip(192, 168, 1, 20), 22, Protocol::Tcp),
            "private: the guard's"
        );
        assert!(w.reach(sidecar, &w.kube_dns, 53, Protocol::Udp));
        assert!(w.reach(sidecar, &w.kube_dns, 53, Protocol::Tcp));
        assert!(
            !w.reach(sidecar, &w.kube_dns, 9153, Protocol::Tcp),
            "CoreDNS metrics"
        );
        assert!(!w.reach(sidecar, &ip(169, 254, 169, 254), 80, Protocol::Tcp));
        assert!(
            !w.reach(sidecar, &ip(10, 244, 9, 9), 443, Protocol::Tcp),
            "pod CIDR"
        );
        assert!(!w.reach(sidecar, &w.other_pod, 80, Protocol::Tcp));
        assert!(
            !w.reach(sidecar, &ip(10, 96, 0, 1), 443, Protocol::Tcp),
            "service CIDR"
        );
        assert!(!w.reach(sidecar, &ip(10, 111, 255, 254), 443, Protocol::Tcp));
        assert!(!w.reach(sidecar, &w.agent, 22, Protocol::Tcp));
    }
}
