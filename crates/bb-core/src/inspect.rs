//! What bot-bottle reads of `docker inspect` and friends, as typed structs (the engine's field
//! names): a missing field is a default, never a panic.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `docker inspect CONTAINER`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// `/name`, as the engine reports it.
    pub name: String,
    pub config: ContainerConfig,
    pub state: ContainerState,
    pub host_config: HostConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    pub running: bool,
    pub started_at: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub runtime: String,
}

/// `docker network inspect NETWORK`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInspect {
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    #[serde(deserialize_with = "null_as_default")]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

impl NetworkInspect {
    /// The first IPAM subnet (bot-bottle's networks have one, IPv4).
    pub fn subnet(&self) -> Option<&str> {
        self.ipam
            .config
            .first()
            .map(|c| c.subnet.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The first IPAM gateway, when the engine reports one.
    pub fn gateway(&self) -> Option<&str> {
        self.ipam
            .config
            .first()
            .map(|c| c.gateway.as_str())
            .filter(|g| !g.is_empty())
    }
}

/// One volume of `docker system df -v --format '{{json .Volumes}}'`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsage {
    pub name: String,
    /// Human-readable (`1.2GB`).
    pub size: String,
}

/// Engines write `null` for an empty map or list.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_engine_writes_and_tolerates_nulls() {
        let c: Vec<ContainerInspect> = serde_json::from_str(
            r#"[{"Name":"/bot-bottle-x-agent","Config":{"Labels":{"bot-bottle.role":"agent"}},
                "State":{"Running":true,"StartedAt":"2026-01-01T00:00:00Z"},
                "HostConfig":{"Runtime":"runc"},"Other":1}]"#,
        )
        .unwrap();
        assert_eq!(c[0].config.labels["bot-bottle.role"], "agent");
        assert!(c[0].state.running);
        assert_eq!(c[0].host_config.runtime, "runc");
        let n: NetworkInspect = serde_json::from_str(
            r#"{"Name":"n","Labels":null,"IPAM":{"Config":[{"Subnet":"10.213.4.0/24","Gateway":""}]}}"#,
        )
        .unwrap();
        assert_eq!(n.subnet(), Some("10.213.4.0/24"));
        assert_eq!(n.gateway(), None);
        assert!(n.labels.is_empty());
        let empty: NetworkInspect = serde_json::from_str(r#"{"IPAM":{"Config":null}}"#).unwrap();
        assert_eq!(empty.subnet(), None);
    }
}
