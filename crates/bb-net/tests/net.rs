//! bb-net against the real engine: both networks, their options and labels, idempotence, rm.

use bb_testkit::{DockerCleanup, Fixture, require_docker, simple_bottle, unique_name};
use serde_json::Value;

fn inspect(name: &str) -> Value {
    let out = std::process::Command::new("docker")
        .args(["network", "inspect", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{name} exists");
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .remove(0)
}

#[test]
fn creates_isolated_networks_idempotently_and_removes_them() {
    require_docker();
    let f = Fixture::new();
    let name = unique_name("net");
    let cleanup = DockerCleanup::new(&name);
    let env = simple_bottle(&f, &name, "");
    let plan = f
        .cmd("bb-plan")
        .args([name.as_str(), "--runtime", "runc"])
        .envs(env)
        .output()
        .unwrap();
    assert!(plan.status.success());
    let out = f
        .cmd("bb-net")
        .write_stdin(plan.stdout.clone())
        .assert()
        .success()
        .get_output()
        .clone();
    let planned: Value = serde_json::from_slice(&out.stdout).unwrap();
    let net = &planned["network"];
    let internal = inspect(net["internal"].as_str().unwrap());
    assert_eq!(internal["Internal"], true);
    assert_eq!(
        internal["Options"]["com.docker.network.bridge.inhibit_ipv4"],
        "true"
    );
    assert_eq!(
        internal["IPAM"]["Config"][0]["Subnet"],
        net["internal_subnet"]
    );
    let identity = planned["identity"].as_str().unwrap();
    assert_eq!(internal["Labels"]["bot-bottle.identity"], identity);
    let egress = inspect(net["egress"].as_str().unwrap());
    assert_eq!(egress["Internal"], false);
    assert_eq!(egress["Labels"]["bot-bottle.identity"], identity);
    let subnet = net["internal_subnet"].as_str().unwrap();
    assert!(
        subnet.starts_with("10.213.") && subnet.ends_with(".0/24"),
        "{subnet}"
    );
    assert_eq!(
        net["sidecar_ip"].as_str().unwrap(),
        subnet.replace(".0/24", ".2")
    );

    let again = f
        .cmd("bb-net")
        .write_stdin(out.stdout.clone())
        .output()
        .unwrap();
    assert!(again.status.success());
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        again["network"], planned["network"],
        "running twice changes nothing"
    );
    assert_eq!(cleanup.networks().len(), 2, "and creates nothing new");

    let rm = f
        .cmd("bb-net")
        .arg("rm")
        .write_stdin(out.stdout.clone())
        .output()
        .unwrap();
    assert!(rm.status.success());
    let after: Value = serde_json::from_slice(&rm.stdout).unwrap();
    assert!(after.get("network").is_none());
    assert!(cleanup.networks().is_empty());
    let twice = f
        .cmd("bb-net")
        .arg("rm")
        .write_stdin(out.stdout)
        .output()
        .unwrap();
    assert!(twice.status.success(), "absent networks are fine");
}
